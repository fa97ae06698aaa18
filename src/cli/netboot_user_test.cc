#include "cli/netboot_user.h"

#include <gtest/gtest.h>
#include <linux/capability.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

namespace aoe::cli {
namespace {

namespace fs = std::filesystem;

netboot::NetbootOptions FullMode(std::string lease_file) {
  netboot::NetbootOptions o;
  o.interface_name = "vt0";
  o.given_mode = netboot::DhcpMode::kFull;
  o.lease_file = std::move(lease_file);
  return o;
}

// The user running the test, by number: a user PrepareNetbootForUser may give a directory to
// without root.
std::string Me() { return std::to_string(::getuid()); }

class TempDir {
 public:
  TempDir() {
    std::string pattern = (fs::temp_directory_path() / "netboot_user_test.XXXXXX").string();
    path_ = ::mkdtemp(pattern.data());
  }
  ~TempDir() { fs::remove_all(path_); }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

TEST(NetbootLeaseFile, FullModeDefaultsToVarLibAoekit) {
  EXPECT_EQ(NetbootLeaseFile(FullMode("")), "/var/lib/aoekit/netboot-vt0.leases");
  EXPECT_EQ(NetbootLeaseFile(FullMode("/srv/l/x.leases")), "/srv/l/x.leases");
}

TEST(NetbootLeaseFile, ProxyModeHasNone) {
  netboot::NetbootOptions o = FullMode("/srv/l/x.leases");
  o.given_mode = netboot::DhcpMode::kProxy;
  EXPECT_EQ(NetbootLeaseFile(o), "");
}

TEST(LeaseDirectory, IsTheParentOrTheCurrentDirectory) {
  EXPECT_EQ(LeaseDirectory("/var/lib/aoekit/netboot-br0.leases"), "/var/lib/aoekit");
  EXPECT_EQ(LeaseDirectory("/var/lib//aoekit/./x.leases"), "/var/lib/aoekit");
  EXPECT_EQ(LeaseDirectory("x.leases"), ".");
  EXPECT_EQ(LeaseDirectory("state/x.leases"), "state");
}

TEST(GiveLeaseDirectoryToUser, OnlyWhenTheUsersOrAoekits) {
  const std::vector<std::string> own = {"/var/lib/aoekit/", "/srv/state"};
  EXPECT_TRUE(GiveLeaseDirectoryToUser("/tmp/new", true, own));
  EXPECT_TRUE(GiveLeaseDirectoryToUser("/var/lib/aoekit", false, own));
  EXPECT_TRUE(GiveLeaseDirectoryToUser("/srv//state", false, own));
  // Shared or administrator-chosen directories that already exist are never chowned.
  EXPECT_FALSE(GiveLeaseDirectoryToUser("/tmp", false, own));
  EXPECT_FALSE(GiveLeaseDirectoryToUser("/etc", false, own));
  EXPECT_FALSE(GiveLeaseDirectoryToUser("/var/lib", false, own));
  EXPECT_FALSE(GiveLeaseDirectoryToUser("/var/lib/aoekit", false, {""}));
}

TEST(PrepareNetbootForUser, ProxyModeTouchesNothing) {
  netboot::NetbootOptions o = FullMode("/nonexistent/dir/x.leases");
  o.given_mode = netboot::DhcpMode::kProxy;
  PrivilegeDrop drop;
  EXPECT_EQ(PrepareNetbootForUser(o, {}, drop), "");
  EXPECT_TRUE(drop.writable_dirs.empty());
  EXPECT_FALSE(fs::exists("/nonexistent/dir"));
}

TEST(PrepareNetbootForUser, CreatesAMissingLeaseDirectoryAndGivesItToTheUser) {
  TempDir temp;
  const fs::path dir = temp.path() / "leases";
  PrivilegeDrop drop{.user = Me(), .keep_capabilities = {}, .writable_dirs = {"/srv/state"}};
  EXPECT_EQ(PrepareNetbootForUser(FullMode((dir / "x.leases").string()), {}, drop), "");
  EXPECT_TRUE(fs::is_directory(dir));
  struct stat st {};
  ASSERT_EQ(::stat(dir.c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, ::getuid());
  EXPECT_EQ(fs::status(dir).permissions() & fs::perms::all,
            fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec);
  EXPECT_EQ(drop.writable_dirs, (std::vector<std::string>{"/srv/state", dir.string()}));
}

TEST(PrepareNetbootForUser, GivesAnExistingDirectoryOnlyIfItIsTheUsersAlready) {
  TempDir temp;  // owned by the test's user
  const std::string lease_file = (temp.path() / "x.leases").string();
  PrivilegeDrop mine{.user = Me(), .keep_capabilities = {}, .writable_dirs = {}};
  EXPECT_EQ(PrepareNetbootForUser(FullMode(lease_file), {}, mine), "");
  EXPECT_EQ(mine.writable_dirs, (std::vector<std::string>{temp.path().string()}));
  std::optional<UserIds> nobody = LookUpUser("nobody");
  if (!nobody || nobody->uid == ::getuid()) GTEST_SKIP() << "needs a user 'nobody' other than me";
  PrivilegeDrop other{.user = "nobody", .keep_capabilities = {}, .writable_dirs = {}};
  EXPECT_EQ(PrepareNetbootForUser(FullMode(lease_file), {}, other), "");
  EXPECT_TRUE(other.writable_dirs.empty());
}

TEST(PrepareNetbootForUser, GivesAoekitsOwnDirectory) {
  TempDir temp;
  const std::string lease_file = (temp.path() / "x.leases").string();
  std::optional<UserIds> nobody = LookUpUser("nobody");
  if (!nobody || nobody->uid == ::getuid()) GTEST_SKIP() << "needs a user 'nobody' other than me";
  PrivilegeDrop drop{.user = "nobody", .keep_capabilities = {}, .writable_dirs = {}};
  // `aoe serve`'s state_dir is aoekit's own, however it is spelt; listed once.
  EXPECT_EQ(PrepareNetbootForUser(FullMode(lease_file), {temp.path().string() + "/"}, drop), "");
  EXPECT_EQ(drop.writable_dirs, (std::vector<std::string>{temp.path().string()}));
  EXPECT_EQ(PrepareNetbootForUser(FullMode(lease_file), {temp.path().string()}, drop), "");
  EXPECT_EQ(drop.writable_dirs, (std::vector<std::string>{temp.path().string()}));
}

TEST(PrepareNetbootForUser, MissingParentIsOneLine) {
  TempDir temp;
  const fs::path file = temp.path() / "a" / "b" / "x.leases";
  PrivilegeDrop drop{.user = Me(), .keep_capabilities = {}, .writable_dirs = {}};
  std::string error = PrepareNetbootForUser(FullMode(file.string()), {}, drop);
  EXPECT_EQ(error, "cannot create the lease directory " + (temp.path() / "a" / "b").string() +
                       ": No such file or directory; create its parent, or name a lease file "
                       "in an existing directory");
}

TEST(PrepareNetbootForUser, LeaseDirectoryThatIsAFileIsRefused) {
  TempDir temp;
  std::ofstream(temp.path() / "f") << "x";
  PrivilegeDrop drop{.user = Me(), .keep_capabilities = {}, .writable_dirs = {}};
  std::string error =
      PrepareNetbootForUser(FullMode((temp.path() / "f" / "x.leases").string()), {}, drop);
  EXPECT_EQ(error,
            "the lease file's directory " + (temp.path() / "f").string() + " is not a directory");
}

TEST(CheckNetbootAfterDrop, RewritesTheLeaseFileWithItsOwnContents) {
  TempDir temp;
  const fs::path file = temp.path() / "x.leases";
  std::ofstream(file) << "10.0.0.100 02:00:00:00:00:01 1700000000\n";
  netboot::NetbootOptions o = FullMode(file.string());
  o.tftp_root = temp.path().string();
  EXPECT_EQ(CheckNetbootAfterDrop(o, "me"), "");
  std::ifstream in(file);
  std::string line;
  std::getline(in, line);
  EXPECT_EQ(line, "10.0.0.100 02:00:00:00:00:01 1700000000");
  EXPECT_FALSE(fs::exists(file.string() + ".tmp"));
}

TEST(CheckNetbootAfterDrop, UnwritableLeaseDirectoryIsOneLine) {
  netboot::NetbootOptions o = FullMode("/nonexistent-aoekit-dir/x.leases");
  std::string error = CheckNetbootAfterDrop(o, "nobody");
  EXPECT_EQ(error,
            "user nobody cannot replace the lease file /nonexistent-aoekit-dir/x.leases: No such "
            "file or directory; its directory /nonexistent-aoekit-dir must be writable by "
            "nobody, and aoekit gives the user only a directory it creates, one the user owns or "
            "/var/lib/aoekit: name a lease file in a directory of its own (a missing one is "
            "created for nobody), e.g. /var/lib/aoekit/netboot-vt0.leases");
}

TEST(CheckNetbootAfterDrop, MissingTftpRootIsOneLine) {
  netboot::NetbootOptions o = FullMode("");
  o.given_mode = netboot::DhcpMode::kProxy;
  o.tftp_root = "/nonexistent-aoekit-tftp";
  EXPECT_EQ(CheckNetbootAfterDrop(o, "nobody"),
            "user nobody cannot search the TFTP root /nonexistent-aoekit-tftp: No such file or "
            "directory; make it readable by nobody (chmod o+rx), or choose another TFTP root");
}

TEST(KernelAllowsUnprivilegedBindToDevice, FromLinux57) {
  EXPECT_TRUE(KernelAllowsUnprivilegedBindToDevice("5.7.0"));
  EXPECT_TRUE(KernelAllowsUnprivilegedBindToDevice("6.1.0-18-amd64"));
  EXPECT_TRUE(KernelAllowsUnprivilegedBindToDevice("5.10.0-28-cloud-amd64"));
  EXPECT_FALSE(KernelAllowsUnprivilegedBindToDevice("5.6.19"));
  EXPECT_FALSE(KernelAllowsUnprivilegedBindToDevice("4.19.0-26-amd64"));
  EXPECT_FALSE(KernelAllowsUnprivilegedBindToDevice(""));
  EXPECT_FALSE(KernelAllowsUnprivilegedBindToDevice("garbage"));
  EXPECT_FALSE(KernelAllowsUnprivilegedBindToDevice("6"));
}

TEST(DescribeCapabilities, NamesWhatIsKept) {
  EXPECT_EQ(DescribeCapabilities({}), "no capabilities");
  EXPECT_EQ(DescribeCapabilities({CAP_NET_RAW}), "only cap_net_raw");
}

}  // namespace
}  // namespace aoe::cli
