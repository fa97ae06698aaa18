#include "cli/serve_config.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <iterator>

namespace aoe::cli {
namespace {

MacAddress Mac(std::string_view text) { return *MacAddress::Parse(text); }

// Parses `text` and expects it to fail with exactly `message`.
void ExpectError(std::string_view text, std::string_view message) {
  ParseResult<ServeConfig> config = ParseServeToml(text, "serve.toml");
  ASSERT_FALSE(config) << "parsed:\n" << text;
  EXPECT_EQ(config.error().message, message);
}

constexpr std::string_view kMinimal = R"(
interfaces = ["veth0"]
[[export]]
target = "e0.1"
path = "/srv/disk.img"
)";

TEST(ParseServeToml, MinimalFileGetsDefaults) {
  ParseResult<ServeConfig> config = ParseServeToml(kMinimal, "serve.toml");
  ASSERT_TRUE(config) << config.error().message;
  const target::ServerOptions& s = config->server;
  EXPECT_EQ(s.interfaces, std::vector<std::string>{"veth0"});
  EXPECT_EQ(s.state_dir, "/var/lib/aoekit");
  EXPECT_EQ(s.buffer_count, 64);
  EXPECT_EQ(s.packet_io, PacketIo::kAuto);
  EXPECT_TRUE(s.announce);
  EXPECT_EQ(config->log_level, LogLevel::kInfo);
  ASSERT_EQ(s.exports.size(), 1u);
  EXPECT_EQ(s.exports[0].name(), "e0.1");
  EXPECT_EQ(s.exports[0].backend.path, "/srv/disk.img");
  EXPECT_FALSE(s.exports[0].read_only);
  EXPECT_EQ(s.exports[0].durability, target::Durability::kAuto);
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
durability = "cache"
mask = ["02:00:00:00:00:01", "02-00-00-00-00-02"]
interfaces = ["veth1"]

[[export]]
path = "/srv/b.img"
target = "e3.5"
)",
                                                   "serve.toml");
  ASSERT_TRUE(config) << config.error().message;
  const target::ServerOptions& s = config->server;
  EXPECT_EQ(s.interfaces, (std::vector<std::string>{"veth0", "veth1"}));
  EXPECT_EQ(s.state_dir, "/tmp/aoe-state");
  EXPECT_EQ(config->log_level, LogLevel::kDebug);
  EXPECT_EQ(s.buffer_count, 16);
  EXPECT_FALSE(s.announce);
  ASSERT_EQ(s.exports.size(), 2u);
  const target::ExportOptions& a = s.exports[0];
  EXPECT_EQ(a.address, (proto::DiskAddress{3, 4}));
  EXPECT_EQ(a.backend.path, "/dev/sdb");
  EXPECT_TRUE(a.read_only);
  EXPECT_EQ(a.offset_sectors, 2048u);
  EXPECT_EQ(a.length_sectors, 4096u);
  EXPECT_EQ(a.durability, target::Durability::kCache)
      << "an export's own value wins over the default";
  EXPECT_TRUE(a.direct) << "the default applies when the export says nothing";
  EXPECT_EQ(a.mask, (std::vector<MacAddress>{Mac("02:00:00:00:00:01"), Mac("02:00:00:00:00:02")}));
  EXPECT_EQ(a.interfaces, std::vector<std::string>{"veth1"});
  const target::ExportOptions& b = s.exports[1];
  EXPECT_EQ(b.name(), "e3.5");
  EXPECT_EQ(b.durability, target::Durability::kSync) << "sync = true is durability = \"sync\"";
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
  ASSERT_TRUE(config) << config.error().message;
  EXPECT_EQ(config->server.exports[0].durability, target::Durability::kSync);
}

TEST(ParseServeToml, ShippedExampleLoads) {
  ParseResult<ServeConfig> config = LoadServeConfigFile(AOE_SOURCE_DIR "/docs/examples/serve.toml");
  ASSERT_TRUE(config) << config.error().message;
  ASSERT_EQ(config->server.exports.size(), 4u);
  EXPECT_EQ(config->server.exports[3].overlay_dir, "/var/lib/aoekit/overlays/e3.0");
  EXPECT_EQ(config->server.exports[3].lifetime, overlay::Lifetime::kDiscardOnBoot);
  EXPECT_EQ(config->server.exports[3].client_lifetimes.size(), 1u);
  EXPECT_EQ(config->server.interfaces.size(), 2u);
  EXPECT_EQ(config->user, "");  // commented out: the example runs as the starting user
  ASSERT_TRUE(config->netboot);
  EXPECT_EQ(config->netboot->interface_name, "eth0");
  EXPECT_EQ(config->netboot->mode(), netboot::DhcpMode::kProxy);
  ASSERT_TRUE(config->netboot->targets.default_target);
  EXPECT_EQ(config->netboot->targets.default_target->ToString(), "e1.1");
  EXPECT_EQ(config->netboot->targets.by_mac.size(), 1u);
  EXPECT_EQ(config->netboot->tftp_root, "/usr/lib/ipxe");
}

// docs/configuration.md shows the example as it is: the block under "### Example" is the file.
TEST(ParseServeToml, TheDocumentedExampleIsTheShippedFile) {
  auto read = [](const char* path) {
    std::ifstream in(path);
    return std::string(std::istreambuf_iterator<char>(in), {});
  };
  const std::string doc = read(AOE_SOURCE_DIR "/docs/configuration.md");
  const size_t example = doc.find("### Example");
  ASSERT_NE(example, std::string::npos);
  const size_t begin = doc.find("```toml\n", example);
  ASSERT_NE(begin, std::string::npos);
  const size_t end = doc.find("```\n", begin + 8);
  ASSERT_NE(end, std::string::npos);
  EXPECT_EQ(doc.substr(begin + 8, end - begin - 8),
            read(AOE_SOURCE_DIR "/docs/examples/serve.toml"))
      << "copy docs/examples/serve.toml into docs/configuration.md's Example block";
}

// The full-mode lines the example shows commented out work when uncommented.
TEST(ParseServeToml, ShippedExampleFullModeLinesLoad) {
  std::ifstream in(AOE_SOURCE_DIR "/docs/examples/serve.toml");
  std::string text, line;
  while (std::getline(in, line)) {
    if (line == "mode = \"proxy\"") continue;
    if (line.rfind("#   ", 0) == 0 && line.find(" = ") != std::string::npos) line = line.substr(4);
    text += line + "\n";
  }
  ParseResult<ServeConfig> config = ParseServeToml(text, "serve.toml");
  ASSERT_TRUE(config) << config.error().message;
  ASSERT_TRUE(config->netboot);
  EXPECT_EQ(config->netboot->mode(), netboot::DhcpMode::kFull);
  EXPECT_EQ(config->netboot->range_first->ToString(), "10.77.0.100");
  EXPECT_EQ(config->netboot->lease_file, "/var/lib/aoekit/netboot-eth0.leases");
}

TEST(ParseServeToml, BusyPoll) {
  ParseResult<ServeConfig> config =
      ParseServeToml("busy_poll = 0\n" + std::string(kMinimal), "serve.toml");
  ASSERT_TRUE(config) << config.error().message;
  EXPECT_EQ(config->server.busy_poll, std::chrono::microseconds(0));
  ExpectError("busy_poll = 20000\n",
              "serve.toml:1: busy_poll 20000 is out of range; use 0 (off) to 10000 microseconds "
              "(default 50)");
}

TEST(ParseServeToml, Loops) {
  ParseResult<ServeConfig> config =
      ParseServeToml("loops = 3\n" + std::string(kMinimal), "serve.toml");
  ASSERT_TRUE(config) << config.error().message;
  EXPECT_EQ(config->server.loops, 3u);
  ExpectError("loops = 0\n", "serve.toml:1: loops 0 is out of range; use 1 (default) to 64");
  ExpectError("loops = 65\n", "serve.toml:1: loops 65 is out of range; use 1 (default) to 64");
  ExpectError("loops = \"2\"\n",
              "serve.toml:1: loops must be an integer, not a string; e.g. loops = 2");
}

TEST(ParseServeToml, PacketIo) {
  for (auto [text, mode] : {std::pair{"ring", PacketIo::kRing},
                            {"socket", PacketIo::kSocket},
                            {"auto", PacketIo::kAuto}}) {
    ParseResult<ServeConfig> config = ParseServeToml(
        std::string("packet_io = \"") + text + "\"\n" + std::string(kMinimal), "serve.toml");
    ASSERT_TRUE(config) << config.error().message;
    EXPECT_EQ(config->server.packet_io, mode) << text;
  }
}

TEST(ParseServeToml, UnknownTopLevelKey) {
  ExpectError(
      "interfaces = [\"veth0\"]\nbufcount = 8\n",
      "serve.toml:2: unknown key 'bufcount'; known keys: interfaces, state_dir, "
      "log_level, bufcnt, packet_io, busy_poll, loops, announce, durability, sync, direct, user, "
      "control_socket, [[export]], [netboot]");
}

TEST(ParseServeToml, UnknownExportKey) {
  ExpectError(R"(interfaces = ["veth0"]
[[export]]
target = "e0.1"
path = "/a"
readonly = true
)",
              "serve.toml:5: unknown key 'readonly' in [[export]]; known keys: target, path, "
              "read_only, offset, length, durability, sync, direct, mask, interfaces, fail, "
              "overlay, lifetime, client_lifetimes, ceph_conf, ceph_id, keyring");
}

TEST(ParseServeToml, FirstMistakeInFileOrderIsReported) {
  // Alphabetically 'aaa' comes first; in the file 'zzz' does.
  ExpectError("zzz = 1\naaa = 2\n",
              "serve.toml:1: unknown key 'zzz'; known keys: interfaces, state_dir, log_level, "
              "bufcnt, packet_io, busy_poll, loops, announce, durability, sync, direct, user, "
              "control_socket, [[export]], [netboot]");
}

TEST(ParseServeToml, DurabilityIsNamedAndGivenOnce) {
  ExpectError("interfaces = [\"veth0\"]\ndurability = \"safe\"\n",
              "serve.toml:2: durability 'safe' is not one of cache, auto, sync; e.g. "
              "durability=auto (see docs/configuration.md)");
  ExpectError("interfaces = [\"veth0\"]\nsync = true\ndurability = \"cache\"\n",
              "serve.toml:3: durability is given twice (sync = true is durability = \"sync\"); "
              "give it once");
}

TEST(ParseServeToml, WrongTypes) {
  ExpectError("bufcnt = \"64\"\n",
              "serve.toml:1: bufcnt must be an integer, not a string; e.g. bufcnt = 64");
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
              "serve.toml:1: bufcnt 70000 is out of range; use 2-65535 (default 64; Linux sends "
              "nothing to a target advertising fewer than 2)");
  ExpectError("bufcnt = 1\n",
              "serve.toml:1: bufcnt 1 is out of range; use 2-65535 (default 64; Linux sends "
              "nothing to a target advertising fewer than 2)");
  ExpectError("[[export]]\ntarget = \"e0.1\"\npath = \"/a\"\nmask = \"02:00:00:00:00:01\"\n",
              "serve.toml:4: mask must be an array of strings, not a string; e.g. mask = "
              "[\"02:00:00:00:00:01\"]");
  ExpectError("bufcnt = -1\n",
              "serve.toml:1: bufcnt = -1 is negative; give a count such as bufcnt = 64");
  ExpectError("loops = -3\n",
              "serve.toml:1: loops = -3 is negative; give a count such as loops = 2");
  ExpectError("packet_io = \"mmap\"\n",
              "serve.toml:1: packet_io 'mmap' is not one of ring, socket, auto");
  ExpectError("[[export]]\ntarget = \"e0.1\"\npath = \"/a\"\nlength = -1\n",
              "serve.toml:4: length = -1 is negative; give a count such as length = 2048");
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

TEST(ParseServeToml, NoNetbootSectionMeansNoNetboot) {
  ParseResult<ServeConfig> config = ParseServeToml(kMinimal, "serve.toml");
  ASSERT_TRUE(config) << config.error().message;
  EXPECT_FALSE(config->netboot);
}

TEST(ParseServeToml, NetbootSectionTakesTheNetbootKeys) {
  ParseResult<ServeConfig> config = ParseServeToml(R"(
interfaces = ["aoetap0"]
[[export]]
target = "e0.1"
path = "/srv/disk.img"

[netboot]
mode = "full"
boot = "e0.1"
range = "10.77.0.100-10.77.0.150"
netmask = "255.255.255.0"
router = "10.77.0.1"
lease_time = 600
lease_file = "/tmp/leases"
tftp_root = "/srv/tftp"
bios_file = "undionly.kpxe"
efi_file = "ipxe.efi"
[netboot.clients]
"52:54:00:12:34:56" = "e0.2"
)",
                                                   "serve.toml");
  ASSERT_TRUE(config) << config.error().message;
  ASSERT_TRUE(config->netboot);
  const netboot::NetbootOptions& nb = *config->netboot;
  EXPECT_EQ(nb.interface_name, "aoetap0");  // the server's only interface
  EXPECT_EQ(nb.mode(), netboot::DhcpMode::kFull);
  EXPECT_EQ(nb.targets.default_target, (proto::DiskAddress{0, 1}));
  ASSERT_EQ(nb.targets.by_mac.size(), 1u);
  EXPECT_EQ(nb.targets.by_mac.at(Mac("52:54:00:12:34:56")), (proto::DiskAddress{0, 2}));
  EXPECT_EQ(nb.range_first, netboot::Ipv4Address::Parse("10.77.0.100"));
  EXPECT_EQ(nb.range_last, netboot::Ipv4Address::Parse("10.77.0.150"));
  EXPECT_EQ(nb.netmask, netboot::Ipv4Address::Parse("255.255.255.0"));
  EXPECT_EQ(nb.router, netboot::Ipv4Address::Parse("10.77.0.1"));
  EXPECT_EQ(nb.lease_seconds, 600u);
  EXPECT_EQ(nb.lease_file, "/tmp/leases");
  EXPECT_EQ(nb.tftp_root, "/srv/tftp");
  EXPECT_EQ(nb.files.bios, "undionly.kpxe");
  EXPECT_EQ(nb.files.efi, "ipxe.efi");
  // The exports are unaffected.
  ASSERT_EQ(config->server.exports.size(), 1u);
}

TEST(ParseServeToml, NetbootProxyWithItsOwnInterface) {
  ParseResult<ServeConfig> config = ParseServeToml(R"(
interfaces = ["eth1", "eth2"]
[netboot]
interface = "br0"
boot = "e1.0"
)",
                                                   "serve.toml");
  ASSERT_TRUE(config) << config.error().message;
  ASSERT_TRUE(config->netboot);
  EXPECT_EQ(config->netboot->interface_name, "br0");
  EXPECT_EQ(config->netboot->mode(), netboot::DhcpMode::kProxy);
  EXPECT_EQ(config->netboot->tftp_root, "/usr/lib/ipxe");
  EXPECT_EQ(config->netboot->files.bios, "undionly.kpxe");
}

TEST(ParseServeToml, NetbootErrors) {
  ExpectError("interfaces = [\"veth0\"]\n[netboot]\nboot = \"e0.1\"\nenabled = true\n",
              "serve.toml:4: enabled: unknown key; see docs/netboot.md for the netboot keys");
  ExpectError("interfaces = [\"veth0\"]\n[netboot]\nboot = \"e0.1\"\nmode = \"pxe\"\n",
              "serve.toml:4: mode must be \"full\" or \"proxy\"");
  ExpectError("interfaces = [\"veth0\"]\n[netboot]\nboot = 1\n",
              "serve.toml:3: boot must be a string in quotes");
  ExpectError("interfaces = [\"veth0\"]\n[netboot.clients]\n\"nope\" = \"e0.1\"\n",
              "serve.toml:3: clients.nope: want \"52:54:00:12:34:56\" = \"e0.1\"");
  ExpectError("interfaces = [\"veth0\"]\nnetboot = 3\n",
              "serve.toml:2: netboot must be a table; write it as a [netboot] section");
  ExpectError("interfaces = [\"veth0\", \"veth1\"]\n[netboot]\nboot = \"e0.1\"\n",
              "serve.toml:2: [netboot] has no interface and the server has 2 interfaces; add "
              "interface = \"IFACE\" to [netboot]");
  ExpectError("interfaces = [\"veth0\"]\n[netboot]\nmode = \"proxy\"\n",
              "serve.toml:2: [netboot] boots nothing; add boot = \"eSHELF.SLOT\" (e.g. boot = "
              "\"e0.1\") or a [netboot.clients] table");
  // What only the whole section can tell (netboot::ValidateNetbootOptions).
  ExpectError("interfaces = [\"veth0\"]\n[netboot]\nboot = \"e0.1\"\nmode = \"full\"\n",
              "serve.toml:2: [netboot]: mode = \"full\" needs an address range; add one, e.g. "
              "range = \"10.77.0.100-10.77.0.200\"");
  // An admin's finding: this ran a full DHCP server, a rogue one beside the network's own.
  ExpectError(
      "interfaces = [\"veth0\"]\n[netboot]\nmode = \"proxy\"\nboot = \"e0.1\"\n"
      "range = \"10.77.0.100-10.77.0.200\"\n",
      "serve.toml:5: range is for full DHCP mode, but line 3 says mode = \"proxy\" (the existing "
      "DHCP server gives addresses); remove range, or write mode = \"full\" to make this the DHCP "
      "server");
  ExpectError(
      "interfaces = [\"veth0\"]\n[netboot]\nboot = \"e0.1\"\nnetmask = \"255.255.255.0\"\n"
      "range = \"10.77.0.0-10.77.0.200\"\n",
      "serve.toml:2: [netboot]: range 10.77.0.0-10.77.0.200 includes 10.77.0.0, the network "
      "address of 10.77.0.0/255.255.255.0; start it at 10.77.0.1 or above");
}

TEST(ParseServeToml, SyntaxErrorHasLine) {
  ParseResult<ServeConfig> config =
      ParseServeToml("interfaces = [\"veth0\"\n\nbufcnt = 4\n", "serve.toml");
  ASSERT_FALSE(config);
  EXPECT_EQ(config.error().message.rfind("serve.toml:", 0), 0u) << config.error().message;
  EXPECT_EQ(config.error().message.find('\n'), std::string::npos) << config.error().message;
}

TEST(LoadServeConfigFile, UnreadableFile) {
  ParseResult<ServeConfig> config = LoadServeConfigFile("/nonexistent/serve.toml");
  ASSERT_FALSE(config);
  EXPECT_EQ(config.error().message,
            "cannot read config file /nonexistent/serve.toml: No such file or "
            "directory; check the path and its permissions");
}

TEST(LoadServeConfigFile, DirectoryIsUnreadable) {
  ParseResult<ServeConfig> config = LoadServeConfigFile("/");
  ASSERT_FALSE(config);
  EXPECT_EQ(config.error().message,
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
  EXPECT_EQ(config.error().message,
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
  ASSERT_TRUE(config) << config.error().message;
  EXPECT_EQ(config->user, "aoe");
  const auto& fail = config->server.exports.at(0).fail;
  ASSERT_EQ(fail.size(), 2u);
  EXPECT_EQ(fail[0].ToString(), "100-199:write");
  EXPECT_EQ(fail[1].ToString(), "300-300");
}

TEST(ParseServeToml, OverlayKeys) {
  ParseResult<ServeConfig> config = ParseServeToml(R"(
interfaces = ["veth0"]
[[export]]
target = "e0.1"
path = "/srv/golden.img"
overlay = "/var/lib/aoekit/overlays/e0.1"
lifetime = "discard-on-boot"
client_lifetimes = { "52:54:00:12:34:56" = "persist" }
)",
                                                   "serve.toml");
  ASSERT_TRUE(config) << config.error().message;
  const target::ExportOptions& e = config->server.exports.at(0);
  EXPECT_EQ(e.overlay_dir, "/var/lib/aoekit/overlays/e0.1");
  EXPECT_EQ(e.lifetime, overlay::Lifetime::kDiscardOnBoot);
  EXPECT_EQ(e.client_lifetimes.at(MacAddress({0x52, 0x54, 0x00, 0x12, 0x34, 0x56})),
            overlay::Lifetime::kPersist);
}

TEST(ParseServeToml, BadOverlayKeys) {
  const std::string head =
      "interfaces = [\"veth0\"]\n[[export]]\ntarget = \"e0.1\"\npath = \"/a\"\n";
  ExpectError(head + "overlay = \"\"\n",
              "serve.toml:5: overlay must name a directory, e.g. overlay = "
              "\"/var/lib/aoekit/overlays/e0.1\"");
  ExpectError(head + "lifetime = \"sometimes\"\n",
              "serve.toml:5: lifetime 'sometimes' is not one of persist, discard-on-boot; e.g. "
              "lifetime = \"discard-on-boot\"");
  ExpectError(head + "client_lifetimes = { \"me\" = \"persist\" }\n",
              "serve.toml:5: client_lifetimes key 'me' is not a MAC address; write it as "
              "\"aa:bb:cc:dd:ee:ff\"");
  ExpectError(head + "client_lifetimes = \"persist\"\n",
              "serve.toml:5: client_lifetimes must be a table of MAC = lifetime, not a string; "
              "e.g. client_lifetimes = { \"52:54:00:12:34:56\" = \"persist\" }");
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

TEST(ParseServeToml, RbdExportTakesCephOptionsBeforeOrAfterPath) {
  ParseResult<ServeConfig> config = ParseServeToml(R"(
interfaces = ["veth0"]
[[export]]
target = "e0.1"
ceph_id = "aoe"
path = "rbd:rbd/disk@snap1"
ceph_conf = "/etc/ceph/test.conf"
keyring = "/etc/ceph/k"
)",
                                                   "serve.toml");
  ASSERT_TRUE(config) << config.error().message;
  const BackendSpec& spec = config->server.exports.at(0).backend;
  EXPECT_EQ(spec.kind, BackendSpec::Kind::kRbd);
  EXPECT_EQ(spec.snapshot, "snap1");
  EXPECT_EQ(spec.ceph.id, "aoe");
  EXPECT_EQ(spec.ceph.conf_path, "/etc/ceph/test.conf");
  EXPECT_EQ(spec.ceph.keyring, "/etc/ceph/k");
}

}  // namespace
}  // namespace aoe::cli
