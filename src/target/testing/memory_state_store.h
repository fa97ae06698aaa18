// MemoryStateStore: a StateStore in memory whose saves finish only when the test says so, for
// driving a Target without threads, disks or timing: a test can hold a save in flight, pile up
// changes behind it, fail it, and check what the target sends meanwhile.
//
// Test-only; single-threaded. completion_fd() is -1: the test delivers reports itself
// (FinishOldest + TakeCompleted, then Target::StateSaved).
#pragma once

#include <deque>
#include <map>
#include <string>
#include <system_error>
#include <vector>

#include "target/state_store.h"

namespace aoe::target::testkit {

class MemoryStateStore final : public StateStore {
 public:
  struct Pending {
    std::string export_name;
    ExportState state;
    uint64_t version = 0;
  };

  Result<std::optional<ExportState>> Load(const std::string& export_name) override {
    auto it = durable_.find(export_name);
    if (it == durable_.end()) return std::optional<ExportState>();
    return std::optional<ExportState>(it->second);
  }
  Result<void> SaveNow(const std::string& export_name, const ExportState& state) override {
    durable_[export_name] = state;
    return {};
  }
  void Save(const std::string& export_name, const ExportState& state, uint64_t version) override {
    pending_.push_back(Pending{export_name, state, version});
    ++saves_started_;
  }
  int completion_fd() const override { return -1; }
  void TakeCompleted(std::vector<Saved>& out) override {
    for (Saved& saved : finished_) out.push_back(std::move(saved));
    finished_.clear();
  }
  void WaitIdle() override {}
  bool Shared(const std::string&) const override { return false; }
  // As if another host had read the durable state: reported with the finished saves.
  void Refresh(const std::string& export_name) override {
    Saved refreshed{.export_name = export_name, .version = 0, .error = {}, .refresh = true};
    if (auto it = durable_.find(export_name); it != durable_.end())
      refreshed.refreshed = it->second;
    finished_.push_back(std::move(refreshed));
  }
  std::string Location(const std::string& export_name) const override {
    return "memory:" + export_name;
  }

  // Finishes the oldest save in flight: durable unless `error` is set. False if none.
  bool FinishOldest(std::error_code error = {}) {
    if (pending_.empty()) return false;
    Pending job = std::move(pending_.front());
    pending_.pop_front();
    if (!error) durable_[job.export_name] = job.state;
    finished_.push_back(Saved{job.export_name, job.version, error});
    return true;
  }

  const std::deque<Pending>& pending() const { return pending_; }
  size_t saves_started() const { return saves_started_; }
  // The durable state of an export (what a restart would load); empty if never saved.
  ExportState durable(const std::string& export_name) const {
    auto it = durable_.find(export_name);
    return it == durable_.end() ? ExportState{} : it->second;
  }

 private:
  std::map<std::string, ExportState> durable_;
  std::deque<Pending> pending_;
  std::vector<Saved> finished_;
  size_t saves_started_ = 0;
};

}  // namespace aoe::target::testkit
