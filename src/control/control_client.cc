#include "control/control_client.h"

#include <fmt/format.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "base/unique_fd.h"

namespace aoe::control {

Result<Json> Call(const std::string& socket_path, const Json& request,
                  std::chrono::milliseconds timeout, std::string& why) {
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  if (socket_path.empty() || socket_path.size() >= sizeof address.sun_path) {
    why = fmt::format("control socket path '{}' is too long", socket_path);
    return Errno(ENAMETOOLONG);
  }
  std::memcpy(address.sun_path, socket_path.c_str(), socket_path.size() + 1);
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) return Errno();
  if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0) {
    const int err = errno;
    struct stat st {};
    if (err == ECONNREFUSED && ::stat(socket_path.c_str(), &st) == 0 && !S_ISSOCK(st.st_mode)) {
      why = fmt::format("{} is not a socket; give aoe serve's control socket with -S", socket_path);
    } else if (err == ENOENT || err == ECONNREFUSED) {
      why = fmt::format(
          "no aoe serve listens on {}; is it running (and with this "
          "--control-socket)?",
          socket_path);
    } else if (err == EACCES || err == EPERM) {
      why =
          fmt::format("permission denied on {}: the control socket is for root only", socket_path);
    } else {
      why = fmt::format("cannot connect to {}: {}", socket_path, std::strerror(err));
    }
    return Errno(err);
  }
  const std::string line = request.dump() + "\n";
  size_t sent = 0;
  while (sent < line.size()) {
    ssize_t n = ::send(fd.get(), line.data() + sent, line.size() - sent, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      why = fmt::format("cannot send to {}: {}", socket_path, std::strerror(errno));
      return Errno();
    }
    sent += static_cast<size_t>(n);
  }
  std::string response;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (size_t newline = response.find('\n'); newline != std::string::npos) {
      response.resize(newline);
      break;
    }
    int wait_ms = -1;
    if (timeout.count() >= 0) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      wait_ms = static_cast<int>(std::max<int64_t>(0, left.count()));
    }
    pollfd p{fd.get(), POLLIN, 0};
    int ready = ::poll(&p, 1, wait_ms);
    if (ready < 0 && errno == EINTR) continue;
    if (ready == 0) {
      why = fmt::format("no response from {} within {} ms", socket_path, timeout.count());
      return Errno(ETIMEDOUT);
    }
    char chunk[65536];
    ssize_t n = ::recv(fd.get(), chunk, sizeof chunk, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      why = fmt::format("{} closed the connection without a response", socket_path);
      return Errno(n == 0 ? ECONNRESET : errno);
    }
    response.append(chunk, static_cast<size_t>(n));
  }
  Json parsed = Json::parse(response, nullptr, /*allow_exceptions=*/false);
  if (!WellFormedResponse(parsed)) {
    why = fmt::format("malformed response from {} (not aoe serve's control socket, or another "
                      "version of it)",
                      socket_path);
    return Errno(EPROTO);
  }
  return parsed;
}

}  // namespace aoe::control
