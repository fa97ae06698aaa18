// Harness: a Server on an in-memory Ethernet segment, driven the way a peer drives it.
//
// The harness owns a MemoryWire with three initiator hosts (A, B, C) and the memory disks the
// exports are served from, so disks outlive a server restart. Its ServerEnvironment opens
// MemoryPorts (role target) on the wire and opens the base of each export's storage chain as
//   fault <- counting <- memory disk (owned by the harness),
// on which the server stacks the production filters (BuildStorageChain), so tests can inject
// faults, count requests and inspect bytes under the real chain.
// Image files (AddFileExport) and the state directory live in a fresh temporary directory,
// removed afterwards.
//
// Test-only. Single-threaded, except that with options().loops > 1 the server's other event
// loops run on threads of their own: their ports share one MemoryWire (thread-safe), and export
// file images (AddFileExport) rather than memory disks, which are not thread-safe.
#pragma once

#include <gtest/gtest.h>

#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/log.h"
#include "net/memory_port.h"
#include "storage/block_backend.h"
#include "storage/fault_filter.h"
#include "storage/memory_backend.h"
#include "storage/shared_metadata.h"
#include "target/options.h"
#include "target/server.h"
#include "target/testing/frames.h"

namespace aoe::target::testkit {

inline constexpr MacAddress kTargetMac{{0x02, 0x00, 0x00, 0x00, 0x00, 0x01}};
inline constexpr MacAddress kSecondTargetMac{{0x02, 0x00, 0x00, 0x00, 0x00, 0x02}};
inline constexpr MacAddress kHostA{{0x02, 0x00, 0x00, 0x00, 0x00, 0x0A}};
inline constexpr MacAddress kHostB{{0x02, 0x00, 0x00, 0x00, 0x00, 0x0B}};
inline constexpr MacAddress kHostC{{0x02, 0x00, 0x00, 0x00, 0x00, 0x0C}};

// Plays storage that hangs: while held, Pass() blocks the thread that calls it until Release().
// Thread-safe (the server's loops call Pass() from their threads; the test holds and releases).
class ReadGate {
 public:
  void Hold() {
    std::lock_guard lock(mutex_);
    holding_ = true;
  }
  void Release() {
    {
      std::lock_guard lock(mutex_);
      holding_ = false;
    }
    changed_.notify_all();
  }
  // Whether a caller waits in Pass().
  bool held() {
    std::lock_guard lock(mutex_);
    return waiting_ > 0;
  }
  void Pass() {
    std::unique_lock lock(mutex_);
    ++waiting_;
    changed_.wait(lock, [this] { return !holding_; });
    --waiting_;
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  bool holding_ = false;
  int waiting_ = 0;
};

// Forwards every request to a backend it does not own and counts them.
class CountingBackend final : public BlockBackend {
 public:
  explicit CountingBackend(BlockBackend& inner) : inner_(inner) {}

  uint64_t size_bytes() const override { return inner_.size_bytes(); }
  BackendCapabilities capabilities() const override {
    BackendCapabilities c = inner_.capabilities();
    if (keep_writes_) c.copies_write_data_in_turn = false;
    return c;
  }
  std::string Describe() const override { return "counting <- " + inner_.Describe(); }
  void Read(const IoContext& context, uint64_t offset_bytes, ByteSpan into,
            IoCallback* done) override {
    gate_.Pass();
    ++reads_;
    if (context.no_wait()) {
      ++no_wait_reads_;
      // Plays storage whose data is not in memory: "not now", as the file backend says it.
      if (refuse_no_wait_) return done->IoDone(-EAGAIN);
    }
    inner_.Read(context, offset_bytes, into, done);
  }
  void Write(const IoContext& context, uint64_t offset_bytes, ConstByteSpan from,
             IoCallback* done) override {
    ++writes_;
    last_write_context_ = context;
    if (keep_writes_) return kept_writes_.push_back({context, offset_bytes, from, done});
    inner_.Write(context, offset_bytes, from, done);
  }
  // Plays storage that reads a write's data later (a worker, the network): writes wait, with
  // a pointer to their data, until PassKeptWrites(); capabilities() says so.
  void set_keep_writes(bool keep) { keep_writes_ = keep; }
  size_t PassKeptWrites() {
    auto writes = std::exchange(kept_writes_, {});
    for (const KeptWrite& w : writes) inner_.Write(w.context, w.offset_bytes, w.from, w.done);
    return writes.size();
  }
  void Flush(const IoContext& context, IoCallback* done) override {
    ++flushes_;
    inner_.Flush(context, done);
  }
  void Trim(const IoContext& context, uint64_t offset_bytes, uint64_t length_bytes,
            IoCallback* done) override {
    ++trims_;
    inner_.Trim(context, offset_bytes, length_bytes, done);
  }

  // Plays storage that hangs inside a read, on the thread that asked for it (a FUSE or NFS
  // image): reads block, in Read() itself, until ReleaseReads(). read_held() says one waits.
  void HoldReads() { gate_.Hold(); }
  void ReleaseReads() { gate_.Release(); }
  bool read_held() { return gate_.held(); }

  uint64_t reads() const { return reads_; }
  // Reads asked with IoContext::kNoWait (the target reading into a lent frame), and whether
  // they are refused with -EAGAIN.
  uint64_t no_wait_reads() const { return no_wait_reads_; }
  void set_refuse_no_wait(bool refuse) { refuse_no_wait_ = refuse; }
  uint64_t writes() const { return writes_; }
  uint64_t flushes() const { return flushes_; }
  uint64_t trims() const { return trims_; }
  // The context the target gave the latest write: its initiator and flags.
  const IoContext& last_write_context() const { return last_write_context_; }

 private:
  BlockBackend& inner_;
  uint64_t reads_ = 0;
  uint64_t no_wait_reads_ = 0;
  bool refuse_no_wait_ = false;
  uint64_t writes_ = 0;
  uint64_t flushes_ = 0;
  uint64_t trims_ = 0;
  IoContext last_write_context_;
  struct KeptWrite {
    IoContext context;
    uint64_t offset_bytes;
    ConstByteSpan from;
    IoCallback* done;
  };
  bool keep_writes_ = false;
  std::vector<KeptWrite> kept_writes_;
  ReadGate gate_;
};

// SharedMetadata in memory: plays the metadata of an RBD image that several hosts serve.
class MemorySharedMetadata final : public SharedMetadata {
 public:
  Result<std::optional<std::string>> Get(const std::string& key) override {
    std::optional<std::string> value;
    {
      std::lock_guard lock(mutex_);
      if (auto it = values_.find(key); it != values_.end()) value = it->second;
    }
    // A slow cluster: the value read is returned only once the test lets reads go.
    gate_.Pass();
    return value;
  }
  Result<void> Set(const std::string& key, const std::string& value) override {
    std::lock_guard lock(mutex_);
    values_[key] = value;
    return {};
  }
  std::string Describe() const override { return "memory metadata"; }
  // From now on, reads (Get) return only after ReleaseReads().
  void HoldReads() { gate_.Hold(); }
  void ReleaseReads() { gate_.Release(); }
  // Whether a read is waiting for ReleaseReads().
  bool read_held() { return gate_.held(); }
  // Whether any value contains `text`.
  bool Holds(std::string_view text) const {
    std::lock_guard lock(mutex_);
    for (const auto& [key, value] : values_) {
      if (value.find(text) != std::string::npos) return true;
    }
    return false;
  }

 private:
  mutable std::mutex mutex_;
  std::map<std::string, std::string> values_;
  ReadGate gate_;
};

class Harness {
 public:
  Harness();
  ~Harness();
  Harness(const Harness&) = delete;
  Harness& operator=(const Harness&) = delete;

  // Options the next Start() uses. Defaults: interface "mem0", the temporary state directory,
  // buffer_count 16, announce off.
  ServerOptions& options() { return options_; }
  const std::string& state_dir() const { return state_dir_; }

  // Adds an export of shelf.slot served from a new zero-filled memory disk of `size_bytes`
  // (path "mem:e<shelf>.<slot>"). Returns its index in options().exports.
  size_t AddExport(uint16_t shelf, uint8_t slot, size_t size_bytes);
  // Adds an export served from a zero-filled image file of `size_bytes` in the state
  // directory's parent temp dir, through the real io_uring FileBackend, so storage requests
  // are really in flight across Poll() calls. Returns the image's path (also the export path).
  // ImageOn::kTmpfs puts the image in a temporary directory on /dev/shm instead: an image in
  // memory, which the file backend reads on the loop's thread and offers views of.
  enum class ImageOn { kTempDir, kTmpfs };
  std::string AddFileExport(uint16_t shelf, uint8_t slot, size_t size_bytes,
                            ImageOn on = ImageOn::kTempDir);
  // Adds a memory disk without an export (for Reconfigure tests).
  MemoryBackend& AddDisk(const std::string& path, size_t size_bytes);
  // Gives the memory disk behind `path` metadata shared with other hosts (as an RBD image has),
  // where an export of it keeps its state instead of a file.
  MemorySharedMetadata& ShareMetadata(const std::string& path);
  // The memory disk behind `path`, and the counting and fault filters of its current chain.
  MemoryBackend& disk(const std::string& path);
  MemoryBackend& disk(uint16_t shelf, uint8_t slot) { return disk(DiskPath(shelf, slot)); }
  CountingBackend& counter(const std::string& path);
  FaultFilter& faults(const std::string& path);
  // File exports get a FaultFilter too from the next Start() (off by default: the filter does
  // not share its file with other event loops, as the file backend does).
  void FaultFileExports() { fault_file_exports_ = true; }
  static std::string DiskPath(uint16_t shelf, uint8_t slot);

  // What the target's ports did with lent TX frames (Port::LendTxFrame), once enabled before
  // Start(): each port then lends frames the way a TX ring does (in order, from memory of its
  // own) and checks the rule of port.h: every lent frame goes to the port's next Send(), or the
  // newest back through ReturnTxFrame() before anything else.
  struct LentFrames {
    bool enabled = false;
    uint64_t lent = 0;
    uint64_t returned = 0;
    uint64_t sent_in_place = 0;
    uint64_t broken_rule = 0;  // Send() calls that left a lent frame behind
  };
  LentFrames& lent_frames() { return lent_frames_; }

  // How the target's ports receive, set before Start(). By default each port receives in place
  // (Port::ReceiveInPlace) the way a receive ring does: frames stay in memory of the port's own
  // until ReleaseInPlace(), which then overwrites them with kReleasedByte, so storage that read
  // a write's data from a frame after its release would store that instead of the data.
  // Disabled: ports copy each frame into the server's buffer (Receive()), as a socket does.
  static constexpr std::byte kReleasedByte{0xEE};
  struct ReceivedInPlace {
    bool enabled = true;
    uint64_t frames = 0;    // received in place
    uint64_t releases = 0;  // ReleaseInPlace() calls that gave frames back
  };
  ReceivedInPlace& received_in_place() { return received_in_place_; }

  // Target-side interfaces the environment can open (besides "mem0", MAC kTargetMac).
  void AddInterface(const std::string& name, MacAddress mac, size_t mtu = 1500);
  // Runs each time the server opens a port, once the port is on the wire and before it joins
  // its fanout group; `count` is how many ports of that interface the server has opened so far.
  // For frames that arrive while a group forms.
  using PortOpenedHook = std::function<void(const std::string& name, size_t count)>;
  void OnPortOpened(PortOpenedHook hook) { on_port_opened_ = std::move(hook); }

  // Creates the server (Server::Create with the harness environment).
  ::testing::AssertionResult Start();
  // Stop() destroys the server as a crash would: nothing is flushed. StopCleanly() stops it as
  // aoe serve does on SIGTERM (Server::Run's shutdown flushes every export), then Stop()s.
  void Stop();
  ::testing::AssertionResult StopCleanly();
  ::testing::AssertionResult Restart();
  Server& server() { return *server_; }
  bool running() const { return server_ != nullptr; }
  Stats stats() const { return server_->stats(); }

  // The server's port for an interface (valid while the server serves that interface); loop
  // 0's, with several event loops.
  MemoryPort& target_port(const std::string& name = "mem0");
  MemoryPort& host_a() { return *hosts_[0]; }
  MemoryPort& host_b() { return *hosts_[1]; }
  MemoryPort& host_c() { return *hosts_[2]; }
  MemoryWire& wire() { return wire_; }

  // A request header from `from` to shelf.slot, unicast to the target's MAC.
  static RequestHeader To(uint16_t shelf, uint8_t slot, MacAddress from = kHostA,
                          uint32_t tag = 0x80000001);

  void Send(const Frame& frame, MemoryPort& from);
  // Polls the server until it has taken every frame waiting on its ports and answered them,
  // replies that wait for durable state included. With several event loops, the other loops
  // answer on their own threads, maybe after this returns: wait for their replies with Await.
  void Settle();
  // Every frame waiting at `host`, oldest first.
  std::vector<Reply> Collect(MemoryPort& host);
  // Polls the server until `count` frames wait at `host` (or `timeout` passes); returns them.
  std::vector<Reply> Await(MemoryPort& host, size_t count,
                           std::chrono::milliseconds timeout = std::chrono::seconds(5));
  // Sends a request from `from` and returns the reply to it, if any. More than one reply is a
  // test failure (use Send + Settle + Collect for fan-out).
  std::optional<Reply> Exchange(const Frame& frame, MemoryPort& from);
  std::optional<Reply> Exchange(const Frame& frame) { return Exchange(frame, host_a()); }

  const std::vector<std::string>& log_lines() const { return log_lines_; }
  bool LogContains(std::string_view text) const;
  // The lines logged so far that contain `text` (other event loops may be logging meanwhile).
  std::vector<std::string> LogLinesWith(std::string_view text) const;

 private:
  struct InterfaceSpec {
    MacAddress mac;
    size_t mtu = 1500;
  };

  class ServedPort;

  ServerEnvironment Environment();
  void PortClosed(const MemoryPort* port);

  std::string temp_dir_;   // images live here
  std::string state_dir_;  // temp_dir_/state
  std::string tmpfs_dir_;  // images on tmpfs (ImageOn::kTmpfs); made by the first one
  mutable std::mutex log_mutex_;
  std::vector<std::string> log_lines_;  // under log_mutex_ while the server runs
  Logger log_;
  MemoryWire wire_;
  std::vector<std::unique_ptr<MemoryPort>> hosts_;
  std::map<std::string, std::unique_ptr<MemoryBackend>> disks_;
  std::map<std::string, std::shared_ptr<MemorySharedMetadata>> shared_metadata_;  // by disk
  std::map<std::string, CountingBackend*> counters_;
  std::map<std::string, FaultFilter*> faults_;
  bool fault_file_exports_ = false;
  std::map<std::string, InterfaceSpec> interfaces_;
  // The server's ports by interface: one per event loop, loop 0's first.
  std::multimap<std::string, MemoryPort*> target_ports_;
  PortOpenedHook on_port_opened_;
  ServerOptions options_;
  // The target's ports count into these from every event loop's thread (options().loops), under
  // port_counters_mutex_; tests read them once the loops are idle.
  std::mutex port_counters_mutex_;
  LentFrames lent_frames_;
  ReceivedInPlace received_in_place_;
  std::unique_ptr<Server> server_;  // last: destroyed first, before the ports' wire
};

}  // namespace aoe::target::testkit
