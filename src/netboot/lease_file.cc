#include "netboot/lease_file.h"

#include "base/read_file.h"

namespace aoe::netboot {

Result<std::string> ReadStateFile(const std::string& path) {
  Result<std::optional<std::string>> text = ReadSmallFileIfPresent(path);
  if (!text) return Unexpected{text.error()};
  return text->value_or(std::string());
}

}  // namespace aoe::netboot
