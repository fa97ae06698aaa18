// Replays a fuzz target over kept inputs without libFuzzer, so any compiler can build it and
// ctest can run it: `<target>_replay DIR_OR_FILE...` feeds every regular file (directories are
// walked recursively, in sorted order for reproducible logs) to LLVMFuzzerTestOneInput once.
// An invariant failure aborts inside the target. Exit 1 when an argument does not exist or when
// no input at all was found: an empty replay would pass silently after a corpus move.
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <system_error>
#include <vector>

#include "fuzz_check.h"

namespace fs = std::filesystem;

namespace {

bool RunFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    std::fprintf(stderr, "cannot read %s\n", path.c_str());
    return false;
  }
  std::vector<unsigned char> bytes((std::istreambuf_iterator<char>(in)),
                                   std::istreambuf_iterator<char>());
  // A copy sized exactly like the input, so ASan (when on) sees reads one past the end.
  std::vector<unsigned char> exact(bytes.begin(), bytes.end());
  LLVMFuzzerTestOneInput(exact.data(), exact.size());
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  size_t inputs = 0;
  bool ok = true;
  for (int i = 1; i < argc; ++i) {
    fs::path root(argv[i]);
    std::error_code ec;
    if (fs::is_regular_file(root, ec)) {
      ok = RunFile(root) && ok;
      ++inputs;
      continue;
    }
    if (!fs::is_directory(root, ec)) {
      std::fprintf(stderr, "%s: no such file or directory\n", argv[i]);
      ok = false;
      continue;
    }
    std::vector<fs::path> files;
    for (const auto& entry : fs::recursive_directory_iterator(root)) {
      // README files document a folder; they are not inputs.
      if (entry.is_regular_file() && entry.path().filename() != "README.md") {
        files.push_back(entry.path());
      }
    }
    std::sort(files.begin(), files.end());
    for (const auto& file : files) ok = RunFile(file) && ok;
    inputs += files.size();
    std::printf("%s: %zu inputs\n", argv[i], files.size());
  }
  if (inputs == 0) {
    std::fprintf(stderr, "no inputs found\n");
    return 1;
  }
  std::printf("replayed %zu inputs\n", inputs);
  return ok ? 0 : 1;
}
