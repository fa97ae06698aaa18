// SharedMetadata: small named values kept with an export's storage itself, where every target
// host serving the same storage reads and writes the same values (an RBD image's metadata). The
// target keeps an export's state there (config string, mask list, reservation) so that several
// hosts serving one image agree on it (target/file_state_store.h).
//
// Every call blocks on the network: call it from a thread that may wait (the state store's
// writer), never from the loop that moves frames. A call that gets no answer fails after the
// backend's operation timeout. Thread-safe: any thread, one call at a time or several.
#pragma once

#include <optional>
#include <string>

#include "base/result.h"

namespace aoe {

class SharedMetadata {
 public:
  virtual ~SharedMetadata() = default;

  // The value of `key`; nullopt if it was never set.
  virtual Result<std::optional<std::string>> Get(const std::string& key) = 0;
  // Sets `key` to `value`; durable in the storage system when it returns. Last writer wins.
  virtual Result<void> Set(const std::string& key, const std::string& value) = 0;
  // Where the values live, for log lines ("metadata of RBD image rbd/disk").
  virtual std::string Describe() const = 0;
};

}  // namespace aoe
