#include "containerfs/kernel/file_watch.hpp"

#include <sys/inotify.h>
#include <unistd.h>

#include <algorithm>

namespace containerfs::kernel {

FileWatch::FileWatch(std::function<void(Key)> on_change)
    : on_change_(std::move(on_change)),
      inotify_(::inotify_init1(IN_CLOEXEC | IN_NONBLOCK)),
      thread_(inotify_.get(), [this] { read_changes(); }) {}

Result<int> FileWatch::add(const std::string& path, Key key) {
  Lock lock(mutex_);
  int wd = ::inotify_add_watch(inotify_.get(), path.c_str(), IN_MODIFY);
  if (wd < 0) return fail_errno();
  keys_[wd].push_back(key);
  return wd;
}

void FileWatch::remove(int handle, Key key) {
  Lock lock(mutex_);
  auto it = keys_.find(handle);
  if (it == keys_.end()) return;
  auto& keys = it->second;
  if (auto k = std::find(keys.begin(), keys.end(), key); k != keys.end()) keys.erase(k);
  if (!keys.empty()) return;
  keys_.erase(it);
  ::inotify_rm_watch(inotify_.get(), handle);
}

std::size_t FileWatch::size() const {
  Lock lock(mutex_);
  return keys_.size();
}

void FileWatch::read_changes() {
  alignas(inotify_event) char buf[16 * 1024];
  ssize_t n = ::read(inotify_.get(), buf, sizeof buf);
  if (n <= 0) return;  // nothing yet (non-blocking)
  // Keys to tell, each once per batch, outside the lock.
  std::vector<Key> changed;
  {
    Lock lock(mutex_);
    for (char* p = buf; p < buf + n;) {
      auto* ev = reinterpret_cast<inotify_event*>(p);
      p += sizeof(inotify_event) + ev->len;
      auto it = keys_.find(ev->wd);
      if (it == keys_.end()) continue;
      for (Key k : it->second)
        if (std::find(changed.begin(), changed.end(), k) == changed.end()) changed.push_back(k);
      if (ev->mask & IN_IGNORED) keys_.erase(it);  // the file is gone
    }
  }
  for (Key k : changed) on_change_(k);
}

}  // namespace containerfs::kernel
