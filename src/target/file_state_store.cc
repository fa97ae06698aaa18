#include "target/file_state_store.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "base/atomic_file.h"
#include "base/read_file.h"

namespace aoe::target {

namespace {

// Only the server's user may read what hosts are allowed and who holds a reservation.
constexpr mode_t kDirectoryMode = 0750;
constexpr mode_t kFileMode = 0640;

std::string MetadataKey(const std::string& export_name) { return "aoekit.state." + export_name; }

}  // namespace

Result<std::unique_ptr<FileStateStore>> FileStateStore::Create(std::string directory) {
  UniqueFd event_fd(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
  if (!event_fd) return Errno();
  return std::unique_ptr<FileStateStore>(
      new FileStateStore(std::move(directory), std::move(event_fd)));
}

FileStateStore::FileStateStore(std::string directory, UniqueFd event_fd)
    : directory_(std::move(directory)), event_fd_(std::move(event_fd)) {}

std::string FileStateStore::Location(const std::string& export_name) const {
  if (auto metadata = SharedMetadataOf(export_name)) {
    return fmt::format("{} key {}", metadata->Describe(), MetadataKey(export_name));
  }
  return FilePath(export_name);
}

std::string FileStateStore::FilePath(const std::string& export_name) const {
  return directory_ + "/" + export_name + ".json";
}

void FileStateStore::UseSharedMetadata(const std::string& export_name,
                                       std::shared_ptr<SharedMetadata> metadata) {
  std::lock_guard lock(mutex_);
  if (metadata) {
    metadata_[export_name] = std::move(metadata);
  } else {
    metadata_.erase(export_name);
  }
}

std::shared_ptr<SharedMetadata> FileStateStore::SharedMetadataOf(
    const std::string& export_name) const {
  std::lock_guard lock(mutex_);
  auto it = metadata_.find(export_name);
  return it == metadata_.end() ? nullptr : it->second;
}

bool FileStateStore::Shared(const std::string& export_name) const {
  return SharedMetadataOf(export_name) != nullptr;
}

Result<std::optional<ExportState>> FileStateStore::Load(const std::string& export_name) {
  auto metadata = SharedMetadataOf(export_name);
  auto text = metadata ? metadata->Get(MetadataKey(export_name))
                       : ReadSmallFileIfPresent(FilePath(export_name));
  AOE_TRY(text);
  if (!*text) return std::optional<ExportState>();
  auto state = DecodeExportState(**text);
  AOE_TRY(state);
  return std::optional<ExportState>(std::move(*state));
}

Result<void> FileStateStore::Write(const std::string& export_name, const ExportState& state) {
  if (auto metadata = SharedMetadataOf(export_name)) {
    return metadata->Set(MetadataKey(export_name), EncodeExportState(state));
  }
  if (::mkdir(directory_.c_str(), kDirectoryMode) != 0 && errno != EEXIST) return Errno();
  return WriteFileAtomically(FilePath(export_name), EncodeExportState(state), kFileMode);
}

void FileStateStore::Refresh(const std::string& export_name) {
  Job job{.export_name = export_name, .state = {}, .version = 0, .refresh = true};
  {
    std::lock_guard lock(mutex_);
    queue_.push_back(std::move(job));
  }
  work_.notify_one();
}

StateStore::Saved FileStateStore::Run(Job& job) {
  if (job.refresh) {
    auto loaded = Load(job.export_name);
    Saved refreshed{
        .export_name = std::move(job.export_name), .version = 0, .error = {}, .refresh = true};
    if (!loaded) {
      refreshed.error = loaded.error();
    } else {
      refreshed.refreshed = std::move(*loaded);
    }
    return refreshed;
  }
  Result<void> written = Write(job.export_name, job.state);
  return Saved{std::move(job.export_name), job.version,
               written ? std::error_code() : written.error()};
}

Result<void> FileStateStore::SaveNow(const std::string& export_name, const ExportState& state) {
  return Write(export_name, state);
}

void FileStateStore::Save(const std::string& export_name, const ExportState& state,
                          uint64_t version) {
  Job job{export_name, state, version};  // copied before taking the lock the writer needs
  {
    std::lock_guard lock(mutex_);
    queue_.push_back(std::move(job));
  }
  work_.notify_one();
}

void FileStateStore::TakeCompleted(std::vector<Saved>& out) {
  uint64_t count = 0;
  // Cleared first: a save finishing after this read signals again, so none is missed.
  (void)!::read(event_fd_.get(), &count, sizeof count);
  std::lock_guard lock(mutex_);
  for (Saved& saved : finished_) out.push_back(std::move(saved));
  finished_.clear();
}

void FileStateStore::WaitIdle() {
  std::unique_lock lock(mutex_);
  idle_.wait(lock, [&] { return queue_.empty() && !writing_; });
}

void FileStateStore::RunWriter() {
  std::unique_lock lock(mutex_);
  for (;;) {
    work_.wait(lock, [&] { return !queue_.empty() || stopping_; });
    if (queue_.empty()) return;  // stopping, and every save is written
    Job job = std::move(queue_.front());
    queue_.pop_front();
    writing_ = true;
    lock.unlock();
    Saved finished = Run(job);
    lock.lock();
    writing_ = false;
    finished_.push_back(std::move(finished));
    uint64_t one = 1;
    (void)!::write(event_fd_.get(), &one, sizeof one);
    idle_.notify_all();
  }
}

void FileStateStore::StopWriter() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  work_.notify_all();
}

}  // namespace aoe::target
