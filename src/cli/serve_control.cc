#include "cli/serve_control.h"

#include <fmt/format.h>

#include <map>

#include "cli/export_spec.h"
#include "cli/initiator_args.h"
#include "storage/overlay/overlay_error.h"
#include "target/options.h"
#include "target/stats.h"

namespace aoe::cli {
namespace {

namespace errc = control::errc;
using control::Json;

// A spec from the socket must name its files by absolute paths: a relative one would be
// resolved in this server's working directory (/ under systemd), another file than the caller
// meant. (aoe ctl sends absolute ones.)
std::optional<control::ControlError> RelativePathProblem(std::string_view spec) {
  std::string relative = RelativePathIn(spec);
  if (relative.empty()) return std::nullopt;
  return control::ControlError{
      std::string(errc::kBadArgument),
      fmt::format("{} is a relative path; give an absolute one (the server would resolve it in "
                  "its own working directory)",
                  relative)};
}

Json OverlaySummary(const overlay::OverlayFilter& o) {
  return Json{{"dir", o.settings().dir},
              {"lifetime", overlay::LifetimeName(o.settings().lifetime)},
              {"current_version", o.current_version()},
              {"overlays", o.Clients().size()},
              {"commit_running", o.commit_running()},
              {"commit_bytes_copied", o.commit_bytes_copied()}};
}

Json ClientJson(const overlay::ClientInfo& c) {
  return Json{
      {"mac", c.mac.ToString()},
      {"base_version", c.base_version},
      {"lifetime", overlay::LifetimeName(c.lifetime)},
      {"mapped_bytes", c.mapped_bytes},
      {"data_allocated_bytes", c.data_allocated_bytes},
      {"map_allocated_bytes", c.map_allocated_bytes},
      {"created_unix", c.created_unix},
      {"unflushed", c.unflushed},
      {"failed",
       c.failure_errno == 0 ? Json() : Json(std::system_category().message(c.failure_errno))}};
}

Json VersionJson(const overlay::VersionRecord& v) {
  return Json{{"id", v.id},
              {"parent", v.parent},
              {"file", v.file},
              {"created_unix", v.created_unix},
              {"from_client", v.from_client}};
}

// Overlay errors a person caused get "refused"; the rest (I/O) "failed".
std::string_view CodeFor(const std::error_code& e) {
  if (e == overlay::OverlayErrc::kNoOverlay) return errc::kNoOverlay;
  if (e.category() == overlay::OverlayCategory()) return errc::kRefused;
  return errc::kFailed;
}

}  // namespace

void ServeControl::Handle(const Request& request, Responder responder) {
  using Method = void (ServeControl::*)(const Request&, const Responder&);
  static const std::map<std::string, Method, std::less<>> kCommands = {
      {"exports", &ServeControl::Exports},
      {"clients", &ServeControl::Clients},
      {"stats", &ServeControl::Stats},
      {"export.add", &ServeControl::AddExport},
      {"export.remove", &ServeControl::RemoveExport},
      {"export.reload", &ServeControl::ReloadExport},
      {"client.boot", &ServeControl::ClientBoot},
      {"overlay.list", &ServeControl::OverlayList},
      {"overlay.show", &ServeControl::OverlayShow},
      {"overlay.reset", &ServeControl::OverlayReset},
      {"overlay.commit", &ServeControl::OverlayCommit},
      {"overlay.rollback", &ServeControl::OverlayRollback},
  };
  auto it = kCommands.find(request.command);
  if (it == kCommands.end()) {
    std::string names;
    for (const auto& [name, method] : kCommands) names += (names.empty() ? "" : ", ") + name;
    return responder.Fail(
        errc::kUnknownCommand,
        fmt::format("unknown command \"{}\"; the commands are: {}", request.command, names));
  }
  (this->*(it->second))(request, responder);
}

target::Export* ServeControl::ExportArg(const Request& request, const Responder& responder) {
  std::string name;
  if (auto bad = control::StringArg(request, "export", name)) {
    responder.Fail(*bad);
    return nullptr;
  }
  // By address, as export specs are read: "e0.01" is e0.1 here too.
  ParseResult<proto::DiskAddress> address = ParseDiskName(name);
  if (!address) {
    responder.Fail(errc::kBadArgument, fmt::format("bad export: {}", address.error().message));
    return nullptr;
  }
  for (const auto& e : server_.exports()) {
    if (e->address() == *address) return e.get();
  }
  responder.Fail(errc::kNoSuchExport,
                 fmt::format("no export {}; `aoe ctl exports` lists them", name));
  return nullptr;
}

overlay::OverlayFilter* ServeControl::OverlayArg(const Request& request, const Responder& responder,
                                                 target::Export** out) {
  target::Export* e = ExportArg(request, responder);
  if (e == nullptr) return nullptr;
  if (e->overlay() == nullptr) {
    responder.Fail(errc::kNotAnOverlayExport,
                   fmt::format("export {} has no overlays (no overlay=DIR)", e->name()));
    return nullptr;
  }
  if (out != nullptr) *out = e;
  return e->overlay();
}

bool ServeControl::CommitRunning(target::Export& e, const Responder& responder) {
  if (e.overlay() == nullptr || !e.overlay()->commit_running()) return false;
  responder.Fail(errc::kRefused, fmt::format("a commit is running on {}; wait until it is done "
                                             "(aoe ctl exports shows its progress)",
                                             e.name()));
  return true;
}

// ---------------------------------------------------------------------------------------------
// Exports and clients

void ServeControl::Exports(const Request& request, const Responder& responder) {
  if (auto bad = control::CheckArguments(request, {})) return responder.Fail(*bad);
  Json list = Json::array();
  for (const auto& e : server_.exports()) {
    const target::ExportOptions& o = e->options();
    list.push_back(Json{{"name", e->name()},
                        {"path", o.backend.ToString()},
                        {"size_bytes", e->sector_count() * 512},
                        {"read_only", e->read_only()},
                        {"durability", target::DurabilityName(o.durability)},
                        {"interfaces", o.interfaces},
                        {"clients_seen", server_.Clients(*e).clients.size()},
                        {"overlay", e->overlay() ? OverlaySummary(*e->overlay()) : Json()}});
  }
  responder.Ok(Json{{"exports", list}});
}

void ServeControl::Clients(const Request& request, const Responder& responder) {
  if (auto bad = control::CheckArguments(request, {}, {"export"})) return responder.Fail(*bad);
  std::vector<target::Export*> which;
  if (request.args.contains("export")) {
    target::Export* e = ExportArg(request, responder);
    if (e == nullptr) return;
    which.push_back(e);
  } else {
    for (const auto& e : server_.exports()) which.push_back(e.get());
  }
  Json list = Json::array();
  for (target::Export* e : which) {
    Json clients = Json::array();
    const target::ClientList seen = server_.Clients(*e);
    for (const target::ClientStats& c : seen.clients) {
      std::optional<overlay::ClientInfo> o;
      if (e->overlay() != nullptr) o = e->overlay()->Client(c.mac);
      clients.push_back(Json{{"mac", c.mac.ToString()},
                             {"first_seen_unix", c.first_seen_unix},
                             {"last_seen_unix", c.last_seen_unix},
                             {"frames", c.frames},
                             {"bytes_read", c.bytes_read},
                             {"bytes_written", c.bytes_written},
                             {"retransmits", c.duplicate_tags},
                             {"overlay_bytes", o ? Json(o->mapped_bytes) : Json()}});
    }
    list.push_back(Json{
        {"export", e->name()}, {"clients", clients}, {"unlisted_frames", seen.unlisted_frames}});
  }
  responder.Ok(Json{{"exports", list}});
}

void ServeControl::Stats(const Request& request, const Responder& responder) {
  if (auto bad = control::CheckArguments(request, {})) return responder.Fail(*bad);
  auto counters = [](const target::Stats& stats) {
    Json by_name = Json::object();
    for (const target::StatsCounter& c : target::kStatsCounters) {
      by_name[std::string(c.name)] = stats.*c.field;
    }
    return by_name;
  };
  // Each event loop's own counters (--loops), loop 0 first: how evenly the kernel spreads the
  // initiators over them; null for a loop that does not answer (its storage hangs). One reading
  // of the loops, so that `counters` is the sum of those listed.
  const std::vector<std::optional<target::Stats>> each = server_.loop_stats();
  Json loops = Json::array();
  for (const std::optional<target::Stats>& loop : each) {
    loops.push_back(loop ? counters(*loop) : Json());
  }
  responder.Ok(Json{{"counters", counters(target::Sum(each))},
                    {"loops", loops},
                    {"replies_waiting_for_state", server_.replies_waiting_for_state()}});
}

std::optional<target::ExportOptions> ServeControl::SpecArg(const Request& request,
                                                           const Responder& responder,
                                                           std::string& spec) {
  if (auto bad = control::StringArg(request, "spec", spec)) {
    responder.Fail(*bad);
    return std::nullopt;
  }
  ParseResult<target::ExportOptions> options = ParseExportSpec(spec);
  if (!options) {
    responder.Fail(errc::kBadArgument, options.error().message);
    return std::nullopt;
  }
  if (std::optional<control::ControlError> relative = RelativePathProblem(spec)) {
    responder.Fail(*relative);
    return std::nullopt;
  }
  if (std::string bad = target::CheckExport(*options, server_.options().interfaces); !bad.empty()) {
    responder.Fail(errc::kBadArgument, bad);
    return std::nullopt;
  }
  return std::move(*options);
}

void ServeControl::AddExport(const Request& request, const Responder& responder) {
  if (auto bad = control::CheckArguments(request, {"spec"})) return responder.Fail(*bad);
  std::string spec;
  std::optional<target::ExportOptions> options = SpecArg(request, responder, spec);
  if (!options) return;
  if (std::string problem = server_.AddExport(*options); !problem.empty()) {
    return responder.Fail(errc::kRefused, problem);
  }
  log_.Info("control", "export {} added: {}", options->name(), spec);
  responder.Ok(Json{{"export", options->name()}});
}

void ServeControl::RemoveExport(const Request& request, const Responder& responder) {
  if (auto bad = control::CheckArguments(request, {"export"})) return responder.Fail(*bad);
  target::Export* e = ExportArg(request, responder);
  if (e == nullptr) return;
  if (CommitRunning(*e, responder)) return;
  const std::string name = e->name();
  if (std::string problem = server_.RemoveExport(name); !problem.empty()) {
    return responder.Fail(errc::kRefused, problem);
  }
  responder.Ok(Json{{"export", name}});
}

void ServeControl::ReloadExport(const Request& request, const Responder& responder) {
  if (auto bad = control::CheckArguments(request, {"export"}, {"spec"})) {
    return responder.Fail(*bad);
  }
  target::Export* e = ExportArg(request, responder);
  if (e == nullptr) return;
  if (CommitRunning(*e, responder)) return;
  target::ExportOptions options = e->options();
  if (request.args.contains("spec")) {
    std::string spec;
    std::optional<target::ExportOptions> parsed = SpecArg(request, responder, spec);
    if (!parsed) return;
    if (parsed->name() != e->name()) {
      return responder.Fail(errc::kBadArgument,
                            fmt::format("the spec is for {}, not {}; a reload keeps the name",
                                        parsed->name(), e->name()));
    }
    options = std::move(*parsed);
  }
  const std::string name = e->name();
  if (std::string problem = server_.ReloadExport(options); !problem.empty()) {
    return responder.Fail(errc::kRefused, problem);
  }
  responder.Ok(Json{{"export", name}});
}

void ServeControl::ClientBoot(const Request& request, const Responder& responder) {
  if (auto bad = control::CheckArguments(request, {"mac"})) return responder.Fail(*bad);
  MacAddress mac;
  if (auto bad = control::MacArg(request, "mac", mac)) return responder.Fail(*bad);
  Json exports = Json::array();
  for (const target::Server::BootOutcome& o : server_.ClientBooted(mac)) {
    Json e{{"export", o.export_name}, {"reads_version", o.reads_version}};
    switch (o.action) {
      case overlay::BootAction::kNone:
        e["overlay"] = "kept";
        break;
      case overlay::BootAction::kDiscarded:
        e["overlay"] = "discarded";
        break;
      case overlay::BootAction::kMoved:
        e["overlay"] = "moved";
        e["was_based_on"] = o.was_based_on;
        break;
    }
    exports.push_back(std::move(e));
  }
  responder.Ok(Json{{"mac", mac.ToString()}, {"exports", std::move(exports)}});
}

// ---------------------------------------------------------------------------------------------
// Overlays

void ServeControl::OverlayList(const Request& request, const Responder& responder) {
  if (auto bad = control::CheckArguments(request, {"export"})) return responder.Fail(*bad);
  target::Export* e = nullptr;
  overlay::OverlayFilter* o = OverlayArg(request, responder, &e);
  if (o == nullptr) return;
  Json clients = Json::array();
  for (const overlay::ClientInfo& c : o->Clients()) clients.push_back(ClientJson(c));
  Json versions = Json::array();
  for (const overlay::VersionInfo& v : o->Versions()) {
    Json j = VersionJson(v.record);
    j["current"] = v.current;
    j["overlays"] = v.overlays;
    versions.push_back(std::move(j));
  }
  Json result = OverlaySummary(*o);
  result["export"] = e->name();
  result["clients"] = clients;
  result["versions"] = versions;
  responder.Ok(result);
}

void ServeControl::OverlayShow(const Request& request, const Responder& responder) {
  if (auto bad = control::CheckArguments(request, {"export", "mac"})) return responder.Fail(*bad);
  MacAddress mac;
  if (auto bad = control::MacArg(request, "mac", mac)) return responder.Fail(*bad);
  target::Export* e = nullptr;
  overlay::OverlayFilter* o = OverlayArg(request, responder, &e);
  if (o == nullptr) return;
  std::optional<overlay::ClientInfo> c = o->Client(mac);
  if (!c) {
    return responder.Fail(errc::kNoOverlay,
                          fmt::format("{} has no overlay on {}: it reads version {}",
                                      mac.ToString(), e->name(), o->current_version()));
  }
  Json result = ClientJson(*c);
  result["export"] = e->name();
  result["current_version"] = o->current_version();
  for (const target::ClientStats& s : server_.Clients(*e).clients) {
    if (s.mac == mac) result["last_seen_unix"] = s.last_seen_unix;
  }
  responder.Ok(result);
}

void ServeControl::OverlayReset(const Request& request, const Responder& responder) {
  if (auto bad = control::CheckArguments(request, {"export", "mac"})) return responder.Fail(*bad);
  MacAddress mac;
  if (auto bad = control::MacArg(request, "mac", mac)) return responder.Fail(*bad);
  target::Export* e = nullptr;
  overlay::OverlayFilter* o = OverlayArg(request, responder, &e);
  if (o == nullptr) return;
  if (!o->Client(mac)) {
    return responder.Fail(errc::kNoOverlay,
                          fmt::format("{} has no overlay on {}", mac.ToString(), e->name()));
  }
  const std::string name = e->name();
  o->Reset(mac, [this, responder, name, mac](Result<void> done) {
    if (!done) return responder.Fail(CodeFor(done.error()), done.error().message());
    log_.Info(name, "overlay of {} reset", mac.ToString());
    responder.Ok(Json{{"export", name}, {"mac", mac.ToString()}});
  });
}

void ServeControl::OverlayCommit(const Request& request, const Responder& responder) {
  if (auto bad = control::CheckArguments(request, {"export", "mac"})) return responder.Fail(*bad);
  MacAddress mac;
  if (auto bad = control::MacArg(request, "mac", mac)) return responder.Fail(*bad);
  target::Export* e = nullptr;
  overlay::OverlayFilter* o = OverlayArg(request, responder, &e);
  if (o == nullptr) return;
  const std::string name = e->name();
  log_.Info(name, "committing the overlay of {} into a new base version", mac.ToString());
  o->Commit(mac, [this, responder, name, mac](Result<overlay::VersionRecord> done) {
    if (!done) {
      log_.Warn(name, "commit of {} failed: {}", mac.ToString(), done.error().message());
      return responder.Fail(CodeFor(done.error()), done.error().message());
    }
    log_.Info(name, "version {} made from the overlay of {}; it is current", done->id,
              mac.ToString());
    Json result = VersionJson(*done);
    result["export"] = name;
    responder.Ok(result);
  });
}

void ServeControl::OverlayRollback(const Request& request, const Responder& responder) {
  if (auto bad = control::CheckArguments(request, {"export"})) return responder.Fail(*bad);
  target::Export* e = nullptr;
  overlay::OverlayFilter* o = OverlayArg(request, responder, &e);
  if (o == nullptr) return;
  const std::string name = e->name();
  const uint64_t from = o->current_version();
  o->Rollback([this, responder, name, from](Result<overlay::VersionRecord> done) {
    if (!done) return responder.Fail(CodeFor(done.error()), done.error().message());
    log_.Info(name, "rolled back from version {} to version {}", from, done->id);
    Json result = VersionJson(*done);
    result["export"] = name;
    result["rolled_back_from"] = from;
    responder.Ok(result);
  });
}

}  // namespace aoe::cli
