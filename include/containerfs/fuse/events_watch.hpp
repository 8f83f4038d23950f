// poll(2) on a container's `events` file: the poll handles the kernel hands
// us wait here until the container's cgroup.events changes (kernfs wakes
// its pollers with POLLPRI on every change), then are notified.
#pragma once

#define FUSE_USE_VERSION 312
#include <fuse_lowlevel.h>

#include <cstdint>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

#include "containerfs/model/container.hpp"
#include "containerfs/util/fd.hpp"
#include "containerfs/util/result.hpp"

namespace containerfs::fuse {

class EventsWatcher {
 public:
  EventsWatcher();
  ~EventsWatcher();
  EventsWatcher(const EventsWatcher&) = delete;
  EventsWatcher& operator=(const EventsWatcher&) = delete;

  // Starts watching the cgroup.events file under `cgroup_fd` (if not yet)
  // and keeps `ph` (owned from now on) to notify at its next change. Call
  // before checking the current state, so that no change is missed.
  Status watch(model::ContainerId id, const std::vector<int>& cgroup_fds, fuse_pollhandle* ph);
  // The same for descriptors already open (owned from now on, closed once
  // the watch fires), readable when there is news: a console's eventfd.
  // `key` tells such watches apart from those of `watch` (kConsoleKey).
  void watch_readable(std::uint64_t key, UniqueFd fd, fuse_pollhandle* ph);
  static constexpr std::uint64_t kConsoleKey = 1ull << 62;  // | container id

 private:
  struct Watch {
    std::vector<UniqueFd> events;
    std::vector<fuse_pollhandle*> handles;
  };
  void run();
  UniqueFd epoll_;
  UniqueFd wake_;
  std::mutex mutex_;
  std::map<model::ContainerId, Watch> watches_;
  std::thread thread_;
};

}  // namespace containerfs::fuse
