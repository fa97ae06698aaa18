#include "base/log_rate_limit.h"

#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace aoe {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

class LogRateLimit : public ::testing::Test {
 protected:
  struct Line {
    LogLevel level;
    std::string text;
  };

  // A line of e1.2's "write failed" kind, numbered so the test can tell which ones got through.
  void WriteFailed(int n, std::string_view subject = "e1.2") {
    limiter_->Log(LogLevel::kWarn, subject, "write failed", "write of sector {} failed", n);
  }

  // The lines logged since the last call, without their time stamps.
  std::vector<std::string> Take() {
    std::vector<std::string> texts;
    for (const Line& line : lines_) texts.push_back(line.text.substr(line.text.find(' ') + 1));
    lines_.clear();
    return texts;
  }

  std::vector<Line> lines_;
  Logger log_{LogLevel::kInfo, [this](LogLevel level, std::string_view line) {
                lines_.push_back({level, std::string(line)});
              }};
  FakeClock clock_;
  std::unique_ptr<LogRateLimiter> limiter_ = std::make_unique<LogRateLimiter>(log_, clock_);
};

TEST_F(LogRateLimit, TheFirstTenLinesOfABurstAreLoggedInFullAndTheRestCounted) {
  for (int n = 0; n < 25; ++n) WriteFailed(n);
  std::vector<std::string> logged = Take();
  ASSERT_EQ(logged.size(), 10u);
  EXPECT_EQ(logged.front(), "warn  e1.2: write of sector 0 failed");
  EXPECT_EQ(logged.back(), "warn  e1.2: write of sector 9 failed");
}

TEST_F(LogRateLimit, OnceTheIntervalHasPassedTheNextLineComesAfterTheCount) {
  for (int n = 0; n < 25; ++n) WriteFailed(n);
  Take();
  clock_.Advance(seconds(4));
  WriteFailed(25);
  EXPECT_TRUE(Take().empty()) << "still the same interval";
  clock_.Advance(seconds(1));
  WriteFailed(26);
  EXPECT_EQ(Take(), (std::vector<std::string>{
                        "warn  e1.2: 16 more \"write failed\" lines suppressed in the last 5 s",
                        "warn  e1.2: write of sector 26 failed"}));
}

TEST_F(LogRateLimit, ANewIntervalHasAFullBurstAgain) {
  for (int n = 0; n < 25; ++n) WriteFailed(n);
  clock_.Advance(seconds(5));
  Take();
  for (int n = 0; n < 25; ++n) WriteFailed(n);
  std::vector<std::string> logged = Take();
  ASSERT_EQ(logged.size(), 11u) << "the summary of the first interval, then ten lines";
  EXPECT_EQ(logged[0], "warn  e1.2: 15 more \"write failed\" lines suppressed in the last 5 s");
  EXPECT_EQ(logged[10], "warn  e1.2: write of sector 9 failed");
}

TEST_F(LogRateLimit, ReportEndedGivesTheCountWhenNoFurtherLineComes) {
  for (int n = 0; n < 12; ++n) WriteFailed(n);
  Take();
  clock_.Advance(milliseconds(4999));
  limiter_->ReportEnded();
  EXPECT_TRUE(Take().empty()) << "the interval has not ended";
  clock_.Advance(milliseconds(1001));
  limiter_->ReportEnded();
  EXPECT_EQ(Take(), (std::vector<std::string>{
                        "warn  e1.2: 2 more \"write failed\" lines suppressed in the last 6 s"}));
  EXPECT_EQ(limiter_->tracked_keys(), 0u);
  limiter_->ReportEnded();
  EXPECT_TRUE(Take().empty()) << "a count is reported once";
}

TEST_F(LogRateLimit, ReportEndedForgetsKeysThatSuppressedNothingAndSaysNothing) {
  for (int n = 0; n < 3; ++n) WriteFailed(n);
  Take();
  clock_.Advance(seconds(5));
  limiter_->ReportEnded();
  EXPECT_TRUE(Take().empty());
  EXPECT_EQ(limiter_->tracked_keys(), 0u);
}

TEST_F(LogRateLimit, OneSuppressedLineIsALine) {
  for (int n = 0; n < 11; ++n) WriteFailed(n);
  Take();
  clock_.Advance(seconds(5));
  limiter_->ReportEnded();
  EXPECT_EQ(Take(), (std::vector<std::string>{
                        "warn  e1.2: 1 more \"write failed\" line suppressed in the last 5 s"}));
}

TEST_F(LogRateLimit, KeysAreIndependentBySubjectAndByKind) {
  for (int n = 0; n < 50; ++n) WriteFailed(n, "e1.2");
  Take();
  WriteFailed(0, "e1.3");
  limiter_->Log(LogLevel::kWarn, "e1.2", "read failed", "read failed too");
  EXPECT_EQ(Take(), (std::vector<std::string>{"warn  e1.3: write of sector 0 failed",
                                              "warn  e1.2: read failed too"}));
  EXPECT_EQ(limiter_->tracked_keys(), 3u);
  clock_.Advance(seconds(5));
  limiter_->ReportEnded();
  EXPECT_EQ(Take(), (std::vector<std::string>{
                        "warn  e1.2: 40 more \"write failed\" lines suppressed in the last 5 s"}));
}

TEST_F(LogRateLimit, TheDestructorReportsWhatIsStillSuppressed) {
  for (int n = 0; n < 30; ++n) WriteFailed(n);
  Take();
  clock_.Advance(milliseconds(1500));
  limiter_.reset();
  EXPECT_EQ(Take(), (std::vector<std::string>{
                        "warn  e1.2: 20 more \"write failed\" lines suppressed in the last 2 s"}));
}

TEST_F(LogRateLimit, ReportAllReportsUnendedIntervalsAndForgetsEveryKey) {
  for (int n = 0; n < 30; ++n) WriteFailed(n);
  WriteFailed(0, "e1.3");
  Take();
  limiter_->ReportAll();
  EXPECT_EQ(Take(), (std::vector<std::string>{
                        "warn  e1.2: 20 more \"write failed\" lines suppressed in the last 1 s"}));
  EXPECT_EQ(limiter_->tracked_keys(), 0u);
}

TEST_F(LogRateLimit, TheSummaryHasTheLevelOfTheLinesItStandsFor) {
  for (int n = 0; n < 11; ++n) limiter_->Log(LogLevel::kError, "e1.2", "broken", "broken {}", n);
  lines_.clear();
  limiter_->ReportAll();
  ASSERT_EQ(lines_.size(), 1u);
  EXPECT_EQ(lines_[0].level, LogLevel::kError);
}

TEST_F(LogRateLimit, LinesTheLoggerDoesNotPrintAreNotCounted) {
  for (int n = 0; n < 50; ++n) limiter_->Log(LogLevel::kDebug, "e1.2", "noise", "noise {}", n);
  limiter_->ReportAll();
  EXPECT_TRUE(Take().empty());
}

TEST_F(LogRateLimit, BurstAndIntervalCanBeChosen) {
  limiter_ = std::make_unique<LogRateLimiter>(
      log_, clock_, LogRateLimiter::Limits{.burst = 2, .interval = seconds(30)});
  for (int n = 0; n < 5; ++n) WriteFailed(n);
  EXPECT_EQ(Take().size(), 2u);
  clock_.Advance(seconds(29));
  limiter_->ReportEnded();
  EXPECT_TRUE(Take().empty());
  clock_.Advance(seconds(1));
  limiter_->ReportEnded();
  EXPECT_EQ(Take(), (std::vector<std::string>{
                        "warn  e1.2: 3 more \"write failed\" lines suppressed in the last 30 s"}));
}

}  // namespace
}  // namespace aoe
