#include "target/command.h"

#include <cassert>
#include <cstdlib>
#include <cstring>

#include "proto/ata.h"

namespace aoe::target {

namespace {
constexpr size_t kPage = 4096;
constexpr size_t RoundUp(size_t n, size_t to) { return (n + to - 1) / to * to; }
}  // namespace

CommandPool::CommandPool(size_t count, size_t frame_capacity)
    : frame_capacity_(frame_capacity), commands_(count) {
  // Each slot: a page of lead-in so that frame + 36 starts on a page boundary, then the frame.
  size_t stride = kPage + RoundUp(frame_capacity, kPage);
  region_ = static_cast<std::byte*>(std::aligned_alloc(kPage, stride * count));
  assert(region_ != nullptr);
  free_.reserve(count);
  for (size_t i = 0; i < count; ++i) {
    std::byte* frame = region_ + i * stride + kPage - proto::kAtaHeaderSize;
    commands_[i].buffer = ByteSpan(frame, frame_capacity);
    commands_[i].own_buffer = commands_[i].buffer;
    free_.push_back(&commands_[i]);
  }
}

void Command::CopyPayloadIn() {
  if (payload_in_port.empty()) return;
  std::memcpy(buffer.data() + proto::kAtaHeaderSize, payload_in_port.data(),
              payload_in_port.size());
  payload_in_port = {};
}

CommandPool::~CommandPool() { std::free(region_); }

Command* CommandPool::Take() {
  if (free_.empty()) return nullptr;
  Command* c = free_.back();
  free_.pop_back();
  return c;
}

void CommandPool::Give(Command* command) {
  command->buffer = command->own_buffer;  // it may have been a lent frame, now sent
  command->tail = {};
  command->payload_in_port = {};
  command->target.reset();
  command->pending = PendingIo::kNone;
  command->parts_pending = 0;
  command->first_error = 0;
  command->length = 0;
  free_.push_back(command);
}

}  // namespace aoe::target
