// How the initiator engine words its errors (messages.h).
#include "initiator/messages.h"

#include <fmt/format.h>

namespace aoe::initiator {
namespace {

std::string_view AoeErrorName(proto::AoeError e) {
  switch (e) {
    case proto::AoeError::kNone:
      return "no error code";
    case proto::AoeError::kUnrecognizedCommand:
      return "unrecognized command";
    case proto::AoeError::kBadArgument:
      return "bad argument";
    case proto::AoeError::kDeviceUnavailable:
      return "device unavailable";
    case proto::AoeError::kConfigStringPresent:
      return "config string already set";
    case proto::AoeError::kUnsupportedVersion:
      return "unsupported AoE version";
    case proto::AoeError::kTargetReserved:
      return "target reserved by another host";
  }
  return "unknown error";
}

}  // namespace

std::string FormatDuration(Duration d) {
  using namespace std::chrono;
  if (d % seconds(1) == Duration::zero())
    return fmt::format("{} s", duration_cast<seconds>(d).count());
  return fmt::format("{} ms", duration_cast<milliseconds>(d).count());
}

Error AoeRefusal(DiskAddress address, std::string_view what, proto::AoeError code,
                 std::string_view detail) {
  InitiatorErrc errc = code == proto::AoeError::kTargetReserved ? InitiatorErrc::kTargetReserved
                                                                : InitiatorErrc::kAoeError;
  return Error(errc, fmt::format("{} refused {}: {} (AoE error {}){}", address.ToString(), what,
                                 AoeErrorName(code), static_cast<int>(code), detail));
}

}  // namespace aoe::initiator
