// Target: the protocol core of `aoe serve`. Decides what each request frame gets (aoe-protocol.md
// §2-4, 7, 8), builds the reply in the request's own buffer, and starts storage I/O when the
// command needs it. It owns no sockets, threads or clocks: the Server feeds it received
// commands and sends what it hands back through the Transmitter, and unit tests do the same
// with a recording Transmitter and memory storage.
//
// Single-threaded.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/log.h"
#include "base/mac_address.h"
#include "proto/ata.h"
#include "proto/header.h"
#include "target/command.h"
#include "target/export.h"
#include "target/stats.h"

namespace aoe::target {

// What the Target needs to know about the interface a command arrived on.
struct PortInfo {
  std::string_view name;
  MacAddress mac;
  size_t mtu = 1500;
};

// The Target's way out; implemented by the Server (and by tests).
class Transmitter {
 public:
  // Sends command.frame() on command.port_index; the command then goes back to the pool.
  virtual void Transmit(Command& command) = 0;
  // Returns a command to the pool unsent (dropped request).
  virtual void Release(Command& command) = 0;
  // A free command for an extra reply (wildcard fan-out, announcements); nullptr if none.
  virtual Command* Acquire() = 0;
  virtual PortInfo PortAt(size_t port_index) const = 0;

 protected:
  ~Transmitter() = default;
};

class Target final : public CommandOwner {
 public:
  // `frame_capacity`: the size of every command buffer (bounds the sectors per command).
  Target(Logger& log, Stats& stats, Transmitter& transmitter, uint16_t buffer_count,
         size_t frame_capacity);

  void AddExport(std::shared_ptr<Export> e);
  // Removes the export from the table; commands in flight keep it alive until they finish.
  std::shared_ptr<Export> RemoveExport(std::string_view name);
  const std::vector<std::shared_ptr<Export>>& exports() const { return exports_; }
  Export* FindExport(std::string_view name) const;

  // Handles a received request. The command comes back through the Transmitter, at once or
  // when its storage I/O completes.
  void Handle(Command& command);

  // Sends an unsolicited config reply for `e` on the port: broadcast, or unicast to each MAC of
  // a non-empty mask list (as vblade does), so initiators need not wait for their next poll.
  void Announce(Export& e, size_t port_index);

  void Complete(Command& command, int64_t result) override;

  // The wall-clock time the Server stamps on what arrives next (per receive batch), for the
  // exports' client tables; the Target reads no clock itself.
  void set_now_unix(int64_t now_unix) { now_unix_ = now_unix; }

 private:
  void Serve(Command& command, Export& e, const PortInfo& port);
  void ServeAta(Command& command, Export& e, const PortInfo& port, const MacAddress& requester);
  void ServeTrim(Command& command, Export& e, const PortInfo& port, const proto::AtaArg& ata,
                 const IoContext& context);
  void ServeConfig(Command& command, Export& e, const PortInfo& port);
  void ServeMask(Command& command, Export& e);
  void ServeReserve(Command& command, Export& e, const MacAddress& requester);
  void ReplyAoeError(Command& command, proto::AoeError error);
  void FinishAta(Command& command, uint8_t status, uint8_t error, size_t data_bytes,
                 uint8_t sector_count = 0);
  void Send(Command& command);  // pads to 60 bytes and transmits
  size_t WriteConfigReply(ByteSpan frame, Export& e, const PortInfo& port, uint8_t ccmd);
  void Persist(Export& e);
  // Largest sector count per command on this port: bounded by the MTU and our buffers.
  uint8_t MaxSectors(const PortInfo& port) const;

  Logger& log_;
  Stats& stats_;
  Transmitter& tx_;
  uint16_t buffer_count_;
  size_t frame_capacity_;
  std::vector<std::shared_ptr<Export>> exports_;
  int64_t now_unix_ = 0;
};

}  // namespace aoe::target
