#include "cli/export_spec.h"

#include <gtest/gtest.h>

namespace aoe::cli {
namespace {

MacAddress Mac(std::string_view text) { return *MacAddress::Parse(text); }

TEST(ParseTargetAddress, ParsesShelfAndSlot) {
  ParseResult<proto::DiskAddress> a = ParseTargetAddress("e12.3");
  ASSERT_TRUE(a) << a.error().message;
  EXPECT_EQ(a->shelf, 12);
  EXPECT_EQ(a->slot, 3);
}

TEST(ParseTargetAddress, LeavesBroadcastValuesToValidation) {
  ParseResult<proto::DiskAddress> a = ParseTargetAddress("e65535.255");
  ASSERT_TRUE(a) << a.error().message;
  EXPECT_EQ(a->shelf, 65535);
  EXPECT_EQ(a->slot, 255);
}

TEST(ParseTargetAddress, RejectsMalformedNames) {
  for (std::string_view bad : {"", "e", "e1", "e1.", "e.1", "x1.2", "E1.2", "e1.2.3", "e-1.2",
                               "e+1.2", "e1.2 ", "e 1.2"}) {
    ParseResult<proto::DiskAddress> a = ParseTargetAddress(bad);
    ASSERT_FALSE(a) << bad;
    EXPECT_EQ(a.error().message,
              "'" + std::string(bad) + "' is not a target name; expected eSHELF.SLOT such as e0.1");
  }
}

TEST(ParseTargetAddress, RejectsOutOfRange) {
  EXPECT_EQ(ParseTargetAddress("e65536.1").error().message,
            "shelf 65536 in 'e65536.1' is out of range; use 0-65534");
  EXPECT_EQ(ParseTargetAddress("e1.256").error().message,
            "slot 256 in 'e1.256' is out of range; use 0-254");
}

TEST(ParseUnsigned, AcceptsOnlyPlainDecimal) {
  EXPECT_EQ(ParseUnsigned("0"), 0u);
  EXPECT_EQ(ParseUnsigned("18446744073709551615"), UINT64_MAX);
  EXPECT_FALSE(ParseUnsigned(""));
  EXPECT_FALSE(ParseUnsigned("-1"));
  EXPECT_FALSE(ParseUnsigned("+1"));
  EXPECT_FALSE(ParseUnsigned("1k"));
  EXPECT_FALSE(ParseUnsigned("0x10"));
  EXPECT_FALSE(ParseUnsigned("18446744073709551616"));
}

TEST(ParseExportSpec, PathOnlyGivesDefaults) {
  ParseResult<target::ExportOptions> e = ParseExportSpec("e1.2=/srv/disk.img");
  ASSERT_TRUE(e) << e.error().message;
  EXPECT_EQ(e->address, (proto::DiskAddress{1, 2}));
  EXPECT_EQ(e->backend, (BackendSpec{.path = "/srv/disk.img"}));
  EXPECT_FALSE(e->read_only);
  EXPECT_EQ(e->offset_sectors, 0u);
  EXPECT_EQ(e->length_sectors, 0u);
  EXPECT_EQ(e->durability, target::Durability::kAuto) << "safe by default";
  EXPECT_FALSE(e->direct);
  EXPECT_TRUE(e->mask.empty());
  EXPECT_TRUE(e->interfaces.empty());
}

TEST(ParseExportSpec, EveryKey) {
  ParseResult<target::ExportOptions> e = ParseExportSpec(
      "e0.1=/dev/sdb,ro,offset=2048,length=204800,sync,direct,"
      "mask=02:00:00:00:00:01;02:00:00:00:00:02,mask=02:00:00:00:00:03,iface=vt0,iface=vt1");
  ASSERT_TRUE(e) << e.error().message;
  EXPECT_EQ(e->backend.path, "/dev/sdb");
  EXPECT_TRUE(e->read_only);
  EXPECT_EQ(e->offset_sectors, 2048u);
  EXPECT_EQ(e->length_sectors, 204800u);
  EXPECT_EQ(e->durability, target::Durability::kSync);
  EXPECT_TRUE(e->direct);
  EXPECT_EQ(e->mask, (std::vector<MacAddress>{Mac("02:00:00:00:00:01"), Mac("02:00:00:00:00:02"),
                                              Mac("02:00:00:00:00:03")}));
  EXPECT_EQ(e->interfaces, (std::vector<std::string>{"vt0", "vt1"}));
}

TEST(ParseExportSpec, ServerDefaultsApplyUnlessTheSpecSaysOtherwise) {
  const ExportDefaults defaults{.durability = target::Durability::kSync, .direct = true};
  ParseResult<target::ExportOptions> e = ParseExportSpec("e0.1=/a", defaults);
  ASSERT_TRUE(e) << e.error().message;
  EXPECT_EQ(e->durability, target::Durability::kSync);
  EXPECT_TRUE(e->direct);
  ParseResult<target::ExportOptions> own = ParseExportSpec("e0.1=/a,durability=cache", defaults);
  ASSERT_TRUE(own) << own.error().message;
  EXPECT_EQ(own->durability, target::Durability::kCache);
}

TEST(ParseExportSpec, EveryDurabilityByName) {
  for (auto [text, want] : {std::pair{"cache", target::Durability::kCache},
                            std::pair{"auto", target::Durability::kAuto},
                            std::pair{"sync", target::Durability::kSync}}) {
    ParseResult<target::ExportOptions> e =
        ParseExportSpec(std::string("e0.1=/a,durability=") + text);
    ASSERT_TRUE(e) << e.error().message;
    EXPECT_EQ(e->durability, want) << text;
    EXPECT_EQ(target::DurabilityName(want), text);
  }
}

TEST(ParseExportSpec, PathMayContainEqualsSignAndAFileScheme) {
  ParseResult<target::ExportOptions> e = ParseExportSpec("e0.1=/srv/a=b.img,ro");
  ASSERT_TRUE(e) << e.error().message;
  EXPECT_EQ(e->backend.path, "/srv/a=b.img");
  ParseResult<target::ExportOptions> f = ParseExportSpec("e0.1=file:/srv/x.img");
  ASSERT_TRUE(f) << f.error().message;
  EXPECT_EQ(f->backend.path, "/srv/x.img");
}

struct BadSpec {
  std::string_view spec;
  std::string_view message;
};

class ParseExportSpecError : public ::testing::TestWithParam<BadSpec> {};

TEST_P(ParseExportSpecError, SaysWhatIsWrongAndHowToFixIt) {
  ParseResult<target::ExportOptions> e = ParseExportSpec(GetParam().spec);
  ASSERT_FALSE(e);
  EXPECT_EQ(e.error().message, GetParam().message);
  EXPECT_EQ(e.error().message.find('\n'), std::string::npos);
}

INSTANTIATE_TEST_SUITE_P(
    Cases, ParseExportSpecError,
    ::testing::Values(
        BadSpec{"e0.0", "bad export 'e0.0'; expected eSHELF.SLOT=PATH, e.g. e0.1=/srv/disk.img"},
        BadSpec{"/srv/disk.img",
                "bad export '/srv/disk.img'; expected eSHELF.SLOT=PATH, e.g. "
                "e0.1=/srv/disk.img"},
        BadSpec{"0.1=/a",
                "bad export '0.1=/a': '0.1' is not a target name; expected "
                "eSHELF.SLOT such as e0.1"},
        BadSpec{"e1.256=/a",
                "bad export 'e1.256=/a': slot 256 in 'e1.256' is out of range; use "
                "0-254"},
        BadSpec{"e0.1=", "bad export 'e0.1=': no PATH after '='; e.g. e0.1=/srv/disk.img"},
        BadSpec{"e0.1=,ro", "bad export 'e0.1=,ro': no PATH after '='; e.g. e0.1=/srv/disk.img"},
        BadSpec{"e0.1=/a,",
                "bad export 'e0.1=/a,': empty option between commas; remove the "
                "extra comma"},
        BadSpec{"e0.1=/a,rw",
                "bad export 'e0.1=/a,rw': unknown option 'rw'; use ro, offset=N, "
                "length=N, durability=cache|auto|sync, sync, direct, mask=MAC;MAC..., "
                "iface=NAME, fail=FIRST-LAST, overlay=DIR, lifetime=persist|discard-on-boot, "
                "lifetime.MAC=..., ceph_conf=PATH, ceph_id=NAME, keyring=PATH"},
        BadSpec{"e0.1=/a,overlay=/o,lifetime=forever",
                "bad export 'e0.1=/a,overlay=/o,lifetime=forever': lifetime 'forever' is not "
                "one of persist, discard-on-boot; e.g. lifetime=discard-on-boot"},
        BadSpec{"e0.1=/a,overlay=/o,lifetime.52:54=persist",
                "bad export 'e0.1=/a,overlay=/o,lifetime.52:54=persist': '52:54' in "
                "lifetime.52:54 is not a MAC address; write lifetime.aa:bb:cc:dd:ee:ff=..."},
        BadSpec{"e0.1=/a,ro,ro", "bad export 'e0.1=/a,ro,ro': ro is given twice; give it once"},
        BadSpec{"e0.1=/a,direct,direct",
                "bad export 'e0.1=/a,direct,direct': direct is given twice; give it once"},
        BadSpec{"e0.1=/a,overlay=/o,overlay=/p",
                "bad export 'e0.1=/a,overlay=/o,overlay=/p': overlay is given twice; give it "
                "once"},
        BadSpec{"e0.1=/a,overlay=",
                "bad export 'e0.1=/a,overlay=': 'overlay' needs a value, e.g. "
                "overlay=/var/lib/aoekit/overlays/e0.1"},
        BadSpec{"e0.1=/a,durability=safe",
                "bad export 'e0.1=/a,durability=safe': durability 'safe' is not one of cache, "
                "auto, sync; e.g. durability=auto (see docs/configuration.md)"},
        BadSpec{"e0.1=/a,durability",
                "bad export 'e0.1=/a,durability': 'durability' needs a value, e.g. "
                "durability=sync"},
        BadSpec{"e0.1=/a,sync,durability=cache",
                "bad export 'e0.1=/a,sync,durability=cache': durability is given twice (sync "
                "is durability=sync); give it once"},
        BadSpec{"e0.1=/a,ro=1", "bad export 'e0.1=/a,ro=1': 'ro' takes no value; write ,ro"},
        BadSpec{"e0.1=/a,offset",
                "bad export 'e0.1=/a,offset': 'offset' needs a value, e.g. "
                "offset=2048"},
        BadSpec{"e0.1=/a,length=",
                "bad export 'e0.1=/a,length=': 'length' needs a value, e.g. "
                "length=2048"},
        BadSpec{"e0.1=/a,offset=1M",
                "bad export 'e0.1=/a,offset=1M': offset '1M' is not a "
                "whole number of 512-byte sectors, e.g. offset=2048"},
        BadSpec{"e0.1=/a,length=-5",
                "bad export 'e0.1=/a,length=-5': length '-5' is not a "
                "whole number of 512-byte sectors, e.g. length=2048"},
        BadSpec{"e0.1=/a,offset=1,offset=2",
                "bad export 'e0.1=/a,offset=1,offset=2': offset is "
                "given twice; give it once"},
        BadSpec{"e0.1=/a,mask=zz",
                "bad export 'e0.1=/a,mask=zz': 'zz' is not a MAC address; "
                "write it as aa:bb:cc:dd:ee:ff"},
        BadSpec{"e0.1=/a,mask=02:00:00:00:00:01;",
                "bad export 'e0.1=/a,mask=02:00:00:00:00:01;': "
                "'' is not a MAC address; write it as "
                "aa:bb:cc:dd:ee:ff"},
        BadSpec{"e0.1=/a,mask=",
                "bad export 'e0.1=/a,mask=': 'mask' needs a value, e.g. "
                "mask=02:00:00:00:00:01"},
        BadSpec{"e0.1=/a,iface=",
                "bad export 'e0.1=/a,iface=': 'iface' needs a value, e.g. "
                "iface=vt0"}));

TEST(ParseInjectedFault, RangeSingleSectorAndDirection) {
  ParseResult<target::InjectedFault> both = ParseInjectedFault("100-199");
  ASSERT_TRUE(both) << both.error().message;
  EXPECT_EQ(both->first_sector, 100u);
  EXPECT_EQ(both->last_sector, 199u);
  EXPECT_TRUE(both->on_read);
  EXPECT_TRUE(both->on_write);

  ParseResult<target::InjectedFault> one = ParseInjectedFault("7:read");
  ASSERT_TRUE(one) << one.error().message;
  EXPECT_EQ(one->first_sector, 7u);
  EXPECT_EQ(one->last_sector, 7u);
  EXPECT_TRUE(one->on_read);
  EXPECT_FALSE(one->on_write);

  ParseResult<target::InjectedFault> writes = ParseInjectedFault("0-0:write");
  ASSERT_TRUE(writes) << writes.error().message;
  EXPECT_FALSE(writes->on_read);
  EXPECT_TRUE(writes->on_write);
}

TEST(ParseInjectedFault, RejectsMalformedRanges) {
  for (std::string_view bad : {"", "-", "1-", "-2", "a-b", "1-2-3", "1 -2", "0x1-2", "1-2:"}) {
    ParseResult<target::InjectedFault> f = ParseInjectedFault(bad);
    ASSERT_FALSE(f) << bad;
  }
  EXPECT_EQ(ParseInjectedFault("a-b").error().message,
            "fail 'a-b' is not a sector range; write FIRST-LAST[:read|:write], e.g. "
            "100-199:write");
  EXPECT_EQ(ParseInjectedFault("5-1").error().message,
            "fail '5-1' ends before it starts; write FIRST-LAST with FIRST <= LAST");
  EXPECT_EQ(ParseInjectedFault("1-2:both").error().message,
            "fail '1-2:both': 'both' is not a direction; write :read or :write (or nothing for "
            "both)");
}

TEST(ParseExportSpec, OverlayAndLifetimes) {
  ParseResult<target::ExportOptions> e = ParseExportSpec(
      "e0.1=/srv/golden.img,overlay=/var/lib/aoekit/overlays/e0.1,lifetime=discard-on-boot,"
      "lifetime.52:54:00:12:34:56=persist");
  ASSERT_TRUE(e) << e.error().message;
  EXPECT_EQ(e->overlay_dir, "/var/lib/aoekit/overlays/e0.1");
  EXPECT_EQ(e->lifetime, overlay::Lifetime::kDiscardOnBoot);
  const MacAddress mac({0x52, 0x54, 0x00, 0x12, 0x34, 0x56});
  ASSERT_EQ(e->client_lifetimes.size(), 1u);
  EXPECT_EQ(e->client_lifetimes.at(mac), overlay::Lifetime::kPersist);
  const ChainOptions chain = e->Storage();
  ASSERT_TRUE(chain.overlay);
  EXPECT_EQ(chain.overlay->dir, "/var/lib/aoekit/overlays/e0.1");
  EXPECT_EQ(chain.overlay->For(mac), overlay::Lifetime::kPersist);
  EXPECT_EQ(chain.overlay->For(MacAddress()), overlay::Lifetime::kDiscardOnBoot);
  EXPECT_FALSE(ParseExportSpec("e0.1=/a")->Storage().overlay);
}

TEST(ParseExportSpec, FailIsRepeatable) {
  ParseResult<target::ExportOptions> e =
      ParseExportSpec("e0.1=/a.img,fail=100-199:write,fail=4096");
  ASSERT_TRUE(e) << e.error().message;
  ASSERT_EQ(e->fail.size(), 2u);
  EXPECT_EQ(e->fail[0].ToString(), "100-199:write");
  EXPECT_EQ(e->fail[1].ToString(), "4096-4096");
}

TEST(ParseExportSpec, BadFailNamesTheExport) {
  ParseResult<target::ExportOptions> e = ParseExportSpec("e0.1=/a.img,fail=x");
  ASSERT_FALSE(e);
  EXPECT_EQ(e.error().message,
            "bad export 'e0.1=/a.img,fail=x': fail 'x' is not a sector range; write "
            "FIRST-LAST[:read|:write], e.g. 100-199:write");
  EXPECT_EQ(ParseExportSpec("e0.1=/a.img,fail").error().message,
            "bad export 'e0.1=/a.img,fail': 'fail' needs a value, e.g. fail=100-199:write");
}

TEST(ParseExportSpec, RbdImageWithCephOptions) {
  ParseResult<target::ExportOptions> e = ParseExportSpec(
      "e1.2=rbd:pool1/disk,ceph_conf=/tmp/c/ceph.conf,ceph_id=aoe,keyring=/tmp/c/keyring");
  ASSERT_TRUE(e) << e.error().message;
  EXPECT_EQ(e->backend.kind, BackendSpec::Kind::kRbd);
  EXPECT_EQ(e->backend.pool, "pool1");
  EXPECT_EQ(e->backend.image, "disk");
  EXPECT_EQ(e->backend.ceph.conf_path, "/tmp/c/ceph.conf");
  EXPECT_EQ(e->backend.ceph.id, "aoe");
  EXPECT_EQ(e->backend.ceph.keyring, "/tmp/c/keyring");
}

TEST(ParseExportSpec, CephOptionGivenTwiceIsRefused) {
  ParseResult<target::ExportOptions> e = ParseExportSpec("e1.2=rbd:p/d,ceph_id=a,ceph_id=b");
  ASSERT_FALSE(e);
  EXPECT_EQ(e.error().message,
            "bad export 'e1.2=rbd:p/d,ceph_id=a,ceph_id=b': ceph_id is given twice; "
            "give it once");
}

std::string Marked(std::string_view spec) {
  return MapExportSpecPaths(spec, [](const std::string& path) { return "<" + path + ">"; });
}

TEST(ExportSpecPaths, EveryFilePathIsMappedAndNothingElse) {
  EXPECT_EQ(Marked("e1.1=disk.img,ro,offset=8"), "e1.1=<disk.img>,ro,offset=8");
  EXPECT_EQ(Marked("e1.1=file:d.img,overlay=o/e1.1,mask=02:00:00:00:00:01"),
            "e1.1=file:<d.img>,overlay=<o/e1.1>,mask=02:00:00:00:00:01");
  EXPECT_EQ(Marked("e1.2=rbd:pool/disk,ceph_conf=c.conf,ceph_id=aoe,keyring=k"),
            "e1.2=rbd:pool/disk,ceph_conf=<c.conf>,ceph_id=aoe,keyring=<k>");
  EXPECT_EQ(Marked("e1.1"), "e1.1");
}

TEST(ExportSpecPaths, TheFirstRelativePathIsNamed) {
  EXPECT_EQ(RelativePathIn("e1.1=/srv/d.img,overlay=/var/o"), "");
  EXPECT_EQ(RelativePathIn("e1.1=d.img,overlay=/var/o"), "d.img");
  EXPECT_EQ(RelativePathIn("e1.1=/srv/d.img,overlay=o"), "o");
  EXPECT_EQ(RelativePathIn("e1.2=rbd:pool/disk,keyring=k"), "k");
  EXPECT_EQ(RelativePathIn("e1.2=rbd:pool/disk"), "");
}

}  // namespace
}  // namespace aoe::cli
