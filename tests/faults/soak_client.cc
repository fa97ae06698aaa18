// faults_soak_client: random mixed reads and writes against one AoE disk, checking every byte.
//
//   faults_soak_client -i IFACE -t e1.1 --seconds 60 [--seed N] [--depth N]
//                      [--dead-timeout SECONDS] [--max-sectors N] [--no-fill]
//
// Used by the fault tests (tests/faults/*.sh) and scripts/soak: they break the link or the
// target while this runs, and this proves that nothing written was lost or corrupted.
//
// How it verifies: the whole disk is first written with seeded random data (unless --no-fill,
// then read once as the baseline), and an in-memory copy ("shadow") is kept. The disk is cut
// into chunks of --max-sectors; each operation touches part of one chunk, and a chunk is never
// touched by two operations in flight at once, so the expected contents are always defined.
// A write updates the shadow when it is acknowledged; a read is compared with the shadow
// sector by sector. At the end the whole disk is read back and compared once more.
//
// Output: progress lines, then one summary line
//   soak: <ops> ops (<reads> reads, <writes> writes, <flushes> flushes), <MiB> MiB,
//         <n> mismatched sectors, <r> retransmits, <t> timeouts, <u> unmatched replies
// (unmatched replies: duplicates and replies to frames already completed, which the initiator
// drops).
// Exit status: 0 when every operation succeeded and no sector mismatched, 1 otherwise,
// 2 for bad arguments.

#include <chrono>
#include <cstdio>
#include <cstring>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "initiator/client.h"

namespace {

using aoe::ByteSpan;
using aoe::initiator::Client;
using aoe::initiator::ClientOptions;
using aoe::initiator::Outcome;
using aoe::initiator::SyncDisk;
using Clock = std::chrono::steady_clock;
using IoOp = SyncDisk::IoOp;

constexpr size_t kSector = 512;

struct Args {
  std::string interface;
  uint16_t shelf = 0;
  uint8_t slot = 0;
  bool have_target = false;
  double seconds = 10;
  uint64_t seed = 1;
  size_t depth = 16;
  unsigned dead_timeout_s = 60;
  uint64_t max_sectors = 128;  // chunk size: 64 KiB
  bool fill = true;
  unsigned min_rto_ms = 0;  // 0: the initiator's default
};

void Usage() {
  std::fprintf(stderr,
               "usage: faults_soak_client -i IFACE -t eSHELF.SLOT [--seconds N] [--seed N] "
               "[--depth N] [--dead-timeout SECONDS] [--max-sectors N] [--min-rto-ms N] "
               "[--no-fill]\n");
}

std::optional<Args> ParseArgs(int argc, char** argv) {
  Args args;
  for (int i = 1; i < argc; ++i) {
    std::string key = argv[i];
    if (key == "--no-fill") {
      args.fill = false;
      continue;
    }
    if (i + 1 >= argc) return std::nullopt;
    std::string value = argv[++i];
    try {
      if (key == "-i") {
        args.interface = value;
      } else if (key == "-t") {
        unsigned shelf = 0, slot = 0;
        if (std::sscanf(value.c_str(), "e%u.%u", &shelf, &slot) != 2 || shelf > 65534 ||
            slot > 254) {
          return std::nullopt;
        }
        args.shelf = static_cast<uint16_t>(shelf);
        args.slot = static_cast<uint8_t>(slot);
        args.have_target = true;
      } else if (key == "--seconds") {
        args.seconds = std::stod(value);
      } else if (key == "--seed") {
        args.seed = std::stoull(value);
      } else if (key == "--depth") {
        args.depth = std::stoul(value);
      } else if (key == "--dead-timeout") {
        args.dead_timeout_s = static_cast<unsigned>(std::stoul(value));
      } else if (key == "--max-sectors") {
        args.max_sectors = std::stoull(value);
      } else if (key == "--min-rto-ms") {
        args.min_rto_ms = static_cast<unsigned>(std::stoul(value));
      } else {
        return std::nullopt;
      }
    } catch (const std::exception&) {
      return std::nullopt;
    }
  }
  if (args.interface.empty() || !args.have_target || args.depth == 0 || args.max_sectors == 0) {
    return std::nullopt;
  }
  return args;
}

class Soak {
 public:
  Soak(const Args& args, Client& client, SyncDisk disk)
      : args_(args),
        client_(client),
        disk_(disk),
        rng_(args.seed),
        sectors_(disk.sector_count()),
        chunk_sectors_(std::min(args.max_sectors, sectors_)),
        chunks_(sectors_ / chunk_sectors_),
        shadow_(sectors_ * kSector),
        previous_(sectors_ * kSector),
        busy_(chunks_, false),
        buffers_(args.depth, std::vector<std::byte>(chunk_sectors_ * kSector)) {
    for (size_t i = 0; i < buffers_.size(); ++i) free_buffers_.push_back(i);
  }

  // Puts the disk into a known state: seeded random data, or (--no-fill) whatever it holds.
  bool Prepare() {
    if (args_.fill) {
      for (auto& b : shadow_) b = std::byte(rng_() & 0xff);
    }
    uint64_t next_lba = 0;
    Outcome<void> r = disk_.Pipeline(
        args_.depth,
        [&]() -> std::optional<IoOp> {
          if (next_lba >= sectors_) return std::nullopt;
          uint64_t count = std::min(chunk_sectors_, sectors_ - next_lba);
          IoOp op;
          op.kind = args_.fill ? IoOp::Kind::kWrite : IoOp::Kind::kRead;
          op.lba = next_lba;
          op.buffer = ByteSpan(shadow_.data() + next_lba * kSector, count * kSector);
          next_lba += count;
          return op;
        },
        nullptr);
    if (!r) {
      std::fprintf(stderr, "soak: preparing the disk failed: %s\n", r.error().message.c_str());
      return false;
    }
    previous_ = shadow_;
    return true;
  }

  // Random operations until the deadline.
  bool Run(Clock::time_point deadline) {
    auto next_report = Clock::now() + std::chrono::seconds(10);
    Outcome<void> r = disk_.Pipeline(
        args_.depth,
        [&]() -> std::optional<IoOp> {
          auto now = Clock::now();
          if (now >= deadline) return std::nullopt;
          if (now >= next_report) {
            next_report = now + std::chrono::seconds(10);
            Report("progress");
          }
          return NextOp();
        },
        [&](const IoOp& op) { return Done(op); });
    if (!r) {
      std::fprintf(stderr, "soak: I/O failed: %s\n", r.error().message.c_str());
      return false;
    }
    return true;
  }

  // Reads the whole disk back and compares it with the shadow.
  bool VerifyAll() {
    const uint64_t before = mismatched_sectors_;
    uint64_t next_lba = 0;
    // Reads complete in any order (a lost frame holds its request back), so each takes a
    // buffer from the free list and gives it back when done.
    Outcome<void> r = disk_.Pipeline(
        args_.depth,
        [&]() -> std::optional<IoOp> {
          if (next_lba >= sectors_) return std::nullopt;
          uint64_t count = std::min(chunk_sectors_, sectors_ - next_lba);
          const size_t buffer = free_buffers_.back();
          free_buffers_.pop_back();
          IoOp op;
          op.kind = IoOp::Kind::kRead;
          op.lba = next_lba;
          op.buffer = ByteSpan(buffers_[buffer].data(), count * kSector);
          op.cookie = buffer;
          next_lba += count;
          return op;
        },
        [&](const IoOp& op) {
          Compare(op.lba, op.buffer);
          free_buffers_.push_back(static_cast<size_t>(op.cookie));
          return Outcome<void>{};
        });
    if (!r) {
      std::fprintf(stderr, "soak: final read-back failed: %s\n", r.error().message.c_str());
      return false;
    }
    // Mismatches seen only by the random reads but not here were wrong replies, not wrong data
    // on the disk.
    std::printf("soak: final read-back of the whole disk: %llu mismatched sectors\n",
                static_cast<unsigned long long>(mismatched_sectors_ - before));
    return true;
  }

  void Report(const char* what) const {
    uint64_t retransmits = 0, timeouts = 0;
    for (const auto& path : disk_.path_stats()) {
      retransmits += path.retransmits;
      timeouts += path.timeouts;
    }
    std::printf(
        "%s: %llu ops (%llu reads, %llu writes, %llu flushes), %.1f MiB, %llu mismatched "
        "sectors, %llu retransmits, %llu timeouts, %llu unmatched replies\n",
        what, static_cast<unsigned long long>(reads_ + writes_ + flushes_),
        static_cast<unsigned long long>(reads_), static_cast<unsigned long long>(writes_),
        static_cast<unsigned long long>(flushes_), static_cast<double>(bytes_) / (1 << 20),
        static_cast<unsigned long long>(mismatched_sectors_),
        static_cast<unsigned long long>(retransmits), static_cast<unsigned long long>(timeouts),
        static_cast<unsigned long long>(client_.initiator().unmatched_replies()));
    std::fflush(stdout);
  }

  uint64_t mismatched_sectors() const { return mismatched_sectors_; }

 private:
  // The cookie of an operation: its buffer index and its chunk, so Done() can free both.
  static uint64_t Cookie(size_t buffer, uint64_t chunk) { return (chunk << 16) | buffer; }

  std::optional<IoOp> NextOp() {
    if (free_buffers_.empty()) return std::nullopt;  // cannot happen: at most depth in flight
    // 1 in 64 operations is a FLUSH; it touches no chunk.
    if (rng_() % 64 == 0) {
      ++flushes_;
      IoOp op;
      op.kind = IoOp::Kind::kFlush;
      op.cookie = UINT64_MAX;
      return op;
    }
    // A random chunk that no operation in flight touches (there are far more chunks than
    // operations in flight, so a few draws find one).
    uint64_t chunk = 0;
    do {
      chunk = rng_() % chunks_;
    } while (busy_[chunk]);
    busy_[chunk] = true;
    const uint64_t count = 1 + rng_() % chunk_sectors_;
    const uint64_t lba = chunk * chunk_sectors_ + rng_() % (chunk_sectors_ - count + 1);
    const size_t buffer = free_buffers_.back();
    free_buffers_.pop_back();

    IoOp op;
    op.lba = lba;
    op.buffer = ByteSpan(buffers_[buffer].data(), count * kSector);
    op.cookie = Cookie(buffer, chunk);
    if (rng_() % 2 == 0) {
      op.kind = IoOp::Kind::kWrite;
      for (auto& b : op.buffer) b = std::byte(rng_() & 0xff);
    } else {
      op.kind = IoOp::Kind::kRead;
    }
    return op;
  }

  Outcome<void> Done(const IoOp& op) {
    if (op.kind == IoOp::Kind::kFlush) return {};
    bytes_ += op.buffer.size();
    if (op.kind == IoOp::Kind::kWrite) {
      ++writes_;
      const size_t at = op.lba * kSector;
      std::memcpy(previous_.data() + at, shadow_.data() + at, op.buffer.size());
      std::memcpy(shadow_.data() + at, op.buffer.data(), op.buffer.size());
    } else {
      ++reads_;
      Compare(op.lba, op.buffer);
    }
    busy_[op.cookie >> 16] = false;
    free_buffers_.push_back(static_cast<size_t>(op.cookie & 0xffff));
    return {};
  }

  void Compare(uint64_t lba, ByteSpan got) {
    for (size_t offset = 0; offset < got.size(); offset += kSector) {
      const std::byte* want = shadow_.data() + lba * kSector + offset;
      if (std::memcmp(want, got.data() + offset, kSector) != 0) {
        if (mismatched_sectors_ < 10) {
          // Telling a lost or overtaken write (the disk still holds what the sector held before
          // the last acknowledged write) from corruption points at the guilty layer.
          const std::byte* before = previous_.data() + lba * kSector + offset;
          const bool stale = std::memcmp(before, got.data() + offset, kSector) == 0;
          std::fprintf(stderr, "soak: MISMATCH at sector %llu: %s\n",
                       static_cast<unsigned long long>(lba + offset / kSector),
                       stale ? "holds the data from before the last acknowledged write"
                             : "holds data never written there last");
        }
        ++mismatched_sectors_;
      }
    }
  }

  const Args& args_;
  Client& client_;
  SyncDisk disk_;
  std::mt19937_64 rng_;
  const uint64_t sectors_;
  const uint64_t chunk_sectors_;
  const uint64_t chunks_;
  std::vector<std::byte> shadow_;
  std::vector<std::byte> previous_;  // each sector's contents before its last write
  std::vector<bool> busy_;
  std::vector<std::vector<std::byte>> buffers_;
  std::vector<size_t> free_buffers_;
  uint64_t reads_ = 0, writes_ = 0, flushes_ = 0, bytes_ = 0, mismatched_sectors_ = 0;
};

}  // namespace

int main(int argc, char** argv) {
  std::optional<Args> args = ParseArgs(argc, argv);
  if (!args) {
    Usage();
    return 2;
  }
  ClientOptions options;
  options.initiator.dead_timeout = std::chrono::seconds(args->dead_timeout_s);
  if (args->min_rto_ms > 0) {
    options.initiator.flow.min_rto = std::chrono::milliseconds(args->min_rto_ms);
  }
  // Opening may need to outlast a target restart as well.
  options.open_timeout = std::chrono::seconds(10);
  auto client = Client::Open({args->interface}, options);
  if (!client) {
    std::fprintf(stderr, "soak: cannot open %s: %s\n", args->interface.c_str(),
                 client.error().message.c_str());
    return 1;
  }
  auto disk = (*client)->OpenDisk(args->shelf, args->slot);
  if (!disk) {
    std::fprintf(stderr, "soak: %s\n", disk.error().message.c_str());
    return 1;
  }
  if (disk->sector_count() < args->max_sectors * args->depth * 4) {
    std::fprintf(stderr, "soak: the disk is too small for --depth %zu of --max-sectors %llu\n",
                 args->depth, static_cast<unsigned long long>(args->max_sectors));
    return 2;
  }
  Soak soak(*args, **client, *disk);
  bool ok = soak.Prepare();
  std::printf("soak: disk of %llu sectors prepared\n",
              static_cast<unsigned long long>(disk->sector_count()));
  std::fflush(stdout);
  auto deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                     std::chrono::duration<double>(args->seconds));
  ok = ok && soak.Run(deadline);
  ok = ok && soak.VerifyAll();
  soak.Report("soak");
  return ok && soak.mismatched_sectors() == 0 ? 0 : 1;
}
