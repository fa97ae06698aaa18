// The local side of `aoe cp`: the regular file or block device it reads (an upload) or writes
// (a download).
//
// A download into a regular file (without --seek-sectors) never changes an existing file until
// the copy is complete (and verified, with --verify): it writes a new file beside it
// (.NAME.aoe-cp-XXXXXX in the same directory, so that it starts empty and zero blocks stay
// holes) and renames that over NAME at the end (Commit), as rsync does. A copy that fails, or
// is interrupted by SIGINT, SIGTERM or SIGHUP (unless they are ignored, as under nohup),
// removes the new file and leaves NAME as it was. One killed outright (SIGKILL, the OOM killer,
// a power cut) cannot, so the next download to NAME removes it: cp holds a lock (flock) on its
// new file while it writes, and a .NAME.aoe-cp-XXXXXX that nobody holds is left over. The price is
// room for both until the end, and what a new file cannot keep of the old: other hard links
// (refused), ACLs and extended attributes; --seek-sectors 0 writes into NAME in place instead.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/unique_fd.h"
#include "cli/parse_result.h"

namespace aoe::cli {

class LocalFile {
 public:
  // A source: a regular file or a block device (cp must know its size).
  static ParseResult<LocalFile> OpenSource(const std::string& path);
  // What makes `path` no source at all (a FIFO or socket: cp reads at offsets, and opening a
  // FIFO would wait for a writer): a bad argument, checked before OpenSource.
  static std::optional<std::string> SourceProblem(const std::string& path);
  // What makes `path` no destination at all (a directory, a symbolic link to nothing, a FIFO or
  // socket): a bad argument, checked before OpenDestination.
  static std::optional<std::string> DestinationProblem(const std::string& path);
  // A destination. `whole_new_file`: the copy makes the file anew (no --seek-sectors), so a
  // regular file is written beside it and renamed over it (above); one this user may not write,
  // or with other hard links, is refused. `read_back`: opened for reading too (--verify).
  static ParseResult<LocalFile> OpenDestination(const std::string& path, bool whole_new_file,
                                                bool read_back);
  LocalFile(LocalFile&&) noexcept;
  LocalFile& operator=(LocalFile&&) = delete;
  ~LocalFile();  // an open new file that was not completed is removed (Discard)

  const std::string& path() const { return path_; }  // as given
  int fd() const { return fd_.get(); }
  bool regular() const { return regular_; }
  bool block_device() const { return block_device_; }
  uint64_t size_bytes() const { return size_bytes_; }  // a source's, or a block device's
  // A regular source's size now, if it is smaller than when it was opened (something truncated
  // it during the copy); nullopt otherwise, and for a device.
  std::optional<uint64_t> ShrunkTo() const;
  // A new file: every byte not written reads as zero, so zero blocks may be left as holes.
  bool starts_empty() const { return !new_path_.empty(); }

  // What to say when writing the destination failed with `err`: "cannot write PATH: ...", and
  // for a full disk under a new file beside an existing one, that both need room until the end.
  std::string WriteFailure(int err) const;
  // A download's data is all written: the file gets its full size `end_bytes` (its last blocks
  // may be holes) and is fsync'ed. Returns one line on error, having removed the new file.
  std::optional<std::string> Finish(uint64_t end_bytes);
  // The copy is good (after --verify): a new file takes the place of the old (renamed, and the
  // directory fsync'ed). Returns one line on error; a failed rename removes the new file.
  std::optional<std::string> Commit();
  // A download failed: removes the new file, or a file this call created and `wrote_nothing`
  // to; an existing file written in place keeps what was written.
  void Discard(bool wrote_nothing);
  // The partial copies of earlier downloads to this destination that were killed before they
  // could remove them, removed by OpenDestination (their paths), for cp to say so.
  const std::vector<std::string>& removed_leftovers() const { return removed_leftovers_; }

 private:
  LocalFile() = default;

  std::string path_;
  UniqueFd fd_;
  bool regular_ = false;       // a regular file (else a block or character device)
  bool block_device_ = false;  // size_bytes_ is the size of the device
  uint64_t size_bytes_ = 0;
  bool created_ = false;    // did not exist: made by OpenDestination
  bool replaces_ = false;   // the new file takes the place of an existing one
  std::string new_path_;    // the new file renamed over path_ by Commit, or ""
  std::string final_path_;  // what the new file replaces: path_, or the file it links to
  std::vector<std::string> removed_leftovers_;
};

// "what PATH: strerror(errno)".
std::string Errno(std::string_view what, const std::string& path);
bool PwriteAll(int fd, const std::byte* data, size_t length, uint64_t offset);
// Reads up to `length` bytes; bytes past the end of the file are zero (the last sector of an
// image whose size is not a multiple of 512).
bool PreadPadded(int fd, std::byte* data, size_t length, uint64_t offset);

}  // namespace aoe::cli
