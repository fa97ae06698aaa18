// The control protocol of `aoe serve` (docs/control.md): one JSON object per line each way over
// a Unix stream socket.
//
//   request:   {"id": 7, "command": "overlay.reset", "args": {"export": "e0.1", "mac": "..."}}
//   success:   {"id": 7, "ok": true, "result": {...}}
//   failure:   {"id": 7, "ok": false, "error": {"code": "no-such-export", "message": "..."}}
//
// `id` is optional and echoed as given (any JSON value), so a client may pipeline requests;
// responses to one connection come in the order the requests complete. `args` is optional
// when a command takes none.
//
// This file is the envelope and the argument checks, pure functions over text and JSON, so that
// every malformed request is refused the same way before any command runs.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/mac_address.h"

namespace aoe::control {

using Json = nlohmann::ordered_json;

// Largest request line accepted (its newline included); longer ones get "request-too-large" and
// the connection is closed, since the rest of the line cannot be found reliably.
inline constexpr size_t kMaxRequestBytes = 64 * 1024;

// Error codes, stable for scripts (docs/control.md lists them).
namespace errc {
inline constexpr std::string_view kBadJson = "bad-json";
inline constexpr std::string_view kBadRequest = "bad-request";
inline constexpr std::string_view kTooLarge = "request-too-large";
inline constexpr std::string_view kUnknownCommand = "unknown-command";
inline constexpr std::string_view kBadArgument = "bad-argument";
inline constexpr std::string_view kNoSuchExport = "no-such-export";
inline constexpr std::string_view kNotAnOverlayExport = "not-an-overlay-export";
inline constexpr std::string_view kNoOverlay = "no-overlay";
inline constexpr std::string_view kRefused = "refused";
inline constexpr std::string_view kFailed = "failed";
}  // namespace errc

struct ControlError {
  std::string code;
  std::string message;
};

struct Request {
  Json id;  // null when the request had none
  std::string command;
  Json args = Json::object();
};

// Parses one request line (without its newline). On failure the error says what is wrong and
// `id` receives the request's id if it could be read.
std::optional<Request> ParseRequest(std::string_view line, ControlError& error, Json& id);

std::string SuccessLine(const Json& id, const Json& result);
std::string ErrorLine(const Json& id, const ControlError& error);

// Whether a response has the shape SuccessLine and ErrorLine give it: "ok" true with a
// "result", or "ok" false with an "error" object holding a string "code" and "message". A
// client checks this before it reads a field (a peer of another version, or not aoe serve).
bool WellFormedResponse(const Json& response);

// Checks `request.args` against what `request.command` takes: every name in `required` must be
// there, nothing outside `required` and `optional` may be. Returns the problem, if any.
std::optional<ControlError> CheckArguments(const Request& request,
                                           std::initializer_list<std::string_view> required,
                                           std::initializer_list<std::string_view> optional = {});

// Typed argument readers; the argument must exist (CheckArguments) or be optional.
std::optional<ControlError> StringArg(const Request& request, std::string_view name,
                                      std::string& out);
std::optional<ControlError> MacArg(const Request& request, std::string_view name, MacAddress& out);

}  // namespace aoe::control
