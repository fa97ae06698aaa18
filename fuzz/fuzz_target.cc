// Fuzz target: frames in, replies out, through the protocol core of `aoe serve` (Target) with
// memory disks behind the real storage filters.
//
// Setup, fresh for every input so that each input replays on its own:
//   e1.1  read-write, 32 sectors
//   e1.2  read-only (ReadOnlyFilter), 16 sectors
//   e1.3  read-write window of sectors [16, 40) over a 64-sector disk, served on "mem0" only
// Two ports: "mem0" (MTU 1500) and "jumbo" (MTU 9000). Disks start filled with a pattern.
//
// Input format: a sequence of records, so that command sequences (a mask edit, a reservation,
// then an ATA write) are explored:
//   byte 0      control: bit 0 selects the port (0 mem0, 1 jumbo)
//   bytes 1-2   frame length, big-endian (cut short at the end of the input)
//   bytes 3..   the Ethernet frame as the port would deliver it
// Frames longer than the port's MTU + 14 are dropped, as a socket would never deliver them.
//
// Checked after every frame:
//   - every reply is >= 60 bytes and fits the port's MTU; EtherType 0x88A2, version 1, response
//     flag, an export's own shelf.slot (never a wildcard), the request's command and tag, back
//     to the requester (never a group or zero address) from the port's MAC; an AoE error
//     code is one of 1..6;
//   - the target never asks storage for bytes outside an export, and never writes a read-only
//     export (a checking layer on top of each chain, so the filters' own refusal cannot hide
//     a validation bug);
//   - the bytes outside e1.3's window and all of e1.2 are unchanged;
//   - a successful READ returns the disk's bytes; a successful WRITE leaves the payload on disk;
//     a READ/WRITE with a valid count but past the export's end gets ATA ERR + IDNF;
//   - every command buffer is back in the pool (memory disks complete synchronously, and state
//     saves are finished after each frame, which sends the replies that waited for them).
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

#include "base/log.h"
#include "fuzz_check.h"
#include "proto/ata.h"
#include "proto/header.h"
#include "storage/chain.h"
#include "storage/memory_backend.h"
#include "target/command.h"
#include "target/export.h"
#include "target/stats.h"
#include "target/target.h"
#include "target/testing/memory_state_store.h"

namespace aoe::target {
namespace {

constexpr size_t kSector = proto::kSectorSize;
constexpr size_t kFrameCapacity = 9000 + proto::kEthernetHeaderSize;  // as the Server sizes it
constexpr size_t kCommandCount = 4;  // one request plus a copy per other export (wildcards)
constexpr size_t kMaxFrames = 64;    // per input, to keep executions fast

struct PortSpec {
  const char* name;
  MacAddress mac;
  size_t mtu;
};
const PortSpec kPorts[] = {
    {"mem0", MacAddress({0x02, 0, 0, 0, 0, 0x01}), 1500},
    {"jumbo", MacAddress({0x02, 0, 0, 0, 0, 0x02}), 9000},
};

struct DiskSpec {
  uint8_t slot;
  uint64_t disk_sectors;  // size of the memory disk
  uint64_t window_start;  // export = sectors [window_start, window_start + window_sectors)
  uint64_t window_sectors;
  bool read_only;
  bool eth0_only;
};
const DiskSpec kDisks[] = {
    {1, 32, 0, 32, false, false},
    {2, 16, 0, 16, true, false},
    {3, 64, 16, 24, false, true},
};
constexpr uint16_t kShelf = 1;

// Forwards to the export's chain, first checking what the target asks for: every request must
// lie inside the export, and a read-only export must never see a write.
class CheckingBackend final : public BlockBackend {
 public:
  explicit CheckingBackend(std::unique_ptr<BlockBackend> inner) : inner_(std::move(inner)) {}
  uint64_t size_bytes() const override { return inner_->size_bytes(); }
  BackendCapabilities capabilities() const override { return inner_->capabilities(); }
  std::string Describe() const override { return "checking <- " + inner_->Describe(); }
  void Read(const IoContext& context, uint64_t offset_bytes, ByteSpan into,
            IoCallback* done) override {
    FUZZ_CHECK(Inside(offset_bytes, into.size()));
    inner_->Read(context, offset_bytes, into, done);
  }
  void Write(const IoContext& context, uint64_t offset_bytes, ConstByteSpan from,
             IoCallback* done) override {
    FUZZ_CHECK(!read_only());
    FUZZ_CHECK(Inside(offset_bytes, from.size()));
    inner_->Write(context, offset_bytes, from, done);
  }
  void Flush(const IoContext& context, IoCallback* done) override { inner_->Flush(context, done); }
  void Trim(const IoContext& context, uint64_t offset_bytes, uint64_t length_bytes,
            IoCallback* done) override {
    FUZZ_CHECK(!read_only());
    FUZZ_CHECK(Inside(offset_bytes, length_bytes));
    inner_->Trim(context, offset_bytes, length_bytes, done);
  }

 private:
  bool Inside(uint64_t offset, uint64_t length) const {
    return offset % kSector == 0 && length % kSector == 0 && offset <= size_bytes() &&
           length <= size_bytes() - offset;
  }
  std::unique_ptr<BlockBackend> inner_;
};

struct Disk {
  const DiskSpec* spec;
  MemoryBackend* memory;  // owned by the export's chain
  ConstByteSpan initial;  // the pattern it started with
  std::shared_ptr<Export> exported;
};

// Computed once per disk (it is the same for every input) to keep executions fast.
const std::vector<std::byte>& InitialBytes(const DiskSpec& spec) {
  static std::vector<std::byte> cache[std::size(kDisks)];
  std::vector<std::byte>& bytes = cache[static_cast<size_t>(&spec - kDisks)];
  if (!bytes.empty()) return bytes;
  bytes.resize(spec.disk_sectors * kSector);
  for (size_t i = 0; i < bytes.size(); ++i) {
    bytes[i] = std::byte{static_cast<uint8_t>((i * 7 + spec.slot * 31 + i / kSector) & 0xFF)};
  }
  return bytes;
}

Disk MakeDisk(const DiskSpec& spec) {
  Disk d{&spec, nullptr, InitialBytes(spec), nullptr};
  ExportOptions options;
  options.address = {kShelf, spec.slot};
  options.backend.path = "mem:e1." + std::to_string(spec.slot);
  options.read_only = spec.read_only;
  options.offset_sectors = spec.window_start;
  options.length_sectors = spec.window_sectors;
  if (spec.eth0_only) options.interfaces = {kPorts[0].name};

  // The production chain over a memory disk, with the checks on top, where the target calls.
  auto opened = BuildStorageChain(
      options.Storage(), [&](const BackendSpec&, const BaseOptions&) -> Result<OpenedBackend> {
        auto memory = std::make_unique<MemoryBackend>(d.initial.size());
        std::memcpy(memory->bytes().data(), d.initial.data(), d.initial.size());
        d.memory = memory.get();
        return OpenedBackend{std::move(memory), {}, nullptr};
      });
  FUZZ_CHECK(opened.has_value());
  auto chain = std::make_unique<CheckingBackend>(std::move(opened->backend));
  ConstByteSpan mbr = d.initial.subspan(spec.window_start * kSector, kSector);
  d.exported = std::make_shared<Export>(options, std::move(chain), ExportState(), "fuzz", mbr,
                                        /*incarnation=*/1);
  return d;
}

// The request being served, for checking its replies.
struct Request {
  std::vector<std::byte> bytes;
  size_t port = 0;
};

class FuzzWire final : public Transmitter {
 public:
  FuzzWire() : pool_(kCommandCount, kFrameCapacity) {}

  CommandPool& pool() { return pool_; }
  void set_disks(std::vector<Disk>* disks) { disks_ = disks; }
  void set_request(const Request* request) { request_ = request; }
  void set_owner(CommandOwner* owner) { owner_ = owner; }

  void Transmit(Command& command) override {
    CheckReply(command);
    pool_.Give(&command);
  }
  void Release(Command& command) override { pool_.Give(&command); }
  // Like the Server's: a command for an extra reply completes its I/O through the Target too.
  Command* Acquire() override {
    Command* command = pool_.Take();
    if (command != nullptr) command->owner = owner_;
    return command;
  }
  PortInfo PortAt(size_t port_index) const override {
    const PortSpec& p = kPorts[port_index];
    return {p.name, p.mac, p.mtu};
  }

 private:
  void CheckReply(Command& command);

  CommandPool pool_;
  std::vector<Disk>* disks_ = nullptr;
  const Request* request_ = nullptr;
  CommandOwner* owner_ = nullptr;
};

uint8_t U8(ConstByteSpan b, size_t off) { return off < b.size() ? LoadU8(b, off) : 0; }

void FuzzWire::CheckReply(Command& command) {
  FUZZ_CHECK(request_ != nullptr);
  const Request& req = *request_;
  ConstByteSpan request(req.bytes);
  ConstByteSpan reply = command.frame();
  const PortSpec& port = kPorts[req.port];

  FUZZ_CHECK(command.port_index == req.port);
  FUZZ_CHECK(reply.size() >= proto::kMinFrameSize);
  FUZZ_CHECK(reply.size() <= port.mtu + proto::kEthernetHeaderSize);
  auto h = proto::DecodeHeader(reply);
  FUZZ_CHECK(h.has_value());
  FUZZ_CHECK(h->version == proto::kVersion && h->is_response());
  FUZZ_CHECK((h->flags & 0x03) == 0);
  FUZZ_CHECK(h->shelf != proto::kWildcardShelf && h->slot != proto::kWildcardSlot);
  FUZZ_CHECK(h->destination == MacAddress::Load(request, 6));
  FUZZ_CHECK(!h->destination.is_multicast() && !h->destination.is_zero());
  FUZZ_CHECK(h->source == port.mac);
  FUZZ_CHECK(h->command == LoadU8(request, 19) && h->tag == LoadBe32(request, 20));
  if (h->is_error()) {
    auto code = static_cast<uint8_t>(h->error);
    FUZZ_CHECK(code >= 1 && code <= 6);
  }

  // The replying export must be one the request addressed.
  Disk* disk = nullptr;
  for (Disk& d : *disks_) {
    if (d.spec->slot == h->slot && h->shelf == kShelf) disk = &d;
  }
  FUZZ_CHECK(disk != nullptr);
  FUZZ_CHECK(disk->exported->Addressed(LoadBe16(request, 16), LoadU8(request, 18)));
  FUZZ_CHECK(disk->exported->ServesInterface(port.name));

  // ATA reads and writes against the disk's bytes.
  if (h->command != static_cast<uint8_t>(proto::Command::kAta) || h->is_error()) return;
  FUZZ_CHECK(reply.size() >= proto::kAtaHeaderSize);
  auto ata = proto::DecodeAta(request);
  FUZZ_CHECK(ata.has_value());
  uint8_t opcode = ata->cmd_status;
  bool is_read = opcode == proto::ata_op::kReadSectors || opcode == proto::ata_op::kReadSectorsExt;
  bool is_write =
      opcode == proto::ata_op::kWriteSectors || opcode == proto::ata_op::kWriteSectorsExt;
  if (!is_read && !is_write) return;
  uint64_t lba = proto::AddressedLba(*ata);
  uint64_t count = ata->sector_count;
  uint8_t status = U8(reply, 27);
  bool ok = (status & proto::kAtaStatusError) == 0;
  const DiskSpec& spec = *disk->spec;
  bool in_range = lba + count <= spec.window_sectors;
  if (ok) {
    // Sector count 0 is a no-op wherever it points (aoe-protocol.md §2.3: "ABRT or a no-op").
    FUZZ_CHECK(in_range || count == 0);
    FUZZ_CHECK(!(is_write && spec.read_only && count > 0));
    size_t bytes = count * kSector;
    ConstByteSpan on_disk =
        ConstByteSpan(disk->memory->bytes()).subspan((spec.window_start + lba) * kSector, bytes);
    if (is_read) {
      FUZZ_CHECK(reply.size() >= proto::kAtaHeaderSize + bytes);
      FUZZ_CHECK(std::memcmp(reply.data() + proto::kAtaHeaderSize, on_disk.data(), bytes) == 0);
    } else {
      FUZZ_CHECK(request.size() >= proto::kAtaHeaderSize + bytes);
      FUZZ_CHECK(std::memcmp(request.data() + proto::kAtaHeaderSize, on_disk.data(), bytes) == 0);
    }
  } else if (!in_range && count > 0 && !(is_write && spec.read_only)) {
    FUZZ_CHECK(U8(reply, 25) == proto::kAtaErrorIdNotFound);
  }
}

// Bytes the target may never change: all of a read-only disk, and whatever lies outside an
// export's window.
void CheckUntouched(const Disk& d) {
  ConstByteSpan now = d.memory->bytes();
  ConstByteSpan was = d.initial;
  if (d.spec->read_only) {
    FUZZ_CHECK(std::memcmp(now.data(), was.data(), now.size()) == 0);
    return;
  }
  size_t begin = d.spec->window_start * kSector;
  size_t end = begin + d.spec->window_sectors * kSector;
  FUZZ_CHECK(std::memcmp(now.data(), was.data(), begin) == 0);
  FUZZ_CHECK(std::memcmp(now.data() + end, was.data() + end, now.size() - end) == 0);
}

}  // namespace
}  // namespace aoe::target

extern "C" int LLVMFuzzerTestOneInput(const unsigned char* data, size_t size) {
  using namespace aoe;
  using namespace aoe::target;
  // Anything the target logs at warning level or above means storage failed, which memory
  // disks never do for requests inside the export.
  Logger log(LogLevel::kWarn, [](LogLevel, std::string_view line) {
    std::fprintf(stderr, "unexpected log line: %.*s\n", static_cast<int>(line.size()), line.data());
    std::abort();
  });
  Stats stats;
  FuzzWire wire;
  testkit::MemoryStateStore store;
  FakeClock clock;  // never advanced: replays stay deterministic
  std::vector<StateStore::Saved> saved;
  // No rate limit: a limited source is logged at warning level, which this target treats as a
  // storage failure; a burst this large is never reached by 64 frames.
  StateCommandLimits limits;
  limits.changes.burst = 1e9;
  limits.reads.burst = 1e9;
  Target target(log, stats, wire, store, clock, /*buffer_count=*/16, kFrameCapacity, limits);
  std::vector<Disk> disks;
  for (const DiskSpec& spec : kDisks) disks.push_back(MakeDisk(spec));
  for (Disk& d : disks) target.AddExport(d.exported);
  wire.set_disks(&disks);
  wire.set_owner(&target);

  Request request;
  size_t at = 0;
  for (size_t frames = 0; frames < kMaxFrames && at + 3 <= size; ++frames) {
    request.port = data[at] & 1u;
    size_t length = std::min<size_t>((size_t{data[at + 1]} << 8) | data[at + 2], size - at - 3);
    request.bytes.assign(reinterpret_cast<const std::byte*>(data + at + 3),
                         reinterpret_cast<const std::byte*>(data + at + 3 + length));
    at += 3 + length;
    if (length > kPorts[request.port].mtu + proto::kEthernetHeaderSize) continue;

    Command* command = wire.pool().Take();
    FUZZ_CHECK(command != nullptr);
    command->owner = &target;
    command->port_index = request.port;
    command->length = length;
    if (length > 0) std::memcpy(command->buffer.data(), request.bytes.data(), length);
    wire.set_request(&request);
    target.Handle(*command);
    while (store.FinishOldest()) {
      store.TakeCompleted(saved);
      for (const StateStore::Saved& s : saved) target.StateSaved(s);
      saved.clear();
    }

    FUZZ_CHECK(wire.pool().free_count() == kCommandCount);
    for (const Disk& d : disks) CheckUntouched(d);
  }
  return 0;
}
