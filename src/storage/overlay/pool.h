// Pool<T>: objects reused across requests, so the data path allocates nothing once the pool has
// grown to the number of requests in flight. Acquire() hands out a free object (creating one if
// none is free); Release() takes it back. Not thread-safe.
#pragma once

#include <memory>
#include <vector>

namespace aoe::overlay {

template <typename T>
class Pool {
 public:
  T& Acquire() {
    if (free_.empty()) {
      all_.push_back(std::make_unique<T>());
      free_.reserve(all_.size());
      free_.push_back(all_.back().get());
    }
    T* item = free_.back();
    free_.pop_back();
    return *item;
  }
  void Release(T& item) { free_.push_back(&item); }
  size_t in_use() const { return all_.size() - free_.size(); }

 private:
  std::vector<std::unique_ptr<T>> all_;
  std::vector<T*> free_;
};

}  // namespace aoe::overlay
