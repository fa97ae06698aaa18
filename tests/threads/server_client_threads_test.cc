// The real target (target::Server) and the real initiator (initiator::Client) on two threads,
// joined by one MemoryWire. MemoryWire promises that its ports may be used from different
// threads (one mutex per wire, an eventfd per port); the target and initiator libraries own no
// threads and share no hidden state, so each may run on its own thread. This is the test that
// gives the TSan pass of scripts/test real concurrency on that code: the server loop, the
// wire's queues and eventfds, and the client engine all run at the same time.
#include <gtest/gtest.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <random>
#include <thread>
#include <vector>

#include "base/clock.h"
#include "base/log.h"
#include "base/unique_fd.h"
#include "initiator/client.h"
#include "net/memory_port.h"
#include "storage/memory_backend.h"
#include "target/server.h"

namespace aoe {
namespace {

constexpr MacAddress kTargetMac({0x02, 0, 0, 0, 0x7b, 0x01});
constexpr MacAddress kInitiatorMac({0x02, 0, 0, 0, 0x1b, 0x01});
constexpr size_t kDiskBytes = 4 << 20;

TEST(ServerClientThreads, WritesAndReadsWhileTheServerRunsOnItsOwnThread) {
  const std::string state_dir = ::testing::TempDir() + "/server_client_threads_state";
  MemoryWire wire;
  Logger log{LogLevel::kError};

  target::ServerOptions options;
  options.interfaces = {"mt0"};
  options.state_dir = state_dir;
  target::ExportOptions e;
  e.address = {2, 3};
  e.backend.path = "memory";
  options.exports = {e};
  target::ServerEnvironment env;
  env.open_port = [&wire](const std::string& name) -> Result<std::unique_ptr<Port>> {
    auto port = MemoryPort::Create(wire, {.name = name, .mac = kTargetMac});
    if (!port) return Unexpected{port.error()};
    return std::unique_ptr<Port>(std::move(*port));
  };
  env.open_base = [](StorageServices&, const BackendSpec&,
                     const BaseOptions&) -> Result<OpenedBackend> {
    return OpenedBackend{std::make_unique<MemoryBackend>(kDiskBytes), {}, nullptr};
  };
  auto created = target::Server::Create(options, log, std::move(env));
  ASSERT_TRUE(created) << created.error().message();
  std::unique_ptr<target::Server> server = std::move(*created);

  // The Server is driven from its own thread only; the main thread asks it to stop through an
  // eventfd the loop watches.
  UniqueFd stop_fd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  ASSERT_TRUE(stop_fd);
  server->Watch(stop_fd.get(), [&server] { server->RequestStop(); });
  std::thread server_thread([&server] { ASSERT_TRUE(server->Run()); });

  {
    auto port = MemoryPort::Create(
                    wire, {.name = "mi0", .mac = kInitiatorMac, .role = PortRole::kInitiator})
                    .value();
    SteadyClock clock;
    auto client = initiator::Client::Create({port.get()}, clock).value();
    auto disk = client->OpenDisk(2, 3);
    ASSERT_TRUE(disk) << disk.error().message;
    std::vector<std::byte> data(1 << 20);
    std::mt19937 rng(7);
    for (auto& b : data) b = static_cast<std::byte>(rng());
    for (uint64_t lba = 0; lba < kDiskBytes / 512; lba += data.size() / 512) {
      ASSERT_TRUE(disk->Write(lba, data));
      std::vector<std::byte> back(data.size());
      ASSERT_TRUE(disk->Read(lba, back));
      EXPECT_EQ(back, data) << "at sector " << lba;
    }
    EXPECT_TRUE(disk->Flush());
  }

  const uint64_t one = 1;
  ASSERT_EQ(::write(stop_fd.get(), &one, sizeof one), static_cast<ssize_t>(sizeof one));
  server_thread.join();
  server.reset();
  std::filesystem::remove_all(state_dir);
}

}  // namespace
}  // namespace aoe
