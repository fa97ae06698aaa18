// Tests of target/options.cc (ValidateOptions, name, Storage). They live with the CLI
// because the CLI is what turns these messages into a person's error output.
#include "target/options.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "net/fanout.h"

namespace aoe::target {
namespace {

ExportOptions Export(uint16_t shelf, uint8_t slot, std::string path = "/srv/disk.img") {
  ExportOptions e;
  e.address = {shelf, slot};
  e.backend.path = std::move(path);
  return e;
}

ServerOptions Valid() {
  ServerOptions o;
  o.interfaces = {"veth0", "veth1"};
  o.exports = {Export(0, 1, "/srv/a.img"), Export(0, 2, "/srv/b.img")};
  return o;
}

TEST(ExportOptions, NameIsShelfDotSlot) {
  EXPECT_EQ(Export(1, 2).name(), "e1.2");
  EXPECT_EQ(Export(65534, 254).name(), "e65534.254");
}

TEST(ExportOptions, StorageCarriesEverySettingOfTheChain) {
  ExportOptions e = Export(0, 1, "/dev/sdb");
  e.read_only = true;
  e.direct = true;
  e.offset_sectors = 8;
  e.length_sectors = 16;
  e.fail = {InjectedFault{.first_sector = 10, .last_sector = 19, .on_read = false}};
  const ChainOptions chain = e.Storage();
  EXPECT_EQ(chain.backend.path, "/dev/sdb");
  EXPECT_TRUE(chain.base.read_only);
  EXPECT_TRUE(chain.base.direct);
  EXPECT_EQ(chain.offset_sectors, 8u);
  EXPECT_EQ(chain.length_sectors, 16u);
  ASSERT_EQ(chain.faults.size(), 1u);
  EXPECT_EQ(chain.faults[0].first_sector, 10u);
  EXPECT_EQ(chain.faults[0].sector_count, 10u);
  EXPECT_FALSE(chain.faults[0].on_read);
  EXPECT_TRUE(chain.faults[0].on_write);
}

TEST(ValidateOptions, LoopsAreOneToSixtyFour) {
  ServerOptions o = Valid();
  o.loops = 0;
  EXPECT_EQ(ValidateOptions(o),
            "--loops 0 is out of range; give 1 to 64 event loops (default 1; one per core to "
            "spare)");
  o.loops = 65;
  EXPECT_NE(ValidateOptions(o), "");
  o.loops = 64;
  EXPECT_EQ(ValidateOptions(o), "");
}

TEST(ValidateOptions, SeveralLoopsServeOverlaysUpToTheSelectorsLimit) {
  ServerOptions o = Valid();
  o.loops = 2;
  o.exports.clear();
  for (size_t i = 0; i <= kMaxFanoutFirstDisks; ++i) {
    ExportOptions e = Export(static_cast<uint16_t>(i / 200), static_cast<uint8_t>(i % 200),
                             "/img/" + std::to_string(i));
    e.overlay_dir = "/o/" + std::to_string(i);
    o.exports.push_back(e);
  }
  EXPECT_EQ(ValidateOptions(o),
            "2001 overlay exports: with --loops above 1 at most 2000 can be served; serve the "
            "rest from another aoe serve");
  o.loops = 1;
  EXPECT_EQ(ValidateOptions(o), "");
  o.loops = 2;
  o.exports.pop_back();
  EXPECT_EQ(ValidateOptions(o), "");
}

TEST(ValidateOptions, SeveralLoopsServeRbdImages) {  // one handle, shared (tests/rbd/rbd_loops.sh)
  ServerOptions o = Valid();
  o.loops = 2;
  o.exports[1].backend = ParseBackendSpec("rbd:pool/image");
  EXPECT_EQ(ValidateOptions(o), "");
}

TEST(ValidateOptions, LifetimeNeedsAnOverlay) {
  ServerOptions o = Valid();
  o.exports[0].lifetime = overlay::Lifetime::kDiscardOnBoot;
  EXPECT_EQ(ValidateOptions(o),
            "export e0.1: lifetime applies to overlays only; add overlay=DIR or drop it");
  o.exports[0].overlay_dir = "/o";
  EXPECT_EQ(ValidateOptions(o), "");
}

TEST(ValidateOptions, OverlayExportIsNotReadOnly) {
  ServerOptions o = Valid();
  o.exports[0].overlay_dir = "/o";
  o.exports[0].read_only = true;
  EXPECT_EQ(ValidateOptions(o),
            "export e0.1: an overlay export takes writes into its overlays; drop ro (the image "
            "is never written either way) or drop overlay=");
}

TEST(ValidateOptions, OneOverlayDirectoryPerExport) {
  ServerOptions o = Valid();
  o.exports[0].overlay_dir = "/o";
  o.exports[1].overlay_dir = "/o";
  EXPECT_EQ(ValidateOptions(o),
            "export e0.2: overlay directory /o is used by another export; give each export its "
            "own");
}

TEST(ValidateOptions, AnOverlayBaseIsWrittenByNoOtherExport) {
  ServerOptions o = Valid();
  o.exports[0].overlay_dir = "/o";
  o.exports[1].backend.path = o.exports[0].backend.path;
  EXPECT_EQ(ValidateOptions(o),
            "export e0.2 would write /srv/a.img, the image export e0.1 gives its clients as the "
            "base of their overlays; export it read-only (ro), or serve a copy");
  o.exports[1].read_only = true;
  EXPECT_EQ(ValidateOptions(o), "") << "read-only is fine";
  o.exports[1].read_only = false;
  o.exports[1].overlay_dir = "/o2";
  EXPECT_EQ(ValidateOptions(o), "") << "overlays over one image are fine";
}

// The same for an RBD image, named by pool and image (a snapshot never changes).
TEST(ValidateOptions, AnRbdOverlayBaseIsWrittenByNoOtherExport) {
  ServerOptions o = Valid();
  o.exports[0].backend = ParseBackendSpec("rbd:pool/golden");
  o.exports[0].overlay_dir = "/o";
  o.exports[1].backend = ParseBackendSpec("rbd:pool/golden");
  o.exports[1].backend.ceph.conf_path = "/etc/ceph/other.conf";  // may be the same cluster
  EXPECT_EQ(ValidateOptions(o),
            "export e0.2 would write rbd:pool/golden, the image export e0.1 gives its clients as "
            "the base of their overlays; export it read-only (ro), or serve a copy");
  o.exports[1].read_only = true;
  EXPECT_EQ(ValidateOptions(o), "") << "read-only is fine";
  o.exports[1].read_only = false;
  o.exports[1].backend = ParseBackendSpec("rbd:pool/other");
  EXPECT_EQ(ValidateOptions(o), "") << "another image";
  o.exports[1].backend = ParseBackendSpec("rbd:pool/golden");
  o.exports[0].backend = ParseBackendSpec("rbd:pool/golden@v1");
  EXPECT_EQ(ValidateOptions(o), "") << "a snapshot base does not change";
}

TEST(ValidateOptions, AnOverlayBaseMayBeWrittenOutsideItsWindow) {
  ServerOptions o = Valid();
  o.exports[0].overlay_dir = "/o";
  o.exports[0].length_sectors = 2048;
  o.exports[1].backend.path = o.exports[0].backend.path;
  o.exports[1].offset_sectors = 2048;
  EXPECT_EQ(ValidateOptions(o), "") << "the writer's window starts after the base's";
  o.exports[1].offset_sectors = 2047;
  EXPECT_NE(ValidateOptions(o), "") << "one sector in common";
}

TEST(ValidateOptions, AnOverlayBaseIsKnownByItsInodeNotOnlyItsPath) {
  const std::filesystem::path dir =
      std::filesystem::temp_directory_path() / ("aoe-options-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);  // a leftover of a crashed run with the same pid
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "golden.img") << "an image";
  std::filesystem::create_symlink(dir / "golden.img", dir / "link.img");
  ServerOptions o = Valid();
  o.exports[0].backend.path = dir / "golden.img";
  o.exports[0].overlay_dir = "/o";
  o.exports[1].backend.path = dir / "link.img";
  const std::string error = ValidateOptions(o);
  std::filesystem::remove_all(dir);
  EXPECT_NE(error.find("would write " + (dir / "link.img").string()), std::string::npos) << error;
}

// An admin's finding: an image in its own overlay directory (say DIR/v2.img) was removed at
// start as a version file no version used. Refused, also through a symbolic link to the file.
TEST(ValidateOptions, AnImageInAnOverlayDirectoryIsRefused) {
  ServerOptions o = Valid();
  o.exports[0].overlay_dir = "/srv/overlays/e0.1";
  o.exports[0].backend.path = "/srv/overlays/e0.1/v2.img";
  EXPECT_EQ(ValidateOptions(o),
            "export e0.1: the image /srv/overlays/e0.1/v2.img is in its own overlay directory "
            "/srv/overlays/e0.1, whose files aoe serve manages (and removes); keep the image "
            "elsewhere");
  o.exports[0].overlay_dir = "/srv/overlays/e0.1/";
  EXPECT_NE(ValidateOptions(o), "") << "a trailing slash changes nothing";
  o.exports[0].backend.path = "/srv/golden.img";
  EXPECT_EQ(ValidateOptions(o), "");
  // Another export's directory is as bad: its start would remove the file as a leftover.
  o.exports[1].backend.path = "/srv/overlays/e0.1/v2.img";
  o.exports[1].read_only = true;
  EXPECT_EQ(ValidateOptions(o),
            "export e0.2: the image /srv/overlays/e0.1/v2.img is in the overlay directory "
            "/srv/overlays/e0.1/ of export e0.1, whose files aoe serve manages (and removes); "
            "keep the image elsewhere");
  o.exports[1].backend.path = "/srv/b.img";
  o.exports[1].read_only = false;

  const std::filesystem::path dir =
      std::filesystem::temp_directory_path() / ("aoe-options-dir-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir / "ov");
  std::ofstream(dir / "ov" / "v2.img") << "an image";
  std::filesystem::create_symlink(dir / "ov" / "v2.img", dir / "golden.img");
  o.exports[0].backend.path = dir / "golden.img";
  o.exports[0].overlay_dir = dir / "ov";
  const std::string error = ValidateOptions(o);
  std::filesystem::remove_all(dir);
  EXPECT_NE(error.find("is in its own overlay directory"), std::string::npos) << error;
}

TEST(ValidateOptions, AcceptsValidOptions) { EXPECT_EQ(ValidateOptions(Valid()), ""); }

TEST(ValidateOptions, AcceptsLargestUsableAddress) {
  ServerOptions o = Valid();
  o.exports = {Export(65534, 254)};
  EXPECT_EQ(ValidateOptions(o), "");
}

TEST(ValidateOptions, NoInterface) {
  ServerOptions o = Valid();
  o.interfaces.clear();
  EXPECT_EQ(ValidateOptions(o),
            "no interface given; add -i IFACE (or interfaces = [\"IFACE\"] in the config file)");
}

TEST(ValidateOptions, InterfaceListedTwice) {
  ServerOptions o = Valid();
  o.interfaces = {"veth0", "veth0"};
  EXPECT_EQ(ValidateOptions(o), "interface veth0 is listed twice; list each interface once");
}

TEST(ValidateOptions, InterfaceNameTooLong) {
  ServerOptions o = Valid();
  o.interfaces = {"a_very_long_interface"};
  EXPECT_EQ(ValidateOptions(o),
            "the interface list names interface 'a_very_long_interface': it is longer than 15 "
            "characters; check the name with 'ip link'");
}

TEST(ValidateOptions, BufferCountBelowTwo) {
  for (uint16_t count : std::initializer_list<uint16_t>{0, 1}) {
    ServerOptions o = Valid();
    o.buffer_count = count;
    EXPECT_EQ(ValidateOptions(o),
              "--bufcnt must be at least 2 (Linux sends nothing to a target advertising fewer); "
              "use 2 or more (default 64)");
  }
  ServerOptions o = Valid();
  o.buffer_count = 2;
  EXPECT_EQ(ValidateOptions(o), "");
}

TEST(ValidateOptions, NoExport) {
  ServerOptions o = Valid();
  o.exports.clear();
  EXPECT_EQ(ValidateOptions(o), "no export given; add one such as e0.1=/srv/disk.img");
}

TEST(ValidateOptions, DuplicateShelfSlot) {
  ServerOptions o = Valid();
  o.exports.push_back(Export(0, 1, "/srv/other.img"));
  EXPECT_EQ(ValidateOptions(o), "export e0.1 is listed twice; give each export its own shelf.slot");
}

TEST(ValidateOptions, BroadcastShelf) {
  ServerOptions o = Valid();
  o.exports.push_back(Export(65535, 1));
  EXPECT_EQ(ValidateOptions(o),
            "export e65535.1: shelf 65535 is the broadcast address; use 0-65534");
}

TEST(ValidateOptions, BroadcastSlot) {
  ServerOptions o = Valid();
  o.exports.push_back(Export(3, 255));
  EXPECT_EQ(ValidateOptions(o), "export e3.255: slot 255 is the broadcast address; use 0-254");
}

TEST(ValidateOptions, EmptyPath) {
  ServerOptions o = Valid();
  o.exports.push_back(Export(0, 9, ""));
  EXPECT_EQ(ValidateOptions(o),
            "export e0.9: no path; give the image file or block device to serve");
}

TEST(ValidateOptions, ExportInterfaceNotServed) {
  ServerOptions o = Valid();
  o.exports[0].interfaces = {"veth1", "veth9"};
  EXPECT_EQ(ValidateOptions(o),
            "export e0.1 names interface veth9, which is not among the served interfaces (-i); "
            "add -i veth9 or drop it from the export");
}

TEST(ValidateOptions, ExportInterfaceTwice) {
  ServerOptions o = Valid();
  o.exports[0].interfaces = {"veth1", "veth1"};
  EXPECT_EQ(ValidateOptions(o), "export e0.1 lists interface veth1 twice; list it once");
}

TEST(ValidateOptions, MulticastMaskEntry) {
  ServerOptions o = Valid();
  o.exports[1].mask = {*MacAddress::Parse("02:00:00:00:00:01"), MacAddress::Broadcast()};
  EXPECT_EQ(ValidateOptions(o),
            "export e0.2: mask entry ff:ff:ff:ff:ff:ff is not an initiator's address; list the "
            "initiators' unicast MACs");
}

TEST(ValidateOptions, MaskEntryTwice) {
  ServerOptions o = Valid();
  const MacAddress mac = *MacAddress::Parse("02:00:00:00:00:01");
  o.exports[1].mask = {mac, mac};
  EXPECT_EQ(ValidateOptions(o),
            "export e0.2: mask entry 02:00:00:00:00:01 is given twice; list each initiator once");
}

TEST(ValidateOptions, ClientLifetimeOfAGroupAddress) {
  ServerOptions o = Valid();
  o.exports[1].overlay_dir = "/var/lib/aoekit/overlays/e0.2";
  o.exports[1].client_lifetimes = {{MacAddress::Broadcast(), overlay::Lifetime::kDiscardOnBoot}};
  EXPECT_EQ(ValidateOptions(o),
            "export e0.2: lifetime.ff:ff:ff:ff:ff:ff names no initiator (a group or zero "
            "address); give a client's unicast MAC");
}

TEST(ValidateOptions, LengthBeyondLba48) {
  ServerOptions o = Valid();
  o.exports[0].length_sectors = (uint64_t{1} << 48) + 1;
  EXPECT_EQ(ValidateOptions(o),
            "export e0.1: length 281474976710657 sectors is more than AoE can address (2^48); "
            "use a smaller length");
}

TEST(ValidateOptions, OffsetOverflowsBytes) {
  ServerOptions o = Valid();
  o.exports[0].offset_sectors = UINT64_MAX / 512;
  o.exports[0].length_sectors = 1;
  EXPECT_EQ(ValidateOptions(o).rfind("export e0.1: offset ", 0), 0u) << ValidateOptions(o);
}

TEST(ValidateOptions, EmptyStateDir) {
  ServerOptions o = Valid();
  o.state_dir.clear();
  EXPECT_EQ(ValidateOptions(o),
            "the state directory is empty; give --state-dir DIR (default /var/lib/aoekit)");
}

TEST(InjectedFault, ToStringIsTheSpecSyntax) {
  EXPECT_EQ((InjectedFault{.first_sector = 100, .last_sector = 199}).ToString(), "100-199");
  EXPECT_EQ((InjectedFault{.first_sector = 5, .last_sector = 5, .on_write = false}).ToString(),
            "5-5:read");
  EXPECT_EQ((InjectedFault{.first_sector = 0, .last_sector = 9, .on_read = false}).ToString(),
            "0-9:write");
}

TEST(ValidateOptions, InjectedFaultOutsideLba48) {
  ServerOptions o = Valid();
  o.exports[0].fail = {InjectedFault{.first_sector = 1, .last_sector = uint64_t{1} << 48}};
  EXPECT_EQ(ValidateOptions(o),
            "export e0.1: fail=1-281474976710656 is beyond any AoE disk (2^48 sectors)");
}

TEST(ValidateOptions, InjectedFaultBackwards) {
  ServerOptions o = Valid();
  o.exports[1].fail = {InjectedFault{.first_sector = 9, .last_sector = 1}};
  EXPECT_EQ(ValidateOptions(o),
            "export e0.2: fail=9-1 ends before it starts; write FIRST-LAST with FIRST <= LAST");
}

}  // namespace
}  // namespace aoe::target
