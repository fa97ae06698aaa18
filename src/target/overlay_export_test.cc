// Exports with overlay=DIR: one copy-on-write overlay per initiator over an image that never
// changes. Every test runs with one event loop and with two (`aoe serve --loops 2`), where
// kHostB's MAC would send its ATA requests to loop 1 but the fanout selector sends an overlay
// export's to loop 0, which alone holds the overlays.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include "storage/overlay/overlay_error.h"
#include "storage/overlay/versions.h"
#include "target/testing/target_fixture.h"

namespace aoe::target::testkit {
namespace {

class OverlayExport : public TargetFixture, public ::testing::WithParamInterface<size_t> {
 protected:
  void SetUp() override {
    TargetFixture::SetUp();
    h_.options().loops = GetParam();
    export_options().overlay_dir = h_.state_dir() + "-overlay";
    Fill(disk(), 0, Pattern(kDiskSectors * kSector, 3));
  }
  // Overlay files are real files on io_uring: the reply comes after a few polls, not at once.
  std::optional<Reply> Await(const AtaRequest& request, MacAddress from) {
    h_.Send(BuildAta(To(from), request), HostFor(from));
    std::vector<Reply> replies = h_.Await(HostFor(from), 1);
    if (replies.empty()) return std::nullopt;
    return std::move(replies.front());
  }
  std::optional<Reply> Write(uint64_t lba, const Frame& data, MacAddress from) {
    auto count = static_cast<uint8_t>(data.size() / kSector);
    return Await(AtaOp(kWrite48).Flags(0x41).Count(count).Lba(lba).Data(data), from);
  }
  std::optional<Reply> Read(uint64_t lba, uint8_t count, MacAddress from) {
    return Await(AtaOp(kRead48).Flags(0x40).Count(count).Lba(lba), from);
  }
};

TEST_P(OverlayExport, EachInitiatorReadsItsOwnSectorsAndTheImageNeverChanges) {
  StartServer();
  const Frame image = Region(disk(), 0, kDiskSectors * kSector);
  ExpectAtaOk(Write(5, Pattern(2 * kSector, 0xa), kHostA));
  ExpectAtaOk(Write(5, Pattern(2 * kSector, 0xb), kHostB));
  auto a = Read(5, 2, kHostA);
  auto b = Read(5, 2, kHostB);
  auto c = Read(5, 2, kHostC);
  ExpectAtaOk(a);
  ExpectAtaOk(b);
  ExpectAtaOk(c);
  EXPECT_EQ(a->ata_data(2 * kSector), Pattern(2 * kSector, 0xa));
  EXPECT_EQ(b->ata_data(2 * kSector), Pattern(2 * kSector, 0xb));
  EXPECT_EQ(c->ata_data(2 * kSector), Region(disk(), 5 * kSector, 2 * kSector));
  EXPECT_EQ(Region(disk(), 0, kDiskSectors * kSector), image);
  EXPECT_EQ(h_.counter(path()).writes(), 0u) << "the image is opened read-only and never written";
  ASSERT_EQ(h_.server().exports().size(), 1u);
  ASSERT_NE(h_.server().exports()[0]->overlay(), nullptr);
  EXPECT_EQ(h_.server().exports()[0]->overlay()->Clients().size(), 2u);
}

TEST_P(OverlayExport, OverlaysSurviveARestart) {
  StartServer();
  ExpectAtaOk(Write(9, Pattern(kSector, 0xd), kHostB));
  ASSERT_TRUE(h_.Restart());
  auto b = Read(9, 1, kHostB);
  ExpectAtaOk(b);
  EXPECT_EQ(b->ata_data(kSector), Pattern(kSector, 0xd));
}

TEST_P(OverlayExport, IdentifyAdvertisesTrimButNotZeroesAfterIt) {
  StartServer();
  auto r = Identify();
  ExpectAtaOk(r);
  EXPECT_EQ(IdentifyWord(*r, 169) & 1, 1) << "TRIM supported";
  EXPECT_EQ(IdentifyWord(*r, 69) & 0x20, 0) << "a trimmed sector reads the image again";
}

TEST_P(OverlayExport, TrimDropsTheClientsBlocksSoReadsFallBackToTheImage) {
  StartServer();
  // Block 2 (sectors 16-23), two sectors per frame at MTU 1500.
  for (uint64_t lba = 16; lba < 24; lba += 2)
    ExpectAtaOk(Write(lba, Pattern(2 * kSector, 0xe), kHostA));
  Frame ranges(kSector);
  proto::EncodeDsmRange({16, 8}, ranges, 0);
  ExpectAtaOk(
      Await(AtaOp(kDataSetManagement).Flags(0x41).Feature(kDsmTrim).Count(1).Data(ranges), kHostA));
  for (uint64_t lba = 16; lba < 24; lba += 2) {
    auto a = Read(lba, 2, kHostA);
    ExpectAtaOk(a);
    EXPECT_EQ(a->ata_data(2 * kSector), Region(disk(), lba * kSector, 2 * kSector));
  }
}

TEST_P(OverlayExport, AReadOnlyOverlayExportIsRefused) {
  export_options().read_only = true;
  EXPECT_NE(ValidateOptions(h_.options()), "");
}

// `aoe ctl add` of an overlay export whose directory cannot be made: the answer names the
// directory, not the image, which is there.
TEST_P(OverlayExport, AnExportThatCannotBeAddedNamesWhatFailed) {
  ASSERT_TRUE(h_.Start());
  ExportOptions added = export_options();
  added.address.slot = 9;
  // A directory that cannot be made: its parent is a file.
  const std::string file = h_.state_dir() + "/a-file";
  std::ofstream(file) << "not a directory";
  added.overlay_dir = file + "/overlays";
  const std::string error = h_.server().AddExport(added);
  EXPECT_EQ(
      error.rfind("cannot open export e1.9: overlay directory " + added.overlay_dir + ": ", 0), 0u)
      << error;
}

// An admin's finding: a truncated version file was reported as "versions.json in the overlay
// directory is malformed", and a missing one as "a base version listed in versions.json has no
// file": neither said which file, nor what was wrong with it. The export is still refused (a
// client would read a different disk), and nothing in the directory is touched: not even the
// leftover a successful start would remove.
TEST_P(OverlayExport, AVersionFileOfTheWrongSizeOrMissingIsNamedAndNothingIsTouched) {
  namespace fs = std::filesystem;
  ASSERT_TRUE(h_.Start());
  const std::string dir = h_.state_dir() + "-overlay9";
  fs::create_directories(dir);
  overlay::VersionRegistry versions(kDiskSectors * kSector);
  versions.Add(1, 1700000000, "52:54:00:a0:e0:01");
  std::ofstream(dir + "/versions.json") << versions.Serialize();
  std::ofstream(dir + "/lock").close();
  std::ofstream(dir + "/v2.img") << std::string(4096, 'x');  // the copy cut short
  std::ofstream(dir + "/v7.img.tmp") << "a commit's leftover";
  std::ofstream(dir + "/versions.json.tmp") << "a save's leftover";
  auto listing = [&] {
    std::vector<std::string> entries;
    for (const auto& e : fs::directory_iterator(dir)) {
      entries.push_back(fmt::format("{} {}", e.path().filename().string(), fs::file_size(e)));
    }
    std::sort(entries.begin(), entries.end());
    return entries;
  };
  const std::vector<std::string> before = listing();
  ExportOptions added = export_options();
  added.address.slot = 9;
  added.overlay_dir = dir;

  const std::string wrong_size = h_.server().AddExport(added);
  EXPECT_EQ(wrong_size.rfind(fmt::format("cannot open export e1.9: overlay directory {}: {}/v2.img "
                                         "is 4096 bytes, the image is 1048576: truncated, or not "
                                         "a version of this image",
                                         dir, dir),
                             0),
            0u)
      << wrong_size;
  EXPECT_EQ(listing(), before);

  fs::remove(dir + "/v2.img");
  const std::vector<std::string> without_v2 = listing();
  const std::string missing = h_.server().AddExport(added);
  EXPECT_EQ(missing.rfind(fmt::format("cannot open export e1.9: overlay directory {}: {}/v2.img: "
                                      "a version file versions.json lists is missing",
                                      dir, dir),
                          0),
            0u)
      << missing;
  EXPECT_EQ(listing(), without_v2);
}

// A stop while a commit copies (aoe serve got SIGTERM): the commit is abandoned and its caller
// answered before Run returns (when the control socket that carries the answer closes), and
// nothing changed: the version is still the first, no copy is left behind, the client keeps
// its overlay.
TEST_P(OverlayExport, AStopAbandonsACommitStillCopyingAndAnswersIt) {
  StartServer();
  ExpectAtaOk(Write(9, Pattern(kSector, 0xd), kHostA));
  overlay::OverlayFilter* o = h_.server().exports().front()->overlay();
  ASSERT_NE(o, nullptr);
  std::optional<Result<overlay::VersionRecord>> answer;
  o->Commit(kHostA, [&](Result<overlay::VersionRecord> r) { answer = std::move(r); });
  ASSERT_FALSE(answer.has_value()) << "the copy ended before the loop turned";
  ASSERT_TRUE(o->commit_running());

  h_.server().RequestStop();
  ASSERT_TRUE(h_.server().Run());
  ASSERT_TRUE(answer.has_value()) << "the commit was not answered before Run returned";
  ASSERT_FALSE(answer->has_value());
  EXPECT_EQ(answer->error(), overlay::OverlayErrc::kCommitAbandoned);
  EXPECT_EQ(o->current_version(), 1u);
  EXPECT_EQ(o->Versions().size(), 1u);
  EXPECT_TRUE(o->Client(kHostA).has_value()) << "the client keeps its overlay";
  for (const auto& entry : std::filesystem::directory_iterator(export_options().overlay_dir)) {
    EXPECT_NE(entry.path().extension(), ".tmp") << entry.path() << " was left behind";
  }
}

TEST_P(OverlayExport, EveryInitiatorIsServedByTheFirstLoop) {
  StartServer();
  for (MacAddress host : {kHostA, kHostB, kHostC}) {
    ExpectAtaOk(Write(7, Pattern(kSector, 0x5), host));
    auto r = Read(7, 1, host);
    ExpectAtaOk(r);
    if (r) {
      EXPECT_EQ(r->ata_data(kSector), Pattern(kSector, 0x5));
    }
  }
  std::vector<std::optional<Stats>> loops = h_.server().loop_stats();
  ASSERT_EQ(loops.size(), GetParam());
  ASSERT_TRUE(loops[0].has_value());
  EXPECT_EQ(loops[0]->ata_commands, 6u);
  if (GetParam() > 1) {
    ASSERT_TRUE(loops[1].has_value());
    EXPECT_EQ(loops[1]->ata_commands, 0u);
  }
}

// Exports added and removed while serving: an overlay export added by `aoe ctl add` is served
// to every initiator (loop 0 takes its requests from then on), and once removed, a plain export
// at its address is spread by MAC again.
TEST_P(OverlayExport, ExportsAddedAndRemovedWhileServingAreRoutedByWhatTheyAre) {
  StartServer();
  const uint8_t slot = kSlot + 1;
  auto exchange = [&](const AtaRequest& request, MacAddress from) -> std::optional<Reply> {
    h_.Send(BuildAta(Harness::To(kShelf, slot, from), request), HostFor(from));
    std::vector<Reply> replies = h_.Await(HostFor(from), 1);
    if (replies.empty()) return std::nullopt;
    return std::move(replies.front());
  };
  auto ata_commands_of_loop_1 = [&]() -> uint64_t {
    auto loops = h_.server().loop_stats();
    return loops.size() > 1 && loops[1] ? loops[1]->ata_commands : 0;
  };

  const std::string base = h_.state_dir() + "-base2";
  h_.AddDisk(base, kDiskSectors * kSector);
  ExportOptions overlay = export_options();
  overlay.address.slot = slot;
  overlay.backend = ParseBackendSpec(base);
  overlay.overlay_dir = h_.state_dir() + "-overlay2";
  ASSERT_EQ(h_.server().AddExport(overlay), "");
  ExpectAtaOk(
      exchange(AtaOp(kWrite48).Flags(0x41).Count(1).Lba(3).Data(Pattern(kSector, 9)), kHostB));
  auto read = exchange(AtaOp(kRead48).Flags(0x40).Count(1).Lba(3), kHostB);
  ExpectAtaOk(read);
  if (read) {
    EXPECT_EQ(read->ata_data(kSector), Pattern(kSector, 9));
  }
  EXPECT_EQ(ata_commands_of_loop_1(), 0u);

  ASSERT_EQ(h_.server().RemoveExport(overlay.name()), "");
  const std::string plain_image = h_.state_dir() + "-plain.img";
  std::ofstream(plain_image).close();
  std::filesystem::resize_file(plain_image, kDiskSectors * kSector);
  ExportOptions plain = overlay;
  plain.backend = ParseBackendSpec(plain_image);
  plain.overlay_dir.clear();
  ASSERT_EQ(h_.server().AddExport(plain), "");
  ExpectAtaOk(exchange(AtaOp(kRead48).Flags(0x40).Count(1).Lba(3), kHostB));
  EXPECT_EQ(ata_commands_of_loop_1(), GetParam() > 1 ? 1u : 0u)
      << "host B's request to the plain export is loop 1's";
}

INSTANTIATE_TEST_SUITE_P(Loops, OverlayExport, ::testing::Values(size_t{1}, size_t{2}),
                         [](const ::testing::TestParamInfo<size_t>& param) {
                           return std::string(param.param == 1 ? "OneLoop" : "TwoLoops");
                         });

}  // namespace
}  // namespace aoe::target::testkit
