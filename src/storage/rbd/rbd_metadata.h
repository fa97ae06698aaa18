// RbdMetadata: an RBD image's metadata (rbd_metadata_get/set) as SharedMetadata, where the
// target keeps the state of an export served from that image, so that every host serving it
// agrees (docs/ceph.md, "What is coordinated"). Keys live in the image header object; every
// client of the image reads the same values.
//
// Blocking: each call is a round trip to the OSD holding the image header, bounded by
// rados_osd_op_timeout (ceph_cluster.h). Thread-safe (librbd is).
#pragma once

#include <memory>

#include "storage/rbd/rbd_image.h"
#include "storage/shared_metadata.h"

namespace aoe {

class RbdMetadata final : public SharedMetadata {
 public:
  explicit RbdMetadata(std::shared_ptr<RbdImage> image) : image_(std::move(image)) {}

  Result<std::optional<std::string>> Get(const std::string& key) override;
  Result<void> Set(const std::string& key, const std::string& value) override;
  std::string Describe() const override;

 private:
  std::shared_ptr<RbdImage> image_;
};

}  // namespace aoe
