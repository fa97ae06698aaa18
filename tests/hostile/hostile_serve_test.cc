// Hostile input against the real `aoe serve` over real packet sockets.
//
// The server runs in its own network namespace (`ip netns exec NS aoe serve -i vt ...`) with
//   e1.1  rw.img      read-write, kRwSectors
//   e1.2  ro.img      read-only, kRoSectors
//   e1.3  window.img  offset=kWindowOffset, length=kWindowLength inside a kWindowFileSectors file
// and this test plays a broken or malicious peer in a second namespace, joined by a veth pair
// at MTU 1500. Every frame is built byte by byte at the offsets of aoe-protocol.md, so the test
// checks the wire format, not aoekit's own encoders. For each class of bad frame it checks the
// answer the spec calls for (or silence), that the images are byte-for-byte unchanged where
// nothing may be written, and that the server is still alive and serving correctly at the end.
// The last test throws 20,000 seeded random frames at it.
//
// Root only (namespaces); skipped otherwise. The server is stopped by pid and the namespaces
// deleted in TearDown, also when a test fails.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "base/bytes.h"
#include "base/mac_address.h"
#include "net/packet_port.h"
#include "net/testing/netns.h"
#include "net/testing/spawn.h"
#include "net/testing/test_data.h"

namespace aoe {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using Bytes = std::vector<std::byte>;
using testing::RandomBytes;
using testing::ReadFile;
using testing::WriteFile;

constexpr size_t kMtu = 1500;
constexpr size_t kMaxFrame = kMtu + 14;
constexpr uint16_t kShelf = 1;
constexpr uint64_t kRwSectors = 2048;  // 1 MiB
constexpr uint64_t kRoSectors = 512;
constexpr uint64_t kWindowFileSectors = 2048;
constexpr uint64_t kWindowOffset = 512;  // e1.3 = sectors [512, 1536) of window.img
constexpr uint64_t kWindowLength = 1024;
constexpr uint8_t kMaxSectors = 2;  // (1500 - 36) / 512

// Wire values, spelled out as aoe-protocol.md gives them.
constexpr uint8_t kCmdAta = 0, kCmdConfig = 1, kCmdMask = 2, kCmdReserve = 3;
constexpr uint8_t kRead28 = 0x20, kRead48 = 0x24, kWrite28 = 0x30, kWrite48 = 0x34;
constexpr uint8_t kIdentify = 0xEC;
constexpr uint8_t kStatusOk = 0x40, kStatusErr = 0x41;
constexpr uint8_t kErrIdnf = 0x10, kErrAbrt = 0x04;
constexpr uint8_t kAoeUnknownCommand = 1, kAoeBadArgument = 2, kAoeBadVersion = 5;

// Spoofed source MACs the random phase uses (besides our own); mask and reservation lists are
// only ever filled from this set, so the test can always empty them again.
const MacAddress kFuzzA({0x02, 0x00, 0x5e, 0x00, 0x00, 0xa1});
const MacAddress kFuzzB({0x02, 0x00, 0x5e, 0x00, 0x00, 0xb2});

// Index of the first differing byte, or -1: a readable failure message for image comparisons.
ptrdiff_t FirstDifference(const Bytes& a, const Bytes& b) {
  if (a.size() != b.size()) return static_cast<ptrdiff_t>(std::min(a.size(), b.size()));
  auto [ia, ib] = std::mismatch(a.begin(), a.end(), b.begin());
  return ia == a.end() ? -1 : ia - a.begin();
}

Bytes Slice(const Bytes& b, size_t offset, size_t size) {
  return Bytes(b.begin() + static_cast<ptrdiff_t>(offset),
               b.begin() + static_cast<ptrdiff_t>(offset + size));
}

// A received frame, read at its wire offsets.
struct Reply {
  Bytes frame;
  uint8_t U8(size_t off) const { return off < frame.size() ? static_cast<uint8_t>(frame[off]) : 0; }
  uint8_t ver_flags() const { return U8(14); }
  bool error_flag() const { return (U8(14) & 0x04) != 0; }
  uint8_t error() const { return U8(15); }
  uint16_t shelf() const { return static_cast<uint16_t>(U8(16) << 8 | U8(17)); }
  uint8_t slot() const { return U8(18); }
  uint8_t ata_error() const { return U8(25); }
  uint8_t ata_count() const { return U8(26); }
  uint8_t ata_status() const { return U8(27); }
  Bytes data(size_t size) const { return Slice(frame, 36, std::min(size, frame.size() - 36)); }
};

// Every reply the target may ever send: padded, version 1 with R set, a real address.
::testing::AssertionResult WellFormed(const Reply& r) {
  if (r.frame.size() < 60)
    return ::testing::AssertionFailure() << "reply of " << r.frame.size() << " bytes";
  if (r.frame.size() > kMaxFrame) return ::testing::AssertionFailure() << "reply over the MTU";
  if ((r.ver_flags() & 0xF8) != 0x18) {
    return ::testing::AssertionFailure() << "ver/flags 0x" << std::hex << int{r.ver_flags()};
  }
  if (r.shelf() == 0xFFFF || r.slot() == 0xFF)
    return ::testing::AssertionFailure() << "wildcard reply";
  return ::testing::AssertionSuccess();
}

class HostileServe : public ::testing::Test {
 protected:
  void SetUp() override {
    if (auto why = testing::NetnsUnavailableReason(); !why.empty()) GTEST_SKIP() << why;
    auto segment = testing::CreateVethSegment("aoeh", "vt", "vc", kMtu);
    ASSERT_TRUE(segment);
    target_ns_.emplace(std::move(segment->a));
    client_ns_.emplace(std::move(segment->b));

    char tmpl[] = "/tmp/aoe-hostile-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    rw_ = dir_ / "rw.img";
    ro_ = dir_ / "ro.img";
    window_ = dir_ / "window.img";
    rw_before_ = RandomBytes(kRwSectors * 512, 11);
    ro_before_ = RandomBytes(kRoSectors * 512, 12);
    window_before_ = RandomBytes(kWindowFileSectors * 512, 13);
    WriteFile(rw_, rw_before_);
    WriteFile(ro_, ro_before_);
    WriteFile(window_, window_before_);

    ASSERT_TRUE(client_ns_->Run([&] {
      // kAny: the peer sends from MACs not its own (spoofed sources), and takes the replies
      // addressed to them, which an initiator port drops as another host's.
      auto port = PacketPort::Open("vc", PacketPortOptions{.role = PortRole::kAny});
      if (port) port_ = std::move(*port);
    }));
    ASSERT_TRUE(port_) << "cannot open the client packet socket";
    StartServer();
  }

  void TearDown() override {
    if (started_) {
      bool running = server_.Running();
      EXPECT_TRUE(running) << "aoe serve died during the test; log:\n" << server_.Log();
      if (running) {
        int status = server_.Stop(SIGTERM);
        EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
            << "aoe serve did not exit 0 on SIGTERM; log:\n"
            << server_.Log();
      }
    }
    port_.reset();
    client_ns_.reset();
    target_ns_.reset();
    if (!dir_.empty()) fs::remove_all(dir_);
  }

  void StartServer() {
    std::vector<std::string> args = {"ip",
                                     "netns",
                                     "exec",
                                     target_ns_->name(),
                                     AOE_BINARY,
                                     "serve",
                                     "-i",
                                     "vt",
                                     "--state-dir",
                                     (dir_ / "state").string(),
                                     "e1.1=" + rw_.string(),
                                     "e1.2=" + ro_.string() + ",ro",
                                     "e1.3=" + window_.string() +
                                         ",offset=" + std::to_string(kWindowOffset) +
                                         ",length=" + std::to_string(kWindowLength)};
    ASSERT_TRUE(server_.Start(args, (dir_ / "serve.log").string()));
    started_ = true;
    for (int i = 0; i < 100; ++i) {  // ready when e1.1 answers a config query (10 s at most)
      if (Exchange(Config(1, 0, ""), 100ms)) return;
      if (!server_.Running()) FAIL() << "aoe serve exited early; log:\n" << server_.Log();
    }
    FAIL() << "aoe serve did not answer within 10 s; log:\n" << server_.Log();
  }

  // Frame building: bytes at their wire offsets (aoe-protocol.md §1-4) --------------------

  // A zero-filled frame of `size` bytes (at least 24) with the common header written.
  Bytes Header(uint8_t slot, uint8_t command, size_t size, uint8_t ver_flags = 0x10,
               std::optional<MacAddress> source = std::nullopt, uint16_t shelf = kShelf) {
    Bytes f(std::max<size_t>(size, 24));
    MacAddress::Broadcast().Store(f, 0);
    source.value_or(port_->mac()).Store(f, 6);
    StoreBe16(f, 12, 0x88A2);
    StoreU8(f, 14, ver_flags);
    StoreBe16(f, 16, shelf);
    StoreU8(f, 18, slot);
    StoreU8(f, 19, command);
    StoreBe32(f, 20, 0x40000000u | next_tag_++);
    return f;
  }

  Bytes Ata(uint8_t slot, uint8_t opcode, uint64_t lba, uint8_t count, const Bytes& data = {},
            uint8_t ver_flags = 0x10) {
    Bytes f = Header(slot, kCmdAta, 36 + data.size(), ver_flags);
    bool ext = opcode == kRead48 || opcode == kWrite48;
    bool write = opcode == kWrite28 || opcode == kWrite48;
    StoreU8(f, 24, static_cast<uint8_t>((ext ? 0x40 : 0) | (write ? 0x01 : 0)));
    StoreU8(f, 26, count);
    StoreU8(f, 27, opcode);
    for (size_t i = 0; i < 6; ++i) StoreU8(f, 28 + i, static_cast<uint8_t>(lba >> (8 * i)));
    std::copy(data.begin(), data.end(), f.begin() + 36);
    return f;
  }

  // Query Config carrying `string`, with the length field saying `declared` (default: the
  // string's size).
  Bytes Config(uint8_t slot, uint8_t ccmd, std::string_view string,
               std::optional<uint16_t> declared = std::nullopt) {
    Bytes f = Header(slot, kCmdConfig, 32 + string.size());
    StoreU8(f, 29, static_cast<uint8_t>(0x10 | ccmd));
    StoreBe16(f, 30, declared.value_or(static_cast<uint16_t>(string.size())));
    std::memcpy(f.data() + 32, string.data(), string.size());
    return f;
  }

  Bytes Mask(uint8_t slot, uint8_t mcmd, const std::vector<std::pair<uint8_t, MacAddress>>& dirs,
             std::optional<uint8_t> declared = std::nullopt,
             std::optional<MacAddress> source = std::nullopt) {
    Bytes f = Header(slot, kCmdMask, 28 + 8 * dirs.size(), 0x10, source);
    StoreU8(f, 25, mcmd);
    StoreU8(f, 27, declared.value_or(static_cast<uint8_t>(dirs.size())));
    for (size_t i = 0; i < dirs.size(); ++i) {
      StoreU8(f, 28 + 8 * i + 1, dirs[i].first);
      dirs[i].second.Store(f, 28 + 8 * i + 2);
    }
    return f;
  }

  Bytes Reserve(uint8_t slot, uint8_t rcmd, const std::vector<MacAddress>& macs,
                std::optional<uint8_t> declared = std::nullopt,
                std::optional<MacAddress> source = std::nullopt) {
    Bytes f = Header(slot, kCmdReserve, 26 + 6 * macs.size(), 0x10, source);
    StoreU8(f, 24, rcmd);
    StoreU8(f, 25, declared.value_or(static_cast<uint8_t>(macs.size())));
    for (size_t i = 0; i < macs.size(); ++i) macs[i].Store(f, 26 + 6 * i);
    return f;
  }

  // Exchange ---------------------------------------------------------------------------------

  // Sends frames (a frame the kernel refuses, e.g. shorter than 14 bytes, is simply not sent).
  void SendAll(const std::vector<Bytes>& frames) {
    std::vector<TxFrame> spans(frames.begin(), frames.end());
    (void)port_->Send(spans);
  }

  // Receives for up to `wait` (or until `want` replies came), returning replies whose tag is in
  // `tags` (all replies if `tags` is empty). Every reply is checked for well-formedness.
  std::vector<Reply> Receive(const std::vector<uint32_t>& tags, std::chrono::milliseconds wait,
                             size_t want = SIZE_MAX) {
    std::vector<Reply> replies;
    auto deadline = std::chrono::steady_clock::now() + wait;
    Bytes buffer(65536);
    while (replies.size() < want) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      pollfd p{port_->fd(), POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(std::max<int64_t>(left.count(), 0))) <= 0) break;
      RxSlot slot{buffer, 0, false};
      auto n = port_->Receive(std::span(&slot, 1));
      if (!n || *n == 0) continue;
      Reply r{Slice(buffer, 0, slot.length)};
      if (r.frame.size() < 24) continue;
      EXPECT_TRUE(WellFormed(r));
      uint32_t tag = LoadBe32(r.frame, 20);
      if (tags.empty() || std::find(tags.begin(), tags.end(), tag) != tags.end()) {
        replies.push_back(std::move(r));
      }
    }
    return replies;
  }

  // Sends `frame` and returns the first reply with its tag, or nullopt after `wait`.
  std::optional<Reply> Exchange(const Bytes& frame, std::chrono::milliseconds wait = 2s) {
    SendAll({frame});
    auto replies = Receive({LoadBe32(frame, 20)}, wait, 1);
    if (replies.empty()) return std::nullopt;
    return std::move(replies.front());
  }

  // Sends every frame at once and expects no reply to any of them within `wait`.
  void ExpectSilence(const std::vector<Bytes>& frames, std::chrono::milliseconds wait = 500ms) {
    std::vector<uint32_t> tags;
    for (const auto& f : frames) {
      if (f.size() >= 24) tags.push_back(LoadBe32(f, 20));  // shorter ones carry no tag
    }
    SendAll(frames);
    for (const auto& r : Receive(tags, wait)) {
      ADD_FAILURE() << "unexpected reply to tag 0x" << std::hex << LoadBe32(r.frame, 20)
                    << ", command " << int{r.U8(19)} << ", " << std::dec << r.frame.size()
                    << " bytes";
    }
  }

  void ExpectAtaError(const Bytes& request, uint8_t ata_error, const char* what) {
    auto r = Exchange(request);
    ASSERT_TRUE(r) << what << ": no reply";
    EXPECT_FALSE(r->error_flag()) << what << ": ATA failures go in the ATA registers";
    EXPECT_EQ(r->ata_status(), kStatusErr) << what;
    EXPECT_EQ(r->ata_error(), ata_error) << what;
    EXPECT_EQ(r->ata_count(), LoadU8(request, 26)) << what << ": sectors not transferred";
  }

  void ExpectAoeError(const Bytes& request, uint8_t error, const char* what) {
    auto r = Exchange(request);
    ASSERT_TRUE(r) << what << ": no reply";
    EXPECT_TRUE(r->error_flag()) << what;
    EXPECT_EQ(r->error(), error) << what;
    EXPECT_EQ(r->U8(19), LoadU8(request, 19)) << what;
  }

  // Image checks -----------------------------------------------------------------------------

  void ExpectUnchanged(const fs::path& path, const Bytes& before) {
    EXPECT_EQ(FirstDifference(ReadFile(path), before), -1) << path << " changed at this byte";
  }
  void ExpectWindowOutsideUnchanged() {
    Bytes now = ReadFile(window_);
    ASSERT_EQ(now.size(), window_before_.size());
    size_t begin = kWindowOffset * 512, end = (kWindowOffset + kWindowLength) * 512;
    EXPECT_EQ(FirstDifference(Slice(now, 0, begin), Slice(window_before_, 0, begin)), -1);
    EXPECT_EQ(FirstDifference(Slice(now, end, now.size() - end),
                              Slice(window_before_, end, now.size() - end)),
              -1);
  }
  void ExpectNoImageChanged() {
    ExpectUnchanged(rw_, rw_before_);
    ExpectUnchanged(ro_, ro_before_);
    ExpectUnchanged(window_, window_before_);
  }

  // The server still serves: IDENTIFY and a READ whose bytes match the image on disk.
  void ExpectStillServing() {
    ASSERT_TRUE(server_.Running()) << "aoe serve died; log:\n" << server_.Log();
    auto id = Exchange(Ata(1, kIdentify, 0, 1));
    ASSERT_TRUE(id) << "no IDENTIFY reply";
    EXPECT_EQ(id->ata_status(), kStatusOk);
    Bytes page = id->data(512);
    ASSERT_EQ(page.size(), 512u);
    uint64_t capacity = 0;  // words 100-103, little-endian
    for (size_t i = 0; i < 6; ++i)
      capacity |= uint64_t{static_cast<uint8_t>(page[200 + i])} << (8 * i);
    EXPECT_EQ(capacity, kRwSectors);
    for (uint8_t slot : std::initializer_list<uint8_t>{1, 2, 3}) {
      uint64_t lba = 100;
      auto r = Exchange(Ata(slot, kRead48, lba, 2));
      ASSERT_TRUE(r) << "no READ reply from e1." << int{slot};
      EXPECT_EQ(r->ata_status(), kStatusOk);
      const fs::path& path = slot == 1 ? rw_ : slot == 2 ? ro_ : window_;
      uint64_t file_lba = slot == 3 ? kWindowOffset + lba : lba;
      EXPECT_EQ(r->data(1024), Slice(ReadFile(path), file_lba * 512, 1024)) << "e1." << int{slot};
    }
  }

  std::optional<testing::NetNamespace> target_ns_;
  std::optional<testing::NetNamespace> client_ns_;
  std::unique_ptr<PacketPort> port_;
  fs::path dir_, rw_, ro_, window_;
  Bytes rw_before_, ro_before_, window_before_;
  testing::LoggedProcess server_;
  bool started_ = false;  // a test that never started it has nothing to check at the end
  uint32_t next_tag_ = 1;
};

TEST_F(HostileServe, LbasPastTheEndGetIdnfAndWriteNothing) {
  struct Export {
    uint8_t slot;
    uint64_t sectors;
  };
  const uint64_t k48 = uint64_t{1} << 48;
  for (Export e : {Export{1, kRwSectors}, Export{2, kRoSectors}, Export{3, kWindowLength}}) {
    SCOPED_TRACE("e1." + std::to_string(e.slot));
    ExpectAtaError(Ata(e.slot, kRead48, e.sectors, 1), kErrIdnf, "read48 at the end");
    ExpectAtaError(Ata(e.slot, kRead48, e.sectors - 1, 2), kErrIdnf, "read48 across the end");
    ExpectAtaError(Ata(e.slot, kRead48, k48 - 1, 1), kErrIdnf, "read48 at 2^48-1");
    ExpectAtaError(Ata(e.slot, kRead48, k48 - 2, 2), kErrIdnf, "read48 lba+count = 2^48");
    ExpectAtaError(Ata(e.slot, kRead48, k48 - 1, 2), kErrIdnf, "read48 lba+count > 2^48");
    ExpectAtaError(Ata(e.slot, kRead28, 0x0FFFFFFF, 1), kErrIdnf, "read28 at 2^28-1");
    // Linux's 0xE0 device bits in lba3 are masked off, so this is sector e.sectors: past the end.
    ExpectAtaError(Ata(e.slot, kRead28, 0xE0000000 | e.sectors, 1), kErrIdnf, "read28 + 0xE0");
    // A read-only export refuses any write with ABRT before looking at the LBA.
    uint8_t write_error = e.slot == 2 ? kErrAbrt : kErrIdnf;
    ExpectAtaError(Ata(e.slot, kWrite48, e.sectors, 1, RandomBytes(512, 1)), write_error,
                   "write48 at the end");
    ExpectAtaError(Ata(e.slot, kWrite48, e.sectors - 1, 2, RandomBytes(1024, 2)), write_error,
                   "write48 across the end");
    ExpectAtaError(Ata(e.slot, kWrite48, k48 - 1, 2, RandomBytes(1024, 3)), write_error,
                   "write48 wrapping 2^48");
    ExpectAtaError(Ata(e.slot, kWrite28, 0xEFFFFFFF, 1, RandomBytes(512, 4)), write_error,
                   "write28 at 2^28-1 with 0xE0");
  }
  ExpectNoImageChanged();
  ExpectStillServing();
}

TEST_F(HostileServe, WindowWritesLandInsideTheWindowOnly) {
  Bytes first = RandomBytes(1024, 21), last = RandomBytes(1024, 22);
  for (auto [lba, data] : {std::pair{uint64_t{0}, first}, std::pair{kWindowLength - 2, last}}) {
    auto r = Exchange(Ata(3, kWrite48, lba, 2, data));
    ASSERT_TRUE(r);
    EXPECT_EQ(r->ata_status(), kStatusOk);
  }
  Bytes now = ReadFile(window_);
  EXPECT_EQ(Slice(now, kWindowOffset * 512, 1024), first);
  EXPECT_EQ(Slice(now, (kWindowOffset + kWindowLength - 2) * 512, 1024), last);
  ExpectWindowOutsideUnchanged();
  ExpectUnchanged(rw_, rw_before_);
  ExpectUnchanged(ro_, ro_before_);
}

TEST_F(HostileServe, SectorCountsLargerThanTheFrameGetError2) {
  ExpectAoeError(Ata(1, kRead48, 0, kMaxSectors + 1), kAoeBadArgument, "read one over the MTU");
  ExpectAoeError(Ata(1, kRead48, 0, 255), kAoeBadArgument, "read 255 sectors");
  ExpectAoeError(Ata(1, kRead28, 0, 255), kAoeBadArgument, "read28 255 sectors");
  // Writes whose payload is shorter than the count says (the frame cannot carry it).
  ExpectAoeError(Ata(1, kWrite48, 0, 2, RandomBytes(512, 5)), kAoeBadArgument, "2 sectors, 1 sent");
  ExpectAoeError(Ata(1, kWrite48, 0, 1, RandomBytes(100, 6)), kAoeBadArgument, "1 sector, 100 B");
  ExpectAoeError(Ata(1, kWrite48, 0, 1), kAoeBadArgument, "1 sector, no payload");
  ExpectAoeError(Ata(3, kWrite28, 0, 255, RandomBytes(1024, 7)), kAoeBadArgument, "255 sectors");
  ExpectAoeError(Ata(3, kWrite48, 0, kMaxSectors + 1, RandomBytes(1024, 8)), kAoeBadArgument,
                 "3 sectors, 2 sent");
  ExpectNoImageChanged();
  ExpectStillServing();
}

TEST_F(HostileServe, OverlongConfigStringsAreIgnoredSilently) {
  const std::string long_string(1025, 'x');
  std::vector<Bytes> silent;
  for (uint8_t ccmd : std::initializer_list<uint8_t>{1, 2, 3, 4}) {
    silent.push_back(Config(1, ccmd, long_string));                 // 1025 bytes, all sent
    silent.push_back(Config(1, ccmd, "short", 2000));               // declared > 1024
    silent.push_back(Config(1, ccmd, std::string(100, 'y'), 500));  // declared > the frame
    silent.push_back(Config(1, ccmd, "", 0xFFFF));                  // declared 65535, nothing
  }
  ExpectSilence(silent);
  // A read ignores the request's string, however long it claims to be (aoeping sends filler).
  for (uint16_t declared : {uint16_t{1025}, uint16_t{0xFFFF}}) {
    auto r = Exchange(Config(1, 0, "filler", declared));
    ASSERT_TRUE(r);
    EXPECT_FALSE(r->error_flag());
    EXPECT_EQ(LoadBe16(r->frame, 30), 0) << "the config string must still be empty";
  }
  // CCmd values past 4 are bad arguments.
  for (uint8_t ccmd : std::initializer_list<uint8_t>{5, 9, 15})
    ExpectAoeError(Config(1, ccmd, ""), kAoeBadArgument, "ccmd");
  ExpectStillServing();
}

TEST_F(HostileServe, MaskAndReserveListsLongerThanTheFrameGetError2) {
  const MacAddress other({0x02, 0, 0x5e, 0, 0, 0x42});
  ExpectAoeError(Mask(1, 1, {{1, other}}, 200), kAoeBadArgument, "mask: 200 declared, 1 sent");
  ExpectAoeError(Mask(1, 1, {}, 255), kAoeBadArgument, "mask: 255 declared, none sent");
  // Half a directive after a whole one: the count says 2, only 1 is complete.
  Bytes half = Mask(1, 1, {{1, other}, {1, kFuzzA}}, 2);
  half.resize(half.size() - 4);
  ExpectAoeError(half, kAoeBadArgument, "mask: half a directive");
  ExpectAoeError(Reserve(1, 1, {other, kFuzzA}, 255), kAoeBadArgument, "reserve: 255 declared");
  ExpectAoeError(Reserve(1, 2, {}, 10), kAoeBadArgument, "reserve force: 10 declared, none");
  Bytes cut = Reserve(1, 1, {other}, 1);
  cut.resize(cut.size() - 1);
  ExpectAoeError(cut, kAoeBadArgument, "reserve: MAC cut short");
  // Unknown sub-commands.
  ExpectAoeError(Mask(1, 7, {}), kAoeBadArgument, "mcmd 7");
  ExpectAoeError(Reserve(1, 9, {}), kAoeBadArgument, "rcmd 9");
  auto bad = Exchange(Mask(1, 1, {{1, other}, {9, kFuzzA}}));  // DCmd 9: MError 2 at index 1
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->U8(26), 2);
  EXPECT_EQ(bad->U8(27), 1);
  // The one good directive before the bad one stands; remove it again.
  ASSERT_TRUE(Exchange(Mask(1, 1, {{2, other}}, std::nullopt, other)));

  // Nothing stuck: both lists are empty and anyone may write.
  auto mask = Exchange(Mask(1, 0, {}));
  ASSERT_TRUE(mask);
  EXPECT_EQ(mask->U8(27), 0);
  auto reservation = Exchange(Reserve(1, 0, {}));
  ASSERT_TRUE(reservation);
  EXPECT_EQ(reservation->U8(25), 0);
  ExpectNoImageChanged();
  ExpectStillServing();
}

TEST_F(HostileServe, WrongVersionsGetError5AndDoNothing) {
  for (uint8_t version : std::initializer_list<uint8_t>{0, 2, 15}) {
    SCOPED_TRACE("version " + std::to_string(version));
    auto ver_flags = static_cast<uint8_t>(version << 4);
    ExpectAoeError(Ata(1, kIdentify, 0, 1, {}, ver_flags), kAoeBadVersion, "identify");
    ExpectAoeError(Ata(1, kWrite48, 0, 1, RandomBytes(512, 9), ver_flags), kAoeBadVersion, "write");
    Bytes config = Config(1, 4, "set by a bad version");
    StoreU8(config, 14, ver_flags);
    ExpectAoeError(config, kAoeBadVersion, "config force set");
  }
  auto r = Exchange(Config(1, 0, ""));
  ASSERT_TRUE(r);
  EXPECT_EQ(LoadBe16(r->frame, 30), 0);
  ExpectNoImageChanged();
  ExpectStillServing();
}

TEST_F(HostileServe, ResponsesRuntsAndForeignFramesGetSilence) {
  std::vector<Bytes> silent;
  // The response flag marks another target's reply: never answered, never acted on.
  silent.push_back(Ata(1, kIdentify, 0, 1, {}, 0x18));
  silent.push_back(Ata(1, kWrite48, 0, 1, RandomBytes(512, 10), 0x18));
  silent.push_back(Ata(1, kWrite48, 0, 1, RandomBytes(512, 10), 0x1C));
  Bytes config_reply = Config(1, 4, "hijack");
  StoreU8(config_reply, 14, 0x18);
  silent.push_back(config_reply);
  // Runts: every length from 14 to 35 of an ATA request, and the short forms of the others.
  Bytes ata = Ata(1, kIdentify, 0, 1);
  for (size_t n = 14; n < 36; ++n) silent.push_back(Slice(ata, 0, n));
  Bytes config = Config(1, 0, "");
  for (size_t n = 24; n < 32; ++n) silent.push_back(Slice(config, 0, n));
  Bytes mask = Mask(1, 0, {});
  for (size_t n = 24; n < 28; ++n) silent.push_back(Slice(mask, 0, n));
  Bytes reserve = Reserve(1, 0, {});
  for (size_t n = 24; n < 26; ++n) silent.push_back(Slice(reserve, 0, n));
  // Other shelves and slots.
  silent.push_back(Header(9, kCmdConfig, 60));
  silent.push_back(Header(1, kCmdConfig, 60, 0x10, std::nullopt, 7));
  ExpectSilence(silent);
  // Shorter than an Ethernet header (the kernel may refuse to send these at all).
  std::vector<Bytes> tiny;
  for (size_t n = 0; n < 14; ++n) tiny.push_back(Slice(ata, 0, n));
  for (const auto& f : tiny) SendAll({f});
  ExpectNoImageChanged();
  ExpectStillServing();
}

// A request sent to another host's MAC reaches the server's socket here (a veth delivers every
// frame, as a bridge port, a promiscuous NIC or a flooding switch does); it is another target's,
// which may have this same shelf.slot, and must not be written here.
TEST_F(HostileServe, RequestsForAnotherHostGetSilenceAndWriteNothing) {
  const MacAddress other({0x02, 0x00, 0x00, 0x00, 0x00, 0x99});
  std::vector<Bytes> silent = {Ata(1, kWrite48, 0, 1, RandomBytes(512, 11)),
                               Ata(1, kIdentify, 0, 1), Config(1, 0, "")};
  for (Bytes& f : silent) other.Store(f, 0);
  ExpectSilence(silent);
  ExpectNoImageChanged();
  ExpectStillServing();
}

TEST_F(HostileServe, GarbageAfterValidHeadersAndMaxLengthFramesAreServed) {
  Bytes garbage = RandomBytes(kMaxFrame, 30);
  auto with_garbage = [&](Bytes f) {
    size_t n = f.size();
    f.resize(kMaxFrame);
    std::copy(garbage.begin() + static_cast<ptrdiff_t>(n), garbage.end(),
              f.begin() + static_cast<ptrdiff_t>(n));
    return f;
  };
  auto id = Exchange(with_garbage(Ata(1, kIdentify, 0, 1)));
  ASSERT_TRUE(id);
  EXPECT_EQ(id->ata_status(), kStatusOk);
  auto read = Exchange(with_garbage(Ata(2, kRead48, 7, 2)));
  ASSERT_TRUE(read);
  EXPECT_EQ(read->ata_status(), kStatusOk);
  EXPECT_EQ(read->data(1024), Slice(ro_before_, 7 * 512, 1024));
  auto config = Exchange(with_garbage(Config(1, 0, "")));
  ASSERT_TRUE(config);
  EXPECT_FALSE(config->error_flag());
  auto mask = Exchange(with_garbage(Mask(1, 0, {})));
  ASSERT_TRUE(mask);
  EXPECT_EQ(mask->U8(27), 0);
  // A 1-sector write in a full-size frame writes that one sector and nothing more.
  Bytes data = RandomBytes(512, 31);
  auto write = Exchange(with_garbage(Ata(1, kWrite48, 9, 1, data)));
  ASSERT_TRUE(write);
  EXPECT_EQ(write->ata_status(), kStatusOk);
  Bytes expected = rw_before_;
  std::copy(data.begin(), data.end(), expected.begin() + 9 * 512);
  ExpectUnchanged(rw_, expected);
  ExpectUnchanged(ro_, ro_before_);
  ExpectUnchanged(window_, window_before_);
}

TEST_F(HostileServe, UnknownCommandsAndOpcodesAreRefused) {
  for (uint8_t command : std::initializer_list<uint8_t>{4, 9, 0x7F, 0xF0, 0xFF}) {
    ExpectAoeError(Header(1, command, 60), kAoeUnknownCommand, "unknown AoE command");
  }
  // Unsupported ATA opcodes get ABRT in the ATA registers (Linux drops AoE-error replies).
  for (uint8_t opcode : std::initializer_list<uint8_t>{0x00, 0xB0, 0xC8, 0xCA, 0xF8, 0xFF}) {
    ExpectAtaError(Ata(1, opcode, 0, 1), kErrAbrt, "unsupported opcode");
  }
  ExpectAoeError(Ata(1, kIdentify, 0, 2), kAoeBadArgument, "IDENTIFY with count 2");
  ExpectNoImageChanged();
  ExpectStillServing();
}

// 20,000 seeded random frames: mostly AoE-shaped (so they get past the first checks and reach
// every command), some pure noise. Afterwards the lists the random frames may have filled are
// emptied, and the server must still serve correctly with the read-only image and everything
// outside the window untouched.
TEST_F(HostileServe, RandomFramesDoNotCrashOrEscapeTheWindow) {
  constexpr size_t kFrames = 20000;
  constexpr size_t kBatch = 64;
  std::mt19937 rng(0xA0E5EED);
  auto pick = [&](uint32_t n) { return static_cast<uint32_t>(rng() % n); };
  const MacAddress macs[] = {port_->mac(), kFuzzA, kFuzzB};
  const uint8_t opcodes[] = {kRead28, kRead48, kWrite28, kWrite48, kIdentify, 0xE7, 0xEA, 0xE5};
  auto started = std::chrono::steady_clock::now();
  size_t replies = 0;
  std::vector<Bytes> batch;
  for (size_t i = 0; i < kFrames; ++i) {
    uint32_t size_class = pick(10);
    size_t size = size_class < 5   ? 14 + pick(90)
                  : size_class < 8 ? 100 + pick(500)
                                   : 600 + pick(static_cast<uint32_t>(kMaxFrame - 599));
    Bytes f(size);
    for (auto& b : f) b = std::byte(rng() & 0xFF);
    StoreBe16(f, 12, 0x88A2);  // anything else never reaches the server's socket
    if (size >= 24) {
      macs[pick(3)].Store(f, 6);
      bool shaped = pick(10) != 0;
      uint8_t command = LoadU8(f, 19);
      if (shaped) {
        MacAddress::Broadcast().Store(f, 0);
        StoreU8(f, 14, pick(10) == 0 ? static_cast<uint8_t>(rng()) : uint8_t{0x10});
        StoreBe16(f, 16, pick(8) == 0 ? uint16_t{0xFFFF} : kShelf);
        StoreU8(f, 18, pick(8) == 0 ? uint8_t{0xFF} : static_cast<uint8_t>(1 + pick(3)));
        command = pick(10) == 0 ? static_cast<uint8_t>(rng()) : static_cast<uint8_t>(pick(4));
      } else if (command == kCmdMask || command == kCmdReserve) {
        command = kCmdAta;  // noise must not fill the lists with MACs the test cannot undo
      }
      StoreU8(f, 19, command);
      if (command == kCmdAta && size >= 36 && shaped) {
        StoreU8(f, 26, pick(3) == 0 ? static_cast<uint8_t>(rng()) : static_cast<uint8_t>(pick(4)));
        StoreU8(f, 27, pick(8) == 0 ? static_cast<uint8_t>(rng()) : opcodes[pick(8)]);
        if (pick(2) == 0) {  // LBA near an end: small, near 2^28, or near 2^48
          uint64_t base = pick(3) == 0 ? 0 : pick(2) ? 0x0FFFFFF0 : 0xFFFFFFFFFFF0;
          uint64_t lba = base + pick(static_cast<uint32_t>(kRwSectors + 16));
          for (size_t k = 0; k < 6; ++k) StoreU8(f, 28 + k, static_cast<uint8_t>(lba >> (8 * k)));
        }
      } else if (command == kCmdConfig && size >= 32 && shaped) {
        StoreU8(f, 29, static_cast<uint8_t>(0x10 | pick(6)));
        StoreBe16(f, 30, static_cast<uint16_t>(pick(2) ? pick(1100) : rng()));
      } else if (command == kCmdMask && size >= 28) {
        StoreU8(f, 25, static_cast<uint8_t>(pick(3)));
        for (size_t at = 28; at + 8 <= size; at += 8) macs[pick(3)].Store(f, at + 2);
      } else if (command == kCmdReserve && size >= 26) {
        StoreU8(f, 24, static_cast<uint8_t>(pick(4)));
        for (size_t at = 26; at + 6 <= size; at += 6) macs[pick(3)].Store(f, at);
      }
    }
    batch.push_back(std::move(f));
    if (batch.size() == kBatch || i + 1 == kFrames) {
      SendAll(batch);
      batch.clear();
      replies += Receive({}, 2ms).size();  // drains and checks every reply
    }
  }
  replies += Receive({}, 300ms).size();
  auto elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - started);
  std::printf("%zu random frames, %zu replies, %lld ms\n", kFrames, replies,
              static_cast<long long>(elapsed.count()));

  // Empty the mask and reservation lists from every MAC that might be on them. Each list change
  // is persisted with fsync, so the server may still be working through a backlog (and its
  // socket may have dropped frames): repeat until every export answers us with an empty mask.
  auto cleaned = [&] {
    for (uint8_t slot : std::initializer_list<uint8_t>{1, 2, 3}) {
      for (const MacAddress& from : macs) {
        std::vector<std::pair<uint8_t, MacAddress>> deletes;
        for (const MacAddress& m : macs) deletes.emplace_back(2, m);
        SendAll(
            {Mask(slot, 1, deletes, std::nullopt, from), Reserve(slot, 2, {}, std::nullopt, from)});
      }
    }
    for (uint8_t slot : std::initializer_list<uint8_t>{1, 2, 3}) {
      auto mask = Exchange(Mask(slot, 0, {}), 500ms);
      if (!mask || mask->U8(27) != 0) return false;
    }
    return true;
  };
  bool clean = false;
  for (int attempt = 0; attempt < 20 && !clean; ++attempt) clean = cleaned();
  ASSERT_TRUE(clean) << "an export no longer answers us with an empty mask list";
  ExpectUnchanged(ro_, ro_before_);
  ExpectWindowOutsideUnchanged();
  ExpectStillServing();
}

}  // namespace
}  // namespace aoe
