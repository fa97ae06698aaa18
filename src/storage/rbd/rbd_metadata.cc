#include "storage/rbd/rbd_metadata.h"

#include <fmt/format.h>

#include <cerrno>
#include <vector>

namespace aoe {

Result<std::optional<std::string>> RbdMetadata::Get(const std::string& key) {
  std::vector<char> value(4096);
  for (;;) {
    size_t length = value.size();
    int r = rbd_metadata_get(image_->handle(), key.c_str(), value.data(), &length);
    if (r == -ENOENT) return std::optional<std::string>();
    if (r == -ERANGE && length > value.size()) {
      value.resize(length);  // `length` is the size needed
      continue;
    }
    if (r < 0) return Errno(-r);
    // NUL-terminated; librbd updates `length` only when the buffer is too small.
    return std::optional<std::string>(std::string(value.data()));
  }
}

Result<void> RbdMetadata::Set(const std::string& key, const std::string& value) {
  if (int r = rbd_metadata_set(image_->handle(), key.c_str(), value.c_str()); r < 0) {
    return Errno(-r);
  }
  return {};
}

std::string RbdMetadata::Describe() const {
  return fmt::format("metadata of RBD image {}", image_->name());
}

}  // namespace aoe
