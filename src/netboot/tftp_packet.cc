#include "netboot/tftp_packet.h"

#include <algorithm>
#include <cctype>
#include <cstring>

namespace aoe::netboot {

namespace {

// Reads a NUL-terminated string; nullopt if no NUL before the end.
std::optional<std::string> ReadString(ByteReader& r) {
  ConstByteSpan rest = r.rest();
  if (rest.empty()) return std::nullopt;
  const auto* chars = reinterpret_cast<const char*>(rest.data());
  const char* nul = static_cast<const char*>(std::memchr(chars, 0, rest.size()));
  if (nul == nullptr) return std::nullopt;
  std::string text(chars, static_cast<size_t>(nul - chars));
  r.Skip(text.size() + 1);
  return text;
}

std::string Lower(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return text;
}

void WriteString(ByteWriter& w, std::string_view text) {
  w.Bytes(std::as_bytes(std::span(text.data(), text.size())));
  w.U8(0);
}

std::optional<TftpOptions> ReadOptions(ByteReader& r) {
  TftpOptions options;
  while (r.remaining() > 0) {
    std::optional<std::string> name = ReadString(r);
    if (!name) return std::nullopt;
    std::optional<std::string> value = ReadString(r);
    if (!value) return std::nullopt;
    options.emplace_back(Lower(std::move(*name)), std::move(*value));
  }
  return options;
}

}  // namespace

std::optional<TftpPacket> DecodeTftp(ConstByteSpan payload) {
  ByteReader r(payload);
  TftpPacket p;
  uint16_t opcode = r.Be16();
  if (!r.ok() || opcode < 1 || opcode > 6) return std::nullopt;
  p.opcode = static_cast<TftpOpcode>(opcode);
  switch (p.opcode) {
    case TftpOpcode::kReadRequest:
    case TftpOpcode::kWriteRequest: {
      std::optional<std::string> filename = ReadString(r);
      if (!filename) return std::nullopt;
      std::optional<std::string> mode = ReadString(r);
      if (!mode) return std::nullopt;
      std::optional<TftpOptions> options = ReadOptions(r);
      if (!options) return std::nullopt;
      p.filename = std::move(*filename);
      p.mode = Lower(std::move(*mode));
      p.options = std::move(*options);
      return p;
    }
    case TftpOpcode::kData:
      p.block = r.Be16();
      if (!r.ok()) return std::nullopt;
      p.data = r.rest();
      return p;
    case TftpOpcode::kAck:
      p.block = r.Be16();
      if (!r.ok()) return std::nullopt;
      return p;  // trailing bytes tolerated, as most servers do
    case TftpOpcode::kError: {
      p.error_code = static_cast<TftpErrorCode>(r.Be16());
      if (!r.ok()) return std::nullopt;
      // Some clients omit the final NUL; keep what is there.
      std::optional<std::string> message = ReadString(r);
      if (message) {
        p.error_message = std::move(*message);
      } else {
        ConstByteSpan rest = r.rest();
        p.error_message.assign(reinterpret_cast<const char*>(rest.data()), rest.size());
      }
      return p;
    }
    case TftpOpcode::kOptionAck: {
      std::optional<TftpOptions> options = ReadOptions(r);
      if (!options) return std::nullopt;
      p.options = std::move(*options);
      return p;
    }
  }
  return std::nullopt;
}

size_t EncodeTftpData(ByteSpan out, uint16_t block, ConstByteSpan data) {
  ByteWriter w(out);
  w.Be16(static_cast<uint16_t>(TftpOpcode::kData));
  w.Be16(block);
  w.Bytes(data);
  return w.ok() ? w.position() : 0;
}

size_t EncodeTftpAck(ByteSpan out, uint16_t block) {
  ByteWriter w(out);
  w.Be16(static_cast<uint16_t>(TftpOpcode::kAck));
  w.Be16(block);
  return w.ok() ? w.position() : 0;
}

size_t EncodeTftpError(ByteSpan out, TftpErrorCode code, std::string_view message) {
  ByteWriter w(out);
  w.Be16(static_cast<uint16_t>(TftpOpcode::kError));
  w.Be16(static_cast<uint16_t>(code));
  WriteString(w, message);
  return w.ok() ? w.position() : 0;
}

size_t EncodeTftpOptionAck(ByteSpan out, const TftpOptions& options) {
  ByteWriter w(out);
  w.Be16(static_cast<uint16_t>(TftpOpcode::kOptionAck));
  for (const auto& [name, value] : options) {
    WriteString(w, name);
    WriteString(w, value);
  }
  return w.ok() ? w.position() : 0;
}

size_t EncodeTftpReadRequest(ByteSpan out, std::string_view filename, std::string_view mode,
                             const TftpOptions& options) {
  ByteWriter w(out);
  w.Be16(static_cast<uint16_t>(TftpOpcode::kReadRequest));
  WriteString(w, filename);
  WriteString(w, mode);
  for (const auto& [name, value] : options) {
    WriteString(w, name);
    WriteString(w, value);
  }
  return w.ok() ? w.position() : 0;
}

}  // namespace aoe::netboot
