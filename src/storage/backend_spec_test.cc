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

TEST(BackendSpec, RbdSchemeNamesPoolImageAndSnapshot) {
  BackendSpec spec = ParseBackendSpec("rbd:pool1/disk");
  EXPECT_EQ(spec.kind, BackendSpec::Kind::kRbd);
  EXPECT_EQ(spec.pool, "pool1");
  EXPECT_EQ(spec.image, "disk");
  EXPECT_TRUE(spec.snapshot.empty());
  EXPECT_FALSE(spec.is_snapshot());
  EXPECT_EQ(spec.ToString(), "rbd:pool1/disk");
  EXPECT_EQ(BackendSpecProblem(spec), "");

  BackendSpec snap = ParseBackendSpec("rbd:pool1/disk@monday");
  EXPECT_EQ(snap.image, "disk");
  EXPECT_EQ(snap.snapshot, "monday");
  EXPECT_TRUE(snap.is_snapshot());
  EXPECT_EQ(ParseBackendSpec(snap.ToString()), snap) << "printing must round-trip";
}

TEST(BackendSpec, MalformedRbdSpecsAreExplained) {
  for (std::string_view text : {"rbd:", "rbd:disk", "rbd:/disk", "rbd:pool/", "rbd:pool/a/b",
                                "rbd:pool/disk@", "rbd:pool/disk@a@b"}) {
    EXPECT_NE(BackendSpecProblem(ParseBackendSpec(text)).find("rbd:POOL/IMAGE"), std::string::npos)
        << text;
  }
}

TEST(BackendSpec, CephOptionsOnAFileAreRefused) {
  BackendSpec spec = ParseBackendSpec("/srv/disk.img");
  spec.ceph.id = "aoe";
  EXPECT_NE(BackendSpecProblem(spec).find("rbd: images only"), std::string::npos);
  EXPECT_NE(BackendSpecProblem(ParseBackendSpec("")).find("no path"), std::string::npos);
}

TEST(BackendSpec, AFileWhosePathStartsWithRbdNeedsTheFileScheme) {
  BackendSpec spec = ParseBackendSpec("file:rbd:x");
  EXPECT_EQ(spec.kind, BackendSpec::Kind::kFile);
  EXPECT_EQ(spec.ToString(), "file:rbd:x");
}

}  // namespace
}  // namespace aoe
