// `aoe cp`: copies between an AoE disk and a local file or block device, either way.
//
//   download (eX.Y -> file): written to a new file that replaces the destination once complete
//     (cp_local_file.h), so a failed copy changes nothing; all-zero 4 KiB blocks become holes
//     in it (we seek over them instead of writing); the file gets its full size with
//     ftruncate and is fsync'ed before cp returns.
//   upload (file -> eX.Y): every byte is written, zeros included; holes of a sparse source are
//     found with SEEK_DATA and sent from a zero buffer without reading them. With
//     --sparse-upload, holes and all-zero 64 KiB chunks are trimmed (DATA SET MANAGEMENT)
//     instead, where IDENTIFY says trimmed sectors read as zeroes. Every 128 MiB and at the end
//     comes a FLUSH CACHE EXT, then a check that the target did not restart meanwhile (else
//     that stretch is written again), so the data is durable on the target when cp returns.
//
// Both directions keep --depth requests of 64 KiB in flight through SyncDisk::Pipeline; the
// engine splits them into frames and spreads those over every path (trunking).
// --verify reads both sides again afterwards and compares their SHA-256.
#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <nlohmann/json.hpp>
#include <vector>

#include "base/log.h"
#include "base/unique_fd.h"
#include "cli/command.h"
#include "cli/copy_plan.h"
#include "cli/cp_local_file.h"
#include "cli/export_spec.h"
#include "cli/initiator_args.h"
#include "cli/progress.h"
#include "cli/sha256.h"
#include "proto/identify.h"

namespace aoe::cli {

namespace {

constexpr std::string_view kName = "cp";
constexpr uint64_t kChunkSectors = 128;          // 64 KiB per request
constexpr size_t kHoleBlock = 4096;              // granularity of holes in a downloaded file
constexpr uint64_t kVerifyBatchSectors = 32768;  // 16 MiB read back, then hashed in order
constexpr uint64_t kNoSlot = UINT64_MAX;         // a trim uses no buffer
// How long an upload listens for a second target answering its address before writing: past
// discovery's first resend (at 500 ms), so one lost broadcast does not hide the other target.
constexpr int kHearOthersMs = 750;
// An upload flushes every 128 MiB and then checks that the target did not restart meanwhile
// (Copy::Upload): what a restart makes cp write again is at most that much. A flush costs a
// pause of the pipeline and the sync of data the final flush would have synced anyway.
constexpr uint64_t kFlushEverySectors = 262144;
// A target that keeps restarting while one segment is written fails the copy rather than
// having it written for ever.
constexpr int kMaxRewritesInARow = 5;

constexpr CommandHelp kHelp{
    .name = kName,
    .usage = "Usage: aoe cp -i IFACE [-i IFACE ...] [OPTIONS] SRC DST\n",
    .description =
        "Copy an AoE disk to a local file or block device, or a local file or block device to\n"
        "an AoE disk. Exactly one of SRC and DST is a disk, eSHELF.SLOT; write ./e0.1 for a\n"
        "local file of that name. Downloads leave all-zero blocks as holes in a new file;\n"
        "uploads end with FLUSH CACHE EXT, so the data is durable when cp returns.",
    .footer = R"txt(Examples:
  aoe cp -i enp1s0 e0.1 disk.img                      download the whole disk
  aoe cp -i enp1s0 -i enp2s0 disk.img e0.1 --verify    upload over two paths, check SHA-256
  aoe cp -i enp1s0 part.img e0.1 --seek-sectors 2048  write part.img from sector 2048 on
  aoe cp -i enp1s0 e0.1 mbr.bin --count-sectors 1     the first sector only
  aoe cp -i enp1s0 sparse.img e0.1 --sparse-upload    trim zeros instead of sending them

A download writes a new file beside DST and renames it over DST once complete: a copy that
fails or is interrupted leaves DST as it was (--seek-sectors writes in place instead); the
new file of one killed outright (SIGKILL) is removed by the next download to DST.
The progress bar is shown only when stderr is a terminal. A request that gets no reply for
--timeout seconds (default 30) fails the copy with the sector range and paths involved.
An upload flushes every 128 MiB; if the target restarted meanwhile (aoe serve tells from its
IDENTIFY), what it may have lost is written again, so success still means durable data.
Exit status: 0 copied, 1 failed (no reply, I/O error, sizes), 2 bad arguments.)txt"};

struct CpArgs {
  std::vector<std::string> interfaces;
  std::vector<std::string> files;  // SRC DST
  bool verify = false, no_progress = false, json = false, verbose = false;
  bool sparse_upload = false;
  std::string depth_text = "32", timeout_text = "30";
  std::string skip_text, seek_text, count_text;
};

// Tells which ranges of a regular source file are holes, so that an upload sends zeros for
// them without reading. Remembers the last hole found, so most chunks cost no system call.
class HoleFinder {
 public:
  HoleFinder(int fd, bool enabled, uint64_t file_size)
      : fd_(fd), enabled_(enabled), file_size_(file_size) {}

  bool IsHole(uint64_t offset, uint64_t length) {
    if (!enabled_) return false;
    if (offset >= hole_begin_ && offset + length <= hole_end_) return true;
    if (offset < checked_until_) return false;  // data begins here: read it
    off_t data = ::lseek(fd_, static_cast<off_t>(offset), SEEK_DATA);
    if (data < 0) {
      if (errno != ENXIO) {
        enabled_ = false;  // no SEEK_DATA here: read everything
        return false;
      }
      data = static_cast<off_t>(file_size_);  // only a hole up to the end
    }
    if (static_cast<uint64_t>(data) > offset) {
      hole_begin_ = offset;
      hole_end_ = static_cast<uint64_t>(data);
      return offset + length <= hole_end_;
    }
    // Data starts at `offset`; ask again only after the next hole could begin.
    off_t hole = ::lseek(fd_, static_cast<off_t>(offset), SEEK_HOLE);
    checked_until_ = hole > 0 ? static_cast<uint64_t>(hole) : offset + length;
    return false;
  }

 private:
  int fd_;
  bool enabled_;
  uint64_t file_size_;
  uint64_t hole_begin_ = 0, hole_end_ = 0;
  uint64_t checked_until_ = 0;
};

// Per-buffer bookkeeping of the requests in flight, to name the sectors of a failed copy.
// `failed` is the operation Pipeline reports as failed (its lba is 0 and buffer empty if the
// failure was not an operation's).
std::string DescribeFailure(std::string_view verb, const std::string& disk,
                            const initiator::SyncDisk::IoOp& failed,
                            const std::vector<std::string>& interfaces,
                            const initiator::Error& error, const std::string& engine_message) {
  std::string out;
  if (error == initiator::InitiatorErrc::kDeadTarget) {
    // The engine names the request already: "reading e0.1 sectors 8-15: no reply from ...".
    out = engine_message;
  } else {
    out = fmt::format("{} {}", verb, disk);
    // ATA and AoE errors name the frame's sectors; for the rest, name the failed request.
    if (!failed.buffer.empty() && engine_message.find("sectors") == std::string::npos) {
      out += fmt::format(" sectors {}-{}", failed.lba,
                         failed.lba + failed.buffer.size() / kSectorBytes - 1);
    }
    out += fmt::format(" failed: {}", engine_message);
  }
  if (verb == "writing" && engine_message.find("ABRT") != std::string::npos) {
    // ABRT on a write means a read-only export, a full or failing backing store on the target:
    // name the possibilities rather than guess one.
    out += " (the target refused the write: a read-only export, or its storage is full or failing)";
  }
  bool names_ports = false;
  for (const std::string& i : interfaces) {
    names_ports = names_ports || engine_message.find(i) != std::string::npos;
  }
  if (!names_ports) out += fmt::format(" (interfaces tried: {})", JoinNames(interfaces));
  return out;
}

// Everything the copy needs, set up by CpMain.
struct Copy {
  const CpArgs& args;
  initiator::Client& client;
  initiator::SyncDisk disk;
  LocalFile local;
  CopyRange range;
  bool download = true;
  size_t depth = 32;
  bool progress = false;
  Duration timeout{};       // --timeout: the dead-target timeout
  uint64_t hole_bytes = 0;  // download: zeros skipped
  // Upload: trim zeros instead of writing them (--sparse-upload, and the disk reads trimmed
  // sectors as zeroes); trimmed_bytes counts them.
  bool trim_zeros = false;
  uint64_t trimmed_bytes = 0;
  // Upload: bytes written again because the target restarted and may have lost them.
  uint64_t rewritten_bytes = 0;

  const std::string& disk_name() const { return download ? args.files[0] : args.files[1]; }

  std::optional<std::string> Download();
  std::optional<std::string> Upload();
  // SHA-256 of both sides over the copied range; returns the digest or an error.
  ParseResult<std::string> Verify();
};

std::optional<std::string> Copy::Download() {
  const uint64_t chunk_bytes = kChunkSectors * kSectorBytes;
  std::vector<std::byte> pool(depth * chunk_bytes);
  std::vector<size_t> free_slots;
  for (size_t i = depth; i-- > 0;) free_slots.push_back(i);
  uint64_t next_sector = 0, done_bytes = 0;
  std::string write_error;
  Progress bar(range.sectors * kSectorBytes, progress);

  auto next = [&]() -> std::optional<initiator::SyncDisk::IoOp> {
    if (next_sector >= range.sectors) return std::nullopt;
    const size_t slot = free_slots.back();
    free_slots.pop_back();
    const uint64_t sectors = std::min(kChunkSectors, range.sectors - next_sector);
    const uint64_t lba = range.src_sector + next_sector;
    next_sector += sectors;
    return initiator::SyncDisk::IoOp{
        .kind = initiator::SyncDisk::IoOp::Kind::kRead,
        .lba = lba,
        .buffer = ByteSpan(pool).subspan(slot * chunk_bytes, sectors * kSectorBytes),
        .cookie = slot};
  };
  auto done = [&](const initiator::SyncDisk::IoOp& op) -> initiator::Outcome<void> {
    const uint64_t offset = (range.dst_sector + (op.lba - range.src_sector)) * kSectorBytes;
    if (local.starts_empty()) {
      // A new file reads zeros wherever we do not write: leave zero blocks as holes.
      size_t written = 0;
      bool ok = true;
      ForEachDataRun(op.buffer, kHoleBlock, [&](size_t off, size_t len) {
        ok = ok && PwriteAll(local.fd(), op.buffer.data() + off, len, offset + off);
        written += len;
      });
      hole_bytes += op.buffer.size() - written;
      if (!ok) write_error = local.WriteFailure(errno);
    } else if (!PwriteAll(local.fd(), op.buffer.data(), op.buffer.size(), offset)) {
      write_error = local.WriteFailure(errno);
    }
    if (!write_error.empty()) {
      return initiator::Error(initiator::InitiatorErrc::kCancelled, write_error);
    }
    free_slots.push_back(op.cookie);
    done_bytes += op.buffer.size();
    bar.Update(done_bytes);
    return {};
  };
  initiator::SyncDisk::IoOp failed;
  auto result = disk.Pipeline(depth, next, done, &failed);
  bar.Finish();
  if (!result || !write_error.empty()) {
    // A new file goes; a file written in place keeps what came, one cp created and wrote
    // nothing to goes too.
    local.Discard(/*wrote_nothing=*/done_bytes == 0);
  }
  if (!write_error.empty()) return write_error;
  if (!result) {
    return DescribeFailure("reading", disk_name(), failed, args.interfaces, result.error(),
                           ExplainError(client, disk.address(), result.error()));
  }
  // The file must end where the copy ends even if its last blocks were holes. It takes the
  // destination's place once verified (CpMain).
  return local.Finish((range.dst_sector + range.sectors) * kSectorBytes);
}

std::optional<std::string> Copy::Upload() {
  const uint64_t chunk_bytes = kChunkSectors * kSectorBytes;
  std::vector<std::byte> pool(depth * chunk_bytes);
  std::vector<std::byte> zeros(chunk_bytes);  // the source of every hole; never written to
  std::vector<size_t> free_slots;
  for (size_t i = depth; i-- > 0;) free_slots.push_back(i);
  // Sectors [0, flushed) were acknowledged, flushed, and the process that flushed them is the
  // one that acknowledged them: durable. [flushed, segment_end) is being written.
  uint64_t flushed = 0, flushed_trimmed_bytes = 0, segment_end = 0;
  uint64_t next_sector = 0, done_bytes = 0;
  int rewrites_in_a_row = 0;
  std::string read_error;
  HoleFinder holes(local.fd(), local.regular(), local.size_bytes());
  Progress bar(range.sectors * kSectorBytes, progress);
  // A source cut short during the copy: what was sent past its new end is not its data.
  auto shrank = [&]() -> std::optional<std::string> {
    std::optional<uint64_t> now = local.ShrunkTo();
    if (!now) return std::nullopt;
    return fmt::format(
        "{} shrank from {} to {} bytes during the copy, so {} does not hold a copy of it; copy "
        "again once nothing writes to it",
        local.path(), local.size_bytes(), *now, disk_name());
  };

  auto next = [&]() -> std::optional<initiator::SyncDisk::IoOp> {
    if (next_sector >= segment_end || !read_error.empty()) return std::nullopt;
    const size_t slot = free_slots.back();
    const uint64_t sectors = std::min(kChunkSectors, segment_end - next_sector);
    const uint64_t offset = (range.src_sector + next_sector) * kSectorBytes;
    const size_t bytes = sectors * kSectorBytes;
    const uint64_t lba = range.dst_sector + next_sector;
    ByteSpan buffer;
    if (holes.IsHole(offset, bytes)) {
      if (trim_zeros) {
        // One trim for the whole run of holes (up to one command's worth).
        uint64_t run = sectors;
        while (next_sector + run < segment_end &&
               run + kChunkSectors <= initiator::Disk::kMaxTrimSectors) {
          const uint64_t more = std::min(kChunkSectors, segment_end - next_sector - run);
          if (!holes.IsHole(offset + run * kSectorBytes, more * kSectorBytes)) break;
          run += more;
        }
        next_sector += run;
        return initiator::SyncDisk::IoOp{.kind = initiator::SyncDisk::IoOp::Kind::kTrim,
                                         .lba = lba,
                                         .buffer = {},
                                         .trim_sectors = run,
                                         .cookie = kNoSlot};
      }
      buffer = ByteSpan(zeros).first(bytes);
    } else {
      buffer = ByteSpan(pool).subspan(slot * chunk_bytes, bytes);
      if (!PreadPadded(local.fd(), buffer.data(), bytes, offset)) {
        read_error = Errno("cannot read", local.path());
        return std::nullopt;  // Pipeline then waits for the writes in flight and returns
      }
      if (trim_zeros && IsAllZero(buffer)) {
        next_sector += sectors;
        return initiator::SyncDisk::IoOp{.kind = initiator::SyncDisk::IoOp::Kind::kTrim,
                                         .lba = lba,
                                         .buffer = {},
                                         .trim_sectors = sectors,
                                         .cookie = kNoSlot};
      }
    }
    free_slots.pop_back();
    next_sector += sectors;
    return initiator::SyncDisk::IoOp{.kind = initiator::SyncDisk::IoOp::Kind::kWrite,
                                     .lba = lba,
                                     .buffer = buffer,
                                     .cookie = slot};
  };
  auto done = [&](const initiator::SyncDisk::IoOp& op) -> initiator::Outcome<void> {
    if (op.kind == initiator::SyncDisk::IoOp::Kind::kTrim) {
      trimmed_bytes += op.trim_sectors * kSectorBytes;
      done_bytes += op.trim_sectors * kSectorBytes;
    } else {
      free_slots.push_back(op.cookie);
      done_bytes += op.buffer.size();
    }
    bar.Update(done_bytes);
    return {};
  };

  // In segments, each ended by FLUSH CACHE EXT (or FLUSH CACHE, which the engine falls back
  // to): the target may acknowledge writes from a cache (aoe serve without --sync, a disk's
  // write cache), and the flush makes them durable before the copy is called done. After each
  // flush the target's incarnation tells whether the process that flushed is the one that
  // acknowledged the segment; if it restarted meanwhile, the segment is written again.
  // At least once: an empty upload still ends with a FLUSH, as "flushed" says.
  do {
    segment_end = std::min(flushed + kFlushEverySectors, range.sectors);
    // Before the segment's writes: a durability=auto target then acknowledges them from its
    // cache. Again for each segment, since the check's IDENTIFY starts a new session there.
    if (auto declared = disk.DeclareSelfFlushing(); !declared) {
      bar.Finish();
      return declared.error().message;
    }
    initiator::SyncDisk::IoOp failed;
    auto result = disk.Pipeline(depth, next, done, &failed);
    if (std::optional<std::string> cut = shrank()) {
      bar.Finish();
      return cut;
    }
    if (!result) {
      bar.Finish();
      if (failed.kind == initiator::SyncDisk::IoOp::Kind::kTrim) {
        return fmt::format("trimming sectors {}-{} of {} failed: {}", failed.lba,
                           failed.lba + failed.trim_sectors - 1, disk_name(),
                           ExplainError(client, disk.address(), result.error()));
      }
      return DescribeFailure("writing", disk_name(), failed, args.interfaces, result.error(),
                             ExplainError(client, disk.address(), result.error()));
    }
    if (!read_error.empty()) {
      bar.Finish();
      return read_error;
    }
    if (auto flush = disk.Flush(); !flush) {
      bar.Finish();
      return fmt::format(
          "the data was sent but FLUSH CACHE EXT on {} failed, so it may not be "
          "durable: {}",
          disk_name(), ExplainError(client, disk.address(), flush.error()));
    }
    auto check = disk.CheckForRestarts();
    if (!check) {
      bar.Finish();
      return ExplainError(client, disk.address(), check.error());
    }
    if (check->restarts.empty()) {
      flushed = segment_end;
      flushed_trimmed_bytes = trimmed_bytes;
      rewrites_in_a_row = 0;
      continue;
    }
    std::string what;
    for (const initiator::TargetRestart& r : check->restarts) {
      what += fmt::format("{}{} {}", what.empty() ? "" : ", ", r.target_mac.ToString(),
                          r.answered ? "restarted (another incarnation of the target)"
                                     : "did not answer an IDENTIFY after the flush");
    }
    bar.Finish();
    if (++rewrites_in_a_row > kMaxRewritesInARow) {
      return fmt::format(
          "{}: {}, {} times in a row while writing from sector {} on: it may have lost writes "
          "it acknowledged, so the copy is incomplete; copy again once the target runs steadily",
          disk_name(), what, rewrites_in_a_row, range.dst_sector + flushed);
    }
    const uint64_t again_bytes = (segment_end - flushed) * kSectorBytes;
    rewritten_bytes += again_bytes;
    fmt::print(
        stderr, "aoe cp: {}: {}; writing {} again, which it may have lost\n", disk_name(), what,
        flushed == 0 ? fmt::format("the first {}", HumanBytes(again_bytes))
                     : fmt::format("the {} after the first {} (flushed before)",
                                   HumanBytes(again_bytes), HumanBytes(flushed * kSectorBytes)));
    next_sector = flushed;
    holes = HoleFinder(local.fd(), local.regular(), local.size_bytes());  // it only looks ahead
    trimmed_bytes = flushed_trimmed_bytes;
    done_bytes = flushed * kSectorBytes;
  } while (flushed < range.sectors);
  bar.Finish();
  return std::nullopt;
}

ParseResult<std::string> Copy::Verify() {
  const uint64_t disk_first = download ? range.src_sector : range.dst_sector;
  const uint64_t local_first = download ? range.dst_sector : range.src_sector;
  Progress bar(range.sectors * kSectorBytes * 2, progress);
  uint64_t done_bytes = 0;

  // The local side, read in order.
  Sha256 local_sum;
  {
    std::vector<std::byte> buf(1 << 20);
    for (uint64_t s = 0; s < range.sectors;) {
      const uint64_t n = std::min<uint64_t>(buf.size() / kSectorBytes, range.sectors - s);
      if (!PreadPadded(local.fd(), buf.data(), n * kSectorBytes,
                       (local_first + s) * kSectorBytes)) {
        return ParseError{Errno("cannot read back", local.path())};
      }
      local_sum.Update(ConstByteSpan(buf).first(n * kSectorBytes));
      s += n;
      done_bytes += n * kSectorBytes;
      bar.Update(done_bytes);
    }
  }

  // The disk side, read back in batches: requests complete out of order, but each lands at its
  // place in the batch buffer, which is hashed once the whole batch is in.
  Sha256 disk_sum;
  std::vector<std::byte> batch(kVerifyBatchSectors * kSectorBytes);
  for (uint64_t b = 0; b < range.sectors;) {
    const uint64_t batch_sectors = std::min(kVerifyBatchSectors, range.sectors - b);
    uint64_t next_sector = 0;
    auto next = [&]() -> std::optional<initiator::SyncDisk::IoOp> {
      if (next_sector >= batch_sectors) return std::nullopt;
      const uint64_t sectors = std::min(kChunkSectors, batch_sectors - next_sector);
      auto op = initiator::SyncDisk::IoOp{
          .kind = initiator::SyncDisk::IoOp::Kind::kRead,
          .lba = disk_first + b + next_sector,
          .buffer = ByteSpan(batch).subspan(next_sector * kSectorBytes, sectors * kSectorBytes)};
      next_sector += sectors;
      return op;
    };
    auto done = [&](const initiator::SyncDisk::IoOp& op) -> initiator::Outcome<void> {
      done_bytes += op.buffer.size();
      bar.Update(done_bytes);
      return {};
    };
    initiator::SyncDisk::IoOp failed;
    if (auto r = disk.Pipeline(depth, next, done, &failed); !r) {
      bar.Finish();
      return ParseError{DescribeFailure("reading back", disk_name(), failed, args.interfaces,
                                        r.error(),
                                        ExplainError(client, disk.address(), r.error()))};
    }
    disk_sum.Update(ConstByteSpan(batch).first(batch_sectors * kSectorBytes));
    b += batch_sectors;
  }
  bar.Finish();
  std::string local_hex = local_sum.HexFinal();
  std::string disk_hex = disk_sum.HexFinal();
  if (local_hex != disk_hex) {
    if (download) {
      // The bytes compared are the new file's, which is removed: the destination keeps its own.
      return ParseError{fmt::format(
          "verify failed: the copy of {} has SHA-256 {} but {} reads back {} (did it change "
          "during the copy?); {} was left as it was",
          disk_name(), local_hex, disk_name(), disk_hex, local.path())};
    }
    return ParseError{fmt::format("verify failed: SHA-256 of {} is {} but {} reads back {}",
                                  local.path(), local_hex, disk_name(), disk_hex)};
  }
  return local_hex;
}

}  // namespace

int CpMain(const std::vector<std::string>& arguments) {
  CLI::App app("", "aoe cp");
  SetUpCommand(app, kHelp);
  CpArgs args;
  AddInterfaceOption(app, args.interfaces);
  app.add_flag("--verify", args.verify,
               "Afterwards read both sides again and compare their SHA-256.\n"
               "Example: --verify");
  app.add_option("--depth", args.depth_text,
                 "Requests of 64 KiB kept in flight, 1-1024 (default 32).\n"
                 "Example: --depth 64")
      ->type_name("N");
  app.add_flag("--no-progress", args.no_progress,
               "No progress bar, even on a terminal. Example: --no-progress");
  app.add_option("--timeout", args.timeout_text,
                 "Seconds without any reply to a request before the copy fails\n"
                 "(dead target; default 30). Example: --timeout 5")
      ->type_name("S");
  app.add_option("--skip-sectors", args.skip_text,
                 "Start N 512-byte sectors into SRC (default 0).\n"
                 "Example: --skip-sectors 2048")
      ->type_name("N");
  app.add_option("--seek-sectors", args.seek_text,
                 "Start writing N sectors into DST (default 0); a file is then not\n"
                 "truncated. Example: --seek-sectors 2048")
      ->type_name("N");
  app.add_option("--count-sectors", args.count_text,
                 "Copy N sectors (default: to the end of SRC).\n"
                 "Example: --count-sectors 8192")
      ->type_name("N");
  app.add_flag("--sparse-upload", args.sparse_upload,
               "Upload: trim (ATA TRIM) the source's holes and all-zero 64 KiB chunks\n"
               "instead of writing them, where the disk reads trimmed sectors as\n"
               "zeroes; zeros are written otherwise. Example: --sparse-upload");
  app.add_flag("--json", args.json,
               "Print a JSON summary on stdout (bytes, time, paths and their state).\n"
               "Example: --json");
  app.add_flag("-v,--verbose", args.verbose,
               "Report path changes as they happen and each path's counters at the\n"
               "end, on stderr. Example: -v");
  app.add_option("SRC DST", args.files, "eSHELF.SLOT or a local path each.\nExample: e0.1 disk.img")
      ->type_name("");
  if (std::optional<int> status = ParseCommand(app, kName, arguments)) return *status;

  std::optional<uint64_t> depth = ParseUnsigned(args.depth_text);
  if (!depth || *depth == 0 || *depth > 1024) {
    return Fail(kName, kExitUsage,
                fmt::format("--depth '{}' is not a number from 1 to 1024; e.g. --depth 32",
                            args.depth_text));
  }
  ParseResult<Duration> timeout = ParseSeconds("--timeout", args.timeout_text, 24 * 3600.0);
  if (!timeout) return Fail(kName, kExitUsage, timeout.error().message);
  uint64_t sector_options[3] = {};
  const std::pair<const char*, const std::string*> kSectorOptions[3] = {
      {"--skip-sectors", &args.skip_text},
      {"--seek-sectors", &args.seek_text},
      {"--count-sectors", &args.count_text}};
  for (size_t i = 0; i < 3; ++i) {
    const auto& [option, text] = kSectorOptions[i];
    if (app.count(option) == 0) continue;
    std::optional<uint64_t> v = ParseUnsigned(*text);
    if (!v || *v > (UINT64_MAX >> 10)) {
      return Fail(
          kName, kExitUsage,
          fmt::format("{} '{}' is not a number of sectors; e.g. {} 2048", option, *text, option));
    }
    sector_options[i] = *v;
  }
  if (app.count("--count-sectors") > 0 && sector_options[2] == 0) {
    return Fail(kName, kExitUsage, "--count-sectors 0 copies nothing; give at least 1");
  }
  if (args.files.size() != 2) {
    return Fail(kName, kExitUsage,
                fmt::format("expected SRC and DST, got {} argument(s); e.g. aoe cp -i IFACE e0.1 "
                            "disk.img",
                            args.files.size()));
  }
  const bool src_disk = LooksLikeDiskName(args.files[0]);
  const bool dst_disk = LooksLikeDiskName(args.files[1]);
  if (src_disk == dst_disk) {
    return Fail(kName, kExitUsage,
                src_disk ? "both SRC and DST are AoE disks; copy through a local file"
                         : fmt::format("neither '{}' nor '{}' is an AoE disk; one of them must be "
                                       "eSHELF.SLOT such as e0.1",
                                       args.files[0], args.files[1]));
  }
  ParseResult<proto::DiskAddress> address = ParseDiskName(args.files[src_disk ? 0 : 1]);
  if (!address) return Fail(kName, kExitUsage, address.error().message);
  if (args.files[src_disk ? 1 : 0] == "-") {
    // Requests complete out of order and land at their offsets: no pipe can take that.
    return Fail(kName, kExitUsage,
                src_disk ? "'-' (standard output) is not supported: cp writes at offsets; give a "
                           "file name"
                         : "'-' (standard input) is not supported: cp reads at offsets; give a "
                           "file name");
  }
  if (args.interfaces.empty()) {
    return Fail(kName, kExitUsage,
                "no interface given; add -i IFACE for each interface that reaches the disk");
  }
  const std::string& local_path = args.files[src_disk ? 1 : 0];
  if (args.sparse_upload && src_disk) {
    return Fail(kName, kExitUsage,
                "--sparse-upload is for uploads (a file to a disk); downloads leave zeros as "
                "holes anyway");
  }

  if (std::optional<std::string> bad = src_disk ? LocalFile::DestinationProblem(local_path)
                                                : LocalFile::SourceProblem(local_path)) {
    return Fail(kName, kExitUsage, *bad);
  }
  // Open the local side first: a typo in a path should not cost a network round trip.
  ParseResult<LocalFile> local =
      src_disk
          ? LocalFile::OpenDestination(local_path, app.count("--seek-sectors") == 0, args.verify)
          : LocalFile::OpenSource(local_path);
  if (!local) return Fail(kName, kExitFailure, local.error().message);
  for (const std::string& leftover : local->removed_leftovers()) {
    fmt::print(stderr,
               "aoe cp: removed {}, the partial copy of an earlier download to {} that was "
               "killed before it could remove it\n",
               leftover, local_path);
  }
  // Until the copy starts, a failure leaves the local side as it was.
  auto fail_before_copy = [&](const std::string& message) {
    if (src_disk) local->Discard(/*wrote_nothing=*/true);
    return Fail(kName, kExitFailure, message);
  };

  Logger log(LogLevel::kInfo);
  initiator::ClientOptions options;
  options.initiator.dead_timeout = *timeout;
  if (args.verbose) options.initiator.logger = &log;
  PrintNotices(kName, options);
  auto client = initiator::Client::Open(args.interfaces, options);
  if (!client) return fail_before_copy(client.error().message);
  // An upload listens a little longer for other answers: it must not start writing to one of
  // two disks under one address (see below).
  auto disk = (*client)->OpenDisk(
      *address, src_disk ? Duration::zero() : std::chrono::milliseconds(kHearOthersMs));
  if (!disk) return fail_before_copy(ExplainError(**client, *address, disk.error()));
  // Another disk under the same address: which of the two answered first, and so is used, can
  // change from one run to the next. A download says so and copies one whole disk; an upload
  // could overwrite the wrong one, so it is refused.
  if (!src_disk && !disk->info().conflicting.empty()) {
    std::string others;
    for (const initiator::PathInfo& p : disk->info().conflicting) {
      others += (others.empty() ? "" : ", ") + p.target_mac.ToString();
    }
    return fail_before_copy(fmt::format(
        "{} is answered by another disk too ({}), so which one this copy would write to can "
        "change from run to run; nothing was written: give each disk its own shelf.slot",
        address->ToString(), others));
  }

  CopyRequest request;
  request.src_name = args.files[0];
  request.dst_name = args.files[1];
  if (src_disk) {
    request.src_sectors = disk->sector_count();
    // A block device bounds the copy; a file grows, and /dev/null takes anything.
    if (local->block_device()) request.dst_sectors = local->size_bytes() / kSectorBytes;
  } else {
    request.src_sectors = (local->size_bytes() + kSectorBytes - 1) / kSectorBytes;
    request.dst_sectors = disk->sector_count();
  }
  request.skip = sector_options[0];
  request.seek = sector_options[1];
  if (app.count("--count-sectors") > 0) request.count = sector_options[2];
  ParseResult<CopyRange> range = PlanCopy(request);
  if (!range) return fail_before_copy(range.error().message);

  Copy copy{.args = args,
            .client = **client,
            .disk = *disk,
            .local = std::move(*local),
            .range = *range,
            .download = src_disk,
            .depth = static_cast<size_t>(*depth),
            .progress = !args.no_progress && StderrIsTerminal(),
            .timeout = *timeout};
  if (args.sparse_upload && copy.disk.info().identify) {
    const proto::IdentifyFeatures features =
        proto::ReadIdentifyFeatures(copy.disk.info().identify->page);
    copy.trim_zeros = features.trim && features.trim_reads_zeroes;
    if (!copy.trim_zeros && !args.json) {
      fmt::print(stderr, "aoe cp: {} {}; --sparse-upload writes the zeros instead\n", args.files[1],
                 features.trim ? "does not read trimmed sectors as zeroes (an overlay export?)"
                               : "does not support TRIM");
    }
  }
  const auto start = std::chrono::steady_clock::now();
  std::optional<std::string> failed = src_disk ? copy.Download() : copy.Upload();
  const Duration elapsed = std::chrono::steady_clock::now() - start;
  if (failed) {
    if (args.verbose) PrintPathStats(kName, copy.disk.path_stats());
    return Fail(kName, kExitFailure, *failed);
  }
  const uint64_t bytes = range->sectors * kSectorBytes;
  const double seconds = std::chrono::duration<double>(elapsed).count();
  const double mb_per_s = seconds > 0 ? static_cast<double>(bytes) / seconds / 1e6 : 0;
  std::string summary =
      fmt::format("{} ({} bytes) copied from {} to {} in {:.2f} s, {:.1f} MB/s", HumanBytes(bytes),
                  bytes, args.files[0], args.files[1], seconds, mb_per_s);
  if (src_disk && copy.hole_bytes > 0) {
    summary += fmt::format("; {} of zeros left as holes", HumanBytes(copy.hole_bytes));
  }
  if (!src_disk && copy.trimmed_bytes > 0) {
    summary += fmt::format("; {} of zeros trimmed", HumanBytes(copy.trimmed_bytes));
  }
  if (!src_disk && copy.rewritten_bytes > 0) {
    summary += fmt::format("; {} written again after the target restarted",
                           HumanBytes(copy.rewritten_bytes));
  }
  if (!src_disk) summary += "; flushed";
  // A download's destination is replaced only after --verify: until then "copied to" would be
  // untrue, and is not printed.
  if (!args.json && !src_disk) fmt::print(stderr, "{}\n", summary);

  std::optional<std::string> digest;
  if (args.verify) {
    ParseResult<std::string> v = copy.Verify();
    if (!v) {
      if (args.verbose) PrintPathStats(kName, copy.disk.path_stats());
      if (src_disk) copy.local.Discard(/*wrote_nothing=*/false);  // the old file stays
      return Fail(kName, kExitFailure, v.error().message);
    }
    digest = *v;
    if (!args.json) fmt::print(stderr, "verified: both sides have SHA-256 {}\n", *digest);
  }
  // A download takes the destination's place only now: verified, when asked to be.
  if (src_disk) {
    if (std::optional<std::string> error = copy.local.Commit()) {
      return Fail(kName, kExitFailure, *error);
    }
    if (!args.json) fmt::print(stderr, "{}\n", summary);
  }
  if (args.verbose) PrintPathStats(kName, copy.disk.path_stats());
  if (args.json) {
    nlohmann::json j;
    j["source"] = args.files[0];
    j["destination"] = args.files[1];
    j["direction"] = src_disk ? "download" : "upload";
    j["bytes"] = bytes;
    j["seconds"] = seconds;
    j["mb_per_s"] = mb_per_s;
    j["hole_bytes"] = copy.hole_bytes;
    j["trimmed_bytes"] = copy.trimmed_bytes;
    j["rewritten_bytes"] = copy.rewritten_bytes;
    j["flushed"] = !src_disk;
    j["verified"] = digest.has_value();
    if (digest) j["sha256"] = *digest;
    j["paths"] = PathStatsJson(copy.disk.path_stats());
    fmt::print("{}\n", j.dump(2));
  }
  return kExitOk;
}

}  // namespace aoe::cli
