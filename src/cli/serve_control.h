// ServeControl: the commands of `aoe serve`'s control socket (docs/control.md), carried out on
// the running Server: list exports and the clients they have seen, report the target's
// counters, add, remove and reload exports, the overlay commands of `aoe overlay`, and the boot
// notice `aoe netboot` sends.
//
// Every request is checked in full (command, argument names and types, the export and client
// it names) before anything is changed: a bad request gets an error and changes nothing.
//
// Runs on the Server's loop thread (the ControlServer calls it there). Borrows the server and
// the logger, which must outlive it.
#pragma once

#include <optional>
#include <string>

#include "base/log.h"
#include "control/control_server.h"
#include "target/server.h"

namespace aoe::cli {

class ServeControl final : public control::ControlHandler {
 public:
  ServeControl(target::Server& server, Logger& log) : server_(server), log_(log) {}

  void Handle(const control::Request& request, control::Responder responder) override;

 private:
  using Responder = control::Responder;
  using Request = control::Request;

  void Exports(const Request& request, const Responder& responder);
  void Clients(const Request& request, const Responder& responder);
  void Stats(const Request& request, const Responder& responder);
  void AddExport(const Request& request, const Responder& responder);
  void RemoveExport(const Request& request, const Responder& responder);
  void ReloadExport(const Request& request, const Responder& responder);
  void ClientBoot(const Request& request, const Responder& responder);
  void OverlayList(const Request& request, const Responder& responder);
  void OverlayShow(const Request& request, const Responder& responder);
  void OverlayReset(const Request& request, const Responder& responder);
  void OverlayCommit(const Request& request, const Responder& responder);
  void OverlayRollback(const Request& request, const Responder& responder);

  // The "spec" argument: parsed, with absolute paths, and right in itself
  // (target::CheckExport); `spec` gets its text. Otherwise answers bad-argument and gives none.
  std::optional<target::ExportOptions> SpecArg(const Request& request, const Responder& responder,
                                               std::string& spec);
  // The export named by the "export" argument, or null after answering with the error.
  target::Export* ExportArg(const Request& request, const Responder& responder);
  // Answers "refused" and returns true while a commit runs on `e`: closing the export would
  // have to wait for it.
  bool CommitRunning(target::Export& e, const Responder& responder);
  // The same, and it must have overlays.
  overlay::OverlayFilter* OverlayArg(const Request& request, const Responder& responder,
                                     target::Export** e = nullptr);

  target::Server& server_;
  Logger& log_;
};

}  // namespace aoe::cli
