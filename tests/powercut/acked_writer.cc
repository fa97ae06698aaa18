// powercut_acked_writer: writes to an AoE disk without ever sending FLUSH, and records which
// writes the target acknowledged; then checks an image file for every acknowledged write.
//
//   powercut_acked_writer write -i IFACE -t eSHELF.SLOT --acked FILE [--chunks N]
//                               [--chunk-sectors N] [--depth N] [--flush-first]
//   powercut_acked_writer check IMAGE --acked FILE [--chunk-sectors N]
//
// write: chunk k covers sectors [k * chunk-sectors, (k + 1) * chunk-sectors) and is written
// once, so no two writes overlap; every sector is stamped with its chunk and sector number.
// When the target acknowledges chunk k, the line "k" is appended to FILE and flushed (FILE lives
// outside the storage under test, so it survives the power cut). Stops after --chunks chunks
// (default: the whole disk) or at the first failed write (after a power cut the target's
// storage is gone). With --flush-first it sends one FLUSH before the first write (an initiator
// that flushes, which `durability = auto` serves from the page cache), and none after.
// Exit status: 0 all written, 1 a write failed, 2 bad arguments.
//
// check: reads IMAGE (the image after the cut and a remount) and compares every chunk listed
// in FILE with its stamp. Prints "N of M acknowledged writes survived" and, for the first few
// lost chunks, what they hold. Exit status: 0 every acknowledged write survived, 1 otherwise.
//
// This is what a Linux aoe.ko client does (it never sends FLUSH) reduced to a checkable form:
// `durability = auto` (the default) and `sync` promise that each of these writes survives a
// power cut of the target host as soon as it is acknowledged.

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include "initiator/client.h"

namespace {

using aoe::ByteSpan;
using aoe::initiator::Client;
using aoe::initiator::ClientOptions;
using aoe::initiator::Outcome;
using aoe::initiator::SyncDisk;
using IoOp = SyncDisk::IoOp;

constexpr size_t kSector = 512;

struct Args {
  std::string mode;
  std::string interface;
  std::string image;
  std::string acked;
  unsigned shelf = 0, slot = 0;
  bool have_target = false;
  uint64_t chunks = 0;  // 0: as many as fit
  uint64_t chunk_sectors = 16;
  size_t depth = 8;
  bool flush_first = false;
};

// The stamp of one sector: its chunk and sector number in text, then bytes derived from both,
// so that a sector from another chunk, another place or an older write never matches.
void Stamp(uint64_t chunk, uint64_t sector, std::byte* out) {
  char head[64];
  int n = std::snprintf(head, sizeof head, "acked-writer chunk %llu sector %llu\n",
                        static_cast<unsigned long long>(chunk),
                        static_cast<unsigned long long>(sector));
  std::memcpy(out, head, static_cast<size_t>(n));
  uint64_t x = chunk * 0x9e3779b97f4a7c15ULL ^ sector;
  for (size_t i = static_cast<size_t>(n); i < kSector; ++i) {
    x = x * 6364136223846793005ULL + 1442695040888963407ULL;
    out[i] = std::byte(x >> 56);
  }
}

std::optional<Args> Parse(int argc, char** argv) {
  if (argc < 2) return std::nullopt;
  Args args;
  args.mode = argv[1];
  int i = 2;
  if (args.mode == "check") {
    if (argc < 3) return std::nullopt;
    args.image = argv[2];
    i = 3;
  } else if (args.mode != "write") {
    return std::nullopt;
  }
  for (; i < argc; i += 2) {
    std::string key = argv[i];
    if (key == "--flush-first") {
      args.flush_first = true;
      --i;
      continue;
    }
    if (i + 1 >= argc) return std::nullopt;
    std::string value = argv[i + 1];
    try {
      if (key == "-i") {
        args.interface = value;
      } else if (key == "-t") {
        if (std::sscanf(value.c_str(), "e%u.%u", &args.shelf, &args.slot) != 2) return std::nullopt;
        args.have_target = true;
      } else if (key == "--acked") {
        args.acked = value;
      } else if (key == "--chunks") {
        args.chunks = std::stoull(value);
      } else if (key == "--chunk-sectors") {
        args.chunk_sectors = std::stoull(value);
      } else if (key == "--depth") {
        args.depth = std::stoul(value);
      } else {
        return std::nullopt;
      }
    } catch (const std::exception&) {
      return std::nullopt;
    }
  }
  if (i != argc || args.acked.empty() || args.chunk_sectors == 0 || args.depth == 0) {
    return std::nullopt;
  }
  if (args.mode == "write" && (args.interface.empty() || !args.have_target)) return std::nullopt;
  return args;
}

int Write(const Args& args) {
  std::FILE* acked = std::fopen(args.acked.c_str(), "a");
  if (acked == nullptr) {
    std::fprintf(stderr, "acked_writer: cannot open %s\n", args.acked.c_str());
    return 2;
  }
  ClientOptions options;
  // The target dies with its storage at the cut: give up soon after instead of retrying.
  options.initiator.dead_timeout = std::chrono::seconds(5);
  auto client = Client::Open({args.interface}, options);
  if (!client) {
    std::fprintf(stderr, "acked_writer: %s\n", client.error().message.c_str());
    return 1;
  }
  auto disk =
      (*client)->OpenDisk(static_cast<uint16_t>(args.shelf), static_cast<uint8_t>(args.slot));
  if (!disk) {
    std::fprintf(stderr, "acked_writer: %s\n", disk.error().message.c_str());
    return 1;
  }
  if (args.flush_first) {
    if (auto flushed = disk->Flush(); !flushed) {
      std::fprintf(stderr, "acked_writer: the first FLUSH failed: %s\n",
                   flushed.error().message.c_str());
      return 1;
    }
  }
  uint64_t chunks = disk->sector_count() / args.chunk_sectors;
  if (args.chunks != 0 && args.chunks < chunks) chunks = args.chunks;
  const size_t chunk_bytes = args.chunk_sectors * kSector;
  std::vector<std::vector<std::byte>> buffers(args.depth, std::vector<std::byte>(chunk_bytes));
  std::vector<size_t> free_buffers;
  for (size_t b = 0; b < buffers.size(); ++b) free_buffers.push_back(b);

  uint64_t next = 0, done = 0;
  Outcome<void> r = disk->Pipeline(
      args.depth,
      [&]() -> std::optional<IoOp> {
        if (next >= chunks || free_buffers.empty()) return std::nullopt;
        const size_t b = free_buffers.back();
        free_buffers.pop_back();
        const uint64_t lba = next * args.chunk_sectors;
        for (uint64_t s = 0; s < args.chunk_sectors; ++s) {
          Stamp(next, lba + s, buffers[b].data() + s * kSector);
        }
        IoOp op;
        op.kind = IoOp::Kind::kWrite;
        op.lba = lba;
        op.buffer = ByteSpan(buffers[b].data(), chunk_bytes);
        op.cookie = (next << 16) | b;
        ++next;
        return op;
      },
      [&](const IoOp& op) -> Outcome<void> {
        std::fprintf(acked, "%llu\n", static_cast<unsigned long long>(op.cookie >> 16));
        std::fflush(acked);
        ++done;
        free_buffers.push_back(static_cast<size_t>(op.cookie & 0xffff));
        return {};
      });
  std::fclose(acked);
  std::printf("acked_writer: %llu of %llu writes acknowledged, %s\n",
              static_cast<unsigned long long>(done), static_cast<unsigned long long>(chunks),
              args.flush_first ? "one FLUSH before them" : "no FLUSH sent");
  if (!r) {
    std::printf("acked_writer: stopped: %s\n", r.error().message.c_str());
    return 1;
  }
  return 0;
}

int Check(const Args& args) {
  std::ifstream acked(args.acked);
  std::ifstream image(args.image, std::ios::binary);
  if (!acked || !image) {
    std::fprintf(stderr, "acked_writer: cannot read %s or %s\n", args.acked.c_str(),
                 args.image.c_str());
    return 2;
  }
  const size_t chunk_bytes = args.chunk_sectors * kSector;
  std::vector<std::byte> want(chunk_bytes), got(chunk_bytes);
  uint64_t chunk = 0, total = 0, lost = 0;
  while (acked >> chunk) {
    ++total;
    const uint64_t lba = chunk * args.chunk_sectors;
    for (uint64_t s = 0; s < args.chunk_sectors; ++s) Stamp(chunk, lba + s, &want[s * kSector]);
    std::fill(got.begin(), got.end(), std::byte{0});
    image.clear();
    image.seekg(static_cast<std::streamoff>(lba * kSector));
    image.read(reinterpret_cast<char*>(got.data()), static_cast<std::streamsize>(chunk_bytes));
    if (got == want) continue;
    if (++lost <= 3) {
      bool zeros =
          std::all_of(got.begin(), got.end(), [](std::byte b) { return b == std::byte{0}; });
      std::printf("acked_writer: LOST chunk %llu (sectors %llu-%llu): %s\n",
                  static_cast<unsigned long long>(chunk), static_cast<unsigned long long>(lba),
                  static_cast<unsigned long long>(lba + args.chunk_sectors - 1),
                  zeros ? "zeros" : "other data");
    }
  }
  std::printf("acked_writer: %llu of %llu acknowledged writes survived\n",
              static_cast<unsigned long long>(total - lost),
              static_cast<unsigned long long>(total));
  return lost == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  std::optional<Args> args = Parse(argc, argv);
  if (!args) {
    std::fprintf(stderr,
                 "usage: powercut_acked_writer write -i IFACE -t eS.S --acked FILE [--chunks N] "
                 "[--chunk-sectors N] [--depth N] [--flush-first]\n"
                 "       powercut_acked_writer check IMAGE --acked FILE [--chunk-sectors N]\n");
    return 2;
  }
  return args->mode == "write" ? Write(*args) : Check(*args);
}
