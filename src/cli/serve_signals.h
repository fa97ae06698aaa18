// How `aoe serve` reacts to signals and tells systemd what it does: SIGINT/SIGTERM stop it after
// the commands in flight (a second one quits at once), SIGHUP reloads --config (exports,
// interfaces, [netboot], log level) with RELOADING=1 ... READY=1 and a STATUS= line around it.
#pragma once

#include <signal.h>

#include <string>

#include "base/log.h"
#include "cli/serve_args.h"
#include "cli/serve_config.h"
#include "cli/serve_netboot.h"
#include "cli/signal_thread.h"
#include "os/service_notify.h"
#include "target/server.h"

namespace aoe::cli {

// The one-line STATUS= that `systemctl status aoe-serve` shows.
std::string ServiceStatus(const ServeConfig& config);

// Reacts to the signals the SignalThread passes on. Runs on the Server's loop thread (through
// Server::Watch), so it may call any Server method.
class SignalHandler {
 public:
  SignalHandler(target::Server& server, EmbeddedNetboot& netboot, Logger& log,
                const ServeArgs& args, SignalThread& signals, ServiceNotifier& notifier)
      : server_(server),
        netboot_(netboot),
        log_(log),
        args_(args),
        signals_(signals),
        notifier_(notifier),
        status_(ServiceStatus(args.config)) {}

  // Handles every signal received since the last call.
  void OnReadable();

 private:
  void Stop(int signal_number);
  // RELOADING=1 ... READY=1 around the reload, whatever its outcome, so that `systemctl
  // reload` returns; the STATUS= after it says what is served, and whether the reload failed.
  void Reload();
  // Returns "" or why the configuration was not applied.
  std::string ReloadConfig();

  target::Server& server_;
  EmbeddedNetboot& netboot_;
  Logger& log_;
  const ServeArgs& args_;
  SignalThread& signals_;
  ServiceNotifier& notifier_;
  std::string status_;  // STATUS= for what is being served
  bool stopping_ = false;
};

}  // namespace aoe::cli
