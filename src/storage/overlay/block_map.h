// BlockMap: one client's allocation map in memory: which blocks of the export its overlay holds,
// laid out byte for byte as the map file's bitmap (overlay_format.h), plus which of its pages
// changed since they were last written.
//
// Not thread-safe; owned by one ClientOverlay.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "base/bytes.h"

namespace aoe::overlay {

class BlockMap {
 public:
  explicit BlockMap(uint64_t block_count);

  uint64_t block_count() const { return block_count_; }
  uint64_t mapped_blocks() const { return mapped_blocks_; }

  bool Test(uint64_t block) const {
    return (static_cast<uint8_t>(bits_[block / 8]) >> (block % 8)) & 1u;
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
  size_t page_count() const { return page_dirty_.size(); }
  // The bytes of bitmap page `page` (kMapPageBytes).
  ConstByteSpan Page(uint64_t page) const;

 private:
  void Touch(uint64_t block);

  uint64_t block_count_;
  uint64_t mapped_blocks_ = 0;
  std::vector<std::byte> bits_;
  std::vector<bool> page_dirty_;
  std::vector<uint64_t> dirty_list_;
};

}  // namespace aoe::overlay
