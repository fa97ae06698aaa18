// TargetFixture: the fixture of the target's protocol tests (ata_commands_test.cc,
// replies_test.cc, config_commands_test.cc, mask_commands_test.cc, reserve_commands_test.cc,
// per_initiator_test.cc, overlay_export_test.cc). Each test plays an initiator on an in-memory
// Ethernet segment, sends request frames built byte by byte, lets the Server poll, and decodes
// the reply bytes (aoe-protocol.md §1-4, 7, 8). Storage is memory behind the same filters the
// real chain uses (testing/harness.h). Tests only.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "proto/ata.h"
#include "target/export.h"
#include "target/testing/frames.h"
#include "target/testing/harness.h"

namespace aoe::target::testkit {

inline constexpr uint16_t kShelf = 1;
inline constexpr uint8_t kSlot = 2;
inline constexpr uint64_t kDiskSectors = 2048;  // 1 MiB
inline constexpr size_t kSector = 512;

// ATA opcodes, status and error bits, spelled out as the spec gives them.
inline constexpr uint8_t kRead28 = 0x20;
inline constexpr uint8_t kRead48 = 0x24;
inline constexpr uint8_t kWrite28 = 0x30;
inline constexpr uint8_t kWrite48 = 0x34;
inline constexpr uint8_t kIdentify = 0xEC;
inline constexpr uint8_t kFlushCache = 0xE7;
inline constexpr uint8_t kFlushCacheExt = 0xEA;
inline constexpr uint8_t kCheckPowerMode = 0xE5;
inline constexpr uint8_t kSmart = 0xB0;
inline constexpr uint8_t kDataSetManagement = 0x06;
inline constexpr uint8_t kDsmTrim = 0x01;
inline constexpr uint8_t kStatusOk = 0x40;
inline constexpr uint8_t kStatusError = 0x41;
inline constexpr uint8_t kErrIdnf = 0x10;
inline constexpr uint8_t kErrAbrt = 0x04;
inline constexpr uint8_t kErrUnc = 0x40;

inline constexpr uint8_t kDirNone = 0;
inline constexpr uint8_t kDirAdd = 1;
inline constexpr uint8_t kDirDelete = 2;

inline uint16_t IdentifyWord(const Reply& r, size_t word) {
  return static_cast<uint16_t>(r.U8(36 + 2 * word) | (r.U8(36 + 2 * word + 1) << 8));
}

// aoekit's incarnation (words 130-133; target/incarnation.h), 0 for none.
inline uint64_t IdentifyIncarnation(const Reply& r) {
  uint64_t incarnation = 0;
  for (size_t i = 0; i < 4; ++i) incarnation |= uint64_t{IdentifyWord(r, 130 + i)} << (16 * i);
  return incarnation;
}

inline uint64_t IdentifyLba48Capacity(const Reply& r) {
  uint64_t sectors = 0;
  for (size_t i = 0; i < 4; ++i) sectors |= uint64_t{IdentifyWord(r, 100 + i)} << (16 * i);
  return sectors;
}

inline Frame Region(MemoryBackend& disk, uint64_t offset, size_t size) {
  auto bytes = disk.bytes().subspan(offset, size);
  return Frame(bytes.begin(), bytes.end());
}

inline void Fill(MemoryBackend& disk, uint64_t offset, const Frame& data) {
  std::memcpy(disk.bytes().data() + offset, data.data(), data.size());
}

class TargetFixture : public ::testing::Test {
 protected:
  void SetUp() override { h_.AddExport(kShelf, kSlot, kDiskSectors * kSector); }

  void StartServer() { ASSERT_TRUE(h_.Start()); }

  ExportOptions& export_options() { return h_.options().exports.front(); }
  MemoryBackend& disk() { return h_.disk(kShelf, kSlot); }
  std::string path() const { return Harness::DiskPath(kShelf, kSlot); }

  static RequestHeader To(MacAddress from = kHostA) { return Harness::To(kShelf, kSlot, from); }
  MemoryPort& HostFor(MacAddress mac) {
    if (mac == kHostB) return h_.host_b();
    if (mac == kHostC) return h_.host_c();
    return h_.host_a();
  }

  std::optional<Reply> AtaCmd(const AtaRequest& request, MacAddress from = kHostA) {
    return h_.Exchange(BuildAta(To(from), request), HostFor(from));
  }
  std::optional<Reply> Identify(MacAddress from = kHostA) {
    return AtaCmd(AtaOp(kIdentify).Count(1).Lba(0xA0000000), from);
  }
  std::optional<Reply> Read(uint64_t lba, uint8_t count, uint8_t opcode = kRead48,
                            MacAddress from = kHostA) {
    uint8_t aflags = opcode == kRead48 ? 0x40 : 0x00;
    return AtaCmd(AtaOp(opcode).Flags(aflags).Count(count).Lba(lba), from);
  }
  std::optional<Reply> Write(uint64_t lba, const Frame& data, uint8_t opcode = kWrite48,
                             MacAddress from = kHostA) {
    uint8_t aflags = static_cast<uint8_t>((opcode == kWrite48 ? 0x40 : 0x00) | 0x01);
    auto count = static_cast<uint8_t>(data.size() / kSector);
    return AtaCmd(AtaOp(opcode).Flags(aflags).Count(count).Lba(lba).Data(data), from);
  }

  std::optional<Reply> QueryConfig(uint8_t ccmd, std::string_view string = {},
                                   MacAddress from = kHostA) {
    return h_.Exchange(BuildConfig(To(from), ccmd, string), HostFor(from));
  }
  std::optional<Reply> MaskList(uint8_t mcmd, const std::vector<Directive>& directives = {},
                                MacAddress from = kHostA) {
    return h_.Exchange(BuildMask(To(from), mcmd, directives), HostFor(from));
  }
  std::optional<Reply> Reservation(uint8_t rcmd, const std::vector<MacAddress>& macs = {},
                                   MacAddress from = kHostA) {
    return h_.Exchange(BuildReserve(To(from), rcmd, macs), HostFor(from));
  }

  Harness h_;
};

// A successful ATA reply: R set, E clear, status DRDY, no ATA error.
inline void ExpectAtaOk(const std::optional<Reply>& r) {
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->ver_flags(), 0x18);
  EXPECT_EQ(r->command(), 0);
  EXPECT_EQ(r->status(), kStatusOk);
  EXPECT_EQ(r->ata_error(), 0);
}

// An ATA-level failure: status DRDY|ERR with `error`, and the AoE error flag clear.
inline void ExpectAtaError(const std::optional<Reply>& r, uint8_t error) {
  ASSERT_TRUE(r.has_value());
  EXPECT_FALSE(r->error_flag());
  EXPECT_EQ(r->status(), kStatusError);
  EXPECT_EQ(r->ata_error(), error);
}

inline void ExpectAoeError(const std::optional<Reply>& r, uint8_t error) {
  ASSERT_TRUE(r.has_value());
  EXPECT_TRUE(r->response_flag());
  EXPECT_TRUE(r->error_flag());
  EXPECT_EQ(r->error(), error);
}

}  // namespace aoe::target::testkit
