// The client side of the control protocol (control_protocol.h): one request, one response, over
// a fresh connection. Used by `aoe ctl`, `aoe overlay` and `aoe netboot --notify-socket`.
#pragma once

#include <chrono>
#include <string>

#include "base/result.h"
#include "control/control_protocol.h"

namespace aoe::control {

// Where `aoe serve` listens unless told otherwise (--control-socket, control_socket =).
inline constexpr std::string_view kDefaultSocketPath = "/run/aoekit/aoe.sock";

// Sends `request` and returns the response object (ok or not). A negative timeout waits as long
// as it takes (a commit copies the whole image). On failure `why` is one actionable line
// (no such socket, permission denied, timed out, malformed response).
Result<Json> Call(const std::string& socket_path, const Json& request,
                  std::chrono::milliseconds timeout, std::string& why);

}  // namespace aoe::control
