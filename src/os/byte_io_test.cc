#include "os/byte_io.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace aoe::os {
namespace {

// An in-memory disk whose operations complete only when the test says so, so that tests can
// look at what runs concurrently.
class FakeDevice final : public SectorDevice {
 public:
  explicit FakeDevice(uint64_t sectors) : data_(sectors * kSectorBytes) {
    for (size_t i = 0; i < data_.size(); ++i) data_[i] = std::byte(static_cast<uint8_t>(i * 7));
  }
  uint64_t sector_count() const override { return data_.size() / kSectorBytes; }
  void Read(uint64_t lba, ByteSpan buffer, IoCallback done) override {
    Queue("read", [this, lba, buffer, done] {
      std::memcpy(buffer.data(), data_.data() + lba * kSectorBytes, buffer.size());
      done({});
    });
  }
  void Write(uint64_t lba, ConstByteSpan data, IoCallback done) override {
    Queue("write", [this, lba, data, done] {
      std::memcpy(data_.data() + lba * kSectorBytes, data.data(), data.size());
      done({});
    });
  }
  void Flush(IoCallback done) override {
    Queue("flush", [done] { done({}); });
  }
  bool trim_reads_zeroes() const override { return can_trim_; }
  void Trim(uint64_t lba, uint64_t sectors, IoCallback done) override {
    Queue("trim", [this, lba, sectors, done] {
      std::memset(data_.data() + lba * kSectorBytes, 0, sectors * kSectorBytes);
      done({});
    });
  }
  void set_can_trim(bool can) { can_trim_ = can; }
  bool read_only() const override { return read_only_; }
  void set_read_only(bool ro) { read_only_ = ro; }

  // Completes the oldest pending operation.
  void CompleteOne() {
    ASSERT_FALSE(pending_.empty());
    auto fn = std::move(pending_.front());
    pending_.erase(pending_.begin());
    fn();
  }
  void CompleteAll() {
    for (int i = 0; i < 1000 && !pending_.empty(); ++i) CompleteOne();
  }
  size_t pending() const { return pending_.size(); }
  std::vector<std::string>& log() { return log_; }
  std::vector<std::byte>& data() { return data_; }

 private:
  void Queue(const char* what, std::function<void()> fn) {
    log_.emplace_back(what);
    pending_.push_back(std::move(fn));
  }
  std::vector<std::byte> data_;
  std::vector<std::function<void()>> pending_;
  std::vector<std::string> log_;
  bool can_trim_ = true;
  bool read_only_ = false;
};

std::vector<std::byte> Bytes(size_t n, uint8_t value) {
  return std::vector<std::byte>(n, std::byte{value});
}

TEST(ByteIoTest, DiscardTrimsWholeSectorsAndZeroesTheEdges) {
  FakeDevice dev(16);
  ByteIo io(dev);
  const std::vector<std::byte> before = dev.data();
  std::optional<Outcome<void>> result;
  // Bytes 700-4299: sector 1 from byte 188, sectors 2-7 whole, sector 8 up to byte 204.
  io.Discard(700, 3600, [&](Outcome<void> r) { result = r; });
  dev.CompleteAll();
  ASSERT_TRUE(result && *result);
  for (size_t i = 0; i < dev.data().size(); ++i) {
    const bool inside = i >= 700 && i < 4300;
    ASSERT_EQ(dev.data()[i], inside ? std::byte{0} : before[i]) << "byte " << i;
  }
  EXPECT_EQ(std::count(dev.log().begin(), dev.log().end(), "trim"), 1);
  EXPECT_EQ(io.counters().trims, 1u);
  EXPECT_TRUE(io.dirty()) << "a discard is flushed like a write";
}

TEST(ByteIoTest, DiscardWaitsForEarlierWritesToTheSameSectors) {
  FakeDevice dev(16);
  ByteIo io(dev);
  io.Write(1024, Bytes(1024, 0x55), [](Outcome<size_t>) {});
  std::optional<Outcome<void>> result;
  io.Discard(1024, 1024, [&](Outcome<void> r) { result = r; });
  EXPECT_EQ(dev.log(), std::vector<std::string>{"write"}) << "the trim waits for the write";
  dev.CompleteAll();
  ASSERT_TRUE(result && *result);
  EXPECT_EQ(dev.data()[1024], std::byte{0});
}

TEST(ByteIoTest, DiscardWithoutZeroingTrimIsNotSupportedAndChangesNothing) {
  FakeDevice dev(16);
  dev.set_can_trim(false);
  ByteIo io(dev);
  std::optional<Outcome<void>> result;
  io.Discard(0, 4096, [&](Outcome<void> r) { result = r; });
  ASSERT_TRUE(result);
  ASSERT_FALSE(*result);
  EXPECT_EQ(result->error().code, std::errc::operation_not_supported);
  EXPECT_TRUE(dev.log().empty());
}

TEST(ByteIoTest, UnalignedReadReturnsExactlyTheBytesAsked) {
  FakeDevice dev(16);
  ByteIo io(dev);
  std::vector<std::byte> got;
  io.Read(700, 1000, [&](Outcome<void> s, ConstByteSpan d) {
    ASSERT_TRUE(s);
    got.assign(d.begin(), d.end());
  });
  dev.CompleteAll();
  ASSERT_EQ(got.size(), 1000u);
  EXPECT_EQ(0, std::memcmp(got.data(), dev.data().data() + 700, 1000));
}

TEST(ByteIoTest, ReadAtEndOfDiskIsEmptyAndStraddlingReadIsCut) {
  FakeDevice dev(4);
  ByteIo io(dev);
  size_t at_end = 99, straddling = 0;
  io.Read(4 * 512, 512, [&](Outcome<void> s, ConstByteSpan d) {
    ASSERT_TRUE(s);
    at_end = d.size();
  });
  io.Read(4 * 512 - 100, 512, [&](Outcome<void> s, ConstByteSpan d) {
    ASSERT_TRUE(s);
    straddling = d.size();
  });
  dev.CompleteAll();
  EXPECT_EQ(at_end, 0u);
  EXPECT_EQ(straddling, 100u);
}

TEST(ByteIoTest, UnalignedWriteKeepsTheNeighbouringBytes) {
  FakeDevice dev(8);
  const std::vector<std::byte> before = dev.data();
  ByteIo io(dev);
  std::vector<std::byte> payload = Bytes(600, 0xAB);
  size_t written = 0;
  io.Write(300, payload, [&](Outcome<size_t> w) {
    ASSERT_TRUE(w);
    written = *w;
  });
  dev.CompleteAll();
  EXPECT_EQ(written, 600u);
  std::vector<std::byte> expected = before;
  std::memcpy(expected.data() + 300, payload.data(), payload.size());
  EXPECT_EQ(dev.data(), expected);
}

TEST(ByteIoTest, WriteInsideOneSectorReadsItOnce) {
  FakeDevice dev(8);
  ByteIo io(dev);
  std::vector<std::byte> payload = Bytes(10, 1);
  io.Write(1030, payload, [](Outcome<size_t> w) { ASSERT_TRUE(w); });
  dev.CompleteAll();
  EXPECT_EQ(dev.log(), (std::vector<std::string>{"read", "write"}));
}

TEST(ByteIoTest, UnalignedWritesToOneSectorDoNotLoseEachOther) {
  FakeDevice dev(8);
  ByteIo io(dev);
  std::vector<std::byte> a = Bytes(10, 0x11), b = Bytes(10, 0x22);
  io.Write(0, a, [](Outcome<size_t> w) { ASSERT_TRUE(w); });
  io.Write(100, b, [](Outcome<size_t> w) { ASSERT_TRUE(w); });
  EXPECT_EQ(dev.pending(), 1u);  // the second waits for the first read-modify-write
  dev.CompleteAll();
  EXPECT_EQ(dev.data()[5], std::byte{0x11});
  EXPECT_EQ(dev.data()[105], std::byte{0x22});
}

TEST(ByteIoTest, AlignedOperationsRunConcurrently) {
  FakeDevice dev(64);
  ByteIo io(dev);
  std::vector<std::byte> w = Bytes(4096, 3);
  io.Read(0, 4096, [](Outcome<void>, ConstByteSpan) {});
  io.Write(8192, w, [](Outcome<size_t>) {});
  io.Read(16384, 1024, [](Outcome<void>, ConstByteSpan) {});
  EXPECT_EQ(dev.pending(), 3u);
  dev.CompleteAll();
}

TEST(ByteIoTest, FlushWaitsForEarlierWritesAndHoldsBackLaterOnes) {
  FakeDevice dev(64);
  ByteIo io(dev);
  std::vector<std::byte> w = Bytes(512, 3);
  io.Write(0, w, [](Outcome<size_t>) {});
  bool flushed = false;
  io.Flush([&](Outcome<void> s) { flushed = s.has_value(); });
  io.Write(512, w, [](Outcome<size_t>) {});
  EXPECT_EQ(dev.log(), (std::vector<std::string>{"write"}));
  EXPECT_TRUE(io.dirty() == false);  // nothing has completed yet
  dev.CompleteOne();
  EXPECT_EQ(dev.log(), (std::vector<std::string>{"write", "flush"}));
  dev.CompleteOne();
  EXPECT_TRUE(flushed);
  EXPECT_EQ(dev.log(), (std::vector<std::string>{"write", "flush", "write"}));
  dev.CompleteAll();
  EXPECT_TRUE(io.dirty());
  EXPECT_TRUE(io.idle());
}

TEST(ByteIoTest, WriteBeyondTheEndFailsWithNoSpace) {
  FakeDevice dev(4);
  ByteIo io(dev);
  std::vector<std::byte> w = Bytes(512, 3);
  bool failed = false;
  io.Write(4 * 512, w, [&](Outcome<size_t> r) {
    failed = !r && r.error().code == std::errc::no_space_on_device;
  });
  EXPECT_TRUE(failed);
  size_t cut = 0;
  io.Write(4 * 512 - 512 + 100, w, [&](Outcome<size_t> r) { cut = r ? *r : 0; });
  dev.CompleteAll();
  EXPECT_EQ(cut, 412u);
}

// A read-only export would abort every write (EIO to the application); the mount says EROFS
// instead and sends nothing.
TEST(ByteIoTest, WritesAndDiscardsToAReadOnlyDiskFailWithReadOnlyAndSendNothing) {
  FakeDevice dev(4);
  dev.set_read_only(true);
  ByteIo io(dev);
  std::optional<Outcome<size_t>> written;
  io.Write(0, Bytes(512, 3), [&](Outcome<size_t> r) { written = r; });
  ASSERT_TRUE(written);
  ASSERT_FALSE(*written);
  EXPECT_EQ(written->error().code, std::errc::read_only_file_system);
  std::optional<Outcome<void>> discarded;
  io.Discard(0, 512, [&](Outcome<void> r) { discarded = r; });
  ASSERT_TRUE(discarded);
  ASSERT_FALSE(*discarded);
  EXPECT_EQ(discarded->error().code, std::errc::read_only_file_system);
  EXPECT_TRUE(dev.log().empty());
  EXPECT_FALSE(io.dirty());
}

// A device that fails every operation at once, inside the submitting call.
class FailingDevice final : public SectorDevice {
 public:
  uint64_t sector_count() const override { return 8; }
  void Read(uint64_t, ByteSpan, IoCallback done) override { done(Fail()); }
  void Write(uint64_t, ConstByteSpan, IoCallback done) override { done(Fail()); }
  void Flush(IoCallback done) override { done(Fail()); }

 private:
  static Error Fail() { return Error(initiator::InitiatorErrc::kAtaError, "ATA error"); }
};

TEST(ByteIoTest, ErrorsCompletingInsideTheSubmitCallReachEveryCaller) {
  FailingDevice dev;
  ByteIo io(dev);
  int errors = 0;
  std::vector<std::byte> w = Bytes(100, 1);
  io.Read(0, 512, [&](Outcome<void> s, ConstByteSpan) { errors += !s; });
  io.Write(10, w, [&](Outcome<size_t> r) { errors += !r; });
  io.Flush([&](Outcome<void> s) { errors += !s; });
  EXPECT_EQ(errors, 3);
  EXPECT_TRUE(io.idle());
  EXPECT_EQ(io.counters().errors, 3u);
}

}  // namespace
}  // namespace aoe::os
