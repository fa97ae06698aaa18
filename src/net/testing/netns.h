// Network-namespace helpers for integration tests (library aoe_net_testing; tests only).
//
// AoE is a raw broadcast protocol, so tests must never send on the host's real interfaces.
// These helpers let a test build a private segment instead:
//
//   if (auto why = aoe::testing::NetnsUnavailableReason(); !why.empty()) GTEST_SKIP() << why;
//   auto a = aoe::testing::NetNamespace::Create();   // `ip netns add aoet-<pid>-<n>`
//   auto b = aoe::testing::NetNamespace::Create();
//   aoe::testing::CreateVethPair(*a, "va", *b, "vb");  // created inside the namespaces, up
//   std::unique_ptr<PacketPort> port;
//   a->Run([&] { port = PacketPort::Open("va").value(); });  // socket lives in namespace a
//   ... use `port` from the main thread: a socket stays in the namespace it was created in ...
//   // ~NetNamespace runs `ip netns del`, which also destroys the veth pair.
//
// The veth pair is created directly inside the namespaces, so it never exists in the host's
// namespace even for a moment. Namespace names embed the creating pid; DeleteStaleNamespaces()
// removes those left behind by a test process that crashed (NetNamespace::Create calls it).
//
// Thread-safety: the free functions are safe to call from any thread. A NetNamespace object is
// used from one thread at a time. Run() blocks the caller until the lambda has finished.
#pragma once

#include <functional>
#include <string>
#include <string_view>

#include "base/result.h"

namespace aoe::testing {

struct CommandResult {
  int exit_code = -1;  // the shell's exit status; -1 if it could not be run or was killed
  std::string output;  // stdout and stderr, interleaved
  bool ok() const { return exit_code == 0; }
};

// Runs `command` with /bin/sh -c and waits for it.
CommandResult RunCommand(const std::string& command);

// Runs `command`; on failure prints the command and its output to stderr and returns ECHILD, so
// a test can `ASSERT_TRUE(RunChecked(...))` and still see what went wrong.
Result<void> RunChecked(const std::string& command);

// Empty when this process can run netns tests (root, `ip` present, namespaces creatable);
// otherwise a sentence saying what is missing, for GTEST_SKIP().
std::string NetnsUnavailableReason();

// Runs `fn` on a new std::thread that has joined the network namespace /run/netns/<name>, and
// waits for it. The calling thread's namespace is unchanged. Sockets created inside `fn` stay in
// that namespace for their whole life, whichever thread uses them later. Fails (without running
// `fn`) if the namespace cannot be entered.
Result<void> RunInNamespace(const std::string& name, const std::function<void()>& fn);

// Deletes namespaces named "<prefix>-<pid>-..." whose pid is no longer running.
void DeleteStaleNamespaces(std::string_view prefix);

// A named network namespace, created with `ip netns add` and deleted with `ip netns del` by the
// destructor (or Delete()). Move-only.
class NetNamespace {
 public:
  // Creates "<prefix>-<pid>-<counter>", first cleaning up stale namespaces with the same prefix.
  // The loopback interface is brought up. The prefix must be short and use only [a-z0-9].
  static Result<NetNamespace> Create(std::string_view prefix = "aoet");

  NetNamespace(NetNamespace&& other) noexcept;
  NetNamespace& operator=(NetNamespace&& other) noexcept;
  NetNamespace(const NetNamespace&) = delete;
  NetNamespace& operator=(const NetNamespace&) = delete;
  ~NetNamespace();

  const std::string& name() const { return name_; }

  // RunInNamespace(name(), fn).
  Result<void> Run(const std::function<void()>& fn) const;
  // Runs a shell command inside the namespace (`ip netns exec NAME sh -c COMMAND`).
  CommandResult Exec(const std::string& command) const;
  // Runs `ip -n NAME <ip_args>`, e.g. Ip("link set va mtu 9000"); prints output on failure.
  Result<void> Ip(const std::string& ip_args) const;

  // Deletes the namespace now; idempotent. Interfaces inside it are destroyed with it.
  Result<void> Delete();

 private:
  explicit NetNamespace(std::string name) : name_(std::move(name)) {}

  std::string name_;  // empty once deleted or moved from
};

// Creates a veth pair with end `name_a` in `a` and `name_b` in `b`, sets both MTUs and brings
// both ends up. Interface names must be at most 15 characters.
Result<void> CreateVethPair(const NetNamespace& a, const std::string& name_a, const NetNamespace& b,
                            const std::string& name_b, size_t mtu = 1500);

// The segment most netns tests start from: two new namespaces (NetNamespace::Create(prefix))
// joined by a veth pair, end `name_a` in `a` and `name_b` in `b`, both up with `mtu`.
struct VethSegment {
  NetNamespace a;
  NetNamespace b;
};
Result<VethSegment> CreateVethSegment(std::string_view prefix, const std::string& name_a,
                                      const std::string& name_b, size_t mtu = 1500);

}  // namespace aoe::testing
