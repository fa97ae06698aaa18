#include "net/testing/send_all.h"

#include <algorithm>
#include <thread>
#include <vector>

namespace aoe::testing {

Result<size_t> SendAll(Port& port, std::span<const Bytes> frames, std::chrono::milliseconds within,
                       size_t per_call) {
  std::vector<TxFrame> spans(frames.begin(), frames.end());
  std::span<const TxFrame> rest(spans);
  const auto deadline = std::chrono::steady_clock::now() + within;
  while (!rest.empty() && std::chrono::steady_clock::now() < deadline) {
    auto sent = port.Send(rest.first(std::min(rest.size(), per_call)));
    if (!sent) return Unexpected{sent.error()};
    rest = rest.subspan(*sent);
    if (*sent == 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return rest.size();
}

}  // namespace aoe::testing
