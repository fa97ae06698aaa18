// BootNotifier: passes each "this client boots" notice (NetbootService's BootObserver) to a
// function that may take long, such as a call to `aoe serve`'s control socket (`aoe netboot
// --notify-socket`), on a thread of its own. Notify() never waits, so a slow or hung receiver
// cannot stall the DHCP and TFTP loop, whatever a flood of PXE requests asks.
//
// Notices wait in a queue, one per client: a client already waiting is not queued again (its
// one notice stands for all), so a flood from one MAC costs one call, and a flood from many is
// bounded by kMaxWaiting (beyond it notices are dropped and counted; the log says so when the
// queue drains). Every notice is still delivered while the receiver keeps up: a lab that powers
// on at once gets all its notices, in order.
//
// The thread starts with the first notice, not in the constructor: `aoe netboot --user` drops
// its credentials and capabilities after creating the service, and each thread keeps its own.
// The destructor stops it (a call running then is waited for; notices still waiting are
// dropped). Thread-safety: Notify() from one thread (the loop's); `deliver` runs on the
// notifier's thread, one call at a time.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <set>
#include <thread>

#include "base/log.h"
#include "base/mac_address.h"

namespace aoe::netboot {

class BootNotifier {
 public:
  static constexpr size_t kMaxWaiting = 4096;

  BootNotifier(std::function<void(const MacAddress&)> deliver, Logger& log);
  ~BootNotifier();
  BootNotifier(const BootNotifier&) = delete;
  BootNotifier& operator=(const BootNotifier&) = delete;

  void Notify(const MacAddress& client);

  // For tests: blocks until every notice queued so far has been delivered or dropped.
  void WaitIdle();

 private:
  void Run();

  std::function<void(const MacAddress&)> deliver_;
  Logger& log_;
  std::mutex mutex_;
  std::condition_variable work_;  // a notice was queued, or the thread must stop
  std::condition_variable idle_;  // the queue ran empty with no call running
  std::deque<MacAddress> queue_;
  std::set<MacAddress> waiting_;  // the clients in queue_
  size_t dropped_ = 0;            // since the last report
  bool delivering_ = false;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace aoe::netboot
