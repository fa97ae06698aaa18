// Errors of the initiator: a code that programs compare against, plus a message that names the
// disk, the sectors, the interface and the MAC involved, so the CLI can print it as is.
//
// Result<T> (base/result.h) carries only a std::error_code, which cannot say "no reply from e0.1
// for 30 s on veth0 (mac 02:00:00:00:00:01)". Outcome<T> is the same Expected (base/result.h)
// carrying an Error with that context. Compare codes with
// `outcome.error().code == InitiatorErrc::kTimeout`.
//
// Value types; no shared state. Thread-safety: as for any value.
#pragma once

#include <cassert>
#include <optional>
#include <string>
#include <system_error>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "base/mac_address.h"
#include "base/result.h"

namespace aoe::initiator {

enum class InitiatorErrc {
  kTimeout = 1,      // an exchange got no reply in time (also the "no match" of config tests)
  kDeadTarget,       // a frame waited the whole dead-target timeout
  kNoSuchTarget,     // shelf.slot did not answer discovery
  kTargetReserved,   // AoE error 6
  kAoeError,         // any other AoE error flag (the message names the code)
  kAtaError,         // ATA status ERR/DF: the message names the failing sector range
  kShortReply,       // a read reply carried fewer bytes than requested
  kOutOfRange,       // request beyond the disk's capacity (caught before sending)
  kInvalidArgument,  // caller error: unaligned buffer, bad shelf/slot, too many MACs ...
  kCancelled,        // the disk/initiator was closed with the request pending
  kNoPorts,          // no usable local interface
  kMaskError,        // MAC mask edit refused (MError in the reply)
};

const std::error_category& InitiatorCategory();

inline std::error_code make_error_code(InitiatorErrc e) {
  return {static_cast<int>(e), InitiatorCategory()};
}

// An error code plus a complete human-readable message.
struct Error {
  std::error_code code;
  std::string message;
  // kTargetReserved from a reserve command: the reserve list the target sent back with the
  // refusal (who holds it). Unset when the reply carried no list (ATA replies never do).
  std::optional<std::vector<MacAddress>> holders;

  Error() = default;
  Error(std::error_code c, std::string m) : code(c), message(std::move(m)) {}
  Error(InitiatorErrc c, std::string m) : code(make_error_code(c)), message(std::move(m)) {}
  // A system error from a lower layer; the message is the code's own text.
  explicit Error(std::error_code c) : code(c), message(c.message()) {}

  bool operator==(InitiatorErrc e) const { return code == make_error_code(e); }
};

template <typename T>
using Outcome = Expected<T, Error>;

}  // namespace aoe::initiator

template <>
struct std::is_error_code_enum<aoe::initiator::InitiatorErrc> : std::true_type {};
