// Client over real PacketPorts: a veth pair between two private network namespaces, with the
// FakeTarget serving on the far end from its own thread. Checks what MemoryWire cannot: the
// kernel's role filter, padding of short frames, and the blocking epoll loop with a real clock.
// Needs root; skips otherwise. Never touches the host's interfaces.
#include <gtest/gtest.h>
#include <poll.h>

#include <atomic>
#include <random>
#include <thread>

#include "initiator/client.h"
#include "initiator/testing/fake_target.h"
#include "net/packet_port.h"
#include "net/testing/netns.h"

namespace aoe::initiator {
namespace {

TEST(ClientNetns, DiscoverWriteReadOverVeth) {
  if (auto why = aoe::testing::NetnsUnavailableReason(); !why.empty()) GTEST_SKIP() << why;
  auto segment = aoe::testing::CreateVethSegment("aoei", "vi0", "vt0");
  ASSERT_TRUE(segment);
  aoe::testing::NetNamespace& a = segment->a;  // the initiator's side
  aoe::testing::NetNamespace& b = segment->b;  // the target's side

  std::unique_ptr<PacketPort> target_port;
  ASSERT_TRUE(
      b.Run([&] { target_port = PacketPort::Open("vt0", {.role = PortRole::kTarget}).value(); }));
  testing::FakeTarget target({.shelf = 7, .slot = 3, .sectors = 8192}, {target_port.get()});
  std::atomic<bool> stop{false};
  std::thread server([&] {
    while (!stop) {
      pollfd p{target_port->fd(), POLLIN, 0};
      if (poll(&p, 1, 20) > 0) target.Serve();
    }
  });

  std::unique_ptr<Client> client;
  ASSERT_TRUE(a.Run([&] {
    auto c = Client::Open({"vi0"});
    ASSERT_TRUE(c) << c.error().message;
    client = std::move(*c);
  }));
  auto found = client->Discover(std::chrono::milliseconds(300));
  ASSERT_TRUE(found);
  ASSERT_EQ(found->size(), 1u);
  EXPECT_EQ((*found)[0].address, (DiskAddress{7, 3}));
  ASSERT_TRUE((*found)[0].identify);
  EXPECT_EQ((*found)[0].identify->sector_count, 8192u);

  auto disk = client->OpenDisk(7, 3);
  ASSERT_TRUE(disk) << disk.error().message;
  std::vector<std::byte> data(1 << 20);
  std::mt19937 rng(1);
  for (auto& x : data) x = static_cast<std::byte>(rng());
  auto w = disk->Write(0, data);
  ASSERT_TRUE(w) << w.error().message;
  std::vector<std::byte> back(data.size());
  auto r = disk->Read(0, back);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(back, data);
  EXPECT_TRUE(disk->Flush());

  auto miss = client->Config(DiskAddress{7, 3}, proto::ConfigCommand::kTestExact, "nope",
                             {.timeout = std::chrono::milliseconds(200)});
  EXPECT_TRUE(!miss && miss.error() == InitiatorErrc::kTimeout);

  stop = true;
  server.join();
}

}  // namespace
}  // namespace aoe::initiator
