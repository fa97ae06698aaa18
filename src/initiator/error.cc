#include "initiator/error.h"

namespace aoe::initiator {
namespace {

class Category final : public std::error_category {
 public:
  const char* name() const noexcept override { return "aoe-initiator"; }
  std::string message(int code) const override {
    switch (static_cast<InitiatorErrc>(code)) {
      case InitiatorErrc::kTimeout:
        return "no reply";
      case InitiatorErrc::kDeadTarget:
        return "target stopped answering";
      case InitiatorErrc::kNoSuchTarget:
        return "no such target";
      case InitiatorErrc::kTargetReserved:
        return "target reserved by another host";
      case InitiatorErrc::kAoeError:
        return "target answered with an AoE error";
      case InitiatorErrc::kAtaError:
        return "ATA command failed";
      case InitiatorErrc::kShortReply:
        return "short reply";
      case InitiatorErrc::kOutOfRange:
        return "beyond the end of the disk";
      case InitiatorErrc::kInvalidArgument:
        return "invalid argument";
      case InitiatorErrc::kCancelled:
        return "cancelled";
      case InitiatorErrc::kNoPorts:
        return "no usable network interface";
      case InitiatorErrc::kMaskError:
        return "MAC mask edit refused";
    }
    return "unknown initiator error";
  }
};

}  // namespace

const std::error_category& InitiatorCategory() {
  static const Category category;
  return category;
}

}  // namespace aoe::initiator
