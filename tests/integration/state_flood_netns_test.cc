// A flood of state commands must not stall anyone (docs/RELIABILITY.md, "Persistent state").
// The real `aoe serve` runs in one network namespace; an independent reader and a flooding host
// sit in two others, all three joined by a bridge in a fourth:
//
//   target (tgt0) ==== ptgt -[br0]- prdr ==== (rdr0) reader
//                                |
//                               pfld ==== (fld0) flooder
//
// The reader keeps 8 READs of 4 KiB in flight, in alternating 1 s phases (three of each): alone,
// and while the flooder sends Query Config frames at 30,000 per second (about what a Python
// flooder manages; 3,000 in sanitizer builds): force-sets of a new string each time, or reads.
// The reader must keep at least a third of its unflooded throughput. The state directory is on
// a disk-backed file system (/var/tmp), as /var/lib/aoekit is, so a target that fsyncs on the
// loop shows the stall a real host would.
//
// The binary under test is AOE_BINARY, or $AOE_SERVE_BINARY if set (to show that an older
// build fails). Root only; every phase is bounded in time.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "net/packet_port.h"
#include "net/testing/netns.h"
#include "net/testing/spawn.h"
#include "proto/ata.h"
#include "proto/config.h"
#include "proto/header.h"

namespace aoe {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using Bytes = std::vector<std::byte>;

constexpr uint16_t kShelf = 1;
constexpr uint8_t kSlot = 1;
constexpr uint64_t kDiskSectors = 32768;  // 16 MiB
constexpr uint8_t kReadSectors = 8;       // 4 KiB per READ
constexpr size_t kReaderDepth = 8;
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
// A sanitized build (scripts/test's ASan pass builds the target and this test alike) serves
// several times fewer frames per CPU second: the flood is scaled down so that the test measures
// stalls, not the sanitizer's cost. A target that fsyncs each set on its loop stalls at this
// rate too (a few hundred fsyncs a second at best).
constexpr double kFloodFramesPerSecond = 3000;
#else
constexpr double kFloodFramesPerSecond = 30000;
#endif
// The reader is measured in alternating phases, alone and flooded, so that the load of a
// shared machine drifting during the test weighs on both sides alike.
constexpr int kRounds = 3;
constexpr auto kPhase = 1s;

const char* ServeBinary() {
  const char* override_binary = std::getenv("AOE_SERVE_BINARY");
  return override_binary != nullptr && *override_binary != '\0' ? override_binary : AOE_BINARY;
}

Bytes Header(const MacAddress& from, const MacAddress& to, proto::Command command, uint32_t tag,
             size_t size) {
  Bytes frame(std::max(size, proto::kMinFrameSize));
  proto::Header h;
  h.destination = to;
  h.source = from;
  h.shelf = kShelf;
  h.slot = kSlot;
  h.command = static_cast<uint8_t>(command);
  h.tag = tag;
  proto::EncodeHeader(h, frame);
  return frame;
}

Bytes ConfigFrame(const MacAddress& from, const MacAddress& to, proto::ConfigCommand ccmd,
                  std::string_view text, uint32_t tag) {
  Bytes frame =
      Header(from, to, proto::Command::kConfig, tag, proto::kConfigHeaderSize + text.size());
  proto::ConfigArg c;
  c.command = static_cast<uint8_t>(ccmd);
  c.string = std::as_bytes(std::span(text.data(), text.size()));
  proto::EncodeConfig(c, frame);
  return frame;
}

Bytes ReadFrame(const MacAddress& from, const MacAddress& to, uint64_t lba, uint32_t tag) {
  Bytes frame = Header(from, to, proto::Command::kAta, tag, proto::kAtaHeaderSize);
  proto::AtaArg a;
  a.aflags = proto::kAtaFlagExtended;
  a.sector_count = kReadSectors;
  a.cmd_status = proto::ata_op::kReadSectorsExt;
  a.lba = lba;
  proto::EncodeAta(a, frame);
  return frame;
}

std::string ConfigStringOf(ConstByteSpan frame) {
  auto c = proto::DecodeConfig(frame);
  if (!c) return {};
  return std::string(reinterpret_cast<const char*>(c->string.data()), c->string.size());
}

// Receives one frame within `wait`; nullopt on timeout.
std::optional<Bytes> ReceiveOne(PacketPort& port, std::chrono::milliseconds wait) {
  pollfd p{port.fd(), POLLIN, 0};
  if (::poll(&p, 1, static_cast<int>(wait.count())) <= 0) return std::nullopt;
  Bytes buffer(9100);
  RxSlot slot{buffer, 0, false};
  auto n = port.Receive(std::span(&slot, 1));
  if (!n || *n == 0) return std::nullopt;
  buffer.resize(slot.length);
  return buffer;
}

// The independent reader: kReaderDepth READs in flight, a new one as each reply comes back, and
// the outstanding ones sent again (new tags) after 200 ms without any reply.
class Reader {
 public:
  Reader(PacketPort& port, MacAddress target) : port_(port), target_(target) {}

  // Replies per second over `duration`.
  double Run(Clock::duration duration) {
    std::map<uint32_t, bool> outstanding;
    auto send = [&] {
      uint32_t tag = next_tag_++;
      uint64_t lba = (tag * 7919ull) % (kDiskSectors / kReadSectors) * kReadSectors;
      Bytes frame = ReadFrame(port_.mac(), target_, lba, tag);
      const TxFrame out{ConstByteSpan(frame)};
      (void)port_.Send(std::span(&out, 1));
      outstanding[tag] = true;
    };
    const auto start = Clock::now();
    const auto end = start + duration;
    for (size_t i = 0; i < kReaderDepth; ++i) send();
    uint64_t completed = 0;
    auto last_progress = start;
    Bytes buffer(9100);
    while (Clock::now() < end) {
      pollfd p{port_.fd(), POLLIN, 0};
      ::poll(&p, 1, 20);
      for (;;) {
        RxSlot slot{buffer, 0, false};
        auto n = port_.Receive(std::span(&slot, 1));
        if (!n || *n == 0) break;
        auto h = proto::DecodeHeader(ConstByteSpan(buffer).first(slot.length));
        if (!h || h->command != static_cast<uint8_t>(proto::Command::kAta)) continue;
        if (outstanding.erase(h->tag) == 0) continue;
        ++completed;
        last_progress = Clock::now();
        send();
      }
      if (Clock::now() - last_progress > 200ms) {
        ++timeouts_;
        size_t lost = outstanding.size();
        outstanding.clear();
        for (size_t i = 0; i < lost; ++i) send();
        last_progress = Clock::now();
      }
    }
    double seconds = std::chrono::duration<double>(Clock::now() - start).count();
    return static_cast<double>(completed) / seconds;
  }

  uint64_t timeouts() const { return timeouts_; }

 private:
  PacketPort& port_;
  MacAddress target_;
  uint32_t next_tag_ = 0x10000;
  uint64_t timeouts_ = 0;
};

// The flooding host: Query Config frames at kFloodFramesPerSecond from its own thread, in
// batches of 32, while active, until stopped (and never longer than 30 s).
class Flooder {
 public:
  Flooder(PacketPort& port, MacAddress target, proto::ConfigCommand ccmd)
      : port_(port), target_(target), ccmd_(ccmd) {}
  ~Flooder() { Stop(); }

  void Start() {
    thread_ = std::thread([this] { Loop(); });
  }
  void Stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  void set_active(bool active) { active_ = active; }
  // Frames per second while active.
  double rate() const { return rate_; }

 private:
  void Loop() {
    constexpr size_t kBatch = 32;
    std::vector<Bytes> frames(kBatch);
    std::vector<TxFrame> spans(kBatch);
    const auto start = Clock::now();
    auto paced_from = start;
    Clock::duration active_for{};
    uint64_t sent = 0, sent_before = 0;
    uint32_t tag = 1;
    while (!stop_ && Clock::now() - start < 30s) {
      if (!active_) {
        if (sent > sent_before) active_for += Clock::now() - paced_from;
        sent_before = sent;
        std::this_thread::sleep_for(1ms);
        paced_from = Clock::now();  // no catching up on the time spent idle
        continue;
      }
      auto due =
          paced_from + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(
                           static_cast<double>(sent - sent_before) / kFloodFramesPerSecond));
      if (Clock::now() < due) std::this_thread::sleep_until(due);
      for (size_t i = 0; i < kBatch; ++i) {
        std::string text =
            ccmd_ == proto::ConfigCommand::kRead ? "" : "flood-" + std::to_string(tag);
        frames[i] = ConfigFrame(port_.mac(), target_, ccmd_, text, tag++);
        spans[i] = ConstByteSpan(frames[i]);
      }
      auto n = port_.Send(spans);
      sent += kBatch;  // paced on what was offered; a full queue drops like a busy link
      (void)n;
      // Replies are not read: the socket's queue overflows, as a flooder's would.
    }
    if (sent > sent_before) active_for += Clock::now() - paced_from;
    double seconds = std::chrono::duration<double>(active_for).count();
    rate_ = seconds > 0 ? static_cast<double>(sent) / seconds : 0;
  }

  PacketPort& port_;
  MacAddress target_;
  proto::ConfigCommand ccmd_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> active_{true};
  std::thread thread_;
  double rate_ = 0;
};

class StateFloodNetns : public ::testing::Test {
 protected:
  void SetUp() override {
    if (auto why = testing::NetnsUnavailableReason(); !why.empty()) GTEST_SKIP() << why;
    auto t = testing::NetNamespace::Create("stt");
    auto r = testing::NetNamespace::Create("str");
    auto f = testing::NetNamespace::Create("stf");
    auto b = testing::NetNamespace::Create("stb");
    ASSERT_TRUE(t && r && f && b);
    target_ns_.emplace(std::move(*t));
    reader_ns_.emplace(std::move(*r));
    flood_ns_.emplace(std::move(*f));
    bridge_ns_.emplace(std::move(*b));
    ASSERT_TRUE(bridge_ns_->Ip("link add br0 type bridge stp_state 0 forward_delay 0"));
    ASSERT_TRUE(bridge_ns_->Ip("link set br0 up"));
    ASSERT_TRUE(testing::CreateVethPair(*target_ns_, "tgt0", *bridge_ns_, "ptgt"));
    ASSERT_TRUE(testing::CreateVethPair(*reader_ns_, "rdr0", *bridge_ns_, "prdr"));
    ASSERT_TRUE(testing::CreateVethPair(*flood_ns_, "fld0", *bridge_ns_, "pfld"));
    for (const char* port : {"ptgt", "prdr", "pfld"}) {
      ASSERT_TRUE(bridge_ns_->Ip(std::string("link set ") + port + " master br0"));
    }

    char tmpl[] = "/var/tmp/aoe-state-flood-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    disk_ = dir_ / "disk.img";
    { std::ofstream(disk_, std::ios::binary); }
    fs::resize_file(disk_, kDiskSectors * 512);

    ASSERT_TRUE(reader_ns_->Run([&] {
      auto port = PacketPort::Open("rdr0", PacketPortOptions{.role = PortRole::kInitiator});
      if (port) reader_port_ = std::move(*port);
    }));
    ASSERT_TRUE(flood_ns_->Run([&] {
      auto port = PacketPort::Open("fld0", PacketPortOptions{.role = PortRole::kInitiator});
      if (port) flood_port_ = std::move(*port);
    }));
    ASSERT_TRUE(reader_port_ && flood_port_) << "cannot open the hosts' packet sockets";
    StartServer();
  }

  void TearDown() override {
    server_.Stop(SIGTERM);
    reader_port_.reset();
    flood_port_.reset();
    target_ns_.reset();
    reader_ns_.reset();
    flood_ns_.reset();
    bridge_ns_.reset();
    if (!dir_.empty()) fs::remove_all(dir_);
  }

  fs::path state_dir() const { return dir_ / "state"; }

  void StartServer() {
    std::vector<std::string> args = {
        "ip", "netns", "exec",        target_ns_->name(),   ServeBinary(),           "serve",
        "-i", "tgt0",  "--state-dir", state_dir().string(), "e1.1=" + disk_.string()};
    ASSERT_TRUE(server_.Start(args, (dir_ / "serve.log").string()));
    // Ready when e1.1 answers a broadcast config read (bounded: 10 s); that also gives its MAC.
    for (int i = 0; i < 50; ++i) {
      if (auto reply = ReaderExchange(ConfigFrame(reader_port_->mac(), MacAddress::Broadcast(),
                                                  proto::ConfigCommand::kRead, "", 1),
                                      200ms)) {
        target_mac_ = proto::DecodeHeader(*reply)->source;
        return;
      }
      if (!server_.Running()) FAIL() << "aoe serve exited early; log:\n" << server_.Log();
    }
    FAIL() << "aoe serve did not answer within 10 s; log:\n" << server_.Log();
  }

  // Sends from the reader and returns the first reply with the same tag within `wait`.
  std::optional<Bytes> ReaderExchange(const Bytes& frame, std::chrono::milliseconds wait) {
    return Exchange(*reader_port_, frame, wait);
  }
  static std::optional<Bytes> Exchange(PacketPort& port, const Bytes& frame,
                                       std::chrono::milliseconds wait) {
    uint32_t tag = LoadBe32(frame, 20);
    const TxFrame out{ConstByteSpan(frame)};
    if (!port.Send(std::span(&out, 1))) return std::nullopt;
    auto deadline = Clock::now() + wait;
    while (Clock::now() < deadline) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      auto got = ReceiveOne(port, std::max(left, 1ms));
      if (!got) continue;
      auto h = proto::DecodeHeader(*got);
      if (h && h->is_response() && h->tag == tag) return got;
    }
    return std::nullopt;
  }

  // Measures the reader alone and under a flood of `ccmd` frames, in alternating phases; prints
  // both and returns {baseline, flooded} replies per second.
  std::pair<double, double> MeasureUnderFlood(proto::ConfigCommand ccmd) {
    Reader reader(*reader_port_, target_mac_);
    Flooder flooder(*flood_port_, target_mac_, ccmd);
    flooder.set_active(false);
    flooder.Start();
    double baseline = 0, flooded = 0;
    for (int round = 0; round < kRounds; ++round) {
      baseline += reader.Run(kPhase) / kRounds;
      flooder.set_active(true);
      std::this_thread::sleep_for(200ms);  // let the flood build up
      flooded += reader.Run(kPhase) / kRounds;
      flooder.set_active(false);
      std::this_thread::sleep_for(200ms);  // and the target's queue drain
    }
    flooder.Stop();
    std::printf(
        "reader alone: %.0f READs/s; under a %s flood of %.0f frames/s: %.0f READs/s "
        "(%.0f %%), %llu stalls of 200 ms\n",
        baseline, ccmd == proto::ConfigCommand::kRead ? "config-read" : "config-set",
        flooder.rate(), flooded, baseline > 0 ? 100 * flooded / baseline : 0.0,
        static_cast<unsigned long long>(reader.timeouts()));
    return {baseline, flooded};
  }

  std::optional<testing::NetNamespace> target_ns_, reader_ns_, flood_ns_, bridge_ns_;
  std::unique_ptr<PacketPort> reader_port_, flood_port_;
  fs::path dir_, disk_;
  testing::LoggedProcess server_;
  MacAddress target_mac_;
};

TEST_F(StateFloodNetns, ReaderKeepsAThirdOfItsThroughputUnderAConfigSetFlood) {
  auto [baseline, flooded] = MeasureUnderFlood(proto::ConfigCommand::kForceSet);
  ASSERT_GT(baseline, 0) << server_.Log();
  EXPECT_GE(flooded * 3, baseline) << "log:\n" << server_.Log();
  // The flooder was limited, and the log says who it is.
  EXPECT_NE(server_.Log().find("rate-limiting config/mask/reserve changes from " +
                               flood_port_->mac().ToString()),
            std::string::npos)
      << server_.Log();
}

TEST_F(StateFloodNetns, ReaderKeepsAThirdOfItsThroughputUnderAConfigReadFlood) {
  auto [baseline, flooded] = MeasureUnderFlood(proto::ConfigCommand::kRead);
  ASSERT_GT(baseline, 0) << server_.Log();
  EXPECT_GE(flooded * 3, baseline) << "log:\n" << server_.Log();
  EXPECT_NE(server_.Log().find("rate-limiting config/mask/reserve reads from " +
                               flood_port_->mac().ToString()),
            std::string::npos)
      << server_.Log();
}

// After a flood of sets, the flooder sets one last value. Once that set is acknowledged the
// value is on disk: SIGKILL right after the reply, and both the state file and a restarted
// target have it.
TEST_F(StateFloodNetns, LastValueSetIsOnDiskAfterRestart) {
  {
    Flooder flooder(*flood_port_, target_mac_, proto::ConfigCommand::kForceSet);
    flooder.Start();
    std::this_thread::sleep_for(2s);
  }
  const std::string last = "last-" + std::to_string(::getpid());
  std::optional<Bytes> acknowledged;
  // Retransmitted like an initiator would: the flooder's own sets are rate-limited.
  for (uint32_t tag = 0x7000000; !acknowledged && tag < 0x7000000 + 100; ++tag) {
    acknowledged = Exchange(
        *flood_port_,
        ConfigFrame(flood_port_->mac(), target_mac_, proto::ConfigCommand::kForceSet, last, tag),
        100ms);
    if (acknowledged && ConfigStringOf(*acknowledged) != last) acknowledged.reset();
  }
  ASSERT_TRUE(acknowledged) << "the last set was never acknowledged; log:\n" << server_.Log();
  server_.Stop(SIGKILL);

  std::ifstream in(state_dir() / "e1.1.json");
  std::string text((std::istreambuf_iterator<char>(in)), {});
  std::string hex;
  for (unsigned char c : last) {
    char two[3];
    std::snprintf(two, sizeof two, "%02x", c);
    hex += two;
  }
  EXPECT_NE(text.find("\"config_string_hex\": \"" + hex + "\""), std::string::npos)
      << "state file after SIGKILL:\n"
      << text;

  StartServer();
  auto read = ReaderExchange(
      ConfigFrame(reader_port_->mac(), target_mac_, proto::ConfigCommand::kRead, "", 2), 2s);
  ASSERT_TRUE(read);
  EXPECT_EQ(ConfigStringOf(*read), last);
}

}  // namespace
}  // namespace aoe
