// BlockMap: one client's allocation map in memory: which blocks of the export its overlay holds,
// page for page the map file's bitmap (overlay_format.h), plus which pages changed since they
// were last written.
//
// Sparse: a 4 KiB page of bits (128 MiB of export) is allocated when its first bit is set, so
// an overlay costs memory in proportion to the regions its client wrote, not to the export's
// size. A page whose bits are all cleared again stays allocated until the next Load.
//
// Not thread-safe; owned by one ClientOverlay (or a commit's snapshot of it).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "base/bytes.h"
#include "storage/overlay/overlay_format.h"

namespace aoe::overlay {

class BlockMap {
 public:
  explicit BlockMap(uint64_t block_count);
  BlockMap(const BlockMap& other);
  BlockMap& operator=(const BlockMap& other);
  BlockMap(BlockMap&&) noexcept = default;
  BlockMap& operator=(BlockMap&&) noexcept = default;

  uint64_t block_count() const { return block_count_; }
  uint64_t mapped_blocks() const { return mapped_blocks_; }
  // Pages of bits held in memory.
  size_t allocated_pages() const;

  bool Test(uint64_t block) const {
    const Bits* page = pages_[block / kBlocksPerMapPage].get();
    if (page == nullptr) return false;
    const uint64_t bit = block % kBlocksPerMapPage;
    return (static_cast<uint8_t>((*page)[bit / 8]) >> (bit % 8)) & 1u;
  }
  // Set and Clear mark the block's page dirty when they change a bit.
  void Set(uint64_t block);
  void Clear(uint64_t block);

  // The first mapped block in [from, end), or `end`.
  uint64_t NextMapped(uint64_t from, uint64_t end) const;

  // Replaces the bits with a map file's bitmap (BitmapBytes long; shorter input leaves the rest
  // unmapped). Bits past block_count() are ignored. Returns how many such stray bits were set,
  // which a consistent map never has. Nothing is dirty afterwards.
  uint64_t Load(ConstByteSpan bitmap);

  // Pages changed since TakeDirtyPages() last ran, in no particular order; clears the list.
  std::vector<uint64_t> TakeDirtyPages();
  // Marks pages dirty again (their write failed).
  void MarkDirty(const std::vector<uint64_t>& pages);
  bool has_dirty_pages() const { return !dirty_list_.empty(); }
  size_t page_count() const { return pages_.size(); }
  // The bytes of bitmap page `page` (kMapPageBytes; all zeroes for a page never set).
  ConstByteSpan Page(uint64_t page) const;

 private:
  using Bits = std::array<std::byte, kMapPageBytes>;

  Bits& PageFor(uint64_t block);
  void Touch(uint64_t page);

  uint64_t block_count_;
  uint64_t mapped_blocks_ = 0;
  std::vector<std::unique_ptr<Bits>> pages_;
  std::vector<bool> page_dirty_;
  std::vector<uint64_t> dirty_list_;
};

}  // namespace aoe::overlay
