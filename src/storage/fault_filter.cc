#include "storage/fault_filter.h"

#include <algorithm>
#include <cassert>
#include <cerrno>
#include <limits>
#include <utility>

namespace aoe {
namespace {

constexpr uint64_t kSectorBytes = 512;

}  // namespace

FaultFilter::FaultFilter(std::unique_ptr<BlockBackend> inner, std::vector<FaultRule> rules)
    : inner_(std::move(inner)), rules_(std::move(rules)) {
  assert(inner_ != nullptr);
  assert(std::all_of(rules_.begin(), rules_.end(), [](const FaultRule& r) { return r.error > 0; }));
}

void FaultFilter::AddRule(const FaultRule& rule) {
  assert(rule.error > 0);
  rules_.push_back(rule);
}

std::string FaultFilter::Describe() const {
  return "fault(rules=" + std::to_string(rules_.size()) + ") <- " + inner_->Describe();
}

int FaultFilter::Fault(uint64_t offset_bytes, uint64_t length, bool is_write) const {
  if (length == 0) return 0;  // touches no sector
  const uint64_t first = offset_bytes / kSectorBytes;
  // Computed from the remainder so that offset + length cannot overflow.
  const uint64_t last = first + (offset_bytes % kSectorBytes + length - 1) / kSectorBytes;
  for (const FaultRule& rule : rules_) {
    if (is_write ? !rule.on_write : !rule.on_read) continue;
    if (rule.sector_count == 0) continue;
    const uint64_t rule_last =
        rule.sector_count - 1 > std::numeric_limits<uint64_t>::max() - rule.first_sector
            ? std::numeric_limits<uint64_t>::max()
            : rule.first_sector + rule.sector_count - 1;
    // A non-positive errno would read as success; never let a bad rule do that.
    if (first <= rule_last && rule.first_sector <= last) return rule.error > 0 ? rule.error : EIO;
  }
  return 0;
}

void FaultFilter::Read(const IoContext& context, uint64_t offset_bytes, ByteSpan into,
                       IoCallback* done) {
  if (int error = Fault(offset_bytes, into.size(), /*is_write=*/false)) {
    ++faults_injected_;
    return done->IoDone(-error);
  }
  inner_->Read(context, offset_bytes, into, done);
}

void FaultFilter::Write(const IoContext& context, uint64_t offset_bytes, ConstByteSpan from,
                        IoCallback* done) {
  if (int error = Fault(offset_bytes, from.size(), /*is_write=*/true)) {
    ++faults_injected_;
    return done->IoDone(-error);
  }
  inner_->Write(context, offset_bytes, from, done);
}

void FaultFilter::Flush(const IoContext& context, IoCallback* done) {
  if (flush_error_ != 0) {
    ++faults_injected_;
    return done->IoDone(-flush_error_);
  }
  inner_->Flush(context, done);
}

void FaultFilter::Trim(const IoContext& context, uint64_t offset_bytes, uint64_t length_bytes,
                       IoCallback* done) {
  if (int error = Fault(offset_bytes, length_bytes, /*is_write=*/true)) {
    ++faults_injected_;
    return done->IoDone(-error);
  }
  inner_->Trim(context, offset_bytes, length_bytes, done);
}

}  // namespace aoe
