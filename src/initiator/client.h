// Client: the blocking facade over the Initiator engine, for the `aoe` CLI (scan, ping, cp,
// bench, config, mask, reserve ...) and for integration tests.
//
//   auto client = Client::Open({"veth0", "veth1"});          // packet ports, role kInitiator
//   auto disk = (*client)->OpenDisk(DiskAddress{0, 1});          // discovery + IDENTIFY if needed
//   std::vector<std::byte> buf(1 << 20);
//   if (auto r = disk->Read(0, buf); !r) fmt::print("{}\n", r.error().message);
//
// Every blocking call is a loop over the engine: poll the ports (EventLoop/epoll) until the
// engine's next deadline, call OnTimer, repeat until the call's own callback has run. Nothing
// runs in the background between calls; replies that arrive meanwhile wait in the port (its
// RX ring, or its socket on the socket path).
//
// Ownership: a Client made by Open() owns its ports and clock; one made by Create() borrows
// them (they must outlive it). SyncDisk is a small handle that borrows the Client.
// Thread-safety: none; use a Client (and its SyncDisks) from one thread.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/clock.h"
#include "initiator/error.h"
#include "initiator/initiator.h"
#include "initiator/types.h"
#include "net/event_loop.h"
#include "net/port.h"

namespace aoe::initiator {

struct ClientOptions {
  InitiatorOptions initiator;
  // How long OpenDisk waits for the shelf.slot to answer discovery, and for its IDENTIFY.
  Duration open_timeout = std::chrono::seconds(2);
  // Test seam: when set, it replaces the blocking epoll wait. It is called with the engine's
  // next deadline whenever the client would block, and must make progress: e.g. let an
  // in-process fake target answer and advance a FakeClock to the deadline.
  std::function<void(std::optional<TimePoint> deadline)> wait_hook;
};

class Client;

// One opened shelf.slot, with blocking I/O. Cheap to copy; borrows the Client.
class SyncDisk {
 public:
  SyncDisk(Client& client, Disk& disk) : client_(&client), disk_(&disk) {}

  DiskAddress address() const { return disk_->address(); }
  const TargetInfo& info() const { return disk_->info(); }
  uint64_t sector_count() const;  // from IDENTIFY
  std::vector<PathStats> path_stats() const { return disk_->path_stats(); }
  Disk& async() { return *disk_; }

  // Sizes must be non-zero multiples of 512 bytes.
  Outcome<void> Read(uint64_t lba, ByteSpan buffer);
  Outcome<void> Write(uint64_t lba, ConstByteSpan data);
  Outcome<void> Flush();
  Outcome<IdentifyData> Identify();
  // Disk::CheckForRestarts: the target MACs that may have lost writes they acknowledged since
  // the last check (restarted, or silent for the dead-target timeout). Call it after a FLUSH.
  Outcome<RestartCheck> CheckForRestarts();
  // DATA SET MANAGEMENT / TRIM of [lba, lba + sectors), in as many commands as it takes.
  Outcome<void> Trim(uint64_t lba, uint64_t sectors);
  // For a writer that flushes its own writes (cp per 128 MiB, mount on fsync): when IDENTIFY
  // reports a volatile write cache, sends FLUSH CACHE EXT before any write, on each local port
  // (Disk::DeclareFlushing). An aoekit target under durability=auto then knows this initiator
  // flushes and acknowledges its writes from its cache, instead of making each one durable
  // before its reply (the safe default for initiators that never flush, like Linux's). Nothing
  // is sent otherwise.
  Outcome<void> DeclareSelfFlushing();

  // Queue-depth driven I/O for cp and bench. `next` is called while fewer than `queue_depth`
  // operations are in flight and returns the next one (nullopt: no more). `done` is called for
  // each completed operation, in completion order; its buffer is then free again. Returns the
  // first error (of an operation or of `done`); after an error no new operation is started,
  // the ones in flight are cancelled (Disk::Abort: their buffers are free when the call returns,
  // but a cancelled write may still reach the target) and the call returns at once. If
  // `failed_op` is given it receives the operation that failed (an engine error's message also
  // names its sectors).
  struct IoOp {
    enum class Kind { kRead, kWrite, kFlush, kTrim };
    Kind kind = Kind::kRead;
    uint64_t lba = 0;
    ByteSpan buffer;            // destination of a read, source of a write
    uint64_t trim_sectors = 0;  // kTrim: sectors from lba, at most Disk::kMaxTrimSectors
    uint64_t cookie = 0;        // caller's own bookkeeping
  };
  Outcome<void> Pipeline(size_t queue_depth, const std::function<std::optional<IoOp>()>& next,
                         const std::function<Outcome<void>(const IoOp&)>& done,
                         IoOp* failed_op = nullptr);

 private:
  Client* client_;
  Disk* disk_;
};

class Client {
 public:
  // Opens a packet port (role kInitiator) on each interface, with PACKET_MMAP rings where the
  // kernel has them and the socket path where not (net/packet_io.h, PacketIo::kAuto; a debug
  // line on the logger says why), and a steady clock.
  static Outcome<std::unique_ptr<Client>> Open(const std::vector<std::string>& interfaces,
                                               ClientOptions options = {});
  // Uses the given ports and clock (tests: MemoryPorts and a FakeClock).
  static Outcome<std::unique_ptr<Client>> Create(std::vector<Port*> ports, Clock& clock,
                                                 ClientOptions options = {});

  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;
  ~Client();

  Initiator& initiator() { return *initiator_; }

  // Broadcasts a config query for `where`, collects replies for `timeout`, then IDENTIFYs every
  // target that answered, and each MAC of a target that answered from several (waiting at most
  // `timeout` more). Targets whose IDENTIFY did not finish have no `identify`.
  Outcome<std::vector<TargetInfo>> Discover(Duration timeout, DiskAddress where = proto::kAnyDisk);
  // The disk at shelf.slot: discovered first if unknown, IDENTIFYed if not yet. Opening
  // returns once the first MAC has answered; with `hear_others` > 0 it also listens that long
  // (or until discovery ends) for other MACs answering the same address, so that a second disk
  // under it is in info().conflicting before anything is written, not found midway.
  Outcome<SyncDisk> OpenDisk(DiskAddress address, Duration hear_others = Duration::zero());
  Outcome<SyncDisk> OpenDisk(uint16_t shelf, uint8_t slot) {
    return OpenDisk(DiskAddress{shelf, slot});
  }
  // Why nothing may have answered, as far as the interfaces can tell: " (no link on IFACE: ...)"
  // naming each interface that was down or without carrier when it was opened, with how to fix
  // it; empty when every link was up. Appended to "did not answer" messages.
  std::string NoLinkHint() const;

  // Admin commands. For config test commands a silent target is the "no match" answer:
  // InitiatorErrc::kTimeout.
  Outcome<ConfigReply> Config(DiskAddress address, proto::ConfigCommand command,
                              std::string_view value = {}, const ExchangeOptions& options = {});
  Outcome<MaskReply> ReadMask(DiskAddress address, const ExchangeOptions& options = {});
  Outcome<MaskReply> EditMask(DiskAddress address, std::span<const proto::MaskDirective> directives,
                              const ExchangeOptions& options = {});
  Outcome<ReserveReply> Reserve(DiskAddress address, proto::ReserveCommand command,
                                std::span<const MacAddress> macs,
                                const ExchangeOptions& options = {});
  // Reserves for this host: the list becomes the MACs of all our ports (so every path works).
  Outcome<ReserveReply> ReserveForUs(DiskAddress address, bool force = false,
                                     const ExchangeOptions& options = {});
  // Empties the reserve list (set with no MACs; works while we are on the list or it is empty;
  // use Reserve(kForceSet, {}) to break someone else's reservation).
  Outcome<ReserveReply> Release(DiskAddress address, const ExchangeOptions& options = {});
  Outcome<std::vector<std::byte>> Exchange(DiskAddress address, uint8_t command, ConstByteSpan arg,
                                           const ExchangeOptions& options = {});
  Outcome<std::vector<std::byte>> SendRaw(size_t port, ConstByteSpan frame, Duration timeout);

  std::vector<MacAddress> local_macs() const;
  // Index of the port with this interface name.
  std::optional<size_t> PortIndex(std::string_view name) const;

  // Runs the engine until `done()` is true or `give_up` passes. Returns false on give-up.
  bool RunUntil(const std::function<bool()>& done, std::optional<TimePoint> give_up = {});

 private:
  Client(std::vector<std::unique_ptr<Port>> owned_ports, std::unique_ptr<Clock> owned_clock,
         std::vector<Port*> ports, Clock& clock, ClientOptions options);
  Outcome<void> RegisterFds();
  // Starts an operation with a callback and runs the engine until it has run (SyncDisk's too).
  friend class SyncDisk;
  template <typename T, typename Start>
  Outcome<T> Await(Start start);

  std::vector<std::unique_ptr<Port>> owned_ports_;
  std::unique_ptr<Clock> owned_clock_;
  Clock& clock_;
  ClientOptions options_;
  std::unique_ptr<Initiator> initiator_;
  std::optional<EventLoop> loop_;
};

}  // namespace aoe::initiator
