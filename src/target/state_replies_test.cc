// The Target's persistent-state path, driven directly with a MemoryStateStore whose saves finish
// only when the test says so: a change is acknowledged only once durable, changes made during a
// save are coalesced into the next one, replies to one initiator keep their order, a failed
// save holds its replies until a retry succeeds, and state changes are rate-limited per source.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "storage/memory_backend.h"
#include "target/target.h"
#include "target/testing/frames.h"
#include "target/testing/memory_state_store.h"
#include "target/testing/recording_wire.h"

namespace aoe::target {
namespace {

using testkit::BuildConfig;
using testkit::BuildMask;
using testkit::BuildReserve;
using testkit::Frame;
using testkit::MemoryStateStore;
using testkit::RecordingWire;
using testkit::Reply;
using testkit::RequestHeader;

constexpr MacAddress kTargetMac{{0x02, 0x00, 0x00, 0x00, 0x00, 0x01}};
constexpr MacAddress kHostA{{0x02, 0x00, 0x00, 0x00, 0x00, 0x0A}};
constexpr MacAddress kHostB{{0x02, 0x00, 0x00, 0x00, 0x00, 0x0B}};
constexpr size_t kFrameCapacity = 9000 + 14;
constexpr size_t kPoolSize = 256;
constexpr uint8_t kConfigRead = 0, kConfigSetIfEmpty = 3, kConfigForceSet = 4;
constexpr uint8_t kMaskRead = 0, kMaskEdit = 1, kDirAdd = 1;
constexpr uint8_t kReserveSet = 1;

class StateReplies : public ::testing::Test {
 protected:
  StateReplies() { Build({}); }

  void Build(StateCommandLimits limits) {
    target_.reset();
    target_ =
        std::make_unique<Target>(log_, stats_, wire_, store_, clock_, 16, kFrameCapacity, limits);
    ExportOptions options;
    options.address = {1, 1};
    options.backend.path = "mem:e1.1";
    export_ = std::make_shared<Export>(options, std::make_unique<MemoryBackend>(64 * 512),
                                       ExportState{}, "test", ConstByteSpan(),
                                       /*incarnation=*/1);
    target_->AddExport(export_);
  }

  RequestHeader From(MacAddress host) {
    RequestHeader h;
    h.destination = kTargetMac;
    h.source = host;
    h.disk = {1, 1};
    h.tag = next_tag_++;
    return h;
  }

  void Handle(const Frame& frame) { ASSERT_TRUE(wire_.Deliver(*target_, frame)); }
  uint32_t ForceSet(MacAddress host, std::string_view text) {
    uint32_t tag = next_tag_;
    Handle(BuildConfig(From(host), kConfigForceSet, text));
    return tag;
  }
  uint32_t ConfigRead(MacAddress host) {
    uint32_t tag = next_tag_;
    Handle(BuildConfig(From(host), kConfigRead, ""));
    return tag;
  }

  // Finishes the oldest save in flight and hands its report to the target.
  void FinishSave(std::error_code error = {}) {
    ASSERT_TRUE(store_.FinishOldest(error)) << "no save in flight";
    std::vector<StateStore::Saved> saved;
    store_.TakeCompleted(saved);
    for (const auto& s : saved) target_->StateSaved(s);
  }

  static std::vector<uint32_t> Tags(const std::vector<Reply>& replies) {
    std::vector<uint32_t> tags;
    for (const auto& r : replies) tags.push_back(r.tag());
    return tags;
  }

  bool Logged(std::string_view text) const {
    for (const auto& line : log_lines_)
      if (line.find(text) != std::string::npos) return true;
    return false;
  }

  std::vector<std::string> log_lines_;
  Logger log_{LogLevel::kDebug,
              [this](LogLevel, std::string_view line) { log_lines_.emplace_back(line); }};
  Stats stats_;
  RecordingWire wire_{kPoolSize, kFrameCapacity, {"mem0", kTargetMac, 1500}};
  MemoryStateStore store_;
  FakeClock clock_;
  std::unique_ptr<Target> target_;
  std::shared_ptr<Export> export_;
  uint32_t next_tag_ = 1;
};

TEST_F(StateReplies, ChangeIsAcknowledgedOnlyOnceDurable) {
  uint32_t tag = ForceSet(kHostA, "owner=a");
  EXPECT_TRUE(wire_.TakeSent().empty()) << "acknowledged before the state was saved";
  ASSERT_EQ(store_.pending().size(), 1u);
  EXPECT_EQ(store_.pending()[0].export_name, "e1.1");
  EXPECT_EQ(target_->held_replies(), 1u);

  FinishSave();
  auto sent = wire_.TakeSent();
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].tag(), tag);
  EXPECT_EQ(sent[0].config_string(), "owner=a");
  EXPECT_EQ(store_.durable("e1.1").config_string,
            (std::vector<uint8_t>{'o', 'w', 'n', 'e', 'r', '=', 'a'}));
  EXPECT_EQ(target_->held_replies(), 0u);
  EXPECT_EQ(wire_.pool().free_count(), kPoolSize);
}

TEST_F(StateReplies, ChangesDuringASaveAreCoalescedIntoOneMore) {
  std::vector<uint32_t> tags;
  for (int i = 0; i < 50; ++i) tags.push_back(ForceSet(kHostA, "s" + std::to_string(i)));
  EXPECT_EQ(store_.saves_started(), 1u) << "one save in flight, the rest wait";

  FinishSave();  // the first change is durable; the other 49 go into one more save
  EXPECT_EQ(Tags(wire_.TakeSent()), std::vector<uint32_t>{tags[0]});
  ASSERT_EQ(store_.pending().size(), 1u);
  EXPECT_EQ(store_.pending()[0].state.config_string, (std::vector<uint8_t>{'s', '4', '9'}));

  FinishSave();
  EXPECT_EQ(Tags(wire_.TakeSent()), std::vector<uint32_t>(tags.begin() + 1, tags.end()));
  EXPECT_EQ(store_.saves_started(), 2u) << "50 changes, two saves";
  EXPECT_TRUE(store_.pending().empty());
}

TEST_F(StateReplies, RepliesToOneInitiatorKeepTheirOrder) {
  uint32_t set = ForceSet(kHostA, "a");
  uint32_t read_a = ConfigRead(kHostA);  // behind A's held change: waits with it
  uint32_t read_b = ConfigRead(kHostB);  // B has nothing held: answered at once
  uint32_t mask_a = next_tag_;
  Handle(BuildMask(From(kHostA), kMaskRead, {}));
  auto sent = wire_.TakeSent();
  EXPECT_EQ(Tags(sent), std::vector<uint32_t>{read_b});

  FinishSave();
  sent = wire_.TakeSent();
  EXPECT_EQ(Tags(sent), (std::vector<uint32_t>{set, read_a, mask_a}));
  EXPECT_EQ(sent[1].config_string(), "a");
}

TEST_F(StateReplies, SetThatChangesNothingStillWaitsForTheStateItConfirms) {
  ForceSet(kHostA, "a");
  uint32_t same = ForceSet(kHostB, "a");  // no change, but "a" is not durable yet
  EXPECT_TRUE(wire_.TakeSent().empty());
  EXPECT_EQ(store_.saves_started(), 1u);
  FinishSave();
  auto sent = wire_.TakeSent();
  ASSERT_EQ(sent.size(), 2u);
  EXPECT_EQ(sent[1].tag(), same);
  // Once durable, the same set is answered at once.
  uint32_t again = ForceSet(kHostB, "a");
  EXPECT_EQ(Tags(wire_.TakeSent()), std::vector<uint32_t>{again});
}

// What another target host saved in shared state (an RBD image's metadata) is served here once
// a refresh reads it.
TEST_F(StateReplies, RefreshedStateFromAnotherHostIsServed) {
  ExportState other;
  other.config_string = {'b'};
  ASSERT_TRUE(store_.SaveNow("e1.1", other));  // as if the other host had saved it
  store_.Refresh("e1.1");
  std::vector<StateStore::Saved> done;
  store_.TakeCompleted(done);
  for (const auto& d : done) target_->StateSaved(d);
  ConfigRead(kHostA);
  auto sent = wire_.TakeSent();
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].config_string(), "b");
  EXPECT_TRUE(Logged("state changed by another target host"));
}

// A refresh that read the state before a change made here was saved must not undo that change.
TEST_F(StateReplies, RefreshDoesNotUndoAnUnsavedLocalChange) {
  ForceSet(kHostA, "mine");
  store_.Refresh("e1.1");  // reads the state from before "mine" (nothing)
  FinishSave();            // reports the refresh, then the save
  uint32_t read = ConfigRead(kHostB);
  auto sent = wire_.TakeSent();
  ASSERT_EQ(sent.size(), 2u);
  EXPECT_EQ(sent[1].tag(), read);
  EXPECT_EQ(sent[1].config_string(), "mine");
}

TEST_F(StateReplies, MaskEditAndReservationAreHeldToo) {
  Handle(BuildMask(From(kHostA), kMaskEdit, {{kDirAdd, kHostA}}));
  Handle(BuildReserve(From(kHostA), kReserveSet, {kHostA}));
  EXPECT_TRUE(wire_.TakeSent().empty());
  FinishSave();
  FinishSave();
  EXPECT_EQ(wire_.TakeSent().size(), 2u);
  ExportState durable = store_.durable("e1.1");
  EXPECT_EQ(durable.mask, std::vector<MacAddress>{kHostA});
  EXPECT_EQ(durable.reservation, std::vector<MacAddress>{kHostA});
}

TEST_F(StateReplies, FailedSaveHoldsRepliesUntilARetrySucceeds) {
  uint32_t tag = ForceSet(kHostA, "a");
  FinishSave(std::make_error_code(std::errc::no_space_on_device));
  EXPECT_TRUE(wire_.TakeSent().empty()) << "acknowledged a change that is not durable";
  EXPECT_TRUE(Logged("cannot save state to memory:e1.1"));
  EXPECT_TRUE(store_.pending().empty()) << "no retry before RetryFailedSaves";

  target_->RetryFailedSaves();
  ASSERT_EQ(store_.pending().size(), 1u);
  FinishSave();
  EXPECT_EQ(Tags(wire_.TakeSent()), std::vector<uint32_t>{tag});
  EXPECT_TRUE(Logged("state saved to memory:e1.1 again"));
}

TEST_F(StateReplies, AbandonedStateSendsNothingAndFreesTheBuffers) {
  ForceSet(kHostA, "a");
  ConfigRead(kHostA);
  FinishSave(std::make_error_code(std::errc::io_error));
  EXPECT_FALSE(target_->saving());
  EXPECT_EQ(target_->AbandonUnsavedState(*export_), 2u);
  EXPECT_TRUE(wire_.TakeSent().empty());
  EXPECT_EQ(target_->held_replies(), 0u);
  EXPECT_EQ(wire_.pool().free_count(), kPoolSize);
}

TEST_F(StateReplies, HeldRepliesAreBounded) {
  StateCommandLimits unlimited;
  unlimited.changes.burst = 1e9;
  Build(unlimited);
  for (int i = 0; i < 100; ++i) ForceSet(kHostA, "s" + std::to_string(i));
  EXPECT_EQ(target_->held_replies(), Target::kMaxHeldReplies);
  EXPECT_EQ(stats_.dropped_state_busy, 100 - Target::kMaxHeldReplies);
  EXPECT_EQ(wire_.pool().free_count(), kPoolSize - Target::kMaxHeldReplies);
  // Reads from a host with nothing held are still answered.
  ConfigRead(kHostB);
  EXPECT_EQ(wire_.TakeSent().size(), 1u);
}

TEST_F(StateReplies, RateLimitDropsExcessChangesOfOneSourceAndLogsIt) {
  StateCommandLimits limits;
  limits.changes.per_second = 1;
  limits.changes.burst = 3;
  Build(limits);
  for (int i = 0; i < 10; ++i) ForceSet(kHostA, "s" + std::to_string(i));
  EXPECT_EQ(stats_.dropped_rate_limited, 7u);
  EXPECT_TRUE(Logged("rate-limiting config/mask/reserve changes from 02:00:00:00:00:0a"));
  ForceSet(kHostB, "b");  // another host keeps its own allowance
  EXPECT_EQ(stats_.dropped_rate_limited, 7u);
  // Reads have an allowance of their own.
  for (int i = 0; i < 10; ++i) ConfigRead(kHostA);
  EXPECT_EQ(stats_.dropped_rate_limited, 7u);
  clock_.Advance(std::chrono::seconds(2));
  ForceSet(kHostA, "later");
  EXPECT_EQ(stats_.dropped_rate_limited, 7u) << "tokens come back with time";
}

TEST_F(StateReplies, ReadFloodOfOneSourceIsLimitedWithoutTouchingItsChangesOrOthers) {
  StateCommandLimits limits;
  limits.reads.per_second = 1;
  limits.reads.burst = 5;
  Build(limits);
  for (int i = 0; i < 10; ++i) ConfigRead(kHostA);
  Handle(BuildMask(From(kHostA), kMaskRead, {}));
  Handle(BuildReserve(From(kHostA), 0, {}));
  EXPECT_EQ(wire_.TakeSent().size(), 5u);
  EXPECT_EQ(stats_.dropped_rate_limited, 7u);
  EXPECT_TRUE(Logged("rate-limiting config/mask/reserve reads from 02:00:00:00:00:0a"));
  ConfigRead(kHostB);
  EXPECT_EQ(wire_.TakeSent().size(), 1u) << "another host keeps its own allowance";
  ForceSet(kHostA, "a");  // changes are counted apart from reads
  FinishSave();
  EXPECT_EQ(wire_.TakeSent().size(), 1u);
  EXPECT_EQ(wire_.pool().free_count(), kPoolSize);
}

// Each source's drops are reported at most every 10 s, but forged source addresses multiply
// the reports: per export and kind, the first ten of an interval are logged and the rest
// counted, in a line of their own once the interval has passed (the server asks every second).
TEST_F(StateReplies, ForgedSourcesCannotFloodTheLogWithRateLimitReports) {
  StateCommandLimits limits;
  limits.reads.per_second = 1;
  limits.reads.burst = 1;
  Build(limits);
  constexpr int kSources = 50;
  for (int i = 0; i < kSources; ++i) {
    const MacAddress forged{{0x02, 0x00, 0x00, 0x00, 0x01, static_cast<uint8_t>(i)}};
    ConfigRead(forged);
    ConfigRead(forged);  // over its limit: dropped and reported
  }
  EXPECT_EQ(stats_.dropped_rate_limited, uint64_t{kSources});
  auto reports = [this] {
    size_t n = 0;
    for (const auto& line : log_lines_)
      if (line.find("rate-limiting config/mask/reserve reads from") != std::string::npos) ++n;
    return n;
  };
  EXPECT_EQ(reports(), 10u);
  EXPECT_TRUE(Logged("rate-limiting config/mask/reserve reads from 02:00:00:00:01:00: dropped 1"))
      << "the first ones in full";

  target_->ReportSuppressedLogs();
  EXPECT_FALSE(Logged("suppressed")) << "the interval has not ended";
  clock_.Advance(std::chrono::seconds(5));
  target_->ReportSuppressedLogs();
  EXPECT_TRUE(
      Logged("e1.1: 40 more \"config/mask/reserve reads rate-limited\" lines suppressed "
             "in the last 5 s"));
}

}  // namespace
}  // namespace aoe::target
