// TftpServer: a read-only TFTP server on one interface, driven by an EventLoop.
//
// Requests arrive on port 69; each transfer gets its own socket on an ephemeral port (its
// transfer id, RFC 1350), connected to the client, so the kernel filters strays and several
// transfers run at once. A single timerfd, armed to the earliest transfer deadline, drives
// retransmissions. Files come from the root directory (tftp_path.h confines names to it) or
// from a VirtualFiles hook that generates documents such as per-client iPXE scripts.
//
// Ownership: owns its sockets and timerfd and registers them with the caller's EventLoop, which
// must outlive it. Thread-safety: none; use from the loop's thread.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "base/clock.h"
#include "base/log.h"
#include "base/result.h"
#include "net/event_loop.h"
#include "netboot/ipv4.h"
#include "netboot/tftp_transfer.h"

namespace aoe::netboot {

struct TftpServerOptions {
  std::string interface_name;
  Ipv4Address address;  // our address on the interface; transfers are sent from it
  std::string root;     // directory served
  uint16_t port = 69;
  TftpLimits limits;
  size_t max_transfers = 64;
  // Transfers one client address may run at once, so that one host cannot take every slot (a
  // PXE or iPXE client fetches one file at a time; UEFI asks for the size first).
  size_t max_transfers_per_client = 8;
};

// A generated file: its contents and a description for the log ("script for e0.1").
struct VirtualFile {
  std::string contents;
  std::string description;
};
// Returns the generated file for a normalized name, or nullopt to look in the root directory.
using VirtualFiles =
    std::function<std::optional<VirtualFile>(std::string_view name, Ipv4Address client)>;

class TftpServer {
 public:
  // On failure `why` gets one line saying what to do (e.g. port 69 in use).
  static Result<std::unique_ptr<TftpServer>> Create(const TftpServerOptions& options,
                                                    EventLoop& loop, Logger& log, Clock& clock,
                                                    VirtualFiles virtual_files, std::string& why);
  virtual ~TftpServer() = default;

  virtual size_t active_transfers() const = 0;
  virtual uint64_t files_sent() const = 0;
};

}  // namespace aoe::netboot
