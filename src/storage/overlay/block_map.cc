#include "storage/overlay/block_map.h"

#include <algorithm>
#include <bit>
#include <cstring>

namespace aoe::overlay {
namespace {

const std::array<std::byte, kMapPageBytes> kZeroPage{};

}  // namespace

BlockMap::BlockMap(uint64_t block_count)
    : block_count_(block_count),
      pages_(BitmapBytes(block_count) / kMapPageBytes),
      page_dirty_(pages_.size(), false) {}

BlockMap::BlockMap(const BlockMap& other)
    : block_count_(other.block_count_),
      mapped_blocks_(other.mapped_blocks_),
      pages_(other.pages_.size()),
      page_dirty_(other.page_dirty_),
      dirty_list_(other.dirty_list_) {
  for (size_t p = 0; p < pages_.size(); ++p) {
    if (other.pages_[p]) pages_[p] = std::make_unique<Bits>(*other.pages_[p]);
  }
}

BlockMap& BlockMap::operator=(const BlockMap& other) {
  if (this != &other) *this = BlockMap(other);
  return *this;
}

size_t BlockMap::allocated_pages() const {
  return static_cast<size_t>(
      std::count_if(pages_.begin(), pages_.end(), [](const auto& p) { return p != nullptr; }));
}

BlockMap::Bits& BlockMap::PageFor(uint64_t block) {
  std::unique_ptr<Bits>& page = pages_[block / kBlocksPerMapPage];
  if (!page) page = std::make_unique<Bits>();
  return *page;
}

void BlockMap::Touch(uint64_t page) {
  if (page_dirty_[page]) return;
  page_dirty_[page] = true;
  dirty_list_.push_back(page);
}

void BlockMap::Set(uint64_t block) {
  if (Test(block)) return;
  const uint64_t bit = block % kBlocksPerMapPage;
  PageFor(block)[bit / 8] |= std::byte{static_cast<uint8_t>(1u << (bit % 8))};
  ++mapped_blocks_;
  Touch(block / kBlocksPerMapPage);
}

void BlockMap::Clear(uint64_t block) {
  if (!Test(block)) return;
  const uint64_t bit = block % kBlocksPerMapPage;
  PageFor(block)[bit / 8] &= ~std::byte{static_cast<uint8_t>(1u << (bit % 8))};
  --mapped_blocks_;
  Touch(block / kBlocksPerMapPage);
}

uint64_t BlockMap::NextMapped(uint64_t from, uint64_t end) const {
  end = std::min(end, block_count_);
  uint64_t b = from;
  while (b < end) {
    const Bits* page = pages_[b / kBlocksPerMapPage].get();
    if (page == nullptr) {
      b = (b / kBlocksPerMapPage + 1) * kBlocksPerMapPage;  // a whole page without bits
      continue;
    }
    const uint64_t bit = b % kBlocksPerMapPage;
    // Whole zero words are skipped eight bytes at a time.
    if (bit % 64 == 0 && b + 64 <= end) {
      uint64_t word;
      std::memcpy(&word, page->data() + bit / 8, sizeof word);
      if (word == 0) {
        b += 64;
        continue;
      }
    }
    if ((static_cast<uint8_t>((*page)[bit / 8]) >> (bit % 8)) & 1u) return b;
    ++b;
  }
  return end;
}

uint64_t BlockMap::Load(ConstByteSpan bitmap) {
  uint64_t stray = 0;
  mapped_blocks_ = 0;
  for (size_t p = 0; p < pages_.size(); ++p) {
    pages_[p].reset();
    const size_t offset = p * kMapPageBytes;
    if (offset >= bitmap.size()) continue;
    ConstByteSpan bytes =
        bitmap.subspan(offset, std::min<size_t>(kMapPageBytes, bitmap.size() - offset));
    if (std::all_of(bytes.begin(), bytes.end(), [](std::byte b) { return b == std::byte{0}; })) {
      continue;
    }
    auto page = std::make_unique<Bits>();
    std::copy(bytes.begin(), bytes.end(), page->begin());
    // Bits past the last block: counted, then cleared, so they can never be read.
    const uint64_t first_block = p * kBlocksPerMapPage;
    for (uint64_t bit = 0; bit < kBlocksPerMapPage; ++bit) {
      if (first_block + bit < block_count_) continue;
      std::byte& byte = (*page)[bit / 8];
      const std::byte mask{static_cast<uint8_t>(1u << (bit % 8))};
      if ((byte & mask) != std::byte{0}) {
        ++stray;
        byte &= ~mask;
      }
    }
    for (std::byte byte : *page) mapped_blocks_ += std::popcount(static_cast<uint8_t>(byte));
    pages_[p] = std::move(page);
  }
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
  for (uint64_t p : pages) Touch(p);
}

ConstByteSpan BlockMap::Page(uint64_t page) const {
  const Bits* bits = pages_[page].get();
  return bits != nullptr ? ConstByteSpan(*bits) : ConstByteSpan(kZeroPage);
}

}  // namespace aoe::overlay
