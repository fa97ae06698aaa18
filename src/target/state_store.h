// StateStore: the seam between the target and wherever exports keep their state (config string,
// MAC mask list, reservation) across restarts. FileStateStore keeps it in files, or for an export
// on an RBD image in the image's metadata (SharedMetadata), so nothing here assumes a file system:
// an export is named by its name ("e1.2"), and a state is an ExportState. State kept where other
// hosts change it too is Shared(): the server refreshes it periodically.
//
// Loading, and saving at start-up, block: they run while the server is created or reloaded.
// Saving while serving does not: Save() hands the state over and returns at once, because the
// loop that moves frames never waits for a disk. When a save has finished, the store makes
// completion_fd() readable and TakeCompleted() reports it. A save reported without an error is
// durable: that state survives a crash or power cut of this host, and a crash in the middle of a
// save leaves the previous state, never a mix.
//
// The caller keeps at most one save per export in flight and coalesces the changes made
// meanwhile into the next save (Target does, with SaveCoalescer), so a store never has to order
// two saves of one export.
//
// Threads: the interface is thread-agnostic. Its methods are called from one thread, the
// server's loop. A store that can only save by blocking (FileStateStore) says so and gets a
// thread from its owner, the Server; a store with an asynchronous API needs none.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <system_error>
#include <vector>

#include "base/result.h"
#include "target/export_state.h"

namespace aoe::target {

class StateStore {
 public:
  // One finished save, or one finished Refresh() (`refresh` set).
  struct Saved {
    std::string export_name;
    uint64_t version = 0;   // as passed to Save(); 0 for a refresh
    std::error_code error;  // none: the state is durable (a refresh: it was read)
    bool refresh = false;
    std::optional<ExportState> refreshed{};  // a refresh that found a state: that state
  };

  virtual ~StateStore() = default;

  // The export's saved state; nullopt if none was ever saved. An error if there is state that
  // cannot be read or decoded.
  virtual Result<std::optional<ExportState>> Load(const std::string& export_name) = 0;
  // Saves and waits until the state is durable. Start-up and reload only, while no Save() of
  // the same export is in flight.
  virtual Result<void> SaveNow(const std::string& export_name, const ExportState& state) = 0;

  // Starts saving `state` (copied) as the export's state and returns at once. `version` comes
  // back in the Saved report.
  virtual void Save(const std::string& export_name, const ExportState& state, uint64_t version) = 0;
  // Readable while finished saves wait to be taken.
  virtual int completion_fd() const = 0;
  // Appends the saves finished since the last call to `out`, oldest first, and clears the
  // readiness of completion_fd().
  virtual void TakeCompleted(std::vector<Saved>& out) = 0;
  // Blocks until every save started so far has finished (shutdown and reload; the reports
  // are then taken with TakeCompleted()).
  virtual void WaitIdle() = 0;

  // Whether other hosts may change the export's state too (it is kept with storage several
  // targets serve, such as an RBD image's metadata), so the server must Refresh() it.
  virtual bool Shared(const std::string& export_name) const = 0;
  // Starts reading the export's state again, to see what other hosts changed. Reported through
  // TakeCompleted() like a save, with `refresh` set, in order with the saves: a refresh reported
  // before a save read the state before that save was written.
  virtual void Refresh(const std::string& export_name) = 0;

  // Where an export's state is kept, for log lines ("/var/lib/aoekit/e1.2.json").
  virtual std::string Location(const std::string& export_name) const = 0;
};

}  // namespace aoe::target
