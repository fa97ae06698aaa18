#include "netboot/tftp_transfer.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>

#include "base/log.h"

namespace aoe::netboot {

namespace {

std::optional<uint64_t> ParseNumber(const std::string& text) {
  uint64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || text.empty()) return std::nullopt;
  return value;
}

}  // namespace

TftpTransfer::TftpTransfer(std::unique_ptr<TftpFile> file, const TftpOptions& requested,
                           const TftpLimits& limits)
    : file_(std::move(file)), limits_(limits), timeout_(limits.timeout) {
  for (const auto& [name, value] : requested) {
    std::optional<uint64_t> number = ParseNumber(value);
    if (!number) continue;  // RFC 2347: ignore what we do not understand
    if (name == "blksize" && *number >= kTftpMinBlockSize) {
      size_t limit = std::clamp(limits_.max_block_size, kTftpMinBlockSize, kTftpMaxBlockSize);
      block_size_ = static_cast<size_t>(std::min<uint64_t>(*number, limit));
      accepted_.emplace_back("blksize", std::to_string(block_size_));
    } else if (name == "tsize") {
      accepted_.emplace_back("tsize", std::to_string(file_->size()));
    } else if (name == "timeout" && *number >= 1 &&
               *number <= static_cast<uint64_t>(limits_.max_timeout.count())) {
      timeout_ = std::chrono::seconds(*number);
      accepted_.emplace_back("timeout", value);
    }
  }
  // Large enough for DATA at the negotiated size, and for an OACK or ERROR.
  buffer_.resize(std::max<size_t>(block_size_, 512) + kTftpHeaderBytes);
}

ConstByteSpan TftpTransfer::Sent(size_t bytes, TimePoint now) {
  packet_bytes_ = bytes;
  deadline_ = now + timeout_;
  return ConstByteSpan(buffer_.data(), bytes);
}

ConstByteSpan TftpTransfer::Start(TimePoint now) {
  if (!accepted_.empty()) {
    size_t n = EncodeTftpOptionAck(buffer_, accepted_);
    if (n != 0) {
      index_ = 0;
      return Sent(n, now);
    }
    accepted_.clear();  // options too long for one packet: fall back to plain TFTP
    block_size_ = kTftpDefaultBlockSize;
  }
  return SendBlock(1, now);
}

ConstByteSpan TftpTransfer::SendBlock(uint64_t index, TimePoint now) {
  index_ = index;
  retries_ = 0;
  const uint64_t offset = (index - 1) * block_size_;
  ByteSpan data(buffer_.data() + kTftpHeaderBytes, block_size_);
  Result<size_t> read = file_->ReadAt(offset, data);
  if (!read) {
    return Fail(fmt::format("read failed at offset {}: {}", offset, read.error().message()),
                TftpErrorCode::kNotDefined, true);
  }
  last_block_bytes_ = *read;
  last_block_sent_ = *read < block_size_;
  size_t n = EncodeTftpData(buffer_, static_cast<uint16_t>(index), data.first(*read));
  return Sent(n, now);
}

ConstByteSpan TftpTransfer::Fail(std::string why, TftpErrorCode code, bool tell_client) {
  state_ = State::kFailed;
  failure_ = std::move(why);
  if (!tell_client) return {};
  size_t n = EncodeTftpError(buffer_, code, failure_.substr(0, 200));
  return ConstByteSpan(buffer_.data(), n);
}

ConstByteSpan TftpTransfer::OnPacket(ConstByteSpan bytes, TimePoint now) {
  if (state_ != State::kRunning) return {};
  std::optional<TftpPacket> packet = DecodeTftp(bytes);
  if (!packet) return {};
  if (packet->opcode == TftpOpcode::kError) {
    size_query_ = index_ == 0 && std::any_of(accepted_.begin(), accepted_.end(),
                                             [](const auto& o) { return o.first == "tsize"; });
    return Fail(fmt::format("client aborted: error {} \"{}\"", static_cast<int>(packet->error_code),
                            Printable(packet->error_message)),
                TftpErrorCode::kNotDefined, false);
  }
  if (packet->opcode != TftpOpcode::kAck) {
    return Fail("unexpected packet during a read transfer", TftpErrorCode::kIllegalOperation, true);
  }
  if (packet->block != static_cast<uint16_t>(index_)) return {};  // duplicate or stale
  if (index_ > 0) bytes_acked_ += last_block_bytes_;
  if (index_ > 0 && last_block_sent_) {
    state_ = State::kDone;
    return {};
  }
  return SendBlock(index_ + 1, now);
}

ConstByteSpan TftpTransfer::OnTimeout(TimePoint now) {
  if (state_ != State::kRunning || now < deadline_) return {};
  if (++retries_ > limits_.max_retries) {
    return Fail(
        fmt::format("no ACK for block {} after {} retransmissions", index_, limits_.max_retries),
        TftpErrorCode::kNotDefined, true);
  }
  ++retransmits_;
  return Sent(packet_bytes_, now);
}

}  // namespace aoe::netboot
