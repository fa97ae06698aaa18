#include "cli/serve_signals.h"

#include <fmt/format.h>

namespace aoe::cli {

namespace {
constexpr std::string_view kSubject = "serve";
}  // namespace

// The one-line STATUS= that `systemctl status aoe-serve` shows.
std::string ServiceStatus(const ServeConfig& config) {
  const size_t exports = config.server.exports.size();
  const size_t interfaces = config.server.interfaces.size();
  std::string status = fmt::format("serving {} export{} on {} interface{}", exports,
                                   exports == 1 ? "" : "s", interfaces, interfaces == 1 ? "" : "s");
  if (config.netboot) status += fmt::format(", netboot on {}", config.netboot->interface_name);
  return status;
}

void SignalHandler::OnReadable() {
  for (int signal_number : signals_.Take()) {
    switch (signal_number) {
      case SIGINT:
      case SIGTERM:
        Stop(signal_number);
        break;
      case SIGHUP:
        Reload();
        break;
      default:
        break;
    }
  }
}

void SignalHandler::Stop(int signal_number) {
  if (stopping_) return;
  stopping_ = true;
  (void)notifier_.Stopping("stopping after the commands in flight");
  log_.Info(kSubject, "{}: stopping after the commands in flight (send it again to quit at once)",
            signal_number == SIGINT ? "SIGINT" : "SIGTERM");
  // A second SIGINT/SIGTERM ends the process at once (SignalThread), for when storage hangs.
  server_.RequestStop();
}

void SignalHandler::Reload() {
  (void)notifier_.Reloading("reloading " + args_.config_path);
  std::string failure = ReloadConfig();
  (void)notifier_.Ready(failure.empty() ? status_
                                        : fmt::format("{} (reload failed: {})", status_, failure));
}

std::string SignalHandler::ReloadConfig() {
  if (args_.config_path.empty()) {
    log_.Info(kSubject,
              "SIGHUP: nothing to reload, started without --config; "
              "restart aoe serve to change exports");
    return "";
  }
  ParseResult<ServeConfig> config = LoadServeConfigFile(args_.config_path);
  if (!config) {
    log_.Error(kSubject, "SIGHUP: not reloaded, still serving the previous configuration: {}",
               config.error().message);
    return config.error().message;
  }
  if (Result<void> applied = server_.Reconfigure(config->server); !applied) {
    log_.Error(kSubject, "SIGHUP: could not apply {}, still serving the previous configuration: {}",
               args_.config_path, applied.error().message());
    return applied.error().message();
  }
  netboot_.Reload(config->netboot);
  if (config->user != args_.config.user) {
    log_.Warn(kSubject, "SIGHUP: user changes take effect after a restart");
  }
  log_.set_level(args_.log_level_override.value_or(config->log_level));
  log_.Info(kSubject, "SIGHUP: reloaded {}: {} export(s) on {} interface(s)", args_.config_path,
            config->server.exports.size(), config->server.interfaces.size());
  status_ = ServiceStatus(*config);
  return "";
}

}  // namespace aoe::cli
