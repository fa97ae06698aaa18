// The Initiator's admin exchanges (initiator.h): one request, resent with the same tag until
// its reply or its timeout; discovery, which collects every reply until its deadline; raw
// frames for protocol tests; and the typed config, mask and reserve commands built on them.
#include <fmt/format.h>

#include <algorithm>
#include <cassert>
#include <cstring>

#include "initiator/initiator.h"
#include "initiator/messages.h"

namespace aoe::initiator {
namespace {

// A config reply as the commands see it (aoe config, ping's per-MAC rounds).
ConfigReply ConfigReplyOf(const proto::Header& h, const proto::ConfigArg& c) {
  ConfigReply out;
  out.target_mac = h.source;
  out.address = DiskAddress{h.shelf, h.slot};
  out.buffer_count = c.buffer_count;
  out.firmware_version = c.firmware_version;
  out.sector_count = c.sector_count;
  out.command = c.command;
  out.config_string.assign(reinterpret_cast<const char*>(c.string.data()), c.string.size());
  return out;
}

ConstByteSpan AsBytes(std::string_view s) {
  return {reinterpret_cast<const std::byte*>(s.data()), s.size()};
}

Error ShortReply(DiskAddress address, std::string_view kind) {
  return Error(InitiatorErrc::kShortReply,
               fmt::format("{}: {} reply too short", address.ToString(), kind));
}

}  // namespace

// --- Exchanges ------------------------------------------------------------------------------

std::vector<std::byte> Initiator::NewFrame(DiskAddress address, uint8_t command,
                                           size_t arg_size) const {
  std::vector<std::byte> frame(std::max(proto::kMinFrameSize, proto::kHeaderSize + arg_size));
  proto::Header h;
  h.shelf = address.shelf;
  h.slot = address.slot;
  h.command = command;
  proto::EncodeHeader(h, frame);
  return frame;
}

void Initiator::RouteExchange(DiskAddress address, const ExchangeOptions& options,
                              ExchangeState& ex) const {
  const Disk* d = nullptr;
  if (auto it = disk_ids_.find(address); it != disk_ids_.end()) d = disks_[it->second].get();
  if (options.port) {
    ex.ports = {*options.port};
    ex.destination = options.target_mac.value_or(MacAddress::Broadcast());
    if (!options.target_mac && d != nullptr) {
      for (const Disk::Path& p : d->paths_) {
        if (p.port == *options.port && p.verdict != Disk::Path::Verdict::kOther) {
          ex.destination = p.target_mac;
          break;
        }
      }
    }
    return;
  }
  if (d != nullptr && !d->paths_.empty()) {
    // The first path that is up and whose link carries the request (a long mask edit may fit a
    // jumbo-frame path only); else the first that is up; else the first. Never a MAC that
    // serves another disk under this address.
    const auto& paths = d->paths_;
    auto chosen = std::find_if(paths.begin(), paths.end(), [&](const Disk::Path& p) {
      return p.up && d->Usable(p) &&
             ex.frame.size() <= ports_[p.port]->mtu() + proto::kEthernetHeaderSize;
    });
    if (chosen == paths.end()) {
      chosen = std::find_if(paths.begin(), paths.end(),
                            [&](const Disk::Path& p) { return p.up && d->Usable(p); });
    }
    if (chosen == paths.end()) chosen = paths.begin();
    ex.ports = {chosen->port};
    ex.destination = options.target_mac.value_or(chosen->target_mac);
    return;
  }
  ex.ports.clear();
  for (size_t i = 0; i < ports_.size(); ++i) ex.ports.push_back(i);
  ex.destination = options.target_mac.value_or(MacAddress::Broadcast());
}

uint32_t Initiator::StartExchange(ExchangeState state) {
  uint32_t slot = 0;
  while (slot < exchanges_.size() && exchanges_[slot].live) ++slot;
  if (slot == exchanges_.size()) exchanges_.emplace_back();
  ExchangeState& ex = exchanges_[slot];
  ex = std::move(state);
  ex.live = true;
  if (ex.ours) {
    std::optional<uint32_t> tag = tags_.Allocate(kKindExchange | slot);
    assert(tag.has_value());
    ex.tag = *tag;
    StoreBe32(ex.frame, 20, ex.tag);
  }
  TimePoint now = clock_.Now();
  ex.deadline = now + ex.timeout;
  ex.next_resend = now + ex.resend_interval;
  SendExchange(ex);
  return slot;
}

void Initiator::SendExchange(ExchangeState& ex) {
  for (size_t port : ex.ports) {
    if (port >= ports_.size()) continue;
    Port& p = *ports_[port];
    if (ex.ours) {
      ex.destination.Store(ex.frame, 0);
      p.mac().Store(ex.frame, 6);
    } else if (MacAddress::Load(ex.frame, 6).is_zero()) {
      p.mac().Store(ex.frame, 6);
    }
    const TxFrame bytes{ConstByteSpan(ex.frame)};
    (void)p.Send(std::span(&bytes, 1));  // loss is handled by resends / the timeout
  }
}

void Initiator::FinishExchange(uint32_t slot) {
  ExchangeState& ex = exchanges_[slot];
  if (ex.ours) {
    if (lingering_tags_.size() >= kMaxLingeringTags) {
      tags_.Release(lingering_tags_.front().tag);
      lingering_tags_.pop_front();
    }
    tags_.Rebind(ex.tag, kLingeringExchange);
    lingering_tags_.push_back(LingeringTag{clock_.Now() + kExchangeLinger, ex.tag});
  }
  ex = ExchangeState{};
}

void Initiator::CancelExchange(ExchangeHandle handle) {
  if (handle.slot >= exchanges_.size()) return;
  const ExchangeState& ex = exchanges_[handle.slot];
  if (ex.live && ex.ours && ex.tag == handle.tag) FinishExchange(handle.slot);
}

void Initiator::Exchange(DiskAddress address, uint8_t command, ConstByteSpan arg,
                         const ExchangeOptions& options, FrameCallback done) {
  AdminExchange(address, command, arg, options, fmt::format("command {}", command),
                std::move(done));
}

std::optional<ExchangeHandle> Initiator::AdminExchange(DiskAddress address, uint8_t command,
                                                       ConstByteSpan arg,
                                                       const ExchangeOptions& options,
                                                       std::string what, FrameCallback done) {
  ExchangeState ex;
  ex.address = address;
  ex.command = command;
  ex.frame = NewFrame(address, command, arg.size());
  if (!arg.empty()) std::memcpy(ex.frame.data() + proto::kHeaderSize, arg.data(), arg.size());
  ex.timeout = options.timeout;
  ex.resend_interval = options.resend_interval;
  ex.what = std::move(what);
  ex.on_done = std::move(done);
  RouteExchange(address, options, ex);
  if (ex.ports.empty() || ex.ports.front() >= ports_.size()) {
    FailLater(std::move(ex.on_done),
              Error(InitiatorErrc::kNoPorts, "no usable network interface for the request"));
    return std::nullopt;
  }
  // A frame longer than a link carries is refused by the kernel (EMSGSIZE) and would look like
  // a target that does not answer: it goes only on the ports that carry it, and if none does,
  // the request fails now (a long mask edit or reserve list).
  const Port* largest = ports_[ex.ports.front()];
  std::erase_if(ex.ports, [&](size_t port) {
    const Port* p = ports_[port];
    if (p->mtu() > largest->mtu()) largest = p;
    return ex.frame.size() > p->mtu() + proto::kEthernetHeaderSize;
  });
  if (ex.ports.empty()) {
    FailLater(std::move(ex.on_done),
              Error(InitiatorErrc::kInvalidArgument,
                    fmt::format("the {} needs a {}-byte frame, more than {} carries (MTU {}); "
                                "send fewer entries per request",
                                ex.what, ex.frame.size(), largest->name(), largest->mtu())));
    return std::nullopt;
  }
  const uint32_t slot = StartExchange(std::move(ex));
  const ExchangeHandle handle{slot, exchanges_[slot].tag};
  DrainCompletions();
  return handle;
}

void Initiator::SendRaw(size_t port, ConstByteSpan frame, Duration timeout, FrameCallback done) {
  if (port >= ports_.size() || frame.size() < proto::kHeaderSize) {
    FailLater(std::move(done),
              Error(InitiatorErrc::kInvalidArgument,
                    "raw frame needs a valid port and at least a 24-byte AoE header"));
    return;
  }
  ExchangeState ex;
  ex.ours = false;
  ex.tag = LoadBe32(frame, 20);
  ex.address = DiskAddress{LoadBe16(frame, 16), LoadU8(frame, 18)};
  ex.command = LoadU8(frame, 19);
  ex.frame.assign(frame.begin(), frame.end());
  if (ex.frame.size() < proto::kMinFrameSize) ex.frame.resize(proto::kMinFrameSize);
  ex.ports = {port};
  ex.destination = MacAddress::Load(frame, 0);
  ex.timeout = timeout;
  ex.resend_interval = Duration::zero();
  ex.what = "raw request";
  ex.on_done = std::move(done);
  StartExchange(std::move(ex));
  DrainCompletions();
}

Initiator::ExchangeState Initiator::BroadcastConfigQuery(DiskAddress address, Duration timeout,
                                                         Duration resend_interval,
                                                         std::string what) const {
  ExchangeState ex;
  ex.collect = true;
  ex.address = address;
  ex.command = static_cast<uint8_t>(proto::Command::kConfig);
  ex.frame = NewFrame(address, ex.command, proto::kConfigHeaderSize - proto::kHeaderSize);
  proto::EncodeConfig(proto::ConfigArg{}, ex.frame);
  for (size_t i = 0; i < ports_.size(); ++i) ex.ports.push_back(i);
  ex.destination = MacAddress::Broadcast();
  ex.timeout = timeout;
  ex.resend_interval = resend_interval;
  ex.what = std::move(what);
  return ex;
}

void Initiator::Discover(DiskAddress where, Duration timeout,
                         std::function<void(std::vector<DiskAddress>)> done) {
  auto found = std::make_shared<std::vector<DiskAddress>>();
  // One broadcast lost on a lossy link would hide every target: ask again a few times while
  // collecting (the same targets answering twice are counted once).
  ExchangeState ex = BroadcastConfigQuery(
      where, timeout, std::max<Duration>(timeout / 4, std::chrono::milliseconds(250)), "discovery");
  ex.on_reply = [found](size_t, ConstByteSpan frame) {
    std::optional<proto::Header> h = proto::DecodeHeader(frame);
    if (!h || h->is_error()) return;
    DiskAddress a{h->shelf, h->slot};
    if (std::find(found->begin(), found->end(), a) == found->end()) found->push_back(a);
  };
  ex.on_end = [found, done = std::move(done)] {
    std::sort(found->begin(), found->end());
    done(std::move(*found));
  };
  StartExchange(std::move(ex));
  DrainCompletions();
}

void Initiator::QueryEveryMac(DiskAddress address, Duration timeout,
                              std::function<void(const ConfigReply&)> on_reply,
                              std::function<void()> done) {
  // One query, as aoeping sends per round.
  ExchangeState ex = BroadcastConfigQuery(address, timeout, Duration::zero(), "config query");
  ex.on_reply = [this, on_reply = std::move(on_reply)](size_t, ConstByteSpan frame) {
    std::optional<proto::Header> h = proto::DecodeHeader(frame);
    std::optional<proto::ConfigArg> c = proto::DecodeConfig(frame);
    if (!h || h->is_error() || !c) return;
    Defer([on_reply, out = ConfigReplyOf(*h, *c)] { on_reply(out); });
  };
  ex.on_end = std::move(done);
  StartExchange(std::move(ex));
  DrainCompletions();
}

// --- Typed admin commands --------------------------------------------------------------------

void Initiator::Config(DiskAddress address, proto::ConfigCommand command, std::string_view value,
                       const ExchangeOptions& options,
                       std::function<void(Outcome<ConfigReply>)> done) {
  static constexpr std::string_view kNames[] = {"config read", "config test", "config test-prefix",
                                                "config set-if-empty", "config force-set"};
  auto ccmd = static_cast<uint8_t>(command);
  std::string what = ccmd < 5 ? std::string(kNames[ccmd]) : fmt::format("config command {}", ccmd);
  if (value.size() > proto::kMaxConfigStringSize) {
    FailLater(std::move(done),
              Error(InitiatorErrc::kInvalidArgument,
                    fmt::format("config string of {} bytes is longer than the 1024 AoE allows",
                                value.size())));
    return;
  }
  proto::ConfigArg arg;
  arg.command = ccmd;
  arg.string = AsBytes(value);
  std::vector<std::byte> frame(proto::kConfigHeaderSize + value.size());
  proto::EncodeConfig(arg, frame);
  AdminExchange(
      address, static_cast<uint8_t>(proto::Command::kConfig),
      ConstByteSpan(frame).subspan(proto::kHeaderSize), options, what,
      [address, what, done = std::move(done)](Outcome<std::vector<std::byte>> r) {
        if (!r) return done(r.error());
        ConstByteSpan f(*r);
        std::optional<proto::Header> h = proto::DecodeHeader(f);
        std::optional<proto::ConfigArg> c = proto::DecodeConfig(f);
        if (h->is_error()) {
          std::string detail;
          if (h->error == proto::AoeError::kConfigStringPresent && c && c->string_complete) {
            detail = fmt::format(": it is '{}'",
                                 std::string_view(reinterpret_cast<const char*>(c->string.data()),
                                                  c->string.size()));
          }
          return done(AoeRefusal(address, what, h->error, detail));
        }
        if (!c) {
          return done(ShortReply(address, "config"));
        }
        done(ConfigReplyOf(*h, *c));
      });
}

namespace {

Outcome<MaskReply> DecodeMaskReply(DiskAddress address, std::string_view what,
                                   Outcome<std::vector<std::byte>> r) {
  if (!r) return r.error();
  ConstByteSpan f(*r);
  std::optional<proto::Header> h = proto::DecodeHeader(f);
  if (h->is_error()) return AoeRefusal(address, what, h->error);
  std::optional<proto::MaskArg> m = proto::DecodeMask(f);
  if (!m) return ShortReply(address, "mask");
  MaskReply out;
  out.error = static_cast<proto::MaskError>(m->error);
  if (m->error != 0) {
    out.failed_index = m->directive_count;
    static constexpr std::string_view kWhy[] = {"ok", "unspecified error", "bad directive",
                                                "list full"};
    return Error(InitiatorErrc::kMaskError,
                 fmt::format("{} refused {}: directive {} failed: {}", address.ToString(), what,
                             m->directive_count, m->error < 4 ? kWhy[m->error] : "unknown error"));
  }
  for (size_t i = 0; i < m->available_directives(); ++i) out.macs.push_back(m->DirectiveAt(i).mac);
  return out;
}

}  // namespace

void Initiator::ReadMask(DiskAddress address, const ExchangeOptions& options,
                         std::function<void(Outcome<MaskReply>)> done) {
  std::vector<std::byte> frame(proto::kMaskHeaderSize);
  proto::EncodeMask(static_cast<uint8_t>(proto::MaskCommand::kRead), proto::MaskError::kOk, {},
                    frame);
  AdminExchange(address, static_cast<uint8_t>(proto::Command::kMacMask),
                ConstByteSpan(frame).subspan(proto::kHeaderSize), options, "mask read",
                [address, done = std::move(done)](Outcome<std::vector<std::byte>> r) {
                  done(DecodeMaskReply(address, "mask read", std::move(r)));
                });
}

void Initiator::EditMask(DiskAddress address, std::span<const proto::MaskDirective> directives,
                         const ExchangeOptions& options,
                         std::function<void(Outcome<MaskReply>)> done) {
  std::vector<std::byte> frame(proto::kMaskHeaderSize +
                               directives.size() * proto::kMaskDirectiveSize);
  if (directives.size() > 255 || proto::EncodeMaskDirectives(directives, frame) == 0) {
    FailLater(std::move(done),
              Error(InitiatorErrc::kInvalidArgument, "at most 255 mask directives per request"));
    return;
  }
  AdminExchange(address, static_cast<uint8_t>(proto::Command::kMacMask),
                ConstByteSpan(frame).subspan(proto::kHeaderSize), options, "mask edit",
                [address, done = std::move(done)](Outcome<std::vector<std::byte>> r) {
                  done(DecodeMaskReply(address, "mask edit", std::move(r)));
                });
}

void Initiator::Reserve(DiskAddress address, proto::ReserveCommand command,
                        std::span<const MacAddress> macs, const ExchangeOptions& options,
                        std::function<void(Outcome<ReserveReply>)> done) {
  if (command == proto::ReserveCommand::kRead) macs = {};
  std::vector<std::byte> frame(proto::kReserveHeaderSize + macs.size() * 6);
  if (macs.size() > 255 || proto::EncodeReserve(static_cast<uint8_t>(command), macs, frame) == 0) {
    FailLater(std::move(done),
              Error(InitiatorErrc::kInvalidArgument, "at most 255 MACs in a reserve list"));
    return;
  }
  // A set of an empty list is a release, and is named so in messages ("no reply from e0.9 to
  // release within 1 s").
  const bool set = command == proto::ReserveCommand::kSet;
  std::string what = command == proto::ReserveCommand::kRead ? "reserve read"
                     : macs.empty()                          ? (set ? "release" : "forced release")
                     : set                                   ? "reserve set"
                                                             : "reserve force-set";
  AdminExchange(address, static_cast<uint8_t>(proto::Command::kReserve),
                ConstByteSpan(frame).subspan(proto::kHeaderSize), options, what,
                [address, what, done = std::move(done)](Outcome<std::vector<std::byte>> r) {
                  if (!r) return done(r.error());
                  ConstByteSpan f(*r);
                  std::optional<proto::Header> h = proto::DecodeHeader(f);
                  std::optional<proto::ReserveArg> a = proto::DecodeReserve(f);
                  if (h->is_error()) {
                    if (h->error != proto::AoeError::kTargetReserved) {
                      return done(AoeRefusal(address, what, h->error));
                    }
                    // aoe serve and vblade send the current list with the refusal.
                    std::optional<std::vector<MacAddress>> holders;
                    std::string detail = "; the reply does not say who holds it";
                    if (a && a->available_macs() > 0) {
                      holders.emplace();
                      std::string names;
                      for (size_t i = 0; i < a->available_macs(); ++i) {
                        holders->push_back(a->MacAt(i));
                        names += (i > 0 ? ", " : "") + a->MacAt(i).ToString();
                      }
                      detail = fmt::format(": held by {}", names);
                    }
                    Error e = AoeRefusal(address, what, h->error, detail);
                    e.holders = std::move(holders);
                    return done(std::move(e));
                  }
                  if (!a) {
                    return done(ShortReply(address, "reserve"));
                  }
                  ReserveReply out;
                  for (size_t i = 0; i < a->available_macs(); ++i) out.macs.push_back(a->MacAt(i));
                  done(std::move(out));
                });
}

}  // namespace aoe::initiator
