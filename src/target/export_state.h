// ExportState: what an export remembers across restarts: the config string, the MAC mask list
// and the reservation list. Saved as JSON in `<state_dir>/e<shelf>.<slot>.json`, written
// atomically (temporary file, fsync, rename, fsync of the directory) so a crash leaves either
// the old or the new state, never a torn file.
//
// Not thread-safe; owned by its Export.
#pragma once

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "base/mac_address.h"
#include "base/result.h"

namespace aoe::target {

struct ExportState {
  std::vector<uint8_t> config_string;  // opaque bytes, at most 1024
  std::vector<MacAddress> mask;        // non-empty: only these hosts get any answer
  std::vector<MacAddress> reservation; // non-empty: only these hosts may issue ATA I/O
  // The mask list the configuration last asked for. When the configuration asks for a different
  // one, it replaces `mask`; otherwise edits made over the wire stand. So the most recent
  // change wins, whichever side made it.
  std::vector<MacAddress> configured_mask;

  bool MaskAllows(const MacAddress& mac) const {
    return mask.empty() || std::find(mask.begin(), mask.end(), mac) != mask.end();
  }
  bool ReservationAllows(const MacAddress& mac) const {
    return reservation.empty() ||
           std::find(reservation.begin(), reservation.end(), mac) != reservation.end();
  }
  bool operator==(const ExportState&) const = default;
};

// Where one export's state lives. An empty directory means "in memory only" (tests).
class StateFile {
 public:
  StateFile() = default;
  StateFile(std::string directory, std::string export_name);

  const std::string& path() const { return path_; }
  bool persistent() const { return !path_.empty(); }

  // Loads the saved state; a missing file is not an error (returns nullopt-like empty Result
  // value with `found` false). A corrupt file is an error naming the file.
  struct Loaded {
    bool found = false;
    ExportState state;
  };
  Result<Loaded> Load() const;
  Result<void> Save(const ExportState& state) const;

 private:
  std::string directory_;
  std::string path_;
};

}  // namespace aoe::target
