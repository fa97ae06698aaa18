// What the engine hands its port: one batch per engine pass, frames never rebuilt while
// queued, and a request's data (write bytes, TRIM ranges) alive until its frame has left.
// One path whose port records every Send() (testing/initiator_fixture.h).
#include <gtest/gtest.h>

#include <set>

#include "initiator/testing/initiator_fixture.h"

namespace aoe::initiator::testing {
namespace {

// A port that records every Send() call (the address of each frame's head, and its bytes as
// handed over: head and tail) and passes it on to a MemoryPort.
class RecordingPort final : public Port {
 public:
  struct Sent {
    const std::byte* address;
    std::vector<std::byte> bytes;
  };
  explicit RecordingPort(Port& inner) : inner_(inner) {}
  const std::string& name() const override { return inner_.name(); }
  MacAddress mac() const override { return inner_.mac(); }
  size_t mtu() const override { return inner_.mtu(); }
  bool link_up() const override { return inner_.link_up(); }
  Result<void> Refresh() override { return inner_.Refresh(); }
  int fd() const override { return inner_.fd(); }
  Result<size_t> Receive(std::span<RxSlot> slots) override { return inner_.Receive(slots); }
  Result<size_t> Send(std::span<const TxFrame> frames) override {
    std::vector<Sent>& batch = batches_.emplace_back();
    for (const TxFrame& f : frames) {
      Sent& sent = batch.emplace_back(Sent{f.head.data(), {f.head.begin(), f.head.end()}});
      sent.bytes.insert(sent.bytes.end(), f.tail.begin(), f.tail.end());
    }
    return inner_.Send(frames);
  }
  const std::vector<std::vector<Sent>>& batches() const { return batches_; }

 private:
  Port& inner_;
  std::vector<std::vector<Sent>> batches_;
};

// One path whose initiator port records what the engine hands it.
class SendBatchTest : public InitiatorTest {
 protected:
  ~SendBatchTest() override { client_.reset(); }  // before the recorder it borrows

  Client& MakeRecordedClient() {
    init_port_a_ = MakePort(wire_a_, "i0", kInitiatorMacA, PortRole::kInitiator);
    recorder_ = std::make_unique<RecordingPort>(*init_port_a_);
    ClientOptions co;
    co.initiator.tag_session = 0x2A;
    co.wait_hook = [this](std::optional<TimePoint> d) { Wait(d); };
    client_ = Client::Create({recorder_.get()}, clock_, co).value();
    return *client_;
  }

  std::unique_ptr<RecordingPort> recorder_;
};

// The frames of one engine pass leave with one Send() (one sendmmsg), not one call per frame.
TEST_F(SendBatchTest, AnEnginePassHandsThePortOneBatch) {
  FakeTarget& target = AddTarget({.shelf = 0, .slot = 1, .sectors = 8192}, false);
  Client& client = MakeRecordedClient();
  SyncDisk disk = Open(0, 1);
  ASSERT_NO_FATAL_FAILURE(WarmUp(disk));
  // 64 KiB at MTU 1500 are 32 frames of 2 sectors; the window lets 16 out at once.
  std::vector<std::byte> buf(64 * 1024);
  std::optional<Outcome<void>> result;
  size_t before = recorder_->batches().size();
  disk.async().Read(0, buf, [&](Outcome<void> r) { result.emplace(std::move(r)); });
  ASSERT_EQ(recorder_->batches().size(), before + 1);
  EXPECT_EQ(recorder_->batches().back().size(), 16u);
  // The 16 replies arrive in one receive batch; the 16 frames they make room for leave together.
  ASSERT_EQ(target.Serve(), 16u);
  before = recorder_->batches().size();
  client.initiator().Poll();
  ASSERT_EQ(recorder_->batches().size(), before + 1);
  EXPECT_EQ(recorder_->batches().back().size(), 16u);
  ASSERT_TRUE(client.RunUntil([&] { return result.has_value(); }, clock_.Now() + seconds(5)));
  EXPECT_TRUE(*result);
  EXPECT_EQ(buf, std::vector<std::byte>(target.data().begin(), target.data().begin() + 65536));
}

// A queued frame points into its frame slot's buffer until the batch is sent. The late replies
// of a stall complete frames whose retransmissions are queued in the same pass, and their slots
// are refilled at once; each of those frames must leave before its buffer is rebuilt, so no
// batch may hold one buffer twice (the first entry would go out with the second one's bytes).
TEST_F(SendBatchTest, NoQueuedFrameIsRebuiltBeforeItIsSent) {
  FakeTarget& target = AddTarget({.shelf = 0, .slot = 1, .sectors = 8192}, false);
  Client& client = MakeRecordedClient();
  SyncDisk disk = Open(0, 1);
  ASSERT_NO_FATAL_FAILURE(WarmUp(disk));
  std::vector<std::byte> buf(256 * 1024);
  std::optional<Outcome<void>> result;
  disk.async().Read(0, buf, [&](Outcome<void> r) { result.emplace(std::move(r)); });
  ASSERT_EQ(disk.path_stats()[0].in_flight, 16u);
  clock_.Advance(milliseconds(100));
  client.initiator().OnTimer();  // the whole window times out: a retransmission goes out
  target.Serve();                // the stall ends: every first transmission is answered
  const size_t first = recorder_->batches().size();
  client.initiator().Poll();
  ASSERT_TRUE(client.RunUntil([&] { return result.has_value(); }, clock_.Now() + seconds(5)));
  ASSERT_TRUE(*result);
  EXPECT_EQ(buf, std::vector<std::byte>(target.data().begin(), target.data().begin() + buf.size()));
  EXPECT_EQ(disk.path_stats()[0].spurious_timeouts, 16u);
  size_t frames = 0;
  for (size_t b = first; b < recorder_->batches().size(); ++b) {
    std::set<const std::byte*> addresses;
    std::set<uint32_t> tags;
    for (const RecordingPort::Sent& s : recorder_->batches()[b]) {
      ++frames;
      EXPECT_TRUE(addresses.insert(s.address).second) << "batch " << b << " holds a buffer twice";
      EXPECT_TRUE(tags.insert(LoadBe32(s.bytes, 20)).second) << "batch " << b << " repeats a tag";
    }
  }
  EXPECT_GT(frames, 128u);
}

// A WRITE's data (and a TRIM's block of ranges) is sent from where the request holds it, not
// from a copy in the frame buffer, so a frame must leave before its request lets go of that
// memory: a write's buffer goes back to its caller with the callback, a TRIM's block is freed
// with the request. Here a callback submits a write and then aborts the disk, all in one engine
// pass: the write's frames still wait in the send queue when the abort completes the write, and
// its callback then reuses the buffer. Sent after that, the frames would carry the reused bytes.
TEST_F(SendBatchTest, AFrameLeavesBeforeItsRequestLetsGoOfItsData) {
  AddTarget({.shelf = 0, .slot = 1, .sectors = 8192}, false);
  Client& client = MakeRecordedClient();
  SyncDisk disk = Open(0, 1);
  ASSERT_NO_FATAL_FAILURE(WarmUp(disk));
  std::vector<std::byte> data(8 * 1024, std::byte{0x5A});
  std::vector<std::byte> first_sector(512);
  std::optional<Outcome<void>> read, write;
  const size_t before = recorder_->batches().size();
  disk.async().Read(0, first_sector, [&](Outcome<void> r) {
    read.emplace(std::move(r));
    disk.async().Write(64, data, [&](Outcome<void> w) {
      write.emplace(std::move(w));
      std::fill(data.begin(), data.end(), std::byte{0xEE});  // the caller's buffer, reused
    });
    disk.async().Abort("the test aborts the disk");
  });
  ASSERT_TRUE(client.RunUntil([&] { return write.has_value(); }, clock_.Now() + seconds(5)));
  ASSERT_TRUE(read.has_value() && *read);
  ASSERT_FALSE(*write);
  EXPECT_EQ(write->error().code, InitiatorErrc::kCancelled);
  size_t write_frames = 0;
  for (size_t b = before; b < recorder_->batches().size(); ++b) {
    for (const RecordingPort::Sent& s : recorder_->batches()[b]) {
      if (s.bytes.size() <= proto::kAtaHeaderSize + 512) continue;  // not the write's
      ++write_frames;
      for (size_t i = proto::kAtaHeaderSize; i < s.bytes.size(); ++i) {
        ASSERT_EQ(s.bytes[i], std::byte{0x5A}) << "a WRITE frame went out with reused bytes";
      }
    }
  }
  EXPECT_GT(write_frames, 0u);
}

// The same for a TRIM, whose block of ranges the request owns and frees when it completes: sent
// after that, the frame would carry freed memory (and AddressSanitizer would stop the test).
TEST_F(SendBatchTest, ATrimFrameLeavesBeforeItsRequestFreesItsRanges) {
  AddTarget({.shelf = 0, .slot = 1, .sectors = 8192}, false);
  Client& client = MakeRecordedClient();
  SyncDisk disk = Open(0, 1);
  ASSERT_NO_FATAL_FAILURE(WarmUp(disk));
  std::vector<std::byte> first_sector(512);
  std::optional<Outcome<void>> read, trim;
  const size_t before = recorder_->batches().size();
  disk.async().Read(0, first_sector, [&](Outcome<void> r) {
    read.emplace(std::move(r));
    disk.async().Trim(4000, 96, [&](Outcome<void> t) { trim.emplace(std::move(t)); });
    disk.async().Abort("the test aborts the disk");
  });
  ASSERT_TRUE(client.RunUntil([&] { return trim.has_value(); }, clock_.Now() + seconds(5)));
  ASSERT_TRUE(read.has_value() && *read);
  ASSERT_FALSE(*trim);
  size_t trim_frames = 0;
  for (size_t b = before; b < recorder_->batches().size(); ++b) {
    for (const RecordingPort::Sent& s : recorder_->batches()[b]) {
      if (s.bytes.size() != proto::kAtaHeaderSize + proto::kSectorSize) continue;  // a read's
      ++trim_frames;
      const ConstByteSpan ranges = ConstByteSpan(s.bytes).subspan(proto::kAtaHeaderSize);
      EXPECT_EQ(proto::DecodeDsmRange(ranges, 0), (proto::DsmRange{4000, 96}))
          << "a TRIM frame went out with bytes that are not its ranges";
      EXPECT_EQ(proto::DecodeDsmRange(ranges, 1), proto::DsmRange{});
    }
  }
  EXPECT_EQ(trim_frames, 1u);
}

// A read's first copy is answered late, after the reply to its retransmission completed the
// read. Tags roll over every 65,536 frames, well under a second at full speed; had the copy's
// tag been handed out again, a new request owning it would take that late reply for its own
// (another read's data, or a FLUSH the target never did). It stays taken until the copy can no
// longer arrive.
TEST_F(SendBatchTest, TheTagOfAReadCopyStillOutIsNotHandedOutAgain) {
  AddTarget({.shelf = 0, .slot = 1, .sectors = 8192}, false);
  MakeRecordedClient();
  SyncDisk disk = Open(0, 1);
  auto is_ata_reply = [](ConstByteSpan frame) {
    std::optional<proto::Header> h = proto::DecodeHeader(frame);
    return h && h->is_response() && h->command == static_cast<uint8_t>(proto::Command::kAta);
  };
  wire_a_.DelayNext(milliseconds(1000), is_ata_reply);
  const size_t first = recorder_->batches().size();
  std::vector<std::byte> sector(512);
  ASSERT_TRUE(disk.Read(0, sector));
  ASSERT_GT(recorder_->batches().size(), first + 1) << "the read was not sent again";
  const uint32_t late_tag = LoadBe32(recorder_->batches()[first].front().bytes, 20);

  // More than 65,536 frames, in much less than the copy's lifetime of fake time.
  const TimePoint start = clock_.Now();
  const size_t after = recorder_->batches().size();
  std::vector<std::byte> chunk(1 << 20);
  for (int i = 0; i < 80; ++i) ASSERT_TRUE(disk.Read(0, chunk));
  ASSERT_LT(clock_.Now() - start, milliseconds(1000)) << "the test ran past the copy's life";
  size_t frames = 0;
  size_t reused = 0;
  for (size_t b = after; b < recorder_->batches().size(); ++b) {
    for (const auto& sent : recorder_->batches()[b]) {
      ++frames;
      if (LoadBe32(sent.bytes, 20) == late_tag) ++reused;
    }
  }
  ASSERT_GT(frames, size_t{65536}) << "the tags did not roll over";
  EXPECT_EQ(reused, 0u) << "the tag of a copy still out was handed to a new request";
}

}  // namespace
}  // namespace aoe::initiator::testing
