// An LD_PRELOAD library for faults_packet_rings_refused: setsockopt() refuses one PACKET_MMAP
// ring option the way a kernel that cannot give rings does, so that the test can show `aoe
// serve` falling back to its socket path on a kernel where rings work.
//
//   AOE_REFUSE_PACKET_OPTION=version   PACKET_VERSION fails with EINVAL (no TPACKET_V2)
//   AOE_REFUSE_PACKET_OPTION=tx_ring   PACKET_TX_RING fails with ENOMEM (no memory for the ring,
//                                      after the RX ring was set up)
// Every other call goes to libc's setsockopt.
#include <dlfcn.h>
#include <linux/if_packet.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace {

using SetsockoptFn = int (*)(int, int, int, const void*, socklen_t);

bool Refused(int level, int name, int* error) {
  const char* refuse = std::getenv("AOE_REFUSE_PACKET_OPTION");
  if (refuse == nullptr || level != SOL_PACKET) return false;
  if (name == PACKET_VERSION && std::strcmp(refuse, "version") == 0) {
    *error = EINVAL;
    return true;
  }
  if (name == PACKET_TX_RING && std::strcmp(refuse, "tx_ring") == 0) {
    *error = ENOMEM;
    return true;
  }
  return false;
}

}  // namespace

extern "C" int setsockopt(int fd, int level, int name, const void* value, socklen_t length) {
  static const auto real = reinterpret_cast<SetsockoptFn>(dlsym(RTLD_NEXT, "setsockopt"));
  int error = 0;
  if (Refused(level, name, &error)) {
    errno = error;
    return -1;
  }
  return real(fd, level, name, value, length);
}
