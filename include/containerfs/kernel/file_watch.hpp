// Changes of kernfs files (a cgroup's cgroup.events, cgroup.subtree_control)
// seen through one inotify instance: any number of files, one descriptor.
// kernfs reports a change of cgroup.events (populated, frozen) as a
// modification, and the VFS reports every write(2) to a cgroup file.
//
// Each watch carries a key; on a change of the file, on_change(key) runs on
// the watch's own thread, with no lock of the watch held (it may call
// add() and remove()). A watch ends with remove(), or by itself when the
// file goes (its cgroup is removed).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <string>
#include <unordered_map>
#include <vector>

#include "containerfs/util/fd.hpp"
#include "containerfs/util/mutex.hpp"
#include "containerfs/util/poll_thread.hpp"
#include "containerfs/util/result.hpp"

namespace containerfs::kernel {

class FileWatch {
 public:
  using Key = std::uint64_t;
  explicit FileWatch(std::function<void(Key)> on_change);

  // Watches `path` for `key`; the handle for remove(). The same file may be
  // watched for several keys.
  Result<int> add(const std::string& path, Key key) EXCLUDES(mutex_);
  void remove(int handle, Key key) EXCLUDES(mutex_);
  // How many files are watched (for tests and the bench).
  std::size_t size() const EXCLUDES(mutex_);

 private:
  void read_changes() EXCLUDES(mutex_);
  std::function<void(Key)> on_change_;
  UniqueFd inotify_;
  mutable Mutex mutex_;
  std::unordered_map<int, std::vector<Key>> keys_ GUARDED_BY(mutex_);  // watch descriptor -> keys
  PollThread thread_;  // last: it serves inotify_ and uses keys_
};

}  // namespace containerfs::kernel
