// poll(2) on the files that change by themselves: `events` (a container's
// cgroup.events, or its members') and `console` (new output). The poll
// handles the kernel hands us wait here until their source changes, then
// are notified.
// - `events`: the cgroup.events files are watched through one inotify
//   instance (kernel/file_watch.hpp: kernfs reports every change as a
//   modification).
// - `console`: the init's eventfd, borrowed for as long as a poller waits
//   (an epoll set of its own).
// A source is watched only while an open file of it has polled; the last
// one closed (forget) ends the watch, so nothing is kept for pollers gone.
#pragma once

#define FUSE_USE_VERSION 312
#include <fuse_lowlevel.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "containerfs/kernel/file_watch.hpp"
#include "containerfs/model/container.hpp"
#include "containerfs/util/fd.hpp"
#include "containerfs/util/mutex.hpp"
#include "containerfs/util/poll_thread.hpp"
#include "containerfs/util/result.hpp"

namespace containerfs::fuse {

class EventsWatcher {
 public:
  // Keys: a container id, | this bit for its console.
  static constexpr std::uint64_t kConsoleKey = std::uint64_t{1} << 62;

  EventsWatcher();
  ~EventsWatcher();
  EventsWatcher(const EventsWatcher&) = delete;
  EventsWatcher& operator=(const EventsWatcher&) = delete;

  // Keeps `ph` (owned from now on) for open file `fh`, to notify at the next
  // change of `files` (watched under `key` if not yet). Call before checking
  // the current state, so that no change is missed. A newer handle of the
  // same open file replaces an older one.
  Status watch(std::uint64_t key, std::uint64_t fh, const std::vector<std::string>& files,
               fuse_pollhandle* ph) EXCLUDES(mutex_);
  // The same for a descriptor that becomes readable when there is news (a
  // console's eventfd; owned from now on, kept while a poller waits).
  Status watch_readable(std::uint64_t key, std::uint64_t fh, UniqueFd fd, fuse_pollhandle* ph)
      EXCLUDES(mutex_);
  // The open file is closed: its handle goes, and the watch with the last.
  void forget(std::uint64_t key, std::uint64_t fh) EXCLUDES(mutex_);

 private:
  struct Watch {
    std::vector<int> handles;                          // FileWatch handles (files)
    UniqueFd readable;                                 // or the descriptor in epoll_
    std::map<std::uint64_t, fuse_pollhandle*> pollers;  // open file -> its handle (or null)
  };
  Watch& slot_locked(std::uint64_t key, std::uint64_t fh, fuse_pollhandle* ph) REQUIRES(mutex_);
  void changed(std::uint64_t key) EXCLUDES(mutex_);
  void read_readable() EXCLUDES(mutex_);

  Mutex mutex_;
  std::map<std::uint64_t, Watch> watches_ GUARDED_BY(mutex_);
  UniqueFd epoll_;
  // Last: their threads call changed() (destroyed, thus stopped, first).
  PollThread readable_thread_;  // serves epoll_
  kernel::FileWatch files_;
};

}  // namespace containerfs::fuse
