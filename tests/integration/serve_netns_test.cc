// `aoe serve` over real packet sockets: the real binary runs in one network namespace, this test
// is the initiator in another, joined by a veth pair at MTU 1500 and 9000. Every AoE command is
// exercised with hand-built frames, and the image files are checked on disk. Each test runs in
// every --packet-io mode: ring (PACKET_MMAP rings, read replies built in TX ring slots), socket
// (the socket path) and auto, the default, which on a veth takes the rings but sends every
// reply by its copy socket (net/ring_packet_port.h, TxLending).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "net/fanout.h"
#include "net/packet_io.h"
#include "net/packet_port.h"
#include "net/testing/netns.h"
#include "net/testing/send_all.h"
#include "net/testing/spawn.h"
#include "net/testing/test_data.h"
#include "proto/ata.h"
#include "proto/config.h"
#include "proto/header.h"
#include "proto/identify.h"
#include "proto/mask.h"

namespace aoe {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using Bytes = std::vector<std::byte>;
using testing::RandomBytes;
using testing::ReadFile;
using testing::WriteFile;

constexpr uint16_t kShelf = 1;
constexpr uint64_t kDiskSectors = 32768;  // e1.1: 16 MiB read-write
constexpr uint64_t kRoSectors = 2048;     // e1.2: 1 MiB read-only
constexpr uint64_t kWindowFileSectors = 8192;
constexpr uint64_t kWindowOffset = 2048;  // e1.3: sectors 2048..6143 of a 4 MiB file
constexpr uint64_t kWindowLength = 4096;

// One decoded reply.
struct Reply {
  Bytes frame;
  proto::Header header;
  uint8_t ata_status() const { return LoadU8(frame, 27); }
  uint8_t ata_error() const { return LoadU8(frame, 25); }
  ConstByteSpan data() const { return ConstByteSpan(frame).subspan(proto::kAtaHeaderSize); }
};

// The read system calls a process has made (`syscr` of /proc/PID/io).
uint64_t SystemCallsThatRead(pid_t pid) {
  std::ifstream io("/proc/" + std::to_string(pid) + "/io");
  std::string key;
  uint64_t value = 0;
  while (io >> key >> value) {
    if (key == "syscr:") return value;
  }
  ADD_FAILURE() << "no syscr in /proc/" << pid << "/io";
  return 0;
}

// With --loops 2 the kernel hands a MAC's ATA commands to loop (low 32 bits of the MAC) mod 2,
// and every other command to loop 0. The client's own MAC is made odd, so that its reads and
// writes (every size, every port kind) are served by loop 1, on copies of the exports, while
// its config, mask and reserve commands go to loop 0, which owns the exports' state; kStranger
// is odd too, so a reservation or mask the client sets on loop 0 must bind what loop 1 serves
// to the stranger.
const MacAddress kClientMac = *MacAddress::Parse("02:00:5e:00:00:11");
// An even MAC: with --loops 2, its ATA commands are loop 0's.
const MacAddress kEvenHost = *MacAddress::Parse("02:00:5e:00:00:20");

// (MTU, --packet-io, --loops)
class ServeNetns : public ::testing::TestWithParam<std::tuple<size_t, PacketIo, size_t>> {
 protected:
  void SetUp() override {
    if (auto why = testing::NetnsUnavailableReason(); !why.empty()) GTEST_SKIP() << why;
    mtu_ = std::get<0>(GetParam());
    packet_io_ = std::get<1>(GetParam());
    loops_ = std::get<2>(GetParam());
    auto segment = testing::CreateVethSegment("aoes", "vt", "vc", mtu_);
    ASSERT_TRUE(segment);
    target_ns_.emplace(std::move(segment->a));
    client_ns_.emplace(std::move(segment->b));
    if (loops_ > 1) {
      ASSERT_TRUE(client_ns_->Run([] {
        ASSERT_EQ(std::system(("ip link set dev vc address " + kClientMac.ToString()).c_str()), 0);
      }));
    }

    char tmpl[] = "/tmp/aoe-serve-test-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    disk_ = dir_ / "disk.img";
    ro_ = dir_ / "ro.img";
    window_file_ = dir_ / "window.img";
    WriteFile(disk_, RandomBytes(kDiskSectors * 512, 1));
    WriteFile(ro_, RandomBytes(kRoSectors * 512, 2));
    WriteFile(window_file_, RandomBytes(kWindowFileSectors * 512, 3));

    ASSERT_TRUE(client_ns_->Run([&] {
      // kAny: the tests also play other hosts (requests from MACs not the port's own) and
      // take the replies addressed to them, which an initiator port drops as another host's.
      auto port = PacketPort::Open("vc", PacketPortOptions{.role = PortRole::kAny});
      if (port) port_ = std::move(*port);
    }));
    ASSERT_TRUE(port_) << "cannot open the client packet socket";
    StartServer(DefaultArgs());
  }

  void TearDown() override {
    if (server_.Running()) {
      int status = server_.Stop(SIGTERM);
      EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
          << "aoe serve did not exit 0 on SIGTERM; log:\n"
          << server_.Log();
    }
    port_.reset();
    client_ns_.reset();
    target_ns_.reset();
    if (!dir_.empty()) fs::remove_all(dir_);
  }

  fs::path control_socket() const { return dir_ / "ctl.sock"; }

  // `aoe ctl --json COMMAND` against the server's control socket.
  nlohmann::json Control(const std::string& command) {
    const std::string line =
        std::string(AOE_BINARY) + " ctl --json -S " + control_socket().string() + " " + command;
    FILE* out = ::popen(line.c_str(), "r");
    if (out == nullptr) return {};
    std::string text;
    char buffer[4096];
    while (size_t n = std::fread(buffer, 1, sizeof buffer, out)) text.append(buffer, n);
    EXPECT_EQ(::pclose(out), 0) << line << ": " << text;
    return nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  }

  // The loop `aoe serve --loops N` serves `mac`'s ATA commands on (net/fanout.h).
  size_t LoopOf(const MacAddress& mac) const {
    Bytes frame(proto::kHeaderSize);
    mac.Store(frame, 6);
    return FanoutMember(frame, loops_);
  }

  std::vector<std::string> DefaultArgs() const {
    // clang-format off
    return {"-i", "vt", "--state-dir", (dir_ / "state").string(), "--log-level", "debug",
            "--packet-io", std::string(PacketIoName(packet_io_)),
            "--loops", std::to_string(loops_), "--control-socket", control_socket().string(),
            "e1.1=" + disk_.string(), "e1.2=" + ro_.string() + ",ro",
            "e1.3=" + window_file_.string() + ",offset=" + std::to_string(kWindowOffset) +
                ",length=" + std::to_string(kWindowLength)};
    // clang-format on
  }

  void StartServer(const std::vector<std::string>& serve_args) {
    std::vector<std::string> args = {"ip",       "netns", "exec", target_ns_->name(),
                                     AOE_BINARY, "serve"};
    args.insert(args.end(), serve_args.begin(), serve_args.end());
    ASSERT_TRUE(server_.Start(args, (dir_ / "serve.log").string()));
    // Ready when e1.1 answers a config query (bounded: 10 s).
    for (int i = 0; i < 100; ++i) {
      if (Exchange(ConfigRequest(kShelf, 1, proto::ConfigCommand::kRead, ""), 100ms)) return;
      if (!server_.Running()) FAIL() << "aoe serve exited early; log:\n" << server_.Log();
    }
    FAIL() << "aoe serve did not answer within 10 s; log:\n" << server_.Log();
  }

  // Frame building --------------------------------------------------------------------------

  Bytes Frame(uint16_t shelf, uint8_t slot, proto::Command command, size_t size,
              std::optional<MacAddress> source = std::nullopt) {
    Bytes frame(std::max(size, proto::kHeaderSize));
    proto::Header h;
    h.destination = MacAddress::Broadcast();
    h.source = source.value_or(port_->mac());
    h.shelf = shelf;
    h.slot = slot;
    h.command = static_cast<uint8_t>(command);
    h.tag = 0x80000000u | next_tag_++;
    proto::EncodeHeader(h, frame);
    return frame;
  }

  Bytes AtaRequest(uint8_t slot, uint8_t opcode, uint64_t lba, uint8_t count,
                   const Bytes& data = {}, std::optional<MacAddress> source = std::nullopt) {
    Bytes frame =
        Frame(kShelf, slot, proto::Command::kAta, proto::kAtaHeaderSize + data.size(), source);
    proto::AtaArg a;
    a.aflags = proto::IsLba48Opcode(opcode) ? proto::kAtaFlagExtended : 0;
    if (!data.empty()) a.aflags |= proto::kAtaFlagWrite;
    a.sector_count = count;
    a.cmd_status = opcode;
    a.lba = lba;
    proto::EncodeAta(a, frame);
    if (!data.empty()) std::memcpy(frame.data() + proto::kAtaHeaderSize, data.data(), data.size());
    return frame;
  }

  Bytes ConfigRequest(uint16_t shelf, uint8_t slot, proto::ConfigCommand ccmd,
                      std::string_view text) {
    Bytes frame =
        Frame(shelf, slot, proto::Command::kConfig, proto::kConfigHeaderSize + text.size());
    proto::ConfigArg c;
    c.command = static_cast<uint8_t>(ccmd);
    c.string = std::as_bytes(std::span(text.data(), text.size()));
    proto::EncodeConfig(c, frame);
    return frame;
  }

  // Exchange ---------------------------------------------------------------------------------

  // Sends `frame` and returns every reply carrying its tag that arrives within `wait`.
  std::vector<Reply> ExchangeAll(const Bytes& frame, std::chrono::milliseconds wait) {
    uint32_t tag = LoadBe32(frame, 20);
    const TxFrame out{ConstByteSpan(frame)};
    EXPECT_TRUE(port_->Send(std::span(&out, 1)));
    std::vector<Reply> replies;
    auto deadline = std::chrono::steady_clock::now() + wait;
    Bytes buffer(65536);
    while (true) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) break;
      pollfd p{port_->fd(), POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) break;
      RxSlot slot{buffer, 0, false};
      auto n = port_->Receive(std::span(&slot, 1));
      if (!n || *n == 0) continue;
      Bytes got(buffer.begin(), buffer.begin() + static_cast<ptrdiff_t>(slot.length));
      auto header = proto::DecodeHeader(got);
      if (!header || header->tag != tag) continue;
      replies.push_back({std::move(got), *header});
    }
    return replies;
  }

  // Sends `frame` and returns the first reply with its tag, or nullopt after `wait`.
  std::optional<Reply> Exchange(const Bytes& frame, std::chrono::milliseconds wait = 2s) {
    uint32_t tag = LoadBe32(frame, 20);
    const TxFrame out{ConstByteSpan(frame)};
    if (!port_->Send(std::span(&out, 1))) return std::nullopt;
    auto deadline = std::chrono::steady_clock::now() + wait;
    Bytes buffer(65536);
    while (true) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return std::nullopt;
      pollfd p{port_->fd(), POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) return std::nullopt;
      RxSlot slot{buffer, 0, false};
      auto n = port_->Receive(std::span(&slot, 1));
      if (!n || *n == 0) continue;
      Bytes got(buffer.begin(), buffer.begin() + static_cast<ptrdiff_t>(slot.length));
      auto header = proto::DecodeHeader(got);
      if (header && header->tag == tag) return Reply{std::move(got), *header};
    }
  }

  uint8_t MaxSectors() const { return proto::SectorsPerFrame(mtu_); }

  // Sends every frame, 64 per call, as fast as the port takes them (a burst the target has to
  // absorb), for at most 10 s (testing/send_all.h). Returns whether all were sent.
  bool SendAll(const std::vector<Bytes>& frames) {
    Result<size_t> unsent = testing::SendAll(*port_, frames, 10s, 64);
    return unsent && *unsent == 0;
  }

  size_t mtu_ = 1500;
  PacketIo packet_io_ = PacketIo::kAuto;
  size_t loops_ = 1;
  std::optional<testing::NetNamespace> target_ns_;
  std::optional<testing::NetNamespace> client_ns_;
  std::unique_ptr<PacketPort> port_;
  fs::path dir_, disk_, ro_, window_file_;
  testing::LoggedProcess server_;
  uint32_t next_tag_ = 1;
};

const MacAddress kStranger = *MacAddress::Parse("02:00:5e:00:00:99");

TEST_P(ServeNetns, BroadcastDiscoveryFindsEveryExport) {
  auto replies = ExchangeAll(
      ConfigRequest(proto::kWildcardShelf, proto::kWildcardSlot, proto::ConfigCommand::kRead, ""),
      500ms);
  ASSERT_EQ(replies.size(), 3u);
  std::vector<int> slots;
  for (const auto& r : replies) {
    EXPECT_EQ(r.header.version, 1);
    EXPECT_TRUE(r.header.is_response());
    EXPECT_FALSE(r.header.is_error());
    EXPECT_EQ(r.header.shelf, kShelf);
    EXPECT_GE(r.frame.size(), proto::kMinFrameSize);
    auto c = proto::DecodeConfig(r.frame);
    ASSERT_TRUE(c);
    EXPECT_GE(c->buffer_count, 2);
    EXPECT_EQ(c->sector_count, MaxSectors()) << "scnt must be (MTU-36)/512";
    slots.push_back(r.header.slot);
  }
  std::sort(slots.begin(), slots.end());
  EXPECT_EQ(slots, (std::vector<int>{1, 2, 3}));
}

TEST_P(ServeNetns, IdentifyReportsCapacityAndAnswersWildcard) {
  auto r = Exchange(AtaRequest(1, proto::ata_op::kIdentifyDevice, 0, 1));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->ata_status(), proto::kAtaStatusReady);
  EXPECT_EQ(proto::ReadIdentifyCapacity(r->data()), kDiskSectors);
  EXPECT_EQ(proto::ReadIdentifyCapacity(
                Exchange(AtaRequest(3, proto::ata_op::kIdentifyDevice, 0, 1))->data()),
            kWindowLength);

  // WinAoE broadcasts IDENTIFY to shelf 0xFFFF slot 0xFF: every export answers with its own
  // address.
  Bytes wildcard = AtaRequest(1, proto::ata_op::kIdentifyDevice, 0, 1);
  StoreBe16(wildcard, 16, proto::kWildcardShelf);
  StoreU8(wildcard, 18, proto::kWildcardSlot);
  auto all = ExchangeAll(wildcard, 500ms);
  EXPECT_EQ(all.size(), 3u);
  for (const auto& reply : all) EXPECT_EQ(reply.header.shelf, kShelf);
}

TEST_P(ServeNetns, WritesAndReadsEveryFormAtFullFrameSize) {
  uint8_t n = MaxSectors();
  const uint64_t lbas[] = {0, 1, 12345, kDiskSectors - n};
  for (uint64_t lba : lbas) {
    Bytes data = RandomBytes(n * 512, static_cast<uint32_t>(lba + 7));
    auto w = Exchange(AtaRequest(1, proto::ata_op::kWriteSectorsExt, lba, n, data));
    ASSERT_TRUE(w) << "no reply to WRITE EXT at " << lba;
    EXPECT_EQ(w->ata_status(), proto::kAtaStatusReady);
    EXPECT_FALSE(w->header.is_error());

    auto r48 = Exchange(AtaRequest(1, proto::ata_op::kReadSectorsExt, lba, n));
    ASSERT_TRUE(r48);
    ASSERT_EQ(r48->data().size(), data.size());
    EXPECT_TRUE(std::equal(data.begin(), data.end(), r48->data().begin()));

    // The 28-bit form as Linux sends it: device bits 0xE0 in the top nibble of lba3.
    auto r28 = Exchange(AtaRequest(1, proto::ata_op::kReadSectors, lba | 0xE0000000ull, n));
    ASSERT_TRUE(r28);
    EXPECT_EQ(r28->ata_status(), proto::kAtaStatusReady);
    EXPECT_TRUE(std::equal(data.begin(), data.end(), r28->data().begin()));
  }
  auto flush = Exchange(AtaRequest(1, proto::ata_op::kFlushCacheExt, 0, 0));
  ASSERT_TRUE(flush);
  EXPECT_EQ(flush->ata_status(), proto::kAtaStatusReady);

  // After FLUSH the data is in the image file itself.
  Bytes image = ReadFile(disk_);
  Bytes expected = RandomBytes(n * 512, 12345 + 7);
  EXPECT_TRUE(std::equal(expected.begin(), expected.end(), image.begin() + 12345 * 512));
}

// An image on tmpfs is served with its read replies' data sent from the page cache (the file
// mapped: BlockBackend::View), also through a window; and an image truncated under the running
// target (an administrator's mistake) must not take the target down with it.
TEST_P(ServeNetns, ImageOnTmpfsIsServedFromThePageCache) {
  char tmpl[] = "/dev/shm/aoe-serve-test-XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  const fs::path shm_dir = tmpl;
  struct RemoveDir {
    fs::path dir;
    ~RemoveDir() { fs::remove_all(dir); }
  } remove_dir{shm_dir};
  const fs::path image = shm_dir / "mem.img";
  constexpr uint64_t kSectors = 8192;
  WriteFile(image, RandomBytes(kSectors * 512, 9));
  ASSERT_EQ(server_.Stop(SIGTERM), 0);
  std::vector<std::string> args = DefaultArgs();
  args.push_back("e1.4=" + image.string());
  args.push_back("e1.5=" + image.string() + ",ro,offset=1024,length=2048");
  StartServer(args);

  const uint8_t n = MaxSectors();
  Bytes content = ReadFile(image);
  for (uint64_t lba : {uint64_t{0}, uint64_t{1}, uint64_t{4097}, kSectors - n}) {
    auto r = Exchange(AtaRequest(4, proto::ata_op::kReadSectorsExt, lba, n));
    ASSERT_TRUE(r) << "no reply to READ EXT at " << lba;
    EXPECT_EQ(r->ata_status(), proto::kAtaStatusReady);
    ASSERT_EQ(r->data().size(), n * 512u);
    EXPECT_TRUE(std::equal(r->data().begin(), r->data().end(), content.begin() + lba * 512))
        << "at " << lba;
  }
  // Written through the target, read back through it and through the window.
  Bytes data = RandomBytes(n * 512, 10);
  auto w = Exchange(AtaRequest(4, proto::ata_op::kWriteSectorsExt, 1030, n, data));
  ASSERT_TRUE(w);
  EXPECT_EQ(w->ata_status(), proto::kAtaStatusReady);
  auto back = Exchange(AtaRequest(4, proto::ata_op::kReadSectorsExt, 1030, n));
  ASSERT_TRUE(back);
  EXPECT_TRUE(std::equal(data.begin(), data.end(), back->data().begin()));
  auto windowed = Exchange(AtaRequest(5, proto::ata_op::kReadSectorsExt, 6, n));
  ASSERT_TRUE(windowed);
  EXPECT_TRUE(std::equal(data.begin(), data.end(), windowed->data().begin()));
  auto past_window = Exchange(AtaRequest(5, proto::ata_op::kReadSectorsExt, 2048 - n + 1, n));
  ASSERT_TRUE(past_window);
  EXPECT_EQ(past_window->ata_error(), proto::kAtaErrorIdNotFound);

  // Bursts of writes, each all in flight at once, over the same sectors: on rings their data
  // goes to the image straight from the target's receive ring (Port::ReceiveInPlace), and the
  // four bursts take the ring round twice. Every byte of the last burst lands where it belongs.
  // (End to end only: that no slot is given back before storage is done with it is
  // ServerTest.WritesGoToStorageFromWhereThePortReceivedThem's job.)
  constexpr uint64_t kBurst = 256;
  constexpr uint32_t kBursts = 4;
  auto data_of = [&](uint32_t burst, uint64_t i) {
    return RandomBytes(n * 512, static_cast<uint32_t>(100 + burst * kBurst + i));
  };
  for (uint32_t b = 0; b < kBursts; ++b) {
    std::vector<Bytes> burst;
    for (uint64_t i = 0; i < kBurst; ++i) {
      burst.push_back(
          AtaRequest(4, proto::ata_op::kWriteSectorsExt, 2048 + i * n, n, data_of(b, i)));
    }
    ASSERT_TRUE(SendAll(burst)) << "burst " << b;
    size_t acknowledged = 0;
    Bytes buffer(65536);
    const auto deadline = std::chrono::steady_clock::now() + 5s;
    while (acknowledged < kBurst && std::chrono::steady_clock::now() < deadline) {
      pollfd p{port_->fd(), POLLIN, 0};
      if (::poll(&p, 1, 100) <= 0) continue;
      RxSlot slot{buffer, 0, false};
      auto got = port_->Receive(std::span(&slot, 1));
      if (!got || *got == 0) continue;
      auto header = proto::DecodeHeader(ConstByteSpan(buffer).first(slot.length));
      if (header && header->command == static_cast<uint8_t>(proto::Command::kAta) &&
          !header->is_error() && LoadU8(buffer, 27) == proto::kAtaStatusReady) {
        ++acknowledged;
      }
    }
    ASSERT_EQ(acknowledged, kBurst) << "burst " << b;
  }
  Bytes written = ReadFile(image);
  for (uint64_t i = 0; i < kBurst; ++i) {
    Bytes expected = data_of(kBursts - 1, i);
    ASSERT_TRUE(std::equal(expected.begin(), expected.end(),
                           written.begin() + static_cast<ptrdiff_t>((2048 + i * n) * 512)))
        << "write " << i;
  }
  content = written;

  // Sent from the page cache means not read: 64 reads of the tmpfs image cost the target no
  // read system call, where 64 of the disk image (e1.1, on /tmp) cost one each. Not with
  // `--packet-io ring`, whose TX ring a read is read into (a lent slot) on every interface.
  if (packet_io_ != PacketIo::kRing) {
    auto reads_of = [&](uint8_t slot) {
      const uint64_t before = SystemCallsThatRead(server_.pid());
      for (uint64_t i = 0; i < 64; ++i) {
        EXPECT_TRUE(Exchange(AtaRequest(slot, proto::ata_op::kReadSectorsExt, i * n, n)));
      }
      return SystemCallsThatRead(server_.pid()) - before;
    };
    EXPECT_LT(reads_of(4), 16u) << "reads of the tmpfs image were read, not sent from the cache";
    EXPECT_GE(reads_of(1), 64u) << "the count does not see reads (control)";
  }

  // The image shrinks to half under the target. Reads of what is left still work; reads of
  // what is gone get no good data (an error, or no reply, which the initiator retries), and
  // the target keeps serving every export.
  fs::resize_file(image, kSectors / 2 * 512);
  auto gone = Exchange(AtaRequest(4, proto::ata_op::kReadSectorsExt, kSectors - n, n), 500ms);
  if (gone) {
    EXPECT_NE(gone->ata_status(), proto::kAtaStatusReady);
  }
  auto left = Exchange(AtaRequest(4, proto::ata_op::kReadSectorsExt, 0, n));
  ASSERT_TRUE(left) << "log:\n" << server_.Log();
  EXPECT_TRUE(std::equal(left->data().begin(), left->data().end(), content.begin()));
  ASSERT_TRUE(Exchange(AtaRequest(1, proto::ata_op::kReadSectorsExt, 0, n)));
  EXPECT_TRUE(server_.Running());
}

TEST_P(ServeNetns, RefusesBadRequestsTheWayInitiatorsExpect) {
  // Past the end: ATA IDNF in the status registers, never the AoE error flag.
  auto past = Exchange(AtaRequest(1, proto::ata_op::kReadSectorsExt, kDiskSectors - 1, 2));
  ASSERT_TRUE(past);
  EXPECT_FALSE(past->header.is_error());
  EXPECT_EQ(past->ata_status(), proto::kAtaStatusReady | proto::kAtaStatusError);
  EXPECT_EQ(past->ata_error(), proto::kAtaErrorIdNotFound);

  // More sectors than the advertised maximum: AoE error 2.
  auto big = Exchange(
      AtaRequest(1, proto::ata_op::kReadSectorsExt, 0, static_cast<uint8_t>(MaxSectors() + 1)));
  ASSERT_TRUE(big);
  EXPECT_TRUE(big->header.is_error());
  EXPECT_EQ(big->header.error, proto::AoeError::kBadArgument);

  // A write whose payload is shorter than its sector count: AoE error 2, nothing written.
  Bytes before = ReadFile(disk_);
  Bytes short_write = AtaRequest(1, proto::ata_op::kWriteSectorsExt, 100, 2, RandomBytes(512, 9));
  auto sw = Exchange(short_write);
  ASSERT_TRUE(sw);
  EXPECT_EQ(sw->header.error, proto::AoeError::kBadArgument);

  // Unknown opcode (SMART): ABRT, no AoE error flag.
  auto smart = Exchange(AtaRequest(1, proto::ata_op::kSmart, 0, 1));
  ASSERT_TRUE(smart);
  EXPECT_FALSE(smart->header.is_error());
  EXPECT_EQ(smart->ata_error(), proto::kAtaErrorAbort);

  // CHECK POWER MODE: active.
  auto power = Exchange(AtaRequest(1, proto::ata_op::kCheckPowerMode, 0, 0));
  ASSERT_TRUE(power);
  EXPECT_EQ(LoadU8(power->frame, 26), 0xFF);

  // Unknown AoE command: error 1. Wrong version: error 5.
  auto unknown = Exchange(Frame(kShelf, 1, static_cast<proto::Command>(9), 60));
  ASSERT_TRUE(unknown);
  EXPECT_EQ(unknown->header.error, proto::AoeError::kUnrecognizedCommand);
  Bytes v2 = AtaRequest(1, proto::ata_op::kIdentifyDevice, 0, 1);
  StoreU8(v2, 14, 0x20);
  auto bad_version = Exchange(v2);
  ASSERT_TRUE(bad_version);
  EXPECT_EQ(bad_version->header.error, proto::AoeError::kUnsupportedVersion);

  // Runts and responses are ignored, and the server keeps serving.
  Bytes runt = Frame(kShelf, 1, proto::Command::kAta, 30);
  EXPECT_FALSE(Exchange(runt, 200ms));
  Bytes response = AtaRequest(1, proto::ata_op::kIdentifyDevice, 0, 1);
  StoreU8(response, 14, 0x18);
  EXPECT_FALSE(Exchange(response, 200ms));
  EXPECT_TRUE(Exchange(AtaRequest(1, proto::ata_op::kIdentifyDevice, 0, 1)));
  EXPECT_EQ(ReadFile(disk_), before);
}

TEST_P(ServeNetns, HostileFramesNeverCrashTheTarget) {
  // A seeded storm of AoE frames with random contents and lengths (runts to full MTU), aimed at
  // the target and broadcast: every header field, count and length the target reads is wrong
  // somewhere in it. The target must keep serving and change nothing on disk.
  Bytes before = ReadFile(disk_);
  auto hello = Exchange(AtaRequest(1, proto::ata_op::kIdentifyDevice, 0, 1));
  ASSERT_TRUE(hello);
  const MacAddress target = hello->header.source;
  std::mt19937 rng(20261202);
  std::vector<Bytes> storm;
  for (int i = 0; i < 3000; ++i) {
    size_t length = 15 + rng() % (mtu_ + 14 - 15 + 1);
    Bytes frame = RandomBytes(length, static_cast<uint32_t>(rng()));
    (i % 2 == 0 ? MacAddress::Broadcast() : target).Store(frame, 0);
    port_->mac().Store(frame, 6);
    StoreBe16(frame, 12, 0x88A2);
    StoreU8(frame, 14, static_cast<uint8_t>(LoadU8(frame, 14) & ~0x08));  // requests only
    storm.push_back(std::move(frame));
  }
  EXPECT_TRUE(SendAll(storm));
  std::this_thread::sleep_for(200ms);
  ASSERT_TRUE(server_.Running()) << "aoe serve died; log:\n" << server_.Log();
  auto identify = Exchange(AtaRequest(1, proto::ata_op::kIdentifyDevice, 0, 1));
  ASSERT_TRUE(identify) << "aoe serve stopped answering";
  EXPECT_FALSE(identify->header.is_error());
  auto flush = Exchange(AtaRequest(1, proto::ata_op::kFlushCacheExt, 0, 0));
  ASSERT_TRUE(flush);
  EXPECT_EQ(ReadFile(disk_), before);
}

TEST_P(ServeNetns, ReadOnlyExportNeverChanges) {
  Bytes before = ReadFile(ro_);
  auto w = Exchange(AtaRequest(2, proto::ata_op::kWriteSectorsExt, 10, 1, RandomBytes(512, 4)));
  ASSERT_TRUE(w);
  EXPECT_EQ(w->ata_status(), proto::kAtaStatusReady | proto::kAtaStatusError);
  EXPECT_EQ(w->ata_error(), proto::kAtaErrorAbort);
  auto r = Exchange(AtaRequest(2, proto::ata_op::kReadSectorsExt, 10, 1));
  ASSERT_TRUE(r);
  EXPECT_TRUE(std::equal(r->data().begin(), r->data().end(), before.begin() + 10 * 512));
  EXPECT_EQ(ReadFile(ro_), before);
}

TEST_P(ServeNetns, WindowExportStaysInsideItsWindow) {
  Bytes before = ReadFile(window_file_);
  // Reads see the window's first sector at LBA 0.
  auto r = Exchange(AtaRequest(3, proto::ata_op::kReadSectorsExt, 0, 1));
  ASSERT_TRUE(r);
  EXPECT_TRUE(std::equal(r->data().begin(), r->data().end(), before.begin() + kWindowOffset * 512));
  // Writes at both ends of the window land inside it; one past the end is refused.
  Bytes data = RandomBytes(512, 5);
  EXPECT_EQ(Exchange(AtaRequest(3, proto::ata_op::kWriteSectorsExt, 0, 1, data))->ata_status(),
            proto::kAtaStatusReady);
  EXPECT_EQ(Exchange(AtaRequest(3, proto::ata_op::kWriteSectorsExt, kWindowLength - 1, 1, data))
                ->ata_status(),
            proto::kAtaStatusReady);
  auto past = Exchange(AtaRequest(3, proto::ata_op::kWriteSectorsExt, kWindowLength, 1, data));
  EXPECT_EQ(past->ata_error(), proto::kAtaErrorIdNotFound);
  // A 28-bit LBA with high bits set is masked, never reaching past the window.
  Exchange(AtaRequest(3, proto::ata_op::kWriteSectors, 0xEFFFFFFF, 1, data));
  ASSERT_TRUE(Exchange(AtaRequest(3, proto::ata_op::kFlushCache, 0, 0)));

  Bytes after = ReadFile(window_file_);
  ASSERT_EQ(after.size(), before.size());
  size_t lo = kWindowOffset * 512, hi = (kWindowOffset + kWindowLength) * 512;
  EXPECT_TRUE(std::equal(before.begin(), before.begin() + lo, after.begin()));
  EXPECT_TRUE(std::equal(before.begin() + hi, before.end(), after.begin() + hi));
  EXPECT_TRUE(std::equal(data.begin(), data.end(), after.begin() + lo));
  EXPECT_TRUE(std::equal(data.begin(), data.end(), after.begin() + hi - 512));
}

TEST_P(ServeNetns, ConfigStringCommandsAndPersistence) {
  using CC = proto::ConfigCommand;
  auto set = Exchange(ConfigRequest(kShelf, 1, CC::kSetIfEmpty, "owner=host-a"));
  ASSERT_TRUE(set);
  EXPECT_FALSE(set->header.is_error());
  EXPECT_TRUE(Exchange(ConfigRequest(kShelf, 1, CC::kTestExact, "owner=host-a")));
  EXPECT_FALSE(Exchange(ConfigRequest(kShelf, 1, CC::kTestExact, "owner=host"), 300ms));
  EXPECT_TRUE(Exchange(ConfigRequest(kShelf, 1, CC::kTestPrefix, "owner=")));
  EXPECT_FALSE(Exchange(ConfigRequest(kShelf, 1, CC::kTestPrefix, "other"), 300ms));
  auto taken = Exchange(ConfigRequest(kShelf, 1, CC::kSetIfEmpty, "owner=host-b"));
  ASSERT_TRUE(taken);
  EXPECT_EQ(taken->header.error, proto::AoeError::kConfigStringPresent);
  auto forced = Exchange(ConfigRequest(kShelf, 1, CC::kForceSet, "owner=host-b"));
  ASSERT_TRUE(forced);
  EXPECT_FALSE(forced->header.is_error());
  // A string longer than 1024 bytes is dropped without a reply.
  EXPECT_FALSE(Exchange(ConfigRequest(kShelf, 1, CC::kForceSet, std::string(1100, 'x')), 300ms));

  // The string survives a restart.
  ASSERT_EQ(server_.Stop(SIGTERM), 0);
  StartServer(DefaultArgs());
  auto read = Exchange(ConfigRequest(kShelf, 1, CC::kRead, ""));
  ASSERT_TRUE(read);
  auto c = proto::DecodeConfig(read->frame);
  std::string text(reinterpret_cast<const char*>(c->string.data()), c->string.size());
  EXPECT_EQ(text, "owner=host-b");
}

TEST_P(ServeNetns, MaskListHidesTheTargetFromOtherHosts) {
  auto edit = [&](std::vector<proto::MaskDirective> directives) {
    Bytes frame = Frame(kShelf, 1, proto::Command::kMacMask,
                        proto::kMaskHeaderSize + directives.size() * proto::kMaskDirectiveSize);
    proto::EncodeMaskDirectives(directives, frame);
    return Exchange(frame);
  };
  auto added = edit({{static_cast<uint8_t>(proto::DirectiveCommand::kAdd), port_->mac()}});
  ASSERT_TRUE(added);
  auto m = proto::DecodeMask(added->frame);
  ASSERT_EQ(m->directive_count, 1);
  EXPECT_EQ(m->DirectiveAt(0).mac, port_->mac());

  // A host not on the list gets no answer at all; we are still served.
  EXPECT_FALSE(Exchange(AtaRequest(1, proto::ata_op::kIdentifyDevice, 0, 1, {}, kStranger), 300ms));
  EXPECT_TRUE(Exchange(AtaRequest(1, proto::ata_op::kIdentifyDevice, 0, 1)));

  auto removed = edit({{static_cast<uint8_t>(proto::DirectiveCommand::kDelete), port_->mac()}});
  ASSERT_TRUE(removed);
  EXPECT_EQ(proto::DecodeMask(removed->frame)->directive_count, 0);
  EXPECT_TRUE(Exchange(AtaRequest(1, proto::ata_op::kIdentifyDevice, 0, 1, {}, kStranger)));
}

TEST_P(ServeNetns, ReservationBlocksOtherHostsWrites) {
  auto reserve = [&](proto::ReserveCommand rcmd, std::vector<MacAddress> macs,
                     std::optional<MacAddress> source = std::nullopt) {
    Bytes frame = Frame(kShelf, 1, proto::Command::kReserve,
                        proto::kReserveHeaderSize + macs.size() * 6, source);
    proto::EncodeReserve(static_cast<uint8_t>(rcmd), macs, frame);
    return Exchange(frame);
  };
  ASSERT_TRUE(reserve(proto::ReserveCommand::kSet, {port_->mac()}));
  Bytes before = ReadFile(disk_);
  auto blocked = Exchange(
      AtaRequest(1, proto::ata_op::kWriteSectorsExt, 50, 1, RandomBytes(512, 6), kStranger));
  ASSERT_TRUE(blocked);
  EXPECT_EQ(blocked->header.error, proto::AoeError::kTargetReserved);
  auto steal = reserve(proto::ReserveCommand::kSet, {kStranger}, kStranger);
  ASSERT_TRUE(steal);
  EXPECT_EQ(steal->header.error, proto::AoeError::kTargetReserved);
  EXPECT_TRUE(Exchange(AtaRequest(1, proto::ata_op::kIdentifyDevice, 0, 1, {}, kStranger)));
  ASSERT_TRUE(Exchange(AtaRequest(1, proto::ata_op::kFlushCacheExt, 0, 0)));
  EXPECT_EQ(ReadFile(disk_), before);

  ASSERT_TRUE(reserve(proto::ReserveCommand::kSet, {}));  // release
  auto allowed = Exchange(
      AtaRequest(1, proto::ata_op::kWriteSectorsExt, 50, 1, RandomBytes(512, 6), kStranger));
  ASSERT_TRUE(allowed);
  EXPECT_FALSE(allowed->header.is_error());
}

// Each initiator's ATA commands are served by the loop the kernel spreads its MAC to, and
// `aoe ctl` reports the sum, each loop's own counters, and each initiator once: the stranger's
// config query goes to loop 0 and its reads to loop 1.
TEST_P(ServeNetns, EachInitiatorIsServedByTheLoopItsMacIsSpreadTo) {
  const nlohmann::json before = Control("stats");
  ASSERT_EQ(before["loops"].size(), loops_) << before.dump();
  if (loops_ > 1) {
    ASSERT_NE(LoopOf(kEvenHost), LoopOf(kStranger));
  }
  Bytes query = ConfigRequest(kShelf, 1, proto::ConfigCommand::kRead, "");
  kStranger.Store(query, 6);
  ASSERT_TRUE(Exchange(query));
  constexpr int kReads = 10;
  for (int i = 0; i < kReads; ++i) {
    ASSERT_TRUE(Exchange(AtaRequest(1, proto::ata_op::kReadSectorsExt, i, 1, {}, kEvenHost)));
    ASSERT_TRUE(Exchange(AtaRequest(1, proto::ata_op::kReadSectorsExt, i, 1, {}, kStranger)));
  }
  const nlohmann::json after = Control("stats");
  std::vector<uint64_t> expected(loops_);
  for (size_t k = 0; k < loops_; ++k) {
    expected[k] = before["loops"][k]["ata_commands"].get<uint64_t>();
  }
  expected[LoopOf(kEvenHost)] += kReads;
  expected[LoopOf(kStranger)] += kReads;
  for (size_t k = 0; k < loops_; ++k) {
    EXPECT_EQ(after["loops"][k]["ata_commands"].get<uint64_t>(), expected[k]) << "loop " << k;
  }
  uint64_t sum = 0;
  for (size_t k = 0; k < loops_; ++k) sum += after["loops"][k]["ata_commands"].get<uint64_t>();
  EXPECT_EQ(after["counters"]["ata_commands"].get<uint64_t>(), sum);

  const nlohmann::json clients = Control("clients e1.1");
  ASSERT_EQ(clients["exports"].size(), 1u) << clients.dump();
  size_t strangers = 0;
  for (const auto& c : clients["exports"][0]["clients"]) {
    if (c["mac"] != kStranger.ToString()) continue;
    ++strangers;
    EXPECT_EQ(c["frames"].get<uint64_t>(), static_cast<uint64_t>(kReads + 1));
    EXPECT_EQ(c["bytes_read"].get<uint64_t>(), uint64_t{kReads} * 512);
  }
  EXPECT_EQ(strangers, 1u) << clients.dump();
}

TEST_P(ServeNetns, SighupReloadAddsAndRemovesExports) {
  ASSERT_EQ(server_.Stop(SIGTERM), 0);
  fs::path config = dir_ / "serve.toml";
  auto write_config = [&](bool with_second) {
    std::ofstream out(config, std::ios::trunc);
    out << "interfaces = [\"vt\"]\nstate_dir = \"" << (dir_ / "state").string() << "\"\n"
        << "packet_io = \"" << PacketIoName(packet_io_) << "\"\n"
        << "loops = " << loops_ << "\n"
        << "[[export]]\ntarget = \"e1.1\"\npath = \"" << disk_.string() << "\"\n";
    if (with_second)
      out << "[[export]]\ntarget = \"e1.2\"\npath = \"" << ro_.string() << "\"\nread_only = true\n";
  };
  write_config(false);
  StartServer({"--config", config.string()});
  auto discover = [&] {
    return ExchangeAll(ConfigRequest(proto::kWildcardShelf, proto::kWildcardSlot,
                                     proto::ConfigCommand::kRead, ""),
                       500ms)
        .size();
  };
  EXPECT_EQ(discover(), 1u);
  write_config(true);
  server_.Signal(SIGHUP);
  std::this_thread::sleep_for(500ms);
  EXPECT_EQ(discover(), 2u);
  write_config(false);
  server_.Signal(SIGHUP);
  std::this_thread::sleep_for(500ms);
  EXPECT_EQ(discover(), 1u);
  EXPECT_TRUE(Exchange(AtaRequest(1, proto::ata_op::kReadSectorsExt, 0, 1)));
}

std::string ParamName(const ::testing::TestParamInfo<ServeNetns::ParamType>& info) {
  const auto& [mtu, packet_io, loops] = info.param;
  return "mtu" + std::to_string(mtu) + "_" + std::string(PacketIoName(packet_io)) +
         (loops > 1 ? "_loops" + std::to_string(loops) : "");
}

INSTANTIATE_TEST_SUITE_P(MtuAndPacketIo, ServeNetns,
                         ::testing::Combine(::testing::Values(1500, 9000),
                                            ::testing::Values(PacketIo::kAuto, PacketIo::kRing,
                                                              PacketIo::kSocket),
                                            ::testing::Values(size_t{1})),
                         ParamName);

// The whole suite again over two event loops, on each kind of port.
INSTANTIATE_TEST_SUITE_P(TwoLoops, ServeNetns,
                         ::testing::Values(std::tuple(size_t{1500}, PacketIo::kAuto, size_t{2}),
                                           std::tuple(size_t{9000}, PacketIo::kRing, size_t{2}),
                                           std::tuple(size_t{1500}, PacketIo::kSocket, size_t{2})),
                         ParamName);

}  // namespace
}  // namespace aoe
