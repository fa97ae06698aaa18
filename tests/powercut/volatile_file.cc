#include "powercut/volatile_file.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

namespace aoe::powercut {

Result<VolatileFile> VolatileFile::Open(UniqueFd backing) {
  struct stat st {};
  if (::fstat(backing.get(), &st) != 0) return Errno();
  return VolatileFile(std::move(backing), static_cast<uint64_t>(st.st_size));
}

VolatileFile::VolatileFile(UniqueFd backing, uint64_t size)
    : backing_(std::move(backing)), size_(size), durable_size_(size), stale_from_(size) {}

Result<void> VolatileFile::ReadDurable(uint64_t offset, std::span<std::byte> out) const {
  std::fill(out.begin(), out.end(), std::byte{0});
  if (offset >= stale_from_) return {};
  const size_t wanted = static_cast<size_t>(std::min<uint64_t>(out.size(), stale_from_ - offset));
  size_t done = 0;
  while (done < wanted) {
    ssize_t n = ::pread(backing_.get(), out.data() + done, wanted - done,
                        static_cast<off_t>(offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Errno();
    if (n == 0) break;  // the backing file is shorter: the rest stays zero
    done += static_cast<size_t>(n);
  }
  return {};
}

Result<VolatileFile::Page*> VolatileFile::DirtyPage(uint64_t index) {
  auto it = dirty_.find(index);
  if (it != dirty_.end()) return it->second.get();
  auto page = std::make_unique<Page>();
  // stale_from_ <= size_ always, so nothing past the end of the file comes from the backing file.
  if (auto r = ReadDurable(index * kPageBytes, *page); !r) return Unexpected{r.error()};
  Page* raw = page.get();
  dirty_.emplace(index, std::move(page));
  return raw;
}

Result<size_t> VolatileFile::Read(uint64_t offset, std::span<std::byte> out) const {
  if (offset >= size_) return size_t{0};
  const size_t count = static_cast<size_t>(std::min<uint64_t>(out.size(), size_ - offset));
  size_t done = 0;
  while (done < count) {
    const uint64_t at = offset + done;
    const uint64_t index = at / kPageBytes;
    const size_t in_page = static_cast<size_t>(at % kPageBytes);
    const size_t n = std::min(count - done, static_cast<size_t>(kPageBytes) - in_page);
    std::span<std::byte> piece = out.subspan(done, n);
    if (auto it = dirty_.find(index); it != dirty_.end()) {
      std::memcpy(piece.data(), it->second->data() + in_page, n);
    } else if (auto r = ReadDurable(at, piece); !r) {
      return Unexpected{r.error()};
    }
    done += n;
  }
  return count;
}

Result<void> VolatileFile::Write(uint64_t offset, std::span<const std::byte> data) {
  if (offset + data.size() > size_) {
    if (auto r = Resize(offset + data.size()); !r) return r;
  }
  size_t done = 0;
  while (done < data.size()) {
    const uint64_t at = offset + done;
    const size_t in_page = static_cast<size_t>(at % kPageBytes);
    const size_t n = std::min(data.size() - done, static_cast<size_t>(kPageBytes) - in_page);
    auto page = DirtyPage(at / kPageBytes);
    if (!page) return Unexpected{page.error()};
    std::memcpy((*page)->data() + in_page, data.data() + done, n);
    done += n;
  }
  return {};
}

Result<void> VolatileFile::Resize(uint64_t new_size) {
  if (new_size < size_) {
    // The tail of the last kept page must read as zeros if the file grows again.
    if (new_size % kPageBytes != 0) {
      auto page = DirtyPage(new_size / kPageBytes);
      if (!page) return Unexpected{page.error()};
      std::fill((*page)->begin() + static_cast<ptrdiff_t>(new_size % kPageBytes), (*page)->end(),
                std::byte{0});
    }
    dirty_.erase(dirty_.lower_bound((new_size + kPageBytes - 1) / kPageBytes), dirty_.end());
    stale_from_ = std::min(stale_from_, new_size);
  }
  size_ = new_size;
  return {};
}

Result<uint64_t> VolatileFile::Sync() {
  uint64_t written = 0;
  // Shrink first, so that bytes past a shrink can never come back from the backing file.
  if (::ftruncate(backing_.get(), static_cast<off_t>(stale_from_)) != 0) return Errno();
  if (::ftruncate(backing_.get(), static_cast<off_t>(size_)) != 0) return Errno();
  for (const auto& [index, page] : dirty_) {
    const uint64_t at = index * kPageBytes;
    if (at >= size_) break;
    const size_t n = static_cast<size_t>(std::min<uint64_t>(kPageBytes, size_ - at));
    size_t done = 0;
    while (done < n) {
      ssize_t w =
          ::pwrite(backing_.get(), page->data() + done, n - done, static_cast<off_t>(at + done));
      if (w < 0 && errno == EINTR) continue;
      if (w < 0) return Errno();
      done += static_cast<size_t>(w);
    }
    written += n;
  }
  if (::fdatasync(backing_.get()) != 0) return Errno();
  dirty_.clear();
  durable_size_ = stale_from_ = size_;
  return written;
}

}  // namespace aoe::powercut
