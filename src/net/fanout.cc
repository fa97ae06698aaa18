#include "net/fanout.h"

#include <linux/filter.h>
#include <linux/if_packet.h>
#include <sys/socket.h>

#include <iterator>

#include "net/role_filter.h"

namespace aoe {

size_t FanoutMember(ConstByteSpan frame, size_t members) {
  if (members <= 1 || frame.size() <= kAoeCommandOffset) return 0;
  if (LoadU8(frame, kAoeCommandOffset) != kAoeAtaCommand) return 0;
  return LoadBe32(frame, kSourceMacLowWordOffset) % members;
}

namespace {

// The selector for the kernel. A fanout program sees the frame from its network header (the
// AoE header), so the source MAC is read through the link-layer base SKF_LL_OFF. The program
// returns a number and the kernel takes it modulo the group's current member count, which is
// FanoutMember's modulo. A load beyond the frame ends the program with 0: member 0.
//   0: A = aoe[command]
//   1: if A == ATA goto 3
//   2: return 0
//   3: A = ethernet[8..11]
//   4: return A
Result<void> SetSelector(int fd) {
  constexpr uint32_t kCommandInAoeHeader = kAoeCommandOffset - kEthernetHeaderBytes;
  sock_filter code[] = {
      BPF_STMT(BPF_LD | BPF_B | BPF_ABS, kCommandInAoeHeader),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, kAoeAtaCommand, 1, 0),
      BPF_STMT(BPF_RET | BPF_K, 0),
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
               static_cast<uint32_t>(SKF_LL_OFF) + kSourceMacLowWordOffset),
      BPF_STMT(BPF_RET | BPF_A, 0),
  };
  sock_fprog program{static_cast<unsigned short>(std::size(code)), code};
  if (setsockopt(fd, SOL_PACKET, PACKET_FANOUT_DATA, &program, sizeof(program)) != 0) {
    return Errno();
  }
  return {};
}

}  // namespace

Result<uint16_t> JoinSourceMacFanout(int fd, uint16_t group_id) {
  uint32_t flags = PACKET_FANOUT_CBPF;
  if (group_id == 0) flags |= PACKET_FANOUT_FLAG_UNIQUEID;
  int arg = static_cast<int>(group_id | (flags << 16));
  if (setsockopt(fd, SOL_PACKET, PACKET_FANOUT, &arg, sizeof(arg)) != 0) return Errno();
  // The group's program is shared by its members; the first one to join sets it, before any
  // frame is spread (until then every frame goes to member 0, the only one).
  if (group_id == 0) {
    if (auto set = SetSelector(fd); !set) return Unexpected{set.error()};
    socklen_t size = sizeof(arg);
    if (getsockopt(fd, SOL_PACKET, PACKET_FANOUT, &arg, &size) != 0) return Errno();
  }
  return static_cast<uint16_t>(arg & 0xffff);
}

}  // namespace aoe
