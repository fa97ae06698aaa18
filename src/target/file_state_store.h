// FileStateStore: each export's state as a JSON document (export_state.h) in
// `<directory>/<export>.json`, replaced with WriteFileAtomically (base/atomic_file.h): after a
// crash the file holds the last state whose save was reported durable, or a newer one, and
// never a torn file. The directory is created (0750) when the first state is written.
//
// An export whose storage has SharedMetadata (an RBD image, UseSharedMetadata()) keeps the same
// document there instead, under the key "aoekit.state.<export>", where every target serving that
// image reads and writes it: such an export's state is Shared(), and Refresh() reads it again.
// One metadata value is written at once, so a save there is all or nothing too.
//
// Saves run on a writer: RunWriter() writes queued saves one after another, in the order they
// were started, and signals completion_fd() (an eventfd) after each. The store starts no thread
// itself (libraries own none): its owner, the Server, runs RunWriter() on a thread it owns, and
// calls StopWriter() and joins that thread before destroying the store. RunWriter() returns once
// StopWriter() was called and every queued save is written.
//
// Thread-safety: Save(), TakeCompleted() and WaitIdle() are called from the owner's loop while
// RunWriter() runs on the writer thread; they share only the queue and the finished list, under
// one mutex. Load() and SaveNow() touch no shared state and run on the caller's thread. WaitIdle()
// needs the writer running.
#pragma once

#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "base/result.h"
#include "base/unique_fd.h"
#include "storage/shared_metadata.h"
#include "target/state_store.h"

namespace aoe::target {

class FileStateStore final : public StateStore {
 public:
  static Result<std::unique_ptr<FileStateStore>> Create(std::string directory);
  ~FileStateStore() override = default;

  Result<std::optional<ExportState>> Load(const std::string& export_name) override;
  Result<void> SaveNow(const std::string& export_name, const ExportState& state) override;
  void Save(const std::string& export_name, const ExportState& state, uint64_t version) override;
  int completion_fd() const override { return event_fd_.get(); }
  void TakeCompleted(std::vector<Saved>& out) override;
  void WaitIdle() override;
  bool Shared(const std::string& export_name) const override;
  void Refresh(const std::string& export_name) override;
  std::string Location(const std::string& export_name) const override;

  // From now on, keeps the export's state in `metadata` (null: in its file again). Called when
  // the export is opened, before Load().
  void UseSharedMetadata(const std::string& export_name, std::shared_ptr<SharedMetadata> metadata);
  // What UseSharedMetadata last gave for the export; null for none.
  std::shared_ptr<SharedMetadata> SharedMetadataOf(const std::string& export_name) const;

  // The writer loop; see the header comment.
  void RunWriter();
  void StopWriter();

 private:
  struct Job {
    std::string export_name;
    ExportState state;
    uint64_t version = 0;
    bool refresh = false;  // read the state instead of writing it
  };

  FileStateStore(std::string directory, UniqueFd event_fd);
  Result<void> Write(const std::string& export_name, const ExportState& state);
  std::string FilePath(const std::string& export_name) const;
  Saved Run(Job& job);

  const std::string directory_;
  const UniqueFd event_fd_;

  mutable std::mutex mutex_;
  std::map<std::string, std::shared_ptr<SharedMetadata>> metadata_;  // per export, if shared
  std::condition_variable work_;  // a job was queued, or the writer must stop
  std::condition_variable idle_;  // the writer finished a job
  std::deque<Job> queue_;
  std::vector<Saved> finished_;
  bool writing_ = false;
  bool stopping_ = false;
};

}  // namespace aoe::target
