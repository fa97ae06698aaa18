// Helpers shared by the netboot unit tests: building client requests as a PXE ROM or iPXE
// would send them.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "netboot/dhcp_message.h"

namespace aoe::netboot::testing {

inline const MacAddress kClientMac({0x52, 0x54, 0x00, 0xa0, 0xe0, 0x01});

enum class Client { kPlain, kPxeBios, kPxeEfi64, kIpxeBios, kIpxeNoAoe };

inline DhcpMessage MakeRequest(DhcpMessageType type, Client client,
                               const MacAddress& mac = kClientMac) {
  DhcpMessage m;
  m.op = kBootRequest;
  m.xid = 0x11223344;
  m.flags = kDhcpBroadcastFlag;
  for (size_t i = 0; i < 6; ++i) m.chaddr[i] = mac.octets()[i];
  m.SetU8(kOptMessageType, static_cast<uint8_t>(type));
  switch (client) {
    case Client::kPlain:
      break;
    case Client::kPxeBios:
      m.SetString(kOptVendorClass, "PXEClient:Arch:00000:UNDI:002001");
      m.Set(kOptClientArch, {0, 0});
      m.Set(kOptClientGuid, {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16});
      break;
    case Client::kPxeEfi64:
      m.SetString(kOptVendorClass, "PXEClient:Arch:00007:UNDI:003016");
      m.Set(kOptClientArch, {0, 7});
      break;
    case Client::kIpxeBios:
      m.SetString(kOptVendorClass, "PXEClient:Arch:00000:UNDI:002001");
      m.Set(kOptClientArch, {0, 0});
      m.SetString(kOptUserClass, "iPXE");
      // Features as iPXE lists them: PXE ext (0x10), AoE (0x12), TFTP (0x15).
      m.Set(kOptIpxeEncap, {0x10, 1, 2, 0x12, 1, 1, 0x15, 1, 1});
      break;
    case Client::kIpxeNoAoe:
      m.SetString(kOptVendorClass, "PXEClient:Arch:00000:UNDI:002001");
      m.SetString(kOptUserClass, "iPXE");
      m.Set(kOptIpxeEncap, {0x10, 1, 2, 0x15, 1, 1});
      break;
  }
  return m;
}

}  // namespace aoe::netboot::testing
