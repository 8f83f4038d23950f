#include "containerfs/fuse/events_watch.hpp"

#include <sys/epoll.h>
#include <unistd.h>

namespace containerfs::fuse {

EventsWatcher::EventsWatcher()
    : epoll_(::epoll_create1(EPOLL_CLOEXEC)),
      readable_thread_(epoll_.get(), [this] { read_readable(); }),
      files_([this](kernel::FileWatch::Key key) { changed(key); }) {}

EventsWatcher::~EventsWatcher() {
  // The threads still run until the members go: leave them nothing to fire.
  Lock lock(mutex_);
  for (auto& [key, w] : watches_)
    for (auto& [fh, ph] : w.pollers)
      if (ph) fuse_pollhandle_destroy(ph);
  watches_.clear();
}

EventsWatcher::Watch& EventsWatcher::slot_locked(std::uint64_t key, std::uint64_t fh, fuse_pollhandle* ph) {
  auto& w = watches_[key];
  auto& slot = w.pollers[fh];
  if (slot) fuse_pollhandle_destroy(slot);
  slot = ph;
  return w;
}

Status EventsWatcher::watch(std::uint64_t key, std::uint64_t fh, const std::vector<std::string>& files,
                            fuse_pollhandle* ph) {
  Lock lock(mutex_);
  if (!watches_.contains(key)) {
    std::vector<int> handles;
    for (const auto& path : files) {
      auto handle = files_.add(path, key);
      if (!handle) {
        for (int h : handles) files_.remove(h, key);
        fuse_pollhandle_destroy(ph);
        return fail(handle.error());
      }
      handles.push_back(*handle);
    }
    watches_[key].handles = std::move(handles);
  }
  slot_locked(key, fh, ph);
  return {};
}

Status EventsWatcher::watch_readable(std::uint64_t key, std::uint64_t fh, UniqueFd fd, fuse_pollhandle* ph) {
  Lock lock(mutex_);
  auto it = watches_.find(key);
  if (it == watches_.end() || !it->second.readable) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = key;
    if (::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd.get(), &ev) != 0) {
      int err = errno;
      fuse_pollhandle_destroy(ph);
      return fail(err);
    }
    watches_[key].readable = std::move(fd);
  }
  slot_locked(key, fh, ph);
  return {};
}

void EventsWatcher::forget(std::uint64_t key, std::uint64_t fh) {
  Lock lock(mutex_);
  auto it = watches_.find(key);
  if (it == watches_.end()) return;
  auto& w = it->second;
  auto p = w.pollers.find(fh);
  if (p == w.pollers.end()) return;
  if (p->second) fuse_pollhandle_destroy(p->second);
  w.pollers.erase(p);
  if (!w.pollers.empty()) return;
  for (int h : w.handles) files_.remove(h, key);
  if (w.readable) ::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, w.readable.get(), nullptr);
  watches_.erase(it);
}

void EventsWatcher::changed(std::uint64_t key) {
  std::vector<fuse_pollhandle*> fired;
  {
    Lock lock(mutex_);
    auto it = watches_.find(key);
    if (it == watches_.end()) return;
    // Handles are one-shot: the kernel polls again, with a new one.
    for (auto& [fh, ph] : it->second.pollers) {
      if (ph) fired.push_back(ph);
      ph = nullptr;
    }
  }
  for (auto* ph : fired) {
    fuse_lowlevel_notify_poll(ph);
    fuse_pollhandle_destroy(ph);
  }
}

void EventsWatcher::read_readable() {
  epoll_event events[16];
  int n = ::epoll_wait(epoll_.get(), events, 16, 0);
  for (int i = 0; i < n; ++i) {
    const auto key = events[i].data.u64;
    {
      // Drained: it fires again only for new output.
      Lock lock(mutex_);
      auto it = watches_.find(key);
      if (it != watches_.end() && it->second.readable) {
        uint64_t count;
        (void)!::read(it->second.readable.get(), &count, sizeof count);
      }
    }
    changed(key);
  }
}

}  // namespace containerfs::fuse
