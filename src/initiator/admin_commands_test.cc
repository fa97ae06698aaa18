// The initiator's admin commands (config string, mask list, reservation, raw frames) and what
// it learns from unsolicited announcements, over MemoryWires against FakeTargets
// (testing/initiator_fixture.h); and how a reservation held by another host surfaces in I/O.
#include <gtest/gtest.h>

#include "initiator/testing/initiator_fixture.h"

namespace aoe::initiator::testing {
namespace {

TEST_F(InitiatorTest, ReservationErrorSurfacesClearly) {
  FakeTarget& target = AddTarget({.shelf = 0, .slot = 1});
  MakeClient();
  SyncDisk disk = Open(0, 1);  // IDENTIFY is exempt from reservations
  target.reserve_list() = {kOtherHost};
  std::vector<std::byte> buf(1024);
  Outcome<void> r = disk.Read(10, buf);
  ASSERT_FALSE(r);
  EXPECT_TRUE(r.error() == InitiatorErrc::kTargetReserved);
  EXPECT_EQ(r.error().message,
            "e0.1 refused READ of sectors 10-11: target reserved by another host (AoE error 6); "
            "the ATA reply does not say who holds it");
  EXPECT_FALSE(r.error().holders.has_value());
}

TEST_F(InitiatorTest, ReserveRefusalCarriesTheHolderList) {
  FakeTarget& target = AddTarget({.shelf = 0, .slot = 1});
  Client& client = MakeClient();
  target.reserve_list() = {kOtherHost};
  Outcome<ReserveReply> taken = client.ReserveForUs(DiskAddress{0, 1});
  ASSERT_FALSE(taken);
  EXPECT_TRUE(taken.error() == InitiatorErrc::kTargetReserved);
  ASSERT_TRUE(taken.error().holders.has_value());
  EXPECT_EQ(*taken.error().holders, (std::vector<MacAddress>{kOtherHost}));
  EXPECT_EQ(taken.error().message,
            "e0.1 refused reserve set: target reserved by another host (AoE error 6): held by "
            "02:00:00:00:cc:01");
}

TEST_F(InitiatorTest, ConfigStringCommands) {
  FakeTarget& target = AddTarget({.shelf = 0, .slot = 1});
  Client& client = MakeClient();
  DiskAddress e01{0, 1};
  Outcome<ConfigReply> set = client.Config(e01, proto::ConfigCommand::kSetIfEmpty, "host-a");
  ASSERT_TRUE(set) << set.error().message;
  EXPECT_EQ(set->config_string, "host-a");
  EXPECT_EQ(target.config_string(), "host-a");
  EXPECT_EQ(set->buffer_count, 16);

  Outcome<ConfigReply> again = client.Config(e01, proto::ConfigCommand::kSetIfEmpty, "host-b");
  ASSERT_FALSE(again);
  EXPECT_TRUE(again.error() == InitiatorErrc::kAoeError);
  EXPECT_EQ(
      again.error().message,
      "e0.1 refused config set-if-empty: config string already set (AoE error 4): it is 'host-a'");

  EXPECT_TRUE(client.Config(e01, proto::ConfigCommand::kTestExact, "host-a"));
  EXPECT_TRUE(client.Config(e01, proto::ConfigCommand::kTestPrefix, "host"));
  Outcome<ConfigReply> miss = client.Config(e01, proto::ConfigCommand::kTestExact, "host");
  ASSERT_FALSE(miss);
  EXPECT_TRUE(miss.error() == InitiatorErrc::kTimeout);
  EXPECT_EQ(miss.error().message, "no reply from e0.1 to config test within 1 s");

  ASSERT_TRUE(client.Config(e01, proto::ConfigCommand::kForceSet, "host-c"));
  Outcome<ConfigReply> read = client.Config(e01, proto::ConfigCommand::kRead);
  ASSERT_TRUE(read);
  EXPECT_EQ(read->config_string, "host-c");
  EXPECT_EQ(read->address, e01);
}

TEST_F(InitiatorTest, ConfigRetriesWhenTheRequestIsLost) {
  FakeTarget& target = AddTarget({.shelf = 0, .slot = 1}, false);
  Client& client = MakeClient({}, false);
  // 30% loss each way: one send succeeds with p = 0.49, four sends within the timeout with
  // p = 0.93 (the seed makes the outcome fixed).
  wire_a_.SetFaults({.drop_probability = 0.3, .seed = 3});
  int ok = 0;
  for (int i = 0; i < 10; ++i)
    ok += client.Config(DiskAddress{0, 1}, proto::ConfigCommand::kRead) ? 1 : 0;
  EXPECT_GE(ok, 8);
  EXPECT_GT(target.stats().config, 10u);
}

TEST_F(InitiatorTest, MaskReadAndEdit) {
  FakeTarget& target = AddTarget({.shelf = 0, .slot = 1});
  Client& client = MakeClient();
  DiskAddress e01{0, 1};
  Outcome<MaskReply> empty = client.ReadMask(e01);
  ASSERT_TRUE(empty);
  EXPECT_TRUE(empty->macs.empty());
  std::vector<proto::MaskDirective> add{{1, kInitiatorMacA}, {1, kInitiatorMacB}};
  Outcome<MaskReply> edited = client.EditMask(e01, add);
  ASSERT_TRUE(edited) << edited.error().message;
  EXPECT_EQ(edited->macs, (std::vector<MacAddress>{kInitiatorMacA, kInitiatorMacB}));
  EXPECT_EQ(target.mask_list().size(), 2u);
  std::vector<proto::MaskDirective> bad{{2, kInitiatorMacB}, {7, kOtherHost}};
  Outcome<MaskReply> refused = client.EditMask(e01, bad);
  ASSERT_FALSE(refused);
  EXPECT_TRUE(refused.error() == InitiatorErrc::kMaskError);
  EXPECT_EQ(refused.error().message, "e0.1 refused mask edit: directive 1 failed: bad directive");
  EXPECT_EQ(target.mask_list(), (std::vector<MacAddress>{kInitiatorMacA}));
}

// 200 directives make a 1628-byte frame: it goes on the jumbo-frame path only, and where no
// path carries it the request fails at once as a bad argument, rather than timing out after
// the kernel refused it.
TEST_F(InitiatorTest, AnAdminRequestTooLongForALinkGoesOnlyWhereItFits) {
  AddTarget({.shelf = 0, .slot = 1});
  Client& client = MakeClient();
  std::vector<proto::MaskDirective> deletes(200, {2, kOtherHost});
  init_port_b_->set_mtu(9000);
  target_ports_[1]->set_mtu(9000);
  Outcome<MaskReply> edited = client.EditMask(DiskAddress{0, 1}, deletes);
  ASSERT_TRUE(edited) << edited.error().message;
  EXPECT_EQ(init_port_a_->stats().tx_oversize, 0u) << "sent where it does not fit";

  init_port_b_->set_mtu(1500);
  Outcome<MaskReply> refused = client.EditMask(DiskAddress{0, 1}, deletes);
  ASSERT_FALSE(refused);
  EXPECT_TRUE(refused.error() == InitiatorErrc::kInvalidArgument);
  EXPECT_EQ(refused.error().message,
            "the mask edit needs a 1628-byte frame, more than i0 carries (MTU 1500); send fewer "
            "entries per request");
}

// A disk the initiator has open takes its admin requests on one of its own paths: the first
// that is up and whose link carries the request, not merely the first that is up.
TEST_F(InitiatorTest, AnOpenDisksLongAdminRequestTakesAPathThatCarriesIt) {
  AddTarget({.shelf = 0, .slot = 1});
  Client& client = MakeClient();
  init_port_b_->set_mtu(9000);
  target_ports_[1]->set_mtu(9000);
  SyncDisk disk = Open(0, 1);
  std::vector<std::byte> sector(512);
  ASSERT_TRUE(disk.Read(0, sector));  // open, on both paths
  std::vector<proto::MaskDirective> deletes(200, {2, kOtherHost});
  Outcome<MaskReply> edited = client.EditMask(DiskAddress{0, 1}, deletes);
  ASSERT_TRUE(edited) << edited.error().message;
  EXPECT_EQ(init_port_a_->stats().tx_oversize, 0u) << "sent where it does not fit";
}

TEST_F(InitiatorTest, ReserveSetReadAndRelease) {
  FakeTarget& target = AddTarget({.shelf = 0, .slot = 1});
  Client& client = MakeClient();
  DiskAddress e01{0, 1};
  Outcome<ReserveReply> set = client.ReserveForUs(e01);
  ASSERT_TRUE(set) << set.error().message;
  EXPECT_EQ(set->macs, (std::vector<MacAddress>{kInitiatorMacA, kInitiatorMacB}));
  Outcome<ReserveReply> read = client.Reserve(e01, proto::ReserveCommand::kRead, {});
  ASSERT_TRUE(read);
  EXPECT_EQ(read->macs.size(), 2u);
  // I/O still works for us on both paths.
  SyncDisk disk = Open(0, 1);
  std::vector<std::byte> buf(64 * 1024);
  EXPECT_TRUE(disk.Read(0, buf));
  ASSERT_TRUE(client.Release(e01));
  EXPECT_TRUE(target.reserve_list().empty());

  target.reserve_list() = {kOtherHost};
  Outcome<ReserveReply> taken = client.ReserveForUs(e01);
  ASSERT_FALSE(taken);
  EXPECT_TRUE(taken.error() == InitiatorErrc::kTargetReserved);
  ASSERT_TRUE(client.ReserveForUs(e01, /*force=*/true));
  EXPECT_EQ(target.reserve_list().size(), 2u);
}

TEST_F(InitiatorTest, RawFrameGetsTheReplyWithTheSameTag) {
  AddTarget({.shelf = 0, .slot = 1}, false);
  Client& client = MakeClient({}, false);
  std::vector<std::byte> frame(60);
  proto::Header h;
  h.destination = MacAddress::Broadcast();
  h.shelf = 0;
  h.slot = 1;
  h.command = static_cast<uint8_t>(proto::Command::kAta);
  h.tag = 0x8000'1234;  // a foreign tag is fine: raw exchanges match it by value
  proto::EncodeHeader(h, frame);
  proto::EncodeAta({.sector_count = 1, .cmd_status = proto::ata_op::kIdentifyDevice}, frame);
  Outcome<std::vector<std::byte>> reply = client.SendRaw(0, frame, milliseconds(200));
  ASSERT_TRUE(reply) << reply.error().message;
  ASSERT_EQ(reply->size(), 36u + 512u);
  EXPECT_EQ(LoadBe32(*reply, 20), 0x8000'1234u);
  EXPECT_EQ(MacAddress::Load(*reply, 0), kInitiatorMacA);  // zero source was filled in

  // An unknown command: the target answers with error 1, and the raw reply shows it.
  std::vector<std::byte> arg(4);
  Outcome<std::vector<std::byte>> unknown = client.Exchange(DiskAddress{0, 1}, 0x42, arg);
  ASSERT_TRUE(unknown);
  EXPECT_EQ(LoadU8(*unknown, 14) & proto::kFlagError, proto::kFlagError);
  EXPECT_EQ(LoadU8(*unknown, 15), 1);

  h.shelf = 5;  // nobody answers
  proto::EncodeHeader(h, frame);
  Outcome<std::vector<std::byte>> none = client.SendRaw(0, frame, milliseconds(200));
  ASSERT_FALSE(none);
  EXPECT_TRUE(none.error() == InitiatorErrc::kTimeout);
}

TEST_F(InitiatorTest, UnsolicitedAnnouncementTeachesATarget) {
  MakeClient({}, false);
  auto port = MakePort(wire_a_, "ann", TargetMac(9, 0xA), PortRole::kTarget);
  std::vector<std::byte> frame(60);
  proto::Header h;
  h.destination = MacAddress::Broadcast();
  h.source = port->mac();
  h.flags = proto::kFlagResponse;
  h.shelf = 4;
  h.slot = 2;
  h.command = static_cast<uint8_t>(proto::Command::kConfig);
  h.tag = 0;
  proto::EncodeHeader(h, frame);
  proto::ConfigArg config;
  config.buffer_count = 8;
  config.sector_count = 2;
  proto::EncodeConfig(config, frame);
  const TxFrame bytes{ConstByteSpan(frame)};
  ASSERT_TRUE(port->Send(std::span(&bytes, 1)));
  client_->initiator().Poll();
  Disk* d = client_->initiator().disk(DiskAddress{4, 2});
  ASSERT_NE(d, nullptr);
  EXPECT_EQ(d->info().buffer_count, 8);
  EXPECT_EQ(d->path_stats()[0].window, 4u);
}

TEST_F(InitiatorTest, RepliesFromWildcardAddressesAndOtherPortsAreIgnored) {
  AddTarget({.shelf = 0, .slot = 1});
  MakeClient();
  ASSERT_TRUE(client_->OpenDisk(0, 1));
  Initiator& init = client_->initiator();
  uint64_t before = init.unmatched_replies();
  // A reply claiming the wildcard shelf.
  auto rogue = MakePort(wire_a_, "rogue", kOtherHost, PortRole::kTarget);
  std::vector<std::byte> frame(60);
  proto::Header h;
  h.destination = kInitiatorMacA;
  h.source = kOtherHost;
  h.flags = proto::kFlagResponse;
  h.shelf = 0xFFFF;
  h.slot = 1;
  h.tag = 0x8000'0000 | (0x2Au << 16) | 5;
  proto::EncodeHeader(h, frame);
  const TxFrame bytes{ConstByteSpan(frame)};
  ASSERT_TRUE(rogue->Send(std::span(&bytes, 1)));
  init.Poll();
  EXPECT_EQ(init.unmatched_replies(), before + 1);
  EXPECT_EQ(init.targets().size(), 1u);
}

}  // namespace
}  // namespace aoe::initiator::testing
