// ExportState: what an export remembers across restarts: the config string, the MAC mask list
// and the reservation list, and its encoding as a small JSON document. Where the document is
// kept is a StateStore's business (state_store.h); the encoding knows nothing of files.
//
// Value type; not thread-safe.
#pragma once

#include <algorithm>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/mac_address.h"
#include "base/result.h"

namespace aoe::target {

struct ExportState {
  std::vector<uint8_t> config_string;   // opaque bytes, at most 1024
  std::vector<MacAddress> mask;         // non-empty: only these hosts get any answer
  std::vector<MacAddress> reservation;  // non-empty: only these hosts may issue ATA I/O
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

// The JSON document: {"config_string_hex": "...", "config_string": "...", "mask": [...],
// "configured_mask": [...], "reservation": [...]}. The hex form of the config string is
// authoritative; the plain one is for administrators reading the file.
std::string EncodeExportState(const ExportState& state);
// Decodes a document; illegal_byte_sequence for anything that is not one (missing keys are
// empty lists and strings).
Result<ExportState> DecodeExportState(std::string_view text);

}  // namespace aoe::target
