#include "netboot/dhcp_responder.h"

#include <fmt/format.h>

#include <utility>

namespace aoe::netboot {

namespace {

// Option 43 for PXE clients: PXE_DISCOVERY_CONTROL (6) = 8, "boot the file in this reply, skip
// boot server discovery", then end. Without it some PXE ROMs wait for a boot menu.
const std::vector<uint8_t> kPxeVendorOptions = {6, 1, 8, 255};

std::string Describe(const BootDecision& d, const ClientInfo& client) {
  switch (d.stage) {
    case BootDecision::Stage::kFirstStage:
      // The arch (option 93) is what chose between the BIOS and the EFI file.
      return fmt::format("boot file {} (client arch {})", d.file, client.arch.value_or(0));
    case BootDecision::Stage::kScript:
      return fmt::format("script {} (sanboot aoe:{})", d.file, d.target.ToString());
    case BootDecision::Stage::kNone:
      return fmt::format("no boot file: {}", d.why);
  }
  return "";
}

}  // namespace

DhcpResponder::DhcpResponder(DhcpResponderConfig config, LeasePool* pool)
    : config_(std::move(config)), pool_(pool) {}

DhcpOutcome DhcpResponder::Handle(const DhcpMessage& request, uint16_t arrival_port,
                                  Ipv4Address source, uint16_t source_port, int64_t now_unix) {
  std::optional<DhcpMessageType> type = request.message_type();
  std::optional<MacAddress> mac = request.client_mac();
  // Plain BOOTP and non-Ethernet clients are not netboot clients of ours, nor a client without
  // a hardware address (the zero MAC marks declined addresses in the lease pool).
  if (request.op != kBootRequest || !type || !mac || mac->is_zero()) return {};
  if (config_.mode == DhcpMode::kFull) {
    if (arrival_port != kDhcpServerPort) return {};
    return HandleFull(request, *type, *mac, now_unix);
  }
  return HandleProxy(request, *type, *mac, arrival_port, source, source_port);
}

DhcpMessage DhcpResponder::ReplyTo(const DhcpMessage& request, DhcpMessageType type) const {
  DhcpMessage reply;
  reply.op = kBootReply;
  reply.htype = request.htype;
  reply.hlen = request.hlen;
  reply.xid = request.xid;
  reply.flags = request.flags;
  reply.giaddr = request.giaddr;
  reply.chaddr = request.chaddr;
  reply.SetU8(kOptMessageType, static_cast<uint8_t>(type));
  reply.SetAddress(kOptServerId, config_.server);
  return reply;
}

void DhcpResponder::AddBootInfo(const DhcpMessage& request, const ClientInfo& client,
                                const BootDecision& decision, DhcpMessage& reply) const {
  if (decision.stage == BootDecision::Stage::kNone) return;
  reply.siaddr = config_.server;  // next server: where TFTP is
  reply.file = decision.file;
  reply.SetString(kOptBootFile, decision.file);
  reply.SetString(kOptTftpServer, config_.server.ToString());
  if (client.pxe) {
    // PXE 2.1: a server giving boot information to a PXE client identifies as "PXEClient",
    // echoes the client's GUID, and (option 43) says not to look for boot servers.
    reply.SetString(kOptVendorClass, "PXEClient");
    reply.Set(kOptVendorSpecific, kPxeVendorOptions);
    if (const DhcpOption* guid = request.Find(kOptClientGuid))
      reply.Set(kOptClientGuid, guid->data);
  }
}

DhcpReply DhcpResponder::Broadcast(DhcpMessage message, const DhcpMessage& request) const {
  // Relayed requests go back to the relay; otherwise broadcast, since a client without an
  // address cannot receive unicast before it has configured one (and we do not write ARP).
  if (!request.giaddr.is_any()) return {std::move(message), request.giaddr, kDhcpServerPort};
  return {std::move(message), Ipv4Address::Broadcast(), kDhcpClientPort};
}

DhcpOutcome DhcpResponder::HandleFull(const DhcpMessage& request, DhcpMessageType type,
                                      const MacAddress& mac, int64_t now_unix) {
  const ClientInfo client = ClassifyClient(request);
  const BootDecision decision = DecideBoot(client, mac, config_.targets, config_.files);
  DhcpOutcome out;
  auto fill_address_options = [&](DhcpMessage& reply) {
    reply.SetAddress(kOptSubnetMask, config_.netmask);
    if (config_.router) reply.SetAddress(kOptRouter, *config_.router);
    reply.SetU32(kOptLeaseTime, pool_->lease_seconds());
    AddBootInfo(request, client, decision, reply);
  };

  switch (type) {
    case DhcpMessageType::kDiscover: {
      std::optional<Ipv4Address> address =
          pool_->Offer(mac, request.FindAddress(kOptRequestedIp), now_unix);
      if (!address) {
        out.log = fmt::format("DISCOVER from {}: no free address in the range; not answered",
                              FirmwareName(client.firmware));
        return out;
      }
      DhcpMessage reply = ReplyTo(request, DhcpMessageType::kOffer);
      reply.yiaddr = *address;
      fill_address_options(reply);
      out.log = fmt::format("DISCOVER from {} -> OFFER {}, {}", FirmwareName(client.firmware),
                            address->ToString(), Describe(decision, client));
      out.reply = Broadcast(std::move(reply), request);
      return out;
    }
    case DhcpMessageType::kRequest: {
      std::optional<Ipv4Address> server_id = request.FindAddress(kOptServerId);
      if (server_id && *server_id != config_.server) {
        // The client took another server's offer (RFC 2131 4.3.2): drop our hold quietly.
        if (const Lease* held = pool_->Find(mac); held != nullptr && !held->bound) {
          pool_->Release(mac, held->address);
        }
        return out;
      }
      // SELECTING / INIT-REBOOT name the address in option 50; RENEWING uses ciaddr.
      Ipv4Address wanted = request.FindAddress(kOptRequestedIp).value_or(request.ciaddr);
      if (wanted.is_any() || !pool_->Bind(mac, wanted, now_unix)) {
        DhcpMessage nak = ReplyTo(request, DhcpMessageType::kNak);
        nak.flags |= kDhcpBroadcastFlag;
        out.log = fmt::format(
            "REQUEST for {} -> NAK (not ours to give; the client will start "
            "over with DISCOVER)",
            wanted.ToString());
        out.reply = Broadcast(std::move(nak), request);
        return out;
      }
      DhcpMessage ack = ReplyTo(request, DhcpMessageType::kAck);
      ack.yiaddr = wanted;
      ack.ciaddr = request.ciaddr;
      fill_address_options(ack);
      out.leases_changed = true;
      out.log = fmt::format("REQUEST from {} -> ACK {}, {}", FirmwareName(client.firmware),
                            wanted.ToString(), Describe(decision, client));
      if (!request.ciaddr.is_any() && request.giaddr.is_any()) {
        out.reply = DhcpReply{std::move(ack), request.ciaddr, kDhcpClientPort};  // renewal
      } else {
        out.reply = Broadcast(std::move(ack), request);
      }
      return out;
    }
    case DhcpMessageType::kRelease:
      out.leases_changed = pool_->Release(mac, request.ciaddr);
      out.log = fmt::format("RELEASE of {}{}", request.ciaddr.ToString(),
                            out.leases_changed ? "" : " (not this client's: ignored)");
      return out;
    case DhcpMessageType::kDecline:
      if (std::optional<Ipv4Address> declined = request.FindAddress(kOptRequestedIp)) {
        out.leases_changed = pool_->Decline(mac, *declined, now_unix);
        out.log =
            out.leases_changed
                ? fmt::format("DECLINE of {}: another host uses it; parked for a lease time",
                              declined->ToString())
                : fmt::format("DECLINE of {}: not this client's; ignored", declined->ToString());
      }
      return out;
    default:  // INFORM, and replies from other servers
      return out;
  }
}

DhcpOutcome DhcpResponder::HandleProxy(const DhcpMessage& request, DhcpMessageType type,
                                       const MacAddress& mac, uint16_t arrival_port,
                                       Ipv4Address source, uint16_t source_port) {
  const ClientInfo client = ClassifyClient(request);
  DhcpOutcome out;
  // The address server answers everyone else; we only add boot information for netboot clients.
  if (client.firmware == Firmware::kOther) return out;
  const BootDecision decision = DecideBoot(client, mac, config_.targets, config_.files);
  if (decision.stage == BootDecision::Stage::kNone) {
    out.log = fmt::format("{} from {} on port {}: not answered, {}", DhcpMessageTypeName(type),
                          FirmwareName(client.firmware), arrival_port, decision.why);
    return out;
  }

  if (arrival_port == kDhcpServerPort) {
    // Only DISCOVER: REQUESTs on port 67 are for the server that hands out addresses.
    if (type != DhcpMessageType::kDiscover) return out;
    DhcpMessage offer = ReplyTo(request, DhcpMessageType::kOffer);
    AddBootInfo(request, client, decision, offer);
    // iPXE recognises a ProxyDHCP offer by option 60 "PXEClient", PXE clients or not.
    offer.SetString(kOptVendorClass, "PXEClient");
    out.log = fmt::format("DISCOVER from {} -> proxy OFFER (no address), {}",
                          FirmwareName(client.firmware), Describe(decision, client));
    out.reply = Broadcast(std::move(offer), request);
    return out;
  }

  if (arrival_port == kPxeProxyPort &&
      (type == DhcpMessageType::kRequest || type == DhcpMessageType::kInform)) {
    DhcpMessage ack = ReplyTo(request, DhcpMessageType::kAck);
    ack.ciaddr = request.ciaddr;
    AddBootInfo(request, client, decision, ack);
    ack.SetString(kOptVendorClass, "PXEClient");
    out.log =
        fmt::format("{} on port 4011 from {} ({}) -> proxy ACK, {}", DhcpMessageTypeName(type),
                    FirmwareName(client.firmware), source.ToString(), Describe(decision, client));
    // The client has its address by now and listens where it sent from.
    Ipv4Address to = source.is_any() ? Ipv4Address::Broadcast() : source;
    out.reply = DhcpReply{std::move(ack), to, source_port == 0 ? kDhcpClientPort : source_port};
    return out;
  }
  return out;
}

}  // namespace aoe::netboot
