// AoeSectorDevice (byte_io.h), the mount's seam to the initiator engine, against a FakeTarget
// over MemoryWires (initiator/testing/initiator_fixture.h): what a flush tells when the target
// restarted since the last one.
#include <gtest/gtest.h>

#include <optional>
#include <system_error>

#include "initiator/testing/initiator_fixture.h"
#include "os/byte_io.h"

namespace aoe::os {
namespace {

using initiator::testing::FakeTarget;
using initiator::testing::InitiatorTest;

class AoeSectorDeviceTest : public InitiatorTest {
 protected:
  Outcome<void> Run(const std::function<void(IoCallback)>& start) {
    std::optional<Outcome<void>> result;
    start([&](Outcome<void> r) { result.emplace(std::move(r)); });
    EXPECT_TRUE(client_->RunUntil([&] { return result.has_value(); }));
    return result ? *result : Outcome<void>();
  }
};

// fsync over a target that lost power after acknowledging writes from its cache must not
// succeed: the FLUSH is answered by a new process that never held them.
TEST_F(AoeSectorDeviceTest, AFlushAfterTheTargetRestartedFailsOnceWithEio) {
  FakeTarget& target = AddTarget({.shelf = 0, .slot = 1, .incarnation = 7}, false);
  MakeClient({}, false);
  initiator::SyncDisk disk = Open(0, 1);
  AoeSectorDevice device(disk.async(), disk.sector_count());
  std::vector<std::byte> data(4096, std::byte{1});
  auto write = [&] { return Run([&](IoCallback done) { device.Write(0, data, done); }); };
  auto flush = [&] { return Run([&](IoCallback done) { device.Flush(done); }); };

  ASSERT_TRUE(write());
  const uint64_t flushes = target.stats().flushes;
  EXPECT_TRUE(flush());
  // The IDENTIFY of the check starts a new session at aoe serve: one more FLUSH says again
  // that this initiator flushes.
  EXPECT_EQ(target.stats().flushes - flushes, 2u);

  target.set_incarnation(8);
  ASSERT_TRUE(write());
  Outcome<void> lost = flush();
  ASSERT_FALSE(lost);
  EXPECT_EQ(lost.error().code, std::make_error_code(std::errc::io_error));
  EXPECT_NE(lost.error().message.find("may have lost writes it acknowledged"), std::string::npos)
      << lost.error().message;

  // Said once, as Linux reports a writeback error once: nothing was lost since.
  ASSERT_TRUE(write());
  EXPECT_TRUE(flush());

  // Nothing written since the last flush: no IDENTIFY, so no second FLUSH either.
  const uint64_t identifies = target.stats().identifies;
  const uint64_t before = target.stats().flushes;
  EXPECT_TRUE(flush());
  EXPECT_EQ(target.stats().identifies, identifies);
  EXPECT_EQ(target.stats().flushes - before, 1u);
}

}  // namespace
}  // namespace aoe::os
