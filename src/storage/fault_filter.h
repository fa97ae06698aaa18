// FaultFilter: injects errors for chosen sector ranges, so tests can exercise the target's and
// initiator's error paths (media errors, a full thin-provisioned disk) without a failing disk.
//
// A request that overlaps a matching rule completes with -rule.error and never reaches the
// inner backend; everything else passes through. A trim counts as a write. Sectors are 512
// bytes.
//
// Ownership: owns the inner backend. Thread-safety: that of the inner backend; rules must not
// change while another thread issues requests.
#pragma once

#include <cerrno>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "storage/block_backend.h"

namespace aoe {

struct FaultRule {
  uint64_t first_sector = 0;
  uint64_t sector_count = 1;
  bool on_read = true;
  bool on_write = true;
  int error = EIO;  // positive errno, e.g. EIO (media error) or ENOSPC
};

class FaultFilter final : public BlockBackend {
 public:
  explicit FaultFilter(std::unique_ptr<BlockBackend> inner, std::vector<FaultRule> rules = {});

  void AddRule(const FaultRule& rule);
  void ClearRules() { rules_.clear(); }
  // Flushes complete with -error; 0 lets them through again.
  void set_flush_error(int error) { flush_error_ = error; }
  // Requests failed so far.
  uint64_t faults_injected() const { return faults_injected_; }

  uint64_t size_bytes() const override { return inner_->size_bytes(); }
  BackendCapabilities capabilities() const override { return inner_->capabilities(); }
  std::string Describe() const override;

  void Read(const IoContext& context, uint64_t offset_bytes, ByteSpan into,
            IoCallback* done) override;
  void Write(const IoContext& context, uint64_t offset_bytes, ConstByteSpan from,
             IoCallback* done) override;
  void Flush(const IoContext& context, IoCallback* done) override;
  void Trim(const IoContext& context, uint64_t offset_bytes, uint64_t length_bytes,
            IoCallback* done) override;

 private:
  // The error of the first rule that matches, or 0.
  int Fault(uint64_t offset_bytes, uint64_t length, bool is_write) const;

  std::unique_ptr<BlockBackend> inner_;
  std::vector<FaultRule> rules_;
  int flush_error_ = 0;
  uint64_t faults_injected_ = 0;
};

}  // namespace aoe
