#include "containerfs/fuse/events_watch.hpp"

namespace containerfs::fuse {

EventsWatcher::EventsWatcher() : files_([this](kernel::FileWatch::Key id) { changed(id); }) {}

EventsWatcher::~EventsWatcher() {
  Lock lock(mutex_);
  for (auto& [id, w] : watches_)
    for (auto& [fh, ph] : w.pollers)
      if (ph) fuse_pollhandle_destroy(ph);
}

Status EventsWatcher::watch(model::ContainerId id, std::uint64_t fh, const std::vector<std::string>& files,
                            fuse_pollhandle* ph) {
  Lock lock(mutex_);
  auto it = watches_.find(id);
  if (it == watches_.end()) {
    Watch w;
    for (const auto& path : files) {
      auto handle = files_.add(path, id);
      if (!handle) {
        for (int h : w.handles) files_.remove(h, id);
        fuse_pollhandle_destroy(ph);
        return fail(handle.error());
      }
      w.handles.push_back(*handle);
    }
    it = watches_.emplace(id, std::move(w)).first;
  }
  auto& slot = it->second.pollers[fh];
  if (slot) fuse_pollhandle_destroy(slot);
  slot = ph;
  return {};
}

void EventsWatcher::forget(model::ContainerId id, std::uint64_t fh) {
  Lock lock(mutex_);
  auto it = watches_.find(id);
  if (it == watches_.end()) return;
  auto p = it->second.pollers.find(fh);
  if (p == it->second.pollers.end()) return;
  if (p->second) fuse_pollhandle_destroy(p->second);
  it->second.pollers.erase(p);
  if (it->second.pollers.empty()) {
    drop_locked(id, it->second);
    watches_.erase(it);
  }
}

void EventsWatcher::drop_locked(model::ContainerId id, Watch& w) {
  for (int h : w.handles) files_.remove(h, id);
  w.handles.clear();
}

void EventsWatcher::changed(model::ContainerId id) {
  std::vector<fuse_pollhandle*> fired;
  {
    Lock lock(mutex_);
    auto it = watches_.find(id);
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

}  // namespace containerfs::fuse
