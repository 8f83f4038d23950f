#include "containerfs/fuse/events_watch.hpp"

#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "containerfs/util/file_io.hpp"

namespace containerfs::fuse {

namespace {
constexpr uint64_t kWakeKey = ~0ull;
}

EventsWatcher::EventsWatcher() {
  epoll_.reset(::epoll_create1(EPOLL_CLOEXEC));
  wake_.reset(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = kWakeKey;
  ::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, wake_.get(), &ev);
  thread_ = std::thread([this] { run(); });
}

EventsWatcher::~EventsWatcher() {
  uint64_t one = 1;
  (void)!::write(wake_.get(), &one, sizeof one);
  thread_.join();
  for (auto& [id, w] : watches_)
    for (auto* ph : w.handles) fuse_pollhandle_destroy(ph);
}

Status EventsWatcher::watch(model::ContainerId id, const std::vector<int>& cgroup_fds,
                            fuse_pollhandle* ph) {
  std::lock_guard lock(mutex_);
  auto it = watches_.find(id);
  if (it == watches_.end()) {
    Watch w;
    for (int cgroup_fd : cgroup_fds) {
      auto fd = open_at(cgroup_fd, "cgroup.events", O_RDONLY);
      if (!fd) {
        fuse_pollhandle_destroy(ph);
        return fail(fd.error());
      }
      // The read arms kernfs's change counter for this open file.
      (void)read_fd(fd->get());
      w.events.push_back(std::move(*fd));
    }
    for (auto& fd : w.events) {
      epoll_event ev{};
      ev.events = EPOLLPRI;
      ev.data.u64 = id;
      ::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd.get(), &ev);
    }
    it = watches_.emplace(id, std::move(w)).first;
  }
  it->second.handles.push_back(ph);
  return {};
}

void EventsWatcher::watch_readable(std::uint64_t key, UniqueFd fd, fuse_pollhandle* ph) {
  std::lock_guard lock(mutex_);
  auto it = watches_.find(key);
  if (it == watches_.end()) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = key;
    ::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd.get(), &ev);
    Watch w;
    w.events.push_back(std::move(fd));
    it = watches_.emplace(key, std::move(w)).first;
  }
  it->second.handles.push_back(ph);
}

void EventsWatcher::run() {
  epoll_event events[16];
  for (;;) {
    int n = ::epoll_wait(epoll_.get(), events, 16, -1);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return;
    for (int i = 0; i < n; ++i) {
      if (events[i].data.u64 == kWakeKey) return;
      Watch fired;
      {
        std::lock_guard lock(mutex_);
        auto it = watches_.find(events[i].data.u64);
        if (it == watches_.end()) continue;
        for (auto& fd : it->second.events) ::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, fd.get(), nullptr);
        fired = std::move(it->second);
        watches_.erase(it);
      }
      for (auto* ph : fired.handles) {
        fuse_lowlevel_notify_poll(ph);
        fuse_pollhandle_destroy(ph);
      }
    }
  }
}

}  // namespace containerfs::fuse
