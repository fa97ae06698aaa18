// SendAll: a test's burst of frames through a Port, all of it, however full the port's queue.
#pragma once

#include <chrono>
#include <cstddef>
#include <limits>
#include <span>

#include "base/result.h"
#include "net/port.h"
#include "net/testing/test_data.h"

namespace aoe::testing {

// Sends every frame through `port`, at most `per_call` in one Send(); when the port takes none
// (its queue is full), tries again 1 ms later, until `within` has passed. Returns how many
// frames were left unsent (0: all were sent), or the port's error.
Result<size_t> SendAll(Port& port, std::span<const Bytes> frames, std::chrono::milliseconds within,
                       size_t per_call = std::numeric_limits<size_t>::max());

}  // namespace aoe::testing
