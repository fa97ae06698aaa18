// trim_client IFACE eSHELF.SLOT LBA SECTORS: sends DATA SET MANAGEMENT / TRIM of the sectors
// [LBA, LBA + SECTORS) through aoekit's initiator engine, then FLUSH CACHE EXT, and prints what
// the disk's IDENTIFY says about TRIM. The overlay TRIM test (trim.sh) uses it where no `aoe`
// command would trim: an overlay export does not read trimmed sectors as zeroes, so `aoe cp
// --sparse-upload` and `aoe mount`'s fallocate write zeroes or refuse there instead.
//
// Exit: 0 trimmed and flushed, 1 refused or failed (the error on stderr), 2 bad arguments.
#include <fmt/format.h>

#include <string>

#include "initiator/client.h"
#include "proto/disk_address.h"
#include "proto/identify.h"

int main(int argc, char** argv) {
  using namespace aoe;
  if (argc != 5) {
    fmt::print(stderr, "usage: trim_client IFACE eSHELF.SLOT LBA SECTORS\n");
    return 2;
  }
  Result<proto::DiskAddress> address = proto::ParseDiskAddress(argv[2]);
  if (!address) {
    fmt::print(stderr, "trim_client: bad disk name {}\n", argv[2]);
    return 2;
  }
  const uint64_t lba = std::stoull(argv[3]);
  const uint64_t sectors = std::stoull(argv[4]);
  auto client = initiator::Client::Open({argv[1]});
  if (!client) {
    fmt::print(stderr, "trim_client: {}\n", client.error().message);
    return 1;
  }
  auto disk = (*client)->OpenDisk(*address);
  if (!disk) {
    fmt::print(stderr, "trim_client: {}\n", disk.error().message);
    return 1;
  }
  const proto::IdentifyFeatures f = proto::ReadIdentifyFeatures(disk->info().identify->page);
  fmt::print("identify: trim={} trim_reads_zeroes={}\n", f.trim, f.trim_reads_zeroes);
  if (auto trimmed = disk->Trim(lba, sectors); !trimmed) {
    fmt::print(stderr, "trim_client: {}\n", trimmed.error().message);
    return 1;
  }
  if (auto flushed = disk->Flush(); !flushed) {
    fmt::print(stderr, "trim_client: flush: {}\n", flushed.error().message);
    return 1;
  }
  fmt::print("trimmed {} sectors from {}\n", sectors, lba);
  return 0;
}
