// Where processes stood before their first entry (model/home_places.hpp).
#include "containerfs/model/home_places.hpp"

#include <fcntl.h>
#include <stdio.h>

#include <cstring>
#include <vector>

#include "containerfs/kernel/init_process.hpp"
#include "containerfs/state/places.hpp"
#include "containerfs/util/file_io.hpp"
#include "containerfs/util/log.hpp"

namespace containerfs::model {

namespace {
// Beyond this many entries, those of exited processes are dropped on save.
constexpr std::size_t kPruneAt = 256;
}  // namespace

HomePlaces::HomePlaces(std::string state_dir) : file_(std::move(state_dir) + "/" + state::kPlacesFile) {
  auto text = read_file(file_);
  if (!text) return;  // none yet
  auto list = state::decode_places(*text);
  if (!list) {
    log::warn("ignoring a malformed {}", file_);
    return;
  }
  for (auto& k : *list) {
    auto start = kernel::process_start_time(k.pid);
    if (start && *start == k.start) kept_[k.pid] = {k.start, std::move(k.place)};
  }
  if (kept_.size() != list->size()) save_locked();
}

std::optional<HomePlaces::Kept> HomePlaces::before_entry(pid_t pid) const {
  auto start = kernel::process_start_time(pid);
  if (!start) return std::nullopt;  // gone: its move fails anyway
  {
    std::lock_guard lock(mutex_);
    if (auto it = kept_.find(pid); it != kept_.end() && it->second.first == *start) return std::nullopt;
  }
  auto place = kernel::place_of(pid);
  if (!place) {
    if (place.error() != EXDEV)  // (in another mount namespace: no path of ours names its places)
      log::info("pid {}: its working directory and root cannot be kept for its way home: {}", pid,
                log::errno_text(place.error()));
    return std::nullopt;
  }
  return Kept{pid, *start, std::move(*place)};
}

void HomePlaces::keep(Kept place) {
  std::lock_guard lock(mutex_);
  kept_[place.pid] = {place.start, std::move(place.place)};
  save_locked();
}

std::optional<kernel::ProcessPlace> HomePlaces::find(pid_t pid) const {
  auto start = kernel::process_start_time(pid);
  std::lock_guard lock(mutex_);
  auto it = kept_.find(pid);
  if (!start || it == kept_.end() || it->second.first != *start) return std::nullopt;
  return it->second.second;
}

void HomePlaces::forget(pid_t pid) {
  std::lock_guard lock(mutex_);
  if (kept_.erase(pid) != 0) save_locked();
}

void HomePlaces::save_locked() const {
  std::vector<state::KeptPlace> list;
  list.reserve(kept_.size());
  for (const auto& [pid, entry] : kept_) {
    if (kept_.size() > kPruneAt) {
      auto start = kernel::process_start_time(pid);
      if (!start || *start != entry.first) continue;
    }
    list.push_back({pid, entry.first, entry.second});
  }
  // Replaced whole: written aside, then renamed over it. A failure costs
  // only the way back to these directories after a restart.
  const std::string next = file_ + ".new";
  auto fd = open_at(AT_FDCWD, next, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  Status saved = fd ? write_fd(fd->get(), state::encode_places(list)) : Status(fail(fd.error()));
  if (saved && ::rename(next.c_str(), file_.c_str()) != 0) saved = fail_errno();
  if (!saved) log::warn("cannot keep where {} processes stood in {}: {}", list.size(), file_, log::errno_text(saved.error()));
}

}  // namespace containerfs::model
