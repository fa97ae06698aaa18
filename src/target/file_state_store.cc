#include "target/file_state_store.h"

#include <fcntl.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "base/atomic_file.h"

namespace aoe::target {

namespace {

// Only the server's user may read what hosts are allowed and who holds a reservation.
constexpr mode_t kDirectoryMode = 0750;
constexpr mode_t kFileMode = 0640;

Result<std::optional<std::string>> ReadIfPresent(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) {
    if (errno == ENOENT) return std::optional<std::string>();
    return Errno();
  }
  std::string text;
  char buffer[4096];
  for (;;) {
    ssize_t n = ::read(fd.get(), buffer, sizeof buffer);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Errno();
    }
    if (n == 0) break;
    text.append(buffer, static_cast<size_t>(n));
  }
  return std::optional<std::string>(std::move(text));
}

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
  return directory_ + "/" + export_name + ".json";
}

Result<std::optional<ExportState>> FileStateStore::Load(const std::string& export_name) {
  auto text = ReadIfPresent(Location(export_name));
  AOE_TRY(text);
  if (!*text) return std::optional<ExportState>();
  auto state = DecodeExportState(**text);
  AOE_TRY(state);
  return std::optional<ExportState>(std::move(*state));
}

Result<void> FileStateStore::Write(const std::string& export_name, const ExportState& state) const {
  if (::mkdir(directory_.c_str(), kDirectoryMode) != 0 && errno != EEXIST) return Errno();
  return WriteFileAtomically(Location(export_name), EncodeExportState(state), kFileMode);
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
    Result<void> written = Write(job.export_name, job.state);
    lock.lock();
    writing_ = false;
    finished_.push_back(Saved{std::move(job.export_name), job.version,
                              written ? std::error_code() : written.error()});
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
