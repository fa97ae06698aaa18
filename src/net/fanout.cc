#include "net/fanout.h"

#include <linux/filter.h>
#include <linux/if_packet.h>
#include <sys/socket.h>

#include <algorithm>
#include <vector>

#include "net/role_filter.h"

namespace aoe {

size_t FanoutMember(ConstByteSpan frame, size_t members, std::span<const FanoutDisk> first) {
  if (members <= 1 || frame.size() <= kAoeCommandOffset) return 0;
  if (LoadU8(frame, kAoeCommandOffset) != kAoeAtaCommand) return 0;
  const FanoutDisk addressed{LoadBe16(frame, kAoeMajorOffset), LoadU8(frame, kAoeMinorOffset)};
  if (addressed.major == kAoeWildcardMajor || addressed.minor == kAoeWildcardMinor) return 0;
  if (std::find(first.begin(), first.end(), addressed) != first.end()) return 0;
  return LoadBe32(frame, kSourceMacLowWordOffset) % members;
}

namespace {

// The selector for the kernel. A fanout program sees the frame from its network header (the
// AoE header), so the source MAC is read through the link-layer base SKF_LL_OFF. The program
// returns a number and the kernel takes it modulo the group's current member count, which is
// FanoutMember's modulo. A load beyond the frame ends the program with 0: member 0.
//   A = aoe[command]; if A != ATA: return 0
//   A = aoe[major]; if A == wildcard: return 0
//   A = aoe[minor]; if A == wildcard: return 0
//   A = aoe[major, minor, command] (one word: the command is 0 here)
//   for each first-member disk: if A == (major << 16 | minor << 8): return 0
//   A = ethernet[8..11]; return A
// Each disk's test skips its own `return 0` when it fails, so no jump is longer than one
// instruction, however many disks there are.
std::vector<sock_filter> Selector(std::span<const FanoutDisk> first) {
  constexpr uint32_t kCommandInAoeHeader = kAoeCommandOffset - kEthernetHeaderBytes;
  constexpr uint32_t kAddressInAoeHeader = kAoeMajorOffset - kEthernetHeaderBytes;
  constexpr uint32_t kMinorInAoeHeader = kAoeMinorOffset - kEthernetHeaderBytes;
  std::vector<sock_filter> code = {
      BPF_STMT(BPF_LD | BPF_B | BPF_ABS, kCommandInAoeHeader),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, kAoeAtaCommand, 1, 0),
      BPF_STMT(BPF_RET | BPF_K, 0),
      BPF_STMT(BPF_LD | BPF_H | BPF_ABS, kAddressInAoeHeader),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, kAoeWildcardMajor, 0, 1),
      BPF_STMT(BPF_RET | BPF_K, 0),
      BPF_STMT(BPF_LD | BPF_B | BPF_ABS, kMinorInAoeHeader),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, kAoeWildcardMinor, 0, 1),
      BPF_STMT(BPF_RET | BPF_K, 0),
  };
  if (!first.empty()) {
    code.push_back(BPF_STMT(BPF_LD | BPF_W | BPF_ABS, kAddressInAoeHeader));
    for (const FanoutDisk& disk : first) {
      const uint32_t address = uint32_t{disk.major} << 16 | uint32_t{disk.minor} << 8;
      code.push_back(BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, address, 0, 1));
      code.push_back(BPF_STMT(BPF_RET | BPF_K, 0));
    }
  }
  code.push_back(BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
                          static_cast<uint32_t>(SKF_LL_OFF) + kSourceMacLowWordOffset));
  code.push_back(BPF_STMT(BPF_RET | BPF_A, 0));
  return code;
}

}  // namespace

Result<void> SetFanoutFirstDisks(int fd, std::span<const FanoutDisk> first) {
  if (first.size() > kMaxFanoutFirstDisks) return Errno(EINVAL);
  std::vector<sock_filter> code = Selector(first);
  sock_fprog program{static_cast<unsigned short>(code.size()), code.data()};
  if (setsockopt(fd, SOL_PACKET, PACKET_FANOUT_DATA, &program, sizeof(program)) != 0) {
    return Errno();
  }
  return {};
}

Result<uint16_t> JoinSourceMacFanout(int fd, uint16_t group_id) {
  uint32_t flags = PACKET_FANOUT_CBPF;
  if (group_id == 0) flags |= PACKET_FANOUT_FLAG_UNIQUEID;
  int arg = static_cast<int>(group_id | (flags << 16));
  if (setsockopt(fd, SOL_PACKET, PACKET_FANOUT, &arg, sizeof(arg)) != 0) return Errno();
  // The group's program is shared by its members; the first one to join sets it, before any
  // frame is spread (until then every frame goes to member 0, the only one).
  if (group_id == 0) {
    if (auto set = SetFanoutFirstDisks(fd, {}); !set) return Unexpected{set.error()};
    socklen_t size = sizeof(arg);
    if (getsockopt(fd, SOL_PACKET, PACKET_FANOUT, &arg, &size) != 0) return Errno();
  }
  return static_cast<uint16_t>(arg & 0xffff);
}

}  // namespace aoe
