// poll(2) on a container's `events` file: the poll handles the kernel hands
// us wait here until the container's cgroup.events (or its members') changes,
// then are notified. The files are watched through one inotify instance
// (kernel/file_watch.hpp: kernfs reports every change as a modification),
// only while an open `events` file of that container has polled: the last
// one closed ends the watches.
#pragma once

#define FUSE_USE_VERSION 312
#include <fuse_lowlevel.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "containerfs/kernel/file_watch.hpp"
#include "containerfs/model/container.hpp"
#include "containerfs/util/mutex.hpp"
#include "containerfs/util/result.hpp"

namespace containerfs::fuse {

class EventsWatcher {
 public:
  EventsWatcher();
  ~EventsWatcher();
  EventsWatcher(const EventsWatcher&) = delete;
  EventsWatcher& operator=(const EventsWatcher&) = delete;

  // Keeps `ph` (owned from now on) for open file `fh` of container `id`, to
  // notify at the next change of `files`; watches them if not yet. Call
  // before checking the current state, so that no change is missed. A newer
  // handle of the same open file replaces an older one.
  Status watch(model::ContainerId id, std::uint64_t fh, const std::vector<std::string>& files,
               fuse_pollhandle* ph) EXCLUDES(mutex_);
  // The open file is closed: its handle goes, and the watches with the last.
  void forget(model::ContainerId id, std::uint64_t fh) EXCLUDES(mutex_);
  // Files watched now (for tests).
  std::size_t watched() const { return files_.size(); }

 private:
  struct Watch {
    std::vector<int> handles;                          // FileWatch handles
    std::map<std::uint64_t, fuse_pollhandle*> pollers;  // open file -> its handle (or null)
  };
  void changed(model::ContainerId id) EXCLUDES(mutex_);
  void drop_locked(model::ContainerId id, Watch& w) REQUIRES(mutex_);

  Mutex mutex_;
  std::map<model::ContainerId, Watch> watches_ GUARDED_BY(mutex_);
  kernel::FileWatch files_;  // last: its thread calls changed()
};

}  // namespace containerfs::fuse
