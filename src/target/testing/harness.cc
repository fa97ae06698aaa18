#include "target/testing/harness.h"

#include <stdlib.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <fstream>
#include <stdexcept>

#include "storage/file_backend.h"
#include "storage/read_only_filter.h"
#include "storage/window_filter.h"

namespace aoe::target::testkit {

namespace {

std::string MakeTempDir(const std::filesystem::path& parent) {
  std::string pattern = (parent / "aoe_target_test.XXXXXX").string();
  char* made = ::mkdtemp(pattern.data());
  return made != nullptr ? std::string(made) : std::string();
}

}  // namespace

// The server's view of a harness interface: forwards to a MemoryPort and tells the harness when
// the server lets go of it (shutdown, or an interface dropped by Reconfigure).
class Harness::ServedPort final : public Port {
 public:
  ServedPort(Harness& harness, std::unique_ptr<MemoryPort> port)
      : harness_(harness), port_(std::move(port)) {}
  ~ServedPort() override { harness_.PortClosed(port_.get()); }

  const std::string& name() const override { return port_->name(); }
  MacAddress mac() const override { return port_->mac(); }
  size_t mtu() const override { return port_->mtu(); }
  bool link_up() const override { return port_->link_up(); }
  Result<void> Refresh() override { return port_->Refresh(); }
  int fd() const override { return port_->fd(); }
  Result<uint16_t> JoinFanout(uint16_t group) override { return port_->JoinFanout(group); }
  Result<void> SetFanoutFirstDisks(std::span<const FanoutDisk> first) override {
    return port_->SetFanoutFirstDisks(first);
  }
  Result<size_t> Receive(std::span<RxSlot> slots) override { return port_->Receive(slots); }
  bool receives_in_place() const override { return harness_.received_in_place_.enabled; }
  Result<size_t> ReceiveInPlace(std::span<RxSlot> slots) override {
    if (rx_slots_.empty()) rx_slots_.resize(kRxSlots * kSlotBytes);
    size_t received = 0;
    while (received < slots.size() && rx_held_ < kRxSlots) {
      RxSlot landed{ByteSpan(rx_slots_).subspan(rx_held_ * kSlotBytes, kSlotBytes)};
      auto got = port_->Receive(std::span(&landed, 1));
      if (!got || *got == 0) break;
      slots[received] = RxSlot{{}, landed.length, landed.truncated, landed.buffer.data()};
      ++rx_held_;
      ++received;
    }
    std::lock_guard lock(harness_.port_counters_mutex_);
    harness_.received_in_place_.frames += received;
    return received;
  }
  void ReleaseInPlace() override {
    if (rx_held_ == 0) return;
    std::fill_n(rx_slots_.begin(), rx_held_ * kSlotBytes, Harness::kReleasedByte);
    rx_held_ = 0;
    std::lock_guard lock(harness_.port_counters_mutex_);
    ++harness_.received_in_place_.releases;
  }
  std::optional<bool> FramesWaiting() const override { return port_->FramesWaiting(); }
  Result<size_t> Send(std::span<const TxFrame> frames) override {
    std::unique_lock lock(harness_.port_counters_mutex_);
    Harness::LentFrames& stats = harness_.lent_frames_;
    size_t in_place = 0;
    for (const TxFrame& frame : frames) {
      const std::byte* at = frame.head.data();
      if (at >= slots_.data() && at < slots_.data() + slots_.size()) {
        ++in_place;
      }
    }
    stats.sent_in_place += in_place;
    if (in_place != outstanding_) ++stats.broken_rule;
    outstanding_ = 0;
    lock.unlock();
    return port_->Send(frames);  // the wire copies every frame, lent or not
  }
  ByteSpan LendTxFrame() override {
    std::lock_guard lock(harness_.port_counters_mutex_);
    Harness::LentFrames& stats = harness_.lent_frames_;
    if (!stats.enabled || outstanding_ == kSlots) return {};
    ByteSpan frame = ByteSpan(slots_).subspan(next_ * kSlotBytes, kSlotBytes);
    next_ = (next_ + 1) % kSlots;
    ++outstanding_;
    ++stats.lent;
    return frame;
  }
  void ReturnTxFrame() override {
    std::lock_guard lock(harness_.port_counters_mutex_);
    if (outstanding_ == 0) {
      ++harness_.lent_frames_.broken_rule;
      return;
    }
    next_ = (next_ + kSlots - 1) % kSlots;
    --outstanding_;
    ++harness_.lent_frames_.returned;
  }

 private:
  static constexpr size_t kSlots = 64;
  static constexpr size_t kSlotBytes = 9014;
  // As many frames as the server holds at once: one batch (server.cc).
  static constexpr size_t kRxSlots = 64;

  Harness& harness_;
  std::unique_ptr<MemoryPort> port_;
  std::vector<std::byte> slots_ = std::vector<std::byte>(kSlots * kSlotBytes);
  size_t next_ = 0;
  size_t outstanding_ = 0;
  // The receive "ring": frames held in place fill it from the start until released.
  std::vector<std::byte> rx_slots_;
  size_t rx_held_ = 0;
};

void Harness::PortClosed(const MemoryPort* port) {
  for (auto it = target_ports_.begin(); it != target_ports_.end(); ++it) {
    if (it->second == port) {
      target_ports_.erase(it);
      return;
    }
  }
}

Harness::Harness()
    : temp_dir_(MakeTempDir(std::filesystem::temp_directory_path())),
      state_dir_(temp_dir_.empty() ? std::string() : temp_dir_ + "/state"),
      log_(LogLevel::kDebug, [this](LogLevel, std::string_view line) {
        std::lock_guard lock(log_mutex_);  // other event loops log from their threads
        log_lines_.emplace_back(line);
      }) {
  const MacAddress host_macs[] = {kHostA, kHostB, kHostC};
  const char* host_names[] = {"hostA", "hostB", "hostC"};
  for (size_t i = 0; i < 3; ++i) {
    MemoryPortOptions o;
    o.name = host_names[i];
    o.mac = host_macs[i];
    o.role = PortRole::kInitiator;
    o.mtu = 9000;  // large enough to receive any reply the target may send
    auto port = MemoryPort::Create(wire_, o);
    if (port) hosts_.push_back(std::move(*port));
  }
  interfaces_["mem0"] = InterfaceSpec{kTargetMac, 1500};
  options_.interfaces = {"mem0"};
  options_.state_dir = state_dir_;
  options_.buffer_count = 16;
  options_.announce = false;
}

Harness::~Harness() {
  Stop();
  hosts_.clear();
  for (const std::string& dir : {temp_dir_, tmpfs_dir_}) {
    std::error_code ignored;
    if (!dir.empty()) std::filesystem::remove_all(dir, ignored);
  }
}

std::string Harness::DiskPath(uint16_t shelf, uint8_t slot) {
  return "mem:e" + std::to_string(shelf) + "." + std::to_string(slot);
}

size_t Harness::AddExport(uint16_t shelf, uint8_t slot, size_t size_bytes) {
  ExportOptions e;
  e.address = {shelf, slot};
  e.backend.path = DiskPath(shelf, slot);
  AddDisk(e.backend.path, size_bytes);
  options_.exports.push_back(e);
  return options_.exports.size() - 1;
}

std::string Harness::AddFileExport(uint16_t shelf, uint8_t slot, size_t size_bytes, ImageOn on) {
  if (on == ImageOn::kTmpfs && tmpfs_dir_.empty()) tmpfs_dir_ = MakeTempDir("/dev/shm");
  ExportOptions e;
  e.address = {shelf, slot};
  e.backend.path = (on == ImageOn::kTmpfs ? tmpfs_dir_ : temp_dir_) + "/" + e.name() + ".img";
  { std::ofstream create(e.backend.path, std::ios::binary | std::ios::trunc); }
  std::filesystem::resize_file(e.backend.path, size_bytes);
  options_.exports.push_back(e);
  return e.backend.path;
}

MemoryBackend& Harness::AddDisk(const std::string& path, size_t size_bytes) {
  auto& slot = disks_[path];
  slot = std::make_unique<MemoryBackend>(size_bytes);
  return *slot;
}

MemoryBackend& Harness::disk(const std::string& path) { return *disks_.at(path); }

MemorySharedMetadata& Harness::ShareMetadata(const std::string& path) {
  auto& metadata = shared_metadata_[path];
  if (!metadata) metadata = std::make_shared<MemorySharedMetadata>();
  return *metadata;
}
CountingBackend& Harness::counter(const std::string& path) { return *counters_.at(path); }
FaultFilter& Harness::faults(const std::string& path) { return *faults_.at(path); }

void Harness::AddInterface(const std::string& name, MacAddress mac, size_t mtu) {
  interfaces_[name] = InterfaceSpec{mac, mtu};
}

ServerEnvironment Harness::Environment() {
  ServerEnvironment env;
  env.host_name = "testhost";
  env.open_port = [this](const std::string& name) -> Result<std::unique_ptr<Port>> {
    auto spec = interfaces_.find(name);
    if (spec == interfaces_.end()) return Errno(ENODEV);
    MemoryPortOptions o;
    o.name = name;
    o.mac = spec->second.mac;
    o.role = PortRole::kTarget;
    o.mtu = spec->second.mtu;
    auto port = MemoryPort::Create(wire_, o);
    if (!port) return Unexpected{port.error()};
    target_ports_.emplace(name, port->get());  // one per event loop
    if (on_port_opened_) on_port_opened_(name, target_ports_.count(name));
    return std::unique_ptr<Port>(std::make_unique<ServedPort>(*this, std::move(*port)));
  };
  env.open_base = [this](StorageServices& services, const BackendSpec& spec,
                         const BaseOptions& base) -> Result<OpenedBackend> {
    auto found = disks_.find(spec.path);
    if (found == disks_.end()) {
      // An image file (AddFileExport): the real io_uring backend, as `aoe serve` opens it.
      auto under = [&](const std::string& dir) {
        return !dir.empty() && spec.path.rfind(dir + "/", 0) == 0;
      };
      if (!under(temp_dir_) && !under(tmpfs_dir_)) return Errno(ENOENT);
      auto file = OpenBase(services, spec, base);
      if (!file || !fault_file_exports_) return file;
      auto fault = std::make_unique<FaultFilter>(std::move(file->backend));
      faults_[spec.path] = fault.get();
      file->backend = std::move(fault);
      return file;
    }
    auto counting = std::make_unique<CountingBackend>(*found->second);
    counters_[spec.path] = counting.get();
    auto fault = std::make_unique<FaultFilter>(std::move(counting));
    faults_[spec.path] = fault.get();
    OpenedBackend opened;
    opened.backend = std::move(fault);
    if (auto shared = shared_metadata_.find(spec.path); shared != shared_metadata_.end()) {
      opened.shared_metadata = shared->second;
    }
    return opened;
  };
  return env;
}

::testing::AssertionResult Harness::Start() {
  auto server = Server::Create(options_, log_, Environment());
  if (!server) {
    return ::testing::AssertionFailure()
           << "Server::Create failed: " << server.error().message()
           << "; log: " << (log_lines_.empty() ? std::string("(empty)") : log_lines_.back());
  }
  server_ = std::move(*server);
  return ::testing::AssertionSuccess();
}

void Harness::Stop() {
  server_.reset();
  target_ports_.clear();
  counters_.clear();
  faults_.clear();
}

::testing::AssertionResult Harness::StopCleanly() {
  server_->RequestStop();
  auto ran = server_->Run();  // returns at once, after the shutdown
  Stop();
  if (!ran) return ::testing::AssertionFailure() << "Run failed: " << ran.error().message();
  return ::testing::AssertionSuccess();
}

::testing::AssertionResult Harness::Restart() {
  Stop();
  return Start();
}

MemoryPort& Harness::target_port(const std::string& name) {
  auto found = target_ports_.lower_bound(name);  // the first opened: loop 0's
  if (found == target_ports_.end() || found->first != name)
    throw std::out_of_range("no target port " + name);
  return *found->second;
}

RequestHeader Harness::To(uint16_t shelf, uint8_t slot, MacAddress from, uint32_t tag) {
  RequestHeader a;
  a.destination = kTargetMac;
  a.source = from;
  a.disk = {shelf, slot};
  a.tag = tag;
  return a;
}

void Harness::Send(const Frame& frame, MemoryPort& from) {
  const TxFrame whole{ConstByteSpan(frame)};
  auto sent = from.Send(std::span(&whole, 1));
  EXPECT_TRUE(sent.has_value());
}

void Harness::Settle() {
  using std::chrono::milliseconds;
  for (int round = 0; round < 500; ++round) {
    // Replies to state changes leave once the state file is written, on another thread.
    bool waiting = server_->replies_waiting_for_state() > 0;
    for (const auto& [name, port] : target_ports_) waiting |= port->queued_frames() > 0;
    if (!waiting) break;
    server_->Poll(milliseconds(10));
  }
  server_->Poll(milliseconds(0));
}

std::vector<Reply> Harness::Collect(MemoryPort& host) {
  std::vector<Reply> replies;
  for (;;) {
    Frame buffer(65536);
    RxSlot slot{ByteSpan(buffer), 0, false};
    auto received = host.Receive(std::span<RxSlot>(&slot, 1));
    if (!received || *received == 0) break;
    buffer.resize(slot.length);
    replies.emplace_back(std::move(buffer));
  }
  return replies;
}

std::vector<Reply> Harness::Await(MemoryPort& host, size_t count,
                                  std::chrono::milliseconds timeout) {
  std::vector<Reply> replies;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (replies.size() < count && std::chrono::steady_clock::now() < deadline) {
    server_->Poll(std::chrono::milliseconds(10));
    for (auto& r : Collect(host)) replies.push_back(std::move(r));
  }
  return replies;
}

std::optional<Reply> Harness::Exchange(const Frame& frame, MemoryPort& from) {
  Send(frame, from);
  Settle();
  auto replies = Collect(from);
  if (replies.empty()) return std::nullopt;
  EXPECT_EQ(replies.size(), 1u) << "expected a single reply";
  return std::move(replies.front());
}

bool Harness::LogContains(std::string_view text) const {
  std::lock_guard lock(log_mutex_);
  for (const auto& line : log_lines_)
    if (line.find(text) != std::string::npos) return true;
  return false;
}

std::vector<std::string> Harness::LogLinesWith(std::string_view text) const {
  std::lock_guard lock(log_mutex_);
  std::vector<std::string> found;
  for (const auto& line : log_lines_)
    if (line.find(text) != std::string::npos) found.push_back(line);
  return found;
}

}  // namespace aoe::target::testkit
