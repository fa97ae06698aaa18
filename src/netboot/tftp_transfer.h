// TftpTransfer: one read transfer from the server side, sans-I/O. The owner feeds it the
// client's packets and the clock and sends whatever it returns; the transfer never touches a
// socket.
//
// Protocol (RFC 1350 lock-step, RFC 2347 negotiation):
// - Start: if the request carried an option we accept (blksize, tsize, timeout) the first packet
//   is an OACK and the client answers ACK 0; otherwise it is DATA 1.
// - ACK n for the block in flight sends the next block; the block shorter than blksize (possibly
//   empty) ends the transfer once acknowledged. Block numbers wrap at 65536.
// - Duplicate ACKs for the previous block are ignored rather than answered, which avoids the
//   "Sorcerer's Apprentice" duplicate-storm (RFC 1123 4.2.3.1).
// - No ACK before the deadline: resend the last packet, up to max_retries times, then fail.
// - An ERROR from the client ends the transfer (e.g. code 8 when it refuses our OACK). An ERROR
//   in answer to an OACK that carried tsize is a size query, not a failure: UEFI PXE clients
//   (EDK2) read the size this way, then request the file again to download it.
//
// Ownership: owns the file and one packet buffer (blksize + 4 bytes). Thread-safety: none.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "base/bytes.h"
#include "base/clock.h"
#include "netboot/tftp_file.h"
#include "netboot/tftp_packet.h"

namespace aoe::netboot {

struct TftpLimits {
  // Largest blksize granted: the interface MTU minus IP (20), UDP (8) and TFTP (4) headers.
  size_t max_block_size = 1468;
  std::chrono::milliseconds timeout{1000};  // used unless the client negotiates "timeout"
  // The longest "timeout" a client may negotiate (RFC 2349 allows up to 255 s); a longer one is
  // not accepted and the default applies. A client that goes silent holds its transfer for
  // (max_retries + 1) timeouts, so this bounds how long one request can hold a slot.
  std::chrono::seconds max_timeout{10};
  int max_retries = 5;
};

class TftpTransfer {
 public:
  enum class State { kRunning, kDone, kFailed };

  TftpTransfer(std::unique_ptr<TftpFile> file, const TftpOptions& requested,
               const TftpLimits& limits);

  // The first packet to send.
  ConstByteSpan Start(TimePoint now);
  // A datagram from the client's transfer id. Returns the packet to send, often empty.
  ConstByteSpan OnPacket(ConstByteSpan packet, TimePoint now);
  // Call when `now` >= deadline(): returns the retransmission, or empty once it gave up.
  ConstByteSpan OnTimeout(TimePoint now);

  State state() const { return state_; }
  TimePoint deadline() const { return deadline_; }
  const std::string& failure() const { return failure_; }
  // kFailed because the client ended the transfer after reading tsize from our OACK.
  bool size_query() const { return size_query_; }
  size_t block_size() const { return block_size_; }
  uint64_t file_size() const { return file_->size(); }
  uint64_t bytes_acked() const { return bytes_acked_; }
  int retransmits() const { return retransmits_; }

 private:
  ConstByteSpan SendBlock(uint64_t index, TimePoint now);
  ConstByteSpan Fail(std::string why, TftpErrorCode code, bool tell_client);
  ConstByteSpan Sent(size_t bytes, TimePoint now);

  std::unique_ptr<TftpFile> file_;
  TftpLimits limits_;
  size_t block_size_ = kTftpDefaultBlockSize;
  std::chrono::milliseconds timeout_;
  TftpOptions accepted_;  // for the OACK
  std::vector<std::byte> buffer_;
  size_t packet_bytes_ = 0;  // the last packet sent, for retransmission
  uint64_t index_ = 0;       // block in flight: 0 = the OACK, 1.. = DATA
  bool last_block_sent_ = false;
  uint64_t bytes_acked_ = 0;
  size_t last_block_bytes_ = 0;
  int retries_ = 0;
  int retransmits_ = 0;
  TimePoint deadline_{};
  State state_ = State::kRunning;
  std::string failure_;
  bool size_query_ = false;
};

}  // namespace aoe::netboot
