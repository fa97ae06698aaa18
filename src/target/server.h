// Server: the AoE target engine behind `aoe serve`.
//
// One thread runs everything on the data path: an epoll loop over the interfaces' packet
// sockets, the io_uring completion eventfd, the state store's completion eventfd and a
// housekeeping timer. With `loops = N` (ServerOptions::loops), N - 1 more threads each run an
// event loop of their own over their own packet sockets (joined to the first loop's by a
// fanout group per interface, which spreads the initiators over the loops by source MAC) and
// their own io_uring, serving copies of the exports; the thread that calls Run() keeps the
// export table, the exports' state and everything but ATA commands (docs/architecture.md,
// "More cores"). A second thread, owned by the Server, writes the exports' state files
// (FileStateStore::RunWriter), so config, mask and reservation changes never make the loop wait
// for fsync; their replies go out when the state is durable. Create() starts no thread and sends
// nothing; the first Poll() (or Run()) starts the writer and announces the exports, so a daemon
// can drop privileges in between (the writer gets the dropped credentials and capabilities too)
// and finish its own start-up (a start that fails there has told no initiator of its exports).
// Frames are received in batches into a fixed pool of page-aligned command buffers; each request is
// answered in place in its own buffer (read data lands directly after the 36-byte header, write
// data goes to disk straight from the request), disk I/O is queued on io_uring with many commands
// in flight, and replies are sent in batches as completions arrive. No heap allocation per frame.
// On ports with a TX ring, a read that storage answers during the call is read straight into a lent
// ring slot instead (Port::LendTxFrame), so its reply is not copied again to be sent.
//
// Ownership: the Server owns its ports, exports, I/O engines, state store, the store's writer
// thread and the threads of its other loops. Not thread-safe: call every method from the thread
// that runs Run().
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/log.h"
#include "base/result.h"
#include "net/event_loop.h"
#include "net/port.h"
#include "storage/chain.h"
#include "storage/file_backend.h"
#include "storage/io_engine.h"
#include "storage/overlay/overlay_filter.h"
#include "target/client_table.h"
#include "target/export.h"
#include "target/options.h"
#include "target/stats.h"

namespace aoe::target {

// How the server reaches the OS: real packet sockets and image files, or (in tests) memory
// ports and memory disks. Only the base of each storage chain comes from here; the server
// stacks the filters on it with BuildStorageChain, the same way for every environment.
struct ServerEnvironment {
  std::function<Result<std::unique_ptr<Port>>(const std::string& interface_name)> open_port;
  std::function<Result<OpenedBackend>(StorageServices& services, const BackendSpec& spec,
                                      const BaseOptions& options)>
      open_base;
  std::string host_name;  // goes into each disk's IDENTIFY serial number, as vblade does
};

// Packet ports (target role; rings or sockets as `packet_io` says, a fallback from rings to
// sockets logged to `log`) and files or block devices.
ServerEnvironment RealEnvironment(PacketIo packet_io, Logger& log);

class Server {
 public:
  // Opens the interfaces, images and state files named in `options`. On failure the reason is
  // logged as one actionable line (which interface or image, and what to do) and returned.
  static Result<std::unique_ptr<Server>> Create(const ServerOptions& options, Logger& log,
                                                ServerEnvironment environment);
  // The same, in the real environment (RealEnvironment(options.packet_io, log)).
  static Result<std::unique_ptr<Server>> Create(const ServerOptions& options, Logger& log);
  virtual ~Server() = default;

  // Watches an extra fd from the loop (the CLI's signalfd).
  virtual void Watch(int fd, std::function<void()> on_readable) = 0;
  // The loop itself, for services that add and remove their own fds and timers on the same
  // thread (the [netboot] service of `aoe serve`). They must be destroyed before the Server.
  virtual EventLoop& loop() = 0;

  // Serves until RequestStop(); then finishes in-flight commands and state saves (sending the
  // replies that waited for them), flushes every export and returns.
  virtual Result<void> Run() = 0;
  virtual void RequestStop() = 0;
  // One turn of the loop: waits up to max_wait for frames or completions and serves them.
  // Run() is a loop over Poll(); tests call Poll() directly.
  virtual void Poll(std::chrono::milliseconds max_wait) = 0;

  // Applies new options (SIGHUP): adds new exports, removes vanished ones, re-opens exports
  // whose storage options changed; exports that did not change keep serving undisturbed.
  // Interfaces may be added or removed too. On error nothing is changed.
  virtual Result<void> Reconfigure(const ServerOptions& options) = 0;

  // Live management, for the control socket (docs/control.md). Each returns "" or one line
  // saying what is wrong; on error nothing changed.
  virtual const ServerOptions& options() const = 0;
  virtual const std::vector<std::shared_ptr<Export>>& exports() const = 0;
  // Adds an export (its name, overlay directory, interfaces checked like the configuration's).
  virtual std::string AddExport(const ExportOptions& options) = 0;
  // Stops serving an export once its commands in flight are done and its writes durable.
  virtual std::string RemoveExport(std::string_view name) = 0;
  // Opens the export again with `options` (the same name): its image, overlays and state file.
  virtual std::string ReloadExport(const ExportOptions& options) = 0;
  // What a boot did on one overlay export.
  struct BootOutcome {
    std::string export_name;
    overlay::BootAction action = overlay::BootAction::kNone;
    uint64_t was_based_on = 0;   // the dropped overlay's base version (kMoved)
    uint64_t reads_version = 0;  // the version the client reads now
  };
  // A netboot client asked to boot (its PXE DHCP request): every overlay export applies its
  // lifetime to that client's overlay (overlay::OverlayFilter::BootSeen). One outcome per
  // overlay export, in export order; the drops are in effect at once (durable a moment later).
  virtual std::vector<BootOutcome> ClientBooted(const MacAddress& mac) = 0;

  // The initiators that used an export (one of exports()), on every loop that serves it and
  // answers within a second.
  virtual ClientList Clients(const Export& e) = 0;
  // The counters of every loop, summed; and each loop's own (loop 0 first), as of its last
  // turn: none for a loop that does not answer within a second (its thread is stuck, e.g. in
  // storage that hangs), which the sum then leaves out.
  virtual Stats stats() = 0;
  virtual std::vector<std::optional<Stats>> loop_stats() = 0;
  // Replies to config, mask and reserve commands waiting for their state to be durable.
  virtual size_t replies_waiting_for_state() const = 0;
};

}  // namespace aoe::target
