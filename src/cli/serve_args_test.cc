#include "cli/serve_args.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>

namespace aoe::cli {
namespace {

void ExpectError(const std::vector<std::string>& args, std::string_view message) {
  ParseResult<ServeArgs> parsed = ParseServeArgs(args);
  ASSERT_FALSE(parsed);
  EXPECT_EQ(parsed.error().message, message);
  EXPECT_EQ(parsed.error().message.find('\n'), std::string::npos);
}

// A config file in the test's temporary directory, removed at the end of the test. ctest runs
// each test as its own process, in parallel, so the name carries the test's name and pid.
class TempConfig {
 public:
  explicit TempConfig(std::string_view text)
      : path_(::testing::TempDir() + "/aoe_serve_args_" +
              ::testing::UnitTest::GetInstance()->current_test_info()->name() + "_" +
              std::to_string(::getpid()) + ".toml") {
    std::ofstream(path_) << text;
  }
  ~TempConfig() { std::remove(path_.c_str()); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

constexpr std::string_view kConfig = R"(
interfaces = ["veth0"]
log_level = "warn"
[[export]]
target = "e0.1"
path = "/srv/disk.img"
)";

TEST(ParseServeArgs, CommandLineForm) {
  ParseResult<ServeArgs> parsed =
      ParseServeArgs({"-i", "veth0", "--interface", "veth1", "e0.1=/a", "--sync",
                      "e0.2=/b,ro,iface=veth1", "--direct", "--state-dir", "/tmp/st", "--log-level",
                      "debug", "--bufcnt", "8", "--no-announce"});
  ASSERT_TRUE(parsed) << parsed.error().message;
  EXPECT_FALSE(parsed->help);
  EXPECT_TRUE(parsed->config_path.empty());
  EXPECT_EQ(parsed->config.log_level, LogLevel::kDebug);
  const target::ServerOptions& s = parsed->config.server;
  EXPECT_EQ(s.interfaces, (std::vector<std::string>{"veth0", "veth1"}));
  EXPECT_EQ(s.state_dir, "/tmp/st");
  EXPECT_EQ(s.buffer_count, 8);
  EXPECT_FALSE(s.announce);
  ASSERT_EQ(s.exports.size(), 2u);
  EXPECT_EQ(s.exports[0].name(), "e0.1");
  EXPECT_EQ(s.exports[0].durability, target::Durability::kSync) << "--sync applies to every export";
  EXPECT_TRUE(s.exports[0].direct);
  EXPECT_EQ(s.exports[1].backend.path, "/b");
  EXPECT_TRUE(s.exports[1].read_only);
  EXPECT_EQ(s.exports[1].interfaces, std::vector<std::string>{"veth1"});
}

TEST(ParseServeArgs, Defaults) {
  ParseResult<ServeArgs> parsed = ParseServeArgs({"-i", "veth0", "e0.1=/a"});
  ASSERT_TRUE(parsed) << parsed.error().message;
  const target::ServerOptions& s = parsed->config.server;
  EXPECT_EQ(s.state_dir, "/var/lib/aoekit");
  EXPECT_EQ(s.buffer_count, 64);
  EXPECT_EQ(s.packet_io, PacketIo::kAuto);
  EXPECT_EQ(s.busy_poll, std::chrono::microseconds(50));
  EXPECT_TRUE(s.announce);
  EXPECT_EQ(parsed->config.log_level, LogLevel::kInfo);
  EXPECT_EQ(s.exports[0].durability, target::Durability::kAuto);
  EXPECT_FALSE(s.exports[0].direct);
}

TEST(ParseServeArgs, PacketIo) {
  for (auto [text, mode] : {std::pair{"ring", PacketIo::kRing},
                            {"socket", PacketIo::kSocket},
                            {"auto", PacketIo::kAuto}}) {
    ParseResult<ServeArgs> parsed = ParseServeArgs({"-i", "veth0", "--packet-io", text, "e0.1=/a"});
    ASSERT_TRUE(parsed) << parsed.error().message;
    EXPECT_EQ(parsed->config.server.packet_io, mode) << text;
  }
  ExpectError({"-i", "veth0", "--packet-io", "mmap", "e0.1=/a"},
              "--packet-io 'mmap' is not one of ring, socket, auto; e.g. --packet-io auto");
}

TEST(ParseServeArgs, BusyPoll) {
  ParseResult<ServeArgs> parsed = ParseServeArgs({"-i", "veth0", "--busy-poll", "0", "e0.1=/a"});
  ASSERT_TRUE(parsed) << parsed.error().message;
  EXPECT_EQ(parsed->config.server.busy_poll, std::chrono::microseconds(0));
  ExpectError({"-i", "veth0", "--busy-poll", "1ms", "e0.1=/a"},
              "--busy-poll '1ms' is not microseconds from 0 to 10000; e.g. --busy-poll 50");
  ExpectError({"-i", "veth0", "--busy-poll", "10001", "e0.1=/a"},
              "--busy-poll '10001' is not microseconds from 0 to 10000; e.g. --busy-poll 50");
}

TEST(ParseServeArgs, Loops) {
  ParseResult<ServeArgs> parsed = ParseServeArgs({"-i", "veth0", "e0.1=/a"});
  ASSERT_TRUE(parsed) << parsed.error().message;
  EXPECT_EQ(parsed->config.server.loops, 1u);
  parsed = ParseServeArgs({"-i", "veth0", "--loops", "4", "e0.1=/a"});
  ASSERT_TRUE(parsed) << parsed.error().message;
  EXPECT_EQ(parsed->config.server.loops, 4u);
  for (const char* bad : {"0", "65", "two", "-1", ""}) {
    ExpectError({"-i", "veth0", "--loops", bad, "e0.1=/a"},
                fmt::format("--loops '{}' is not a number of event loops from 1 to 64; e.g. "
                            "--loops 2",
                            bad));
  }
}

TEST(ParseServeArgs, DurabilityDefaultForEveryExport) {
  ParseResult<ServeArgs> parsed = ParseServeArgs(
      {"-i", "veth0", "--durability", "cache", "e0.1=/a", "e0.2=/b,durability=sync"});
  ASSERT_TRUE(parsed) << parsed.error().message;
  EXPECT_EQ(parsed->config.server.exports[0].durability, target::Durability::kCache);
  EXPECT_EQ(parsed->config.server.exports[1].durability, target::Durability::kSync);
  ExpectError({"-i", "veth0", "--durability", "fast", "e0.1=/a"},
              "--durability 'fast' is not one of cache, auto, sync; e.g. --durability auto (see "
              "docs/configuration.md)");
  ExpectError({"-i", "veth0", "--sync", "--durability", "cache", "e0.1=/a"},
              "--sync is --durability sync; give one of them");
}

TEST(ParseServeArgs, EqualsFormOfOptions) {
  ParseResult<ServeArgs> parsed = ParseServeArgs({"--interface=veth0", "--bufcnt=2", "e0.1=/a"});
  ASSERT_TRUE(parsed) << parsed.error().message;
  EXPECT_EQ(parsed->config.server.buffer_count, 2);
}

TEST(ParseServeArgs, HelpWinsOverEverythingElse) {
  for (const char* flag : {"-h", "--help"}) {
    ParseResult<ServeArgs> parsed = ParseServeArgs({"e0.0", flag});
    ASSERT_TRUE(parsed) << parsed.error().message;
    ASSERT_TRUE(parsed->help);
    for (std::string_view option :
         {"-i", "--interface", "--config", "--durability", "--sync", "--direct", "--state-dir",
          "--log-level", "--bufcnt", "--no-announce", "EXPORT", "ro",
          "offset=", "length=", "mask=", "iface=", "Usage: aoe serve"}) {
      EXPECT_NE(parsed->help->find(option), std::string::npos) << option;
    }
  }
}

TEST(ParseServeArgs, ConfigForm) {
  TempConfig file(kConfig);
  ParseResult<ServeArgs> parsed = ParseServeArgs({"--config", file.path()});
  ASSERT_TRUE(parsed) << parsed.error().message;
  EXPECT_EQ(parsed->config_path, file.path());
  EXPECT_EQ(parsed->config.log_level, LogLevel::kWarn);
  EXPECT_FALSE(parsed->log_level_override);
  EXPECT_EQ(parsed->config.server.exports.size(), 1u);
}

TEST(ParseServeArgs, LogLevelOverridesTheConfigFile) {
  TempConfig file(kConfig);
  ParseResult<ServeArgs> parsed = ParseServeArgs({"--config", file.path(), "--log-level", "debug"});
  ASSERT_TRUE(parsed) << parsed.error().message;
  EXPECT_EQ(parsed->config.log_level, LogLevel::kDebug);
  EXPECT_EQ(parsed->log_level_override, LogLevel::kDebug);
}

TEST(ParseServeArgs, ConfigDoesNotMixWithCommandLineSettings) {
  TempConfig file(kConfig);
  ExpectError({"--config", file.path(), "-i", "veth0"},
              "--interface cannot be combined with --config; write interfaces = [...] in the "
              "file instead");
  ExpectError({"--config", file.path(), "--bufcnt", "8"},
              "--bufcnt cannot be combined with --config; write bufcnt = N in the file instead");
  ExpectError({"--config", file.path(), "--no-announce"},
              "--no-announce cannot be combined with --config; write announce = false in the "
              "file instead");
  ExpectError({"--config", file.path(), "e0.2=/b"},
              "export 'e0.2=/b' cannot be combined with --config; add it to the file as an "
              "[[export]] section instead");
}

TEST(ParseServeArgs, Errors) {
  ExpectError({"-i", "veth0", "--frobnicate", "e0.1=/a"},
              "unknown option '--frobnicate'; see 'aoe serve --help'");
  ExpectError({"-i", "veth0", "e0.0"},
              "bad export 'e0.0'; expected eSHELF.SLOT=PATH, e.g. e0.1=/srv/disk.img");
  ExpectError({"-i", "veth0", "e0.1=/a,mask=02:00:00:00:00"},
              "bad export 'e0.1=/a,mask=02:00:00:00:00': '02:00:00:00:00' is not a MAC address; "
              "write it as aa:bb:cc:dd:ee:ff");
  ExpectError({"-i", "veth0", "--bufcnt", "1", "e0.1=/a"},
              "--bufcnt must be at least 2 (Linux sends nothing to a target advertising fewer); "
              "use 2 or more (default 64)");
  ExpectError({"-i", "veth0", "--bufcnt", "lots", "e0.1=/a"},
              "--bufcnt 'lots' is not a number from 2 to 65535; e.g. --bufcnt 64");
  ExpectError({"-i", "veth0", "--bufcnt", "65536", "e0.1=/a"},
              "--bufcnt '65536' is not a number from 2 to 65535; e.g. --bufcnt 64");
  ExpectError({"-i", "veth0", "--log-level", "loud", "e0.1=/a"},
              "--log-level 'loud' is not one of error, warn, info, debug");
  ExpectError({"e0.1=/a"},
              "no interface given; add -i IFACE (or interfaces = [\"IFACE\"] in the config file)");
  ExpectError({"-i", "veth0"}, "no export given; add one such as e0.1=/srv/disk.img");
  ExpectError({"-i", "veth0", "e0.1=/a", "e0.1=/b"},
              "export e0.1 is listed twice; give each export its own shelf.slot");
  ExpectError({"-i", "veth0", "e0.1=/a,iface=veth9"},
              "export e0.1 names interface veth9, which is not among the served interfaces (-i); "
              "add -i veth9 or drop it from the export");
  ExpectError({"--config", "/nonexistent.toml"},
              "cannot read config file /nonexistent.toml: No such file or directory; check the "
              "path and its permissions");
}

TEST(ParseServeArgs, MissingOptionValueIsOneLine) {
  for (const char* option : {"-i", "--bufcnt", "--config", "--state-dir", "--log-level"}) {
    ParseResult<ServeArgs> parsed = ParseServeArgs({"e0.1=/a", option});
    ASSERT_FALSE(parsed) << option;
    EXPECT_EQ(parsed.error().message.find('\n'), std::string::npos) << parsed.error().message;
    EXPECT_NE(parsed.error().message.find("see 'aoe serve --help'"), std::string::npos)
        << parsed.error().message;
  }
}

TEST(ParseServeArgs, AnOptionGivenTwiceSaysSo) {
  ParseResult<ServeArgs> parsed =
      ParseServeArgs({"-i", "veth0", "--loops", "2", "--loops", "3", "e0.1=/a"});
  ASSERT_FALSE(parsed);
  EXPECT_EQ(parsed.error().message,
            "--loops is given 2 times; give it once; see 'aoe serve --help'");
}

TEST(ParseServeArgs, User) {
  ParseResult<ServeArgs> parsed = ParseServeArgs({"-i", "veth0", "--user", "aoe", "e0.1=/a"});
  ASSERT_TRUE(parsed) << parsed.error().message;
  EXPECT_EQ(parsed->config.user, "aoe");
  ExpectError({"-i", "veth0", "--user", "", "e0.1=/a"},
              "--user needs a user name, e.g. --user aoe");
  TempConfig config(kConfig);
  ExpectError({"--config", config.path(), "--user", "aoe"},
              "--user cannot be combined with --config; write user = \"NAME\" in the file "
              "instead");
}

}  // namespace
}  // namespace aoe::cli
