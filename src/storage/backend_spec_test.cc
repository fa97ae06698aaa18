#include "storage/backend_spec.h"

#include <gtest/gtest.h>

namespace aoe {
namespace {

TEST(BackendSpec, APlainTextIsAPath) {
  for (std::string_view path : {"/srv/disk.img", "/dev/sdb", "disk.img", "/srv/a:b.img", "x:y"}) {
    BackendSpec spec = ParseBackendSpec(path);
    EXPECT_EQ(spec.kind, BackendSpec::Kind::kFile) << path;
    EXPECT_EQ(spec.path, path);
    EXPECT_EQ(spec.ToString(), path);
  }
}

TEST(BackendSpec, FileSchemeIsOptionalAndKeptOnlyWhereNeeded) {
  BackendSpec spec = ParseBackendSpec("file:/srv/disk.img");
  EXPECT_EQ(spec.path, "/srv/disk.img");
  EXPECT_EQ(spec.ToString(), "/srv/disk.img");

  BackendSpec odd = ParseBackendSpec("file:file:x");
  EXPECT_EQ(odd.path, "file:x");
  EXPECT_EQ(odd.ToString(), "file:file:x") << "printing must round-trip";
  EXPECT_EQ(ParseBackendSpec(odd.ToString()), odd);
}

}  // namespace
}  // namespace aoe
