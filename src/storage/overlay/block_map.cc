#include "storage/overlay/block_map.h"

#include <algorithm>
#include <bit>
#include <cstring>

#include "storage/overlay/overlay_format.h"

namespace aoe::overlay {

BlockMap::BlockMap(uint64_t block_count)
    : block_count_(block_count),
      bits_(BitmapBytes(block_count)),
      page_dirty_(BitmapBytes(block_count) / kMapPageBytes, false) {}

void BlockMap::Touch(uint64_t block) {
  const uint64_t page = block / kBlocksPerMapPage;
  if (page_dirty_[page]) return;
  page_dirty_[page] = true;
  dirty_list_.push_back(page);
}

void BlockMap::Set(uint64_t block) {
  if (Test(block)) return;
  bits_[block / 8] |= std::byte{static_cast<uint8_t>(1u << (block % 8))};
  ++mapped_blocks_;
  Touch(block);
}

void BlockMap::Clear(uint64_t block) {
  if (!Test(block)) return;
  bits_[block / 8] &= ~std::byte{static_cast<uint8_t>(1u << (block % 8))};
  --mapped_blocks_;
  Touch(block);
}

uint64_t BlockMap::NextMapped(uint64_t from, uint64_t end) const {
  end = std::min(end, block_count_);
  uint64_t b = from;
  while (b < end) {
    // Whole zero words are skipped eight bytes at a time.
    if (b % 64 == 0 && b + 64 <= end) {
      uint64_t word;
      std::memcpy(&word, bits_.data() + b / 8, sizeof word);
      if (word == 0) {
        b += 64;
        continue;
      }
    }
    if (Test(b)) return b;
    ++b;
  }
  return end;
}

uint64_t BlockMap::Load(ConstByteSpan bitmap) {
  std::fill(bits_.begin(), bits_.end(), std::byte{0});
  std::copy_n(bitmap.begin(), std::min(bitmap.size(), bits_.size()), bits_.begin());
  uint64_t stray = 0;
  // Bits past the last block: counted, then cleared, so they can never be read.
  for (uint64_t b = block_count_; b < bits_.size() * 8; ++b) {
    if (Test(b)) {
      ++stray;
      bits_[b / 8] &= ~std::byte{static_cast<uint8_t>(1u << (b % 8))};
    }
  }
  mapped_blocks_ = 0;
  for (std::byte byte : bits_) mapped_blocks_ += std::popcount(static_cast<uint8_t>(byte));
  std::fill(page_dirty_.begin(), page_dirty_.end(), false);
  dirty_list_.clear();
  return stray;
}

std::vector<uint64_t> BlockMap::TakeDirtyPages() {
  std::vector<uint64_t> pages;
  pages.swap(dirty_list_);
  for (uint64_t p : pages) page_dirty_[p] = false;
  return pages;
}

void BlockMap::MarkDirty(const std::vector<uint64_t>& pages) {
  for (uint64_t p : pages) {
    if (page_dirty_[p]) continue;
    page_dirty_[p] = true;
    dirty_list_.push_back(p);
  }
}

ConstByteSpan BlockMap::Page(uint64_t page) const {
  return ConstByteSpan(bits_).subspan(page * kMapPageBytes, kMapPageBytes);
}

}  // namespace aoe::overlay
