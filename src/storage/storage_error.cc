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
      case StorageErrc::kCephConfigUnreadable:
        return "cannot read the Ceph configuration; give its path with ceph_conf=PATH";
      case StorageErrc::kCephUnreachable:
        return "the Ceph cluster did not answer within the connect timeout "
               "(client_mount_timeout); check mon_host in ceph.conf and the network";
      case StorageErrc::kCephKeyRefused:
        return "the Ceph cluster refused the key of this client; check ceph_id= and keyring= "
               "against `ceph auth get client.ID`";
      case StorageErrc::kRbdModuleMissing:
        return "rbd: exports need the aoekit-rbd package; install it (apt-get install "
               "aoekit-rbd), or in a source build install librbd-dev and build again";
      case StorageErrc::kRbdModuleUnloadable:
        return "the aoekit-rbd module cannot be loaded: a library it needs is missing (`ldd` on "
               "it shows which) or the file is damaged; reinstall aoekit-rbd";
      case StorageErrc::kRbdModuleMismatch:
        return "the aoekit-rbd module is from another aoekit version or build; install the "
               "aoekit-rbd of this aoekit's version";
    }
    return "unknown storage error";
  }
};

}  // namespace

const std::error_category& StorageCategory() {
  static const StorageCategoryImpl category;
  return category;
}

bool IsRbdModuleError(const std::error_code& error) {
  if (error.category() != StorageCategory()) return false;
  switch (static_cast<StorageErrc>(error.value())) {
    case StorageErrc::kRbdModuleMissing:
    case StorageErrc::kRbdModuleUnloadable:
    case StorageErrc::kRbdModuleMismatch:
      return true;
    default:
      return false;
  }
}

bool IsStorageSetupError(const std::error_code& error) {
  if (IsRbdModuleError(error)) return true;
  if (error.category() != StorageCategory()) return false;
  switch (static_cast<StorageErrc>(error.value())) {
    case StorageErrc::kCephConfigUnreadable:
    case StorageErrc::kCephUnreachable:
    case StorageErrc::kCephKeyRefused:
      return true;
    default:
      return false;
  }
}

}  // namespace aoe
