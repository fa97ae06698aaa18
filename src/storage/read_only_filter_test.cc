#include "storage/read_only_filter.h"

#include <gtest/gtest.h>

#include <cerrno>
#include <vector>

#include "storage/memory_backend.h"
#include "storage/storage_test_util.h"

namespace aoe {
namespace {

using testing_util::Completion;

TEST(ReadOnlyFilter, RefusesWritesAndPassesReads) {
  auto memory = std::make_unique<MemoryBackend>(4096);
  MemoryBackend* inner = memory.get();
  std::fill(inner->bytes().begin(), inner->bytes().end(), std::byte{7});
  ReadOnlyFilter filter(std::move(memory));
  EXPECT_TRUE(filter.read_only());
  EXPECT_EQ(filter.size_bytes(), 4096u);
  EXPECT_EQ(filter.Describe(), "readonly <- memory(size=4096)");

  std::vector<std::byte> data(512, std::byte{1});
  Completion write;
  filter.Write(IoContext{}, 0, data, &write);
  EXPECT_EQ(write.result(), -EROFS);
  for (std::byte b : inner->bytes()) ASSERT_EQ(b, std::byte{7});

  Completion read;
  filter.Read(IoContext{}, 512, data, &read);
  EXPECT_EQ(read.result(), 512);
  EXPECT_EQ(data, std::vector<std::byte>(512, std::byte{7}));

  Completion flush;
  filter.Flush(IoContext{}, &flush);
  EXPECT_EQ(flush.result(), 0);
}

TEST(MemoryBackend, ReadOnlyRefusesWrites) {
  MemoryBackend memory(1024, /*read_only=*/true);
  EXPECT_TRUE(memory.read_only());
  EXPECT_EQ(memory.Describe(), "memory(size=1024,ro)");
  std::vector<std::byte> data(512, std::byte{1});
  Completion write;
  memory.Write(IoContext{}, 0, data, &write);
  EXPECT_EQ(write.result(), -EROFS);
  for (std::byte b : memory.bytes()) ASSERT_EQ(b, std::byte{0});
}

}  // namespace
}  // namespace aoe
