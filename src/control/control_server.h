// ControlServer: the Unix socket of `aoe serve` that `aoe ctl` and `aoe overlay` talk to
// (docs/control.md). It owns the listening socket and the connections, splits the byte stream
// into request lines, refuses malformed and oversize requests with a JSON error, and hands the
// rest to a ControlHandler, which answers at once or later (a commit takes a while).
//
// Access: the socket is created with mode 0600 (owner: the user that started `aoe serve`,
// normally root), so other users cannot connect; a peer whose SO_PEERCRED uid is neither 0 nor
// ours is dropped as well. At most kMaxConnections at once; when they are all taken, a new
// client gets the place of one that stopped reading its answers or has sent nothing for
// `idle_limit` (so clients that connect and go quiet cannot lock `aoe ctl` out).
//
// Runs on the caller's EventLoop; no threads. A client must read its responses: one whose
// socket buffer is full is disconnected rather than waited for.
//
// Ownership: owns its fds and removes them from the loop when destroyed; unlinks the socket
// path if it is still the socket it created. The loop, logger and handler must outlive it.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "base/log.h"
#include "base/result.h"
#include "base/unique_fd.h"
#include "control/control_protocol.h"
#include "net/event_loop.h"

namespace aoe::control {

// How a handler answers one request; copyable, callable once, safe to call after the client
// went away (the answer is then dropped).
class Responder {
 public:
  struct Sink {
    virtual void Send(const std::string& line) = 0;

   protected:
    ~Sink() = default;
  };
  Responder(std::weak_ptr<Sink> sink, Json id) : sink_(std::move(sink)), id_(std::move(id)) {}

  void Ok(const Json& result) const;
  void Fail(std::string_view code, std::string message) const;
  void Fail(const ControlError& error) const { Fail(error.code, error.message); }

 private:
  std::weak_ptr<Sink> sink_;
  Json id_;
};

class ControlHandler {
 public:
  virtual void Handle(const Request& request, Responder responder) = 0;

 protected:
  ~ControlHandler() = default;
};

class ControlServer {
 public:
  static constexpr size_t kMaxConnections = 16;
  // How long a client may send nothing before a new one may take its place (one waiting for a
  // long answer, such as a commit's, keeps it while there is room).
  static constexpr std::chrono::seconds kIdleLimit{60};

  // Binds `path`. A socket file left by a process that is gone is replaced; one that answers
  // is another `aoe serve`'s (error, `why` says so); any other file is never removed. Errors
  // carry the errno; `why` is one actionable line.
  static Result<std::unique_ptr<ControlServer>> Create(
      const std::string& path, EventLoop& loop, Logger& log, ControlHandler& handler,
      std::string& why, std::chrono::milliseconds idle_limit = kIdleLimit);
  ~ControlServer();
  ControlServer(const ControlServer&) = delete;
  ControlServer& operator=(const ControlServer&) = delete;

  const std::string& path() const { return path_; }

 private:
  class Connection;

  ControlServer(std::string path, UniqueFd listener, EventLoop& loop, Logger& log,
                ControlHandler& handler, std::chrono::milliseconds idle_limit);
  void OnAcceptable();
  // With every place taken: closes the connection that stopped reading its answers, or the
  // one quiet longest if for idle_limit_; false if none may go.
  bool MakeRoom();
  void Close(Connection& connection);

  std::string path_;
  UniqueFd listener_;
  ino_t inode_ = 0;
  EventLoop& loop_;
  Logger& log_;
  ControlHandler& handler_;
  std::chrono::milliseconds idle_limit_;
  std::vector<std::shared_ptr<Connection>> connections_;
};

}  // namespace aoe::control
