// How the initiator engine words its errors (internal to src/initiator).
#pragma once

#include <string>
#include <string_view>

#include "base/clock.h"
#include "initiator/error.h"
#include "initiator/types.h"
#include "proto/header.h"

namespace aoe::initiator {

// "30 s", or "250 ms" for a duration that is not whole seconds.
std::string FormatDuration(Duration d);

// The error for a reply with the AoE error flag set: "<address> refused <what>: <the code's
// name> (AoE error N)<detail>"; kTargetReserved for AoE error 6, kAoeError for the others.
Error AoeRefusal(DiskAddress address, std::string_view what, proto::AoeError code,
                 std::string_view detail = {});

}  // namespace aoe::initiator
