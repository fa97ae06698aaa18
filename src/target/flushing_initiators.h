// FlushingInitiators: the initiators of one export that send FLUSH since their last IDENTIFY,
// whose writes durability=auto may acknowledge from the cache (configuration.md, "Durability").
// One set per export, shared by its owner and its copies on the other event loops (docs/
// architecture.md, "More cores"): an initiator's FLUSH reaches the loop that serves its I/O,
// but its IDENTIFY may reach another one (a wildcard IDENTIFY, WinAoE's discovery, goes to loop
// 0), and either must change how every loop treats that initiator's next write.
//
// Reads are the data path (every write asks whether its initiator flushes), so each loop reads
// through its own View of a Published set (published_state.h): a read is one atomic load. Changes
// are rare (an initiator's first FLUSH after an IDENTIFY, an IDENTIFY of one that flushed) and
// copy the set under its lock.
//
// Thread-safety: Add and Remove from any loop; a View from one loop each.
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <set>
#include <utility>

#include "base/mac_address.h"
#include "target/published_state.h"

namespace aoe::target {

class FlushingInitiators {
 public:
  using Set = std::set<MacAddress>;
  // More initiators than any AoE segment has. Bounded: a host that floods FLUSH from made-up
  // MACs cannot grow the set, and an initiator left out only gets the safe (durable) path.
  static constexpr size_t kMaxInitiators = 4096;

  void Add(const MacAddress& initiator) {
    set_.Update([&](const Set& set) -> std::optional<Set> {
      if (set.size() >= kMaxInitiators || set.contains(initiator)) return std::nullopt;
      Set next = set;
      next.insert(initiator);
      return next;
    });
  }
  void Remove(const MacAddress& initiator) {
    set_.Update([&](const Set& set) -> std::optional<Set> {
      if (!set.contains(initiator)) return std::nullopt;
      Set next = set;
      next.erase(initiator);
      return next;
    });
  }

  // One loop's reader.
  class View {
   public:
    explicit View(std::shared_ptr<FlushingInitiators> source)
        : source_(std::move(source)),
          set_(std::shared_ptr<const Published<Set>>(source_, &source_->set_)) {}
    // Whether `initiator` flushes, as of this call.
    bool Contains(const MacAddress& initiator) { return set_.Current().contains(initiator); }
    const std::shared_ptr<FlushingInitiators>& shared() const { return source_; }

   private:
    std::shared_ptr<FlushingInitiators> source_;
    Published<Set>::View set_;
  };

 private:
  Published<Set> set_{Set{}};
};

}  // namespace aoe::target
