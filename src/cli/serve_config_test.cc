#include "cli/serve_config.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>

namespace aoe::cli {
namespace {

MacAddress Mac(std::string_view text) { return *MacAddress::Parse(text); }

// Parses `text` and expects it to fail with exactly `message`.
void ExpectError(std::string_view text, std::string_view message) {
  ParseResult<ServeConfig> config = ParseServeToml(text, "serve.toml");
  ASSERT_FALSE(config) << "parsed:\n" << text;
  EXPECT_EQ(config.error(), message);
}

constexpr std::string_view kMinimal = R"(
interfaces = ["veth0"]
[[export]]
target = "e0.1"
path = "/srv/disk.img"
)";

TEST(ParseServeToml, MinimalFileGetsDefaults) {
  ParseResult<ServeConfig> config = ParseServeToml(kMinimal, "serve.toml");
  ASSERT_TRUE(config) << config.error();
  const target::ServerOptions& s = config->server;
  EXPECT_EQ(s.interfaces, std::vector<std::string>{"veth0"});
  EXPECT_EQ(s.state_dir, "/var/lib/aoekit");
  EXPECT_EQ(s.buffer_count, 64);
  EXPECT_TRUE(s.announce);
  EXPECT_EQ(config->log_level, LogLevel::kInfo);
  ASSERT_EQ(s.exports.size(), 1u);
  EXPECT_EQ(s.exports[0].name(), "e0.1");
  EXPECT_EQ(s.exports[0].path, "/srv/disk.img");
  EXPECT_FALSE(s.exports[0].read_only);
  EXPECT_FALSE(s.exports[0].sync);
  EXPECT_FALSE(s.exports[0].direct);
}

TEST(ParseServeToml, EveryKey) {
  ParseResult<ServeConfig> config = ParseServeToml(R"(
interfaces = ["veth0", "veth1"]
state_dir = "/tmp/aoe-state"
log_level = "debug"
bufcnt = 16
announce = false
sync = true
direct = true

[[export]]
target = "e3.4"
path = "/dev/sdb"
read_only = true
offset = 2048
length = 4096
sync = false
mask = ["02:00:00:00:00:01", "02-00-00-00-00-02"]
interfaces = ["veth1"]

[[export]]
path = "/srv/b.img"
target = "e3.5"
)",
                                                   "serve.toml");
  ASSERT_TRUE(config) << config.error();
  const target::ServerOptions& s = config->server;
  EXPECT_EQ(s.interfaces, (std::vector<std::string>{"veth0", "veth1"}));
  EXPECT_EQ(s.state_dir, "/tmp/aoe-state");
  EXPECT_EQ(config->log_level, LogLevel::kDebug);
  EXPECT_EQ(s.buffer_count, 16);
  EXPECT_FALSE(s.announce);
  ASSERT_EQ(s.exports.size(), 2u);
  const target::ExportOptions& a = s.exports[0];
  EXPECT_EQ(a.shelf, 3);
  EXPECT_EQ(a.slot, 4);
  EXPECT_EQ(a.path, "/dev/sdb");
  EXPECT_TRUE(a.read_only);
  EXPECT_EQ(a.offset_sectors, 2048u);
  EXPECT_EQ(a.length_sectors, 4096u);
  EXPECT_FALSE(a.sync) << "an export's own value wins over the default";
  EXPECT_TRUE(a.direct) << "the default applies when the export says nothing";
  EXPECT_EQ(a.mask, (std::vector<MacAddress>{Mac("02:00:00:00:00:01"), Mac("02:00:00:00:00:02")}));
  EXPECT_EQ(a.interfaces, std::vector<std::string>{"veth1"});
  const target::ExportOptions& b = s.exports[1];
  EXPECT_EQ(b.name(), "e3.5");
  EXPECT_TRUE(b.sync);
  EXPECT_TRUE(b.direct);
}

TEST(ParseServeToml, DefaultsApplyEvenWhenWrittenAfterTheExports) {
  // TOML puts keys after a table header into that table, so this is the only way to write a
  // top-level key after an export: an inline array of tables.
  ParseResult<ServeConfig> config = ParseServeToml(
      R"(export = [{ target = "e0.1", path = "/a" }]
sync = true
interfaces = ["veth0"]
)",
      "serve.toml");
  ASSERT_TRUE(config) << config.error();
  EXPECT_TRUE(config->server.exports[0].sync);
}

TEST(ParseServeToml, ShippedExampleLoads) {
  ParseResult<ServeConfig> config = LoadServeConfigFile(AOE_SOURCE_DIR "/docs/examples/serve.toml");
  ASSERT_TRUE(config) << config.error();
  EXPECT_EQ(config->server.exports.size(), 3u);
  EXPECT_EQ(config->server.interfaces.size(), 2u);
}

TEST(ParseServeToml, UnknownTopLevelKey) {
  ExpectError("interfaces = [\"veth0\"]\nbufcount = 8\n",
              "serve.toml:2: unknown key 'bufcount'; known keys: interfaces, state_dir, "
              "log_level, bufcnt, announce, sync, direct, user, [[export]]");
}

TEST(ParseServeToml, UnknownExportKey) {
  ExpectError(R"(interfaces = ["veth0"]
[[export]]
target = "e0.1"
path = "/a"
readonly = true
)",
              "serve.toml:5: unknown key 'readonly' in [[export]]; known keys: target, path, "
              "read_only, offset, length, sync, direct, mask, interfaces, fail");
}

TEST(ParseServeToml, FirstMistakeInFileOrderIsReported) {
  // Alphabetically 'aaa' comes first; in the file 'zzz' does.
  ExpectError("zzz = 1\naaa = 2\n",
              "serve.toml:1: unknown key 'zzz'; known keys: interfaces, state_dir, log_level, "
              "bufcnt, announce, sync, direct, user, [[export]]");
}

TEST(ParseServeToml, WrongTypes) {
  ExpectError("bufcnt = \"64\"\n",
              "serve.toml:1: bufcnt must be an integer, not a string; e.g. bufcnt = 2048");
  ExpectError("interfaces = \"veth0\"\n",
              "serve.toml:1: interfaces must be an array of strings, not a string; e.g. "
              "interfaces = [\"eth0\", \"eth1\"]");
  ExpectError("interfaces = [\"veth0\", 5]\n",
              "serve.toml:1: each entry of interfaces must be a string, not an integer; e.g. "
              "interfaces = [\"eth0\", \"eth1\"]");
  ExpectError("announce = \"no\"\n",
              "serve.toml:1: announce must be true or false, not a string; e.g. announce = true");
  ExpectError("[[export]]\ntarget = \"e0.1\"\npath = \"/a\"\noffset = 1.5\n",
              "serve.toml:4: offset must be an integer, not a floating-point number; e.g. "
              "offset = 2048");
  ExpectError("[[export]]\ntarget = 1\n",
              "serve.toml:2: target must be a string, not an integer; e.g. target = \"...\"");
}

TEST(ParseServeToml, BadValues) {
  ExpectError("log_level = \"verbose\"\n",
              "serve.toml:1: log_level 'verbose' is not one of error, warn, info, debug");
  ExpectError("bufcnt = 70000\n",
              "serve.toml:1: bufcnt 70000 is out of range; use 2-65535 (default 64)");
  ExpectError("bufcnt = -1\n", "serve.toml:1: bufcnt must not be negative");
  ExpectError("[[export]]\ntarget = \"e0.1\"\npath = \"/a\"\nlength = -1\n",
              "serve.toml:4: length must not be negative");
  ExpectError("[[export]]\ntarget = \"0.1\"\npath = \"/a\"\n",
              "serve.toml:2: target '0.1' is not a target name; expected eSHELF.SLOT such as "
              "e0.1");
  ExpectError("[[export]]\ntarget = \"e0.1\"\npath = \"/a\"\nmask = [\"02:00:00:00:00\"]\n",
              "serve.toml:4: mask entry '02:00:00:00:00' is not a MAC address; write it as "
              "\"aa:bb:cc:dd:ee:ff\"");
}

TEST(ParseServeToml, MissingPath) {
  ExpectError("interfaces = [\"veth0\"]\n\n[[export]]\ntarget = \"e0.1\"\nread_only = true\n",
              "serve.toml:3: export e0.1 has no path; add path = \"/srv/disk.img\" (an image "
              "file or block device)");
  ExpectError("[[export]]\ntarget = \"e0.1\"\npath = \"\"\n",
              "serve.toml:1: export e0.1 has no path; add path = \"/srv/disk.img\" (an image "
              "file or block device)");
}

TEST(ParseServeToml, MissingTarget) {
  ExpectError("[[export]]\npath = \"/a\"\n",
              "serve.toml:1: [[export]] has no target; add target = \"eSHELF.SLOT\", e.g. "
              "target = \"e0.1\"");
}

TEST(ParseServeToml, ExportMustBeArrayOfTables) {
  ExpectError("[export]\ntarget = \"e0.1\"\n",
              "serve.toml:1: export must be a list of tables; write each export as an [[export]] "
              "section");
}

TEST(ParseServeToml, NetbootIsReservedButNotSupportedYet) {
  ExpectError("interfaces = [\"veth0\"]\n[netboot]\nenabled = true\n",
              "serve.toml:2: [netboot] is not supported yet by this aoekit version; remove the "
              "section to serve disks without network boot");
}

TEST(ParseServeToml, SyntaxErrorHasLine) {
  ParseResult<ServeConfig> config =
      ParseServeToml("interfaces = [\"veth0\"\n\nbufcnt = 4\n", "serve.toml");
  ASSERT_FALSE(config);
  EXPECT_EQ(config.error().rfind("serve.toml:", 0), 0u) << config.error();
  EXPECT_EQ(config.error().find('\n'), std::string::npos) << config.error();
}

TEST(LoadServeConfigFile, UnreadableFile) {
  ParseResult<ServeConfig> config = LoadServeConfigFile("/nonexistent/serve.toml");
  ASSERT_FALSE(config);
  EXPECT_EQ(config.error(),
            "cannot read config file /nonexistent/serve.toml: No such file or "
            "directory; check the path and its permissions");
}

TEST(LoadServeConfigFile, DirectoryIsUnreadable) {
  ParseResult<ServeConfig> config = LoadServeConfigFile("/");
  ASSERT_FALSE(config);
  EXPECT_EQ(config.error(),
            "cannot read config file /: Is a directory; check the path and its "
            "permissions");
}

TEST(LoadServeConfigFile, ValidatesAndNamesTheFile) {
  const std::string path = ::testing::TempDir() + "/aoe_serve_config_test.toml";
  {
    std::ofstream out(path);
    out << kMinimal << "[[export]]\ntarget = \"e0.1\"\npath = \"/b\"\n";
  }
  ParseResult<ServeConfig> config = LoadServeConfigFile(path);
  std::remove(path.c_str());
  ASSERT_FALSE(config);
  EXPECT_EQ(config.error(),
            path + ": export e0.1 is listed twice; give each export its own shelf.slot");
}

TEST(ParseServeToml, FailAndUser) {
  ParseResult<ServeConfig> config = ParseServeToml(R"(
interfaces = ["veth0"]
user = "aoe"
[[export]]
target = "e0.1"
path = "/srv/disk.img"
fail = ["100-199:write", "300"]
)",
                                                   "serve.toml");
  ASSERT_TRUE(config) << config.error();
  EXPECT_EQ(config->user, "aoe");
  const auto& fail = config->server.exports.at(0).fail;
  ASSERT_EQ(fail.size(), 2u);
  EXPECT_EQ(fail[0].ToString(), "100-199:write");
  EXPECT_EQ(fail[1].ToString(), "300-300");
}

TEST(ParseServeToml, BadFailAndUser) {
  ExpectError(R"(
interfaces = ["veth0"]
[[export]]
target = "e0.1"
path = "/srv/disk.img"
fail = ["1-2:sideways"]
)",
              "serve.toml:6: fail '1-2:sideways': 'sideways' is not a direction; write :read or "
              ":write (or nothing for both)");
  ExpectError(R"(
interfaces = ["veth0"]
[[export]]
target = "e0.1"
path = "/srv/disk.img"
fail = "1-2"
)",
              "serve.toml:6: fail must be an array of strings, not a string; e.g. fail = "
              "[\"100-199:write\"]");
  ExpectError("user = \"\"\n",
              "serve.toml:1: user must name a user, e.g. user = \"aoe\"; remove the key to keep "
              "running as the starting user");
}

}  // namespace
}  // namespace aoe::cli
