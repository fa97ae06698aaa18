// aoe_pattern: writes an image file filled with the bench/pattern.h pattern, or checks a file
// against it. bench/run makes its images with it (fast, no random source needed), and
// bench/tools_test.sh uses it to prove that the load client's writes landed where they belong.
//
//   aoe_pattern write FILE --mib N --seed S     create FILE (N MiB) with the pattern
//   aoe_pattern check FILE --seed S             count the sectors that differ; prints JSON
//
// Exit status: 0 written / every sector matches, 1 I/O error or mismatches, 2 bad arguments.
#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <nlohmann/json.hpp>
#include <vector>

#include "base/result.h"
#include "base/unique_fd.h"
#include "bench/pattern.h"
#include "bench/tool_args.h"

namespace aoe::bench {
namespace {

constexpr size_t kChunkBytes = 1 << 20;

Result<void> WriteAll(int fd, ConstByteSpan data) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Errno();
    data = data.subspan(static_cast<size_t>(n));
  }
  return {};
}

Result<void> WritePatternFile(const std::string& path, uint64_t mib, uint64_t seed) {
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  if (!fd) return Errno();
  std::vector<std::byte> chunk(kChunkBytes);
  for (uint64_t i = 0; i < mib; ++i) {
    FillPattern(seed, i * (kChunkBytes / kSectorBytes), chunk);
    AOE_TRY(WriteAll(fd.get(), chunk));
  }
  if (::fsync(fd.get()) != 0) return Errno();
  return {};
}

struct CheckOutcome {
  uint64_t sectors = 0;
  uint64_t mismatches = 0;
  std::optional<uint64_t> first_bad_lba;
};

Result<CheckOutcome> CheckPatternFile(const std::string& path, uint64_t seed) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return Errno();
  std::vector<std::byte> chunk(kChunkBytes);
  CheckOutcome out;
  for (;;) {
    ssize_t n = ::read(fd.get(), chunk.data(), chunk.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Errno();
    if (n == 0) break;
    size_t whole = static_cast<size_t>(n) / kSectorBytes * kSectorBytes;
    // Short reads of a regular file only happen at its end; a partial last sector is ignored.
    for (size_t s = 0; s < whole / kSectorBytes; ++s) {
      ConstByteSpan sector = ConstByteSpan(chunk).subspan(s * kSectorBytes, kSectorBytes);
      if (CountPatternMismatches(seed, out.sectors + s, sector) != 0) {
        ++out.mismatches;
        if (!out.first_bad_lba) out.first_bad_lba = out.sectors + s;
      }
    }
    out.sectors += whole / kSectorBytes;
    if (whole != static_cast<size_t>(n)) break;
  }
  return out;
}

int Main(int argc, char** argv) {
  CLI::App app("", "aoe_pattern");
  app.description("Write or check an image filled with the benchmark's sector pattern.");
  app.require_subcommand(1);
  std::string path;
  uint64_t mib = 0, seed = 0;
  CLI::App* write = app.add_subcommand("write", "Create FILE of --mib MiB with the pattern.");
  CLI::App* check = app.add_subcommand("check", "Count the sectors of FILE that differ.");
  for (CLI::App* sub : {write, check}) {
    sub->add_option("file", path, "The image file.")->required();
    sub->add_option("--seed", seed, "Pattern seed.")->required();
  }
  write->add_option("--mib", mib, "Size in MiB.")->required()->check(CLI::Range(1, 1 << 20));
  if (std::optional<int> status = ParseArgs(app, argc, argv)) return *status;

  if (write->parsed()) {
    if (Result<void> r = WritePatternFile(path, mib, seed); !r) {
      return Fail(app, kExitFailure, fmt::format("cannot write {}: {}", path, r.error().message()));
    }
    return kExitOk;
  }
  Result<CheckOutcome> out = CheckPatternFile(path, seed);
  if (!out)
    return Fail(app, kExitFailure, fmt::format("cannot read {}: {}", path, out.error().message()));
  nlohmann::json j{{"tool", "aoe_pattern"},
                   {"file", path},
                   {"seed", seed},
                   {"sectors", out->sectors},
                   {"mismatches", out->mismatches},
                   {"first_bad_lba",
                    out->first_bad_lba ? nlohmann::json(*out->first_bad_lba) : nlohmann::json()}};
  fmt::print("{}\n", j.dump());
  return out->mismatches == 0 ? kExitOk : kExitFailure;
}

}  // namespace
}  // namespace aoe::bench

int main(int argc, char** argv) { return aoe::bench::Main(argc, argv); }
