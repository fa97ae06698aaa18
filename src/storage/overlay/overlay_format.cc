#include "storage/overlay/overlay_format.h"

#include <fmt/format.h>
#include <zlib.h>

#include <algorithm>
#include <cstring>
#include <filesystem>

namespace aoe::overlay {
namespace {

constexpr char kMagic[8] = {'A', 'O', 'E', 'O', 'V', 'L', 'Y', '1'};

void StoreLe64(ByteSpan b, size_t off, uint64_t v) {
  StoreLe32(b, off, static_cast<uint32_t>(v));
  StoreLe32(b, off + 4, static_cast<uint32_t>(v >> 32));
}
uint64_t LoadLe64(ConstByteSpan b, size_t off) {
  return LoadLe32(b, off) | (uint64_t{LoadLe32(b, off + 4)} << 32);
}

uint32_t Crc(ConstByteSpan bytes) {
  return static_cast<uint32_t>(::crc32(::crc32(0, nullptr, 0),
                                       reinterpret_cast<const Bytef*>(bytes.data()),
                                       static_cast<uInt>(bytes.size())));
}

}  // namespace

void EncodeMapHeader(const MapHeader& header, ByteSpan page) {
  std::fill(page.begin(), page.begin() + kHeaderFieldBytes, std::byte{0});
  std::memcpy(page.data(), kMagic, sizeof kMagic);
  StoreLe32(page, 8, kFormatVersion);
  StoreLe32(page, 12, header.block_bytes);
  StoreLe64(page, 16, header.size_bytes);
  StoreLe64(page, 24, header.base_version);
  StoreLe64(page, 32, static_cast<uint64_t>(header.created_unix));
  header.initiator.Store(page, 40);
  StoreLe32(page, 48, Crc(page.first(48)));
}

DecodedHeader DecodeMapHeader(ConstByteSpan page) {
  DecodedHeader out;
  ConstByteSpan fields = page.first(kHeaderFieldBytes);
  if (std::all_of(fields.begin(), fields.end(), [](std::byte b) { return b == std::byte{0}; })) {
    out.problem = HeaderProblem::kNeverWritten;
    return out;
  }
  if (std::memcmp(fields.data(), kMagic, sizeof kMagic) != 0) {
    out.problem = HeaderProblem::kBadMagic;
    return out;
  }
  if (LoadLe32(fields, 48) != Crc(fields.first(48))) {
    out.problem = HeaderProblem::kBadChecksum;
    return out;
  }
  if (LoadLe32(fields, 8) != kFormatVersion) {
    out.problem = HeaderProblem::kBadVersion;
    return out;
  }
  out.header.block_bytes = LoadLe32(fields, 12);
  out.header.size_bytes = LoadLe64(fields, 16);
  out.header.base_version = LoadLe64(fields, 24);
  out.header.created_unix = static_cast<int64_t>(LoadLe64(fields, 32));
  out.header.initiator = MacAddress::Load(fields, 40);
  if (out.header.block_bytes != kBlockBytes) out.problem = HeaderProblem::kBadBlockSize;
  return out;
}

std::string_view HeaderProblemText(HeaderProblem problem) {
  switch (problem) {
    case HeaderProblem::kNone:
      return "valid";
    case HeaderProblem::kNeverWritten:
      return "header never written (the overlay was never flushed)";
    case HeaderProblem::kBadMagic:
      return "not an aoekit overlay map (bad magic)";
    case HeaderProblem::kBadVersion:
      return "written by an aoekit with another map format";
    case HeaderProblem::kBadChecksum:
      return "header checksum mismatch (corrupted)";
    case HeaderProblem::kBadBlockSize:
      return "unsupported block size";
  }
  return "?";
}

std::string ClientName(const MacAddress& mac) {
  const auto& o = mac.octets();
  return fmt::format("{:02x}-{:02x}-{:02x}-{:02x}-{:02x}-{:02x}", o[0], o[1], o[2], o[3], o[4],
                     o[5]);
}

std::optional<MacAddress> ParseClientName(std::string_view name) {
  // MacAddress::Parse takes '-' separators too; insist on our own spelling so that two names
  // can never mean one client.
  std::optional<MacAddress> mac = MacAddress::Parse(name);
  if (!mac || ClientName(*mac) != name) return std::nullopt;
  return mac;
}

Result<std::vector<std::string>> ReadDirectoryEntries(const std::string& dir) {
  std::vector<std::string> names;
  std::error_code error;
  std::filesystem::directory_iterator it(dir, error);
  for (; !error && it != std::filesystem::directory_iterator(); it.increment(error)) {
    names.push_back(it->path().filename().string());
  }
  if (error) return Unexpected{error};
  std::sort(names.begin(), names.end());
  return names;
}

std::vector<std::string> SortedDirectoryEntries(const std::string& dir) {
  return ReadDirectoryEntries(dir).value_or(std::vector<std::string>{});
}

}  // namespace aoe::overlay
