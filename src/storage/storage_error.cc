#include "storage/storage_error.h"

#include <string>

namespace aoe {
namespace {

class StorageCategoryImpl final : public std::error_category {
 public:
  const char* name() const noexcept override { return "aoe.storage"; }
  std::string message(int value) const override {
    switch (static_cast<StorageErrc>(value)) {
      case StorageErrc::kWindowOutsideImage:
        return "offset/length window does not fit inside the image";
      case StorageErrc::kWindowEmpty:
        return "offset/length window is empty";
      case StorageErrc::kWindowUnaligned:
        return "window offset is not a multiple of 512 bytes";
      case StorageErrc::kNotFileOrBlockDevice:
        return "not a regular file or block device";
      case StorageErrc::kSizeOverflow:
        return "sector count too large";
    }
    return "unknown storage error";
  }
};

}  // namespace

const std::error_category& StorageCategory() {
  static const StorageCategoryImpl category;
  return category;
}

}  // namespace aoe
