#include "cli/serve_netboot.h"

#include <utility>

namespace aoe::cli {

std::string EmbeddedNetboot::Start(const std::optional<netboot::NetbootOptions>& options) {
  if (!options) return "";
  std::string why;
  Result<std::unique_ptr<netboot::NetbootService>> created =
      netboot::NetbootService::Create(*options, loop_, log_, clock_, why, on_boot_);
  if (!created) return why.empty() ? created.error().message() : why;
  service_ = std::move(*created);
  options_ = options;
  return "";
}

void EmbeddedNetboot::Reload(const std::optional<netboot::NetbootOptions>& wanted) {
  if (wanted == options_) return;
  if (wanted && !user_.empty()) {
    log_.Warn("netboot",
              "SIGHUP: [netboot] {}, but aoe serve runs as user {} and cannot bind ports 67 "
              "and 69 again; {}; restart aoe serve to apply it",
              options_ ? "changed" : "added", user_,
              options_ ? "the netboot service keeps its previous settings"
                       : "the netboot service stays off");
    return;
  }
  std::optional<netboot::NetbootOptions> previous = std::move(options_);
  options_.reset();
  service_.reset();  // frees ports 67/69 (and 4011) for the new service
  if (!wanted) {
    log_.Info("netboot", "SIGHUP: [netboot] removed: stopped the netboot service");
    return;
  }
  std::string why = Start(wanted);
  if (why.empty()) {
    log_.Info("netboot", "SIGHUP: [netboot] {}: {} the netboot service on {}",
              previous ? "changed" : "added", previous ? "restarted" : "started",
              wanted->interface_name);
    return;
  }
  if (!previous) {
    log_.Error("netboot", "SIGHUP: cannot start the netboot service: {}", why);
    return;
  }
  std::string why_previous = Start(previous);
  if (why_previous.empty()) {
    log_.Error("netboot", "SIGHUP: [netboot] not applied, still serving the previous [netboot]: {}",
               why);
  } else {
    log_.Error("netboot",
               "SIGHUP: [netboot] not applied ({}) and the previous one cannot be restored "
               "({}); netboot is off until the next successful SIGHUP",
               why, why_previous);
  }
}

void EmbeddedNetboot::Stop() {
  if (!service_) return;
  netboot::NetbootStats stats = service_->stats();
  log_.Info("netboot",
            "stopped: {} DHCP message(s) received ({} malformed), {} replies, {} file(s) sent "
            "over TFTP",
            stats.dhcp_received, stats.dhcp_malformed, stats.dhcp_replies, stats.tftp_files_sent);
  service_.reset();
  options_.reset();
}

}  // namespace aoe::cli
