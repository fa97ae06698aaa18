#include "control/control_server.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace aoe::control {
namespace {

constexpr std::string_view kSubject = "control";

std::string ErrnoText(int err) { return std::error_code(err, std::system_category()).message(); }

}  // namespace

void Responder::Ok(const Json& result) const {
  if (auto sink = sink_.lock()) sink->Send(SuccessLine(id_, result));
}

void Responder::Fail(std::string_view code, std::string message) const {
  if (auto sink = sink_.lock()) {
    sink->Send(ErrorLine(id_, ControlError{std::string(code), std::move(message)}));
  }
}

// One client. Shared with the Responders of its requests in flight, which hold it weakly.
class ControlServer::Connection final : public Responder::Sink {
 public:
  Connection(ControlServer& server, UniqueFd fd) : server_(server), fd_(std::move(fd)) {}

  int fd() const { return fd_.get(); }
  bool open() const { return open_; }
  // When the client last sent something (or connected).
  std::chrono::steady_clock::time_point last_heard() const { return last_heard_; }

  void Send(const std::string& line) override {
    if (!open_) return;
    size_t sent = 0;
    while (sent < line.size()) {
      ssize_t n =
          ::send(fd_.get(), line.data() + sent, line.size() - sent, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        server_.log_.Debug(kSubject, "dropping a client that does not read its responses: {}",
                           ErrnoText(errno));
        open_ = false;
        return;
      }
      sent += static_cast<size_t>(n);
    }
  }

  // Reads what arrived and handles every complete line. Returns false when the connection
  // should be closed.
  bool OnReadable() {
    char chunk[4096];
    for (;;) {
      ssize_t n = ::recv(fd_.get(), chunk, sizeof chunk, MSG_DONTWAIT);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
      if (n <= 0) return false;  // end of stream or error
      last_heard_ = std::chrono::steady_clock::now();
      input_.append(chunk, static_cast<size_t>(n));
      if (!HandleLines()) return false;
    }
    return open_;
  }

 private:
  bool HandleLines() {
    size_t start = 0;
    for (;;) {
      const size_t newline = input_.find('\n', start);
      if (newline == std::string::npos) break;
      std::string_view line(input_.data() + start, newline - start);
      if (line.size() + 1 > kMaxRequestBytes) return TooLarge();
      if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
      if (!line.empty()) Dispatch(line);
      start = newline + 1;
      if (!open_) return false;
    }
    input_.erase(0, start);
    if (input_.size() >= kMaxRequestBytes) return TooLarge();
    return true;
  }

  bool TooLarge() {
    Send(ErrorLine(nullptr, ControlError{std::string(errc::kTooLarge),
                                         fmt::format("a request may be at most {} bytes "
                                                     "(one JSON object per line)",
                                                     kMaxRequestBytes)}));
    return false;
  }

  void Dispatch(std::string_view line) {
    ControlError error;
    Json id;
    std::optional<Request> request = ParseRequest(line, error, id);
    if (!request) {
      Send(ErrorLine(id, error));
      return;
    }
    server_.log_.Debug(kSubject, "request {}", request->command);
    // The connection is shared: Responders keep a weak reference to it.
    auto self = std::find_if(server_.connections_.begin(), server_.connections_.end(),
                             [&](const auto& c) { return c.get() == this; });
    std::weak_ptr<Responder::Sink> sink;
    if (self != server_.connections_.end()) sink = *self;
    server_.handler_.Handle(*request, Responder(sink, request->id));
  }

  ControlServer& server_;
  UniqueFd fd_;
  std::string input_;
  bool open_ = true;
  std::chrono::steady_clock::time_point last_heard_ = std::chrono::steady_clock::now();
};

Result<std::unique_ptr<ControlServer>> ControlServer::Create(const std::string& path,
                                                             EventLoop& loop, Logger& log,
                                                             ControlHandler& handler,
                                                             std::string& why,
                                                             std::chrono::milliseconds idle_limit) {
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof address.sun_path) {
    why = fmt::format("control socket path '{}' must be 1-{} characters", path,
                      sizeof address.sun_path - 1);
    return Errno(ENAMETOOLONG);
  }
  std::memcpy(address.sun_path, path.c_str(), path.size() + 1);

  struct stat st {};
  if (::lstat(path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) {
      why = fmt::format("{} exists and is not a socket; remove it or choose another path", path);
      return Errno(EEXIST);
    }
    // A socket file: another aoe serve's if something answers on it, else a leftover.
    UniqueFd probe(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (probe &&
        ::connect(probe.get(), reinterpret_cast<const sockaddr*>(&address), sizeof address) == 0) {
      why = fmt::format(
          "{} is in use by another aoe serve; stop it or give --control-socket "
          "another path",
          path);
      return Errno(EADDRINUSE);
    }
    ::unlink(path.c_str());
  }

  UniqueFd listener(::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!listener) {
    why = fmt::format("cannot create the control socket: {}", ErrnoText(errno));
    return Errno();
  }
  // Created 0600 from the start: no moment in which another user could connect.
  const mode_t old_mask = ::umask(0177);
  const int bound =
      ::bind(listener.get(), reinterpret_cast<const sockaddr*>(&address), sizeof address);
  const int bind_errno = errno;
  ::umask(old_mask);
  if (bound != 0) {
    why = fmt::format("cannot bind the control socket {}: {}{}", path, ErrnoText(bind_errno),
                      bind_errno == ENOENT ? " (create its directory first)" : "");
    return Errno(bind_errno);
  }
  if (::chmod(path.c_str(), 0600) != 0 || ::listen(listener.get(), 16) != 0) {
    const int err = errno;
    ::unlink(path.c_str());
    why = fmt::format("cannot set up the control socket {}: {}", path, ErrnoText(err));
    return Errno(err);
  }
  std::unique_ptr<ControlServer> server(
      new ControlServer(path, std::move(listener), loop, log, handler, idle_limit));
  if (::stat(path.c_str(), &st) == 0) server->inode_ = st.st_ino;
  if (auto added = loop.Add(server->listener_.get(), [s = server.get()] { s->OnAcceptable(); });
      !added) {
    why = fmt::format("cannot watch the control socket: {}", added.error().message());
    return Unexpected{added.error()};
  }
  return server;
}

ControlServer::ControlServer(std::string path, UniqueFd listener, EventLoop& loop, Logger& log,
                             ControlHandler& handler, std::chrono::milliseconds idle_limit)
    : path_(std::move(path)),
      listener_(std::move(listener)),
      loop_(loop),
      log_(log),
      handler_(handler),
      idle_limit_(idle_limit) {}

ControlServer::~ControlServer() {
  for (const auto& c : connections_) (void)loop_.Remove(c->fd());
  if (listener_) (void)loop_.Remove(listener_.get());
  // Only our own socket: another aoe serve may have replaced a path we lost.
  struct stat st {};
  if (inode_ != 0 && ::stat(path_.c_str(), &st) == 0 && st.st_ino == inode_) {
    ::unlink(path_.c_str());
  }
}

void ControlServer::OnAcceptable() {
  for (;;) {
    UniqueFd fd(::accept4(listener_.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
    if (!fd) {
      if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
        log_.Warn(kSubject, "accept failed: {}", ErrnoText(errno));
      }
      return;
    }
    ucred peer{};
    socklen_t length = sizeof peer;
    if (::getsockopt(fd.get(), SOL_SOCKET, SO_PEERCRED, &peer, &length) != 0 ||
        (peer.uid != 0 && peer.uid != ::geteuid())) {
      log_.Warn(kSubject, "refused a connection from uid {} (only root may use it)", peer.uid);
      continue;
    }
    if (connections_.size() >= kMaxConnections && !MakeRoom()) {
      log_.Warn(kSubject, "refused a connection: {} are open already", kMaxConnections);
      continue;
    }
    auto connection = std::make_shared<Connection>(*this, std::move(fd));
    Connection* raw = connection.get();
    connections_.push_back(std::move(connection));
    if (!loop_.Add(raw->fd(), [this, raw] {
          if (!raw->OnReadable()) Close(*raw);
        })) {
      connections_.pop_back();
    }
  }
}

bool ControlServer::MakeRoom() {
  Connection* quietest = nullptr;
  for (const auto& c : connections_) {
    if (!c->open()) {
      quietest = c.get();
      break;
    }
    if (quietest == nullptr || c->last_heard() < quietest->last_heard()) quietest = c.get();
  }
  if (quietest == nullptr) return false;
  const auto quiet = std::chrono::steady_clock::now() - quietest->last_heard();
  if (quietest->open() && quiet < idle_limit_) return false;
  log_.Info(kSubject, "closing a connection {} to make room for a new one",
            quietest->open()
                ? fmt::format("quiet for {} s",
                              std::chrono::duration_cast<std::chrono::seconds>(quiet).count())
                : std::string("that stopped reading its answers"));
  Close(*quietest);
  return true;
}

void ControlServer::Close(Connection& connection) {
  (void)loop_.Remove(connection.fd());
  // Responders still holding it weakly find it gone; its fd closes with the last reference.
  std::erase_if(connections_, [&](const auto& c) { return c.get() == &connection; });
}

}  // namespace aoe::control
