// EmbeddedNetboot: the [netboot] section of `aoe serve`, i.e. netboot::NetbootService on the
// Server's own loop, so that one process serves the disks and boots the clients; started at
// start-up, re-created by SIGHUP when the section changes, stopped before the Server goes.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "base/clock.h"
#include "base/log.h"
#include "net/event_loop.h"
#include "netboot/netboot_service.h"

namespace aoe::cli {

// Must be destroyed before the Server (its loop).
class EmbeddedNetboot {
 public:
  // `on_boot` hears every PXE client that asks to boot (overlay lifetimes).
  EmbeddedNetboot(EventLoop& loop, Logger& log, netboot::BootObserver on_boot)
      : loop_(loop), log_(log), on_boot_(std::move(on_boot)) {}
  EmbeddedNetboot(const EmbeddedNetboot&) = delete;
  EmbeddedNetboot& operator=(const EmbeddedNetboot&) = delete;

  // Starts the service when `options` is set. Returns "" or one line saying why it cannot.
  std::string Start(const std::optional<netboot::NetbootOptions>& options);

  // After `--user`: ports 67 and 69 can no longer be bound, so Reload does not stop a service
  // it could not start again.
  void set_user(std::string user) { user_ = std::move(user); }

  // SIGHUP: re-creates the service if the [netboot] section changed. If the new settings
  // cannot be applied, the previous ones are restored where possible.
  void Reload(const std::optional<netboot::NetbootOptions>& wanted);

  // Logs what was served and closes the sockets.
  void Stop();

 private:
  EventLoop& loop_;
  Logger& log_;
  netboot::BootObserver on_boot_;
  SteadyClock clock_;
  std::string user_;
  std::optional<netboot::NetbootOptions> options_;
  std::unique_ptr<netboot::NetbootService> service_;
};

}  // namespace aoe::cli
