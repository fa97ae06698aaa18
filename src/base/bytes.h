// Byte-order helpers and a bounds-checked cursor for decoding and encoding wire formats.
//
// Wire data is never cast to structs: fields are read and written through these helpers at
// documented offsets. All functions are pure and allocation-free.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>

namespace aoe {

using ByteSpan = std::span<std::byte>;
using ConstByteSpan = std::span<const std::byte>;

inline uint8_t LoadU8(ConstByteSpan b, size_t off) { return static_cast<uint8_t>(b[off]); }
inline uint16_t LoadBe16(ConstByteSpan b, size_t off) {
  return static_cast<uint16_t>((LoadU8(b, off) << 8) | LoadU8(b, off + 1));
}
inline uint32_t LoadBe32(ConstByteSpan b, size_t off) {
  return (uint32_t{LoadBe16(b, off)} << 16) | LoadBe16(b, off + 2);
}
inline uint16_t LoadLe16(ConstByteSpan b, size_t off) {
  return static_cast<uint16_t>(LoadU8(b, off) | (LoadU8(b, off + 1) << 8));
}
inline uint32_t LoadLe32(ConstByteSpan b, size_t off) {
  return LoadLe16(b, off) | (uint32_t{LoadLe16(b, off + 2)} << 16);
}

inline void StoreU8(ByteSpan b, size_t off, uint8_t v) { b[off] = std::byte{v}; }
inline void StoreBe16(ByteSpan b, size_t off, uint16_t v) {
  StoreU8(b, off, static_cast<uint8_t>(v >> 8));
  StoreU8(b, off + 1, static_cast<uint8_t>(v));
}
inline void StoreBe32(ByteSpan b, size_t off, uint32_t v) {
  StoreBe16(b, off, static_cast<uint16_t>(v >> 16));
  StoreBe16(b, off + 2, static_cast<uint16_t>(v));
}
inline void StoreLe16(ByteSpan b, size_t off, uint16_t v) {
  StoreU8(b, off, static_cast<uint8_t>(v));
  StoreU8(b, off + 1, static_cast<uint8_t>(v >> 8));
}
inline void StoreLe32(ByteSpan b, size_t off, uint32_t v) {
  StoreLe16(b, off, static_cast<uint16_t>(v));
  StoreLe16(b, off + 2, static_cast<uint16_t>(v >> 16));
}

// Reads fields in order from a received buffer. Every read is checked against the bytes
// actually received; a read past the end sets the cursor to failed and returns 0, so a decoder
// can read a whole header and check ok() once.
class ByteReader {
 public:
  explicit ByteReader(ConstByteSpan data) : data_(data) {}

  uint8_t U8() { return Have(1) ? LoadU8(data_, Advance(1)) : 0; }
  uint16_t Be16() { return Have(2) ? LoadBe16(data_, Advance(2)) : 0; }
  uint32_t Be32() { return Have(4) ? LoadBe32(data_, Advance(4)) : 0; }
  // Returns the next n bytes, or an empty span (and failed state) if fewer remain.
  ConstByteSpan Bytes(size_t n) {
    if (!Have(n)) return {};
    return data_.subspan(Advance(n), n);
  }
  void Skip(size_t n) {
    if (Have(n)) Advance(n);
  }

  bool ok() const { return ok_; }
  size_t position() const { return pos_; }
  size_t remaining() const { return data_.size() - pos_; }
  ConstByteSpan rest() const { return data_.subspan(pos_); }

 private:
  bool Have(size_t n) {
    if (ok_ && n <= data_.size() - pos_) return true;
    ok_ = false;
    return false;
  }
  size_t Advance(size_t n) {
    size_t at = pos_;
    pos_ += n;
    return at;
  }

  ConstByteSpan data_;
  size_t pos_ = 0;
  bool ok_ = true;
};

// Writes fields in order into a caller-owned buffer; like ByteReader it fails instead of
// overrunning, and the caller checks ok() once at the end.
class ByteWriter {
 public:
  explicit ByteWriter(ByteSpan out) : out_(out) {}

  void U8(uint8_t v) {
    if (Have(1)) StoreU8(out_, Advance(1), v);
  }
  void Be16(uint16_t v) {
    if (Have(2)) StoreBe16(out_, Advance(2), v);
  }
  void Be32(uint32_t v) {
    if (Have(4)) StoreBe32(out_, Advance(4), v);
  }
  void Bytes(ConstByteSpan b) {
    if (!Have(b.size())) return;
    if (!b.empty()) std::memcpy(out_.data() + Advance(b.size()), b.data(), b.size());
  }
  void Zeros(size_t n) {
    if (!Have(n)) return;
    if (n != 0) std::memset(out_.data() + Advance(n), 0, n);
  }

  bool ok() const { return ok_; }
  size_t position() const { return pos_; }

 private:
  bool Have(size_t n) {
    if (ok_ && n <= out_.size() - pos_) return true;
    ok_ = false;
    return false;
  }
  size_t Advance(size_t n) {
    size_t at = pos_;
    pos_ += n;
    return at;
  }

  ByteSpan out_;
  size_t pos_ = 0;
  bool ok_ = true;
};

}  // namespace aoe
