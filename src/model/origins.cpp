// Where processes came from before they first entered a container, for the
// host's tasks file to take them home; kept in an xattr of the daemon's
// cgroup directory (state/origins.hpp) so that a restarted daemon knows.
#include "containerfs/kernel/cgroup.hpp"
#include "containerfs/kernel/init_process.hpp"
#include "containerfs/kernel/process.hpp"
#include "containerfs/model/containers.hpp"
#include "containerfs/state/origins.hpp"
#include "containerfs/util/log.hpp"

namespace containerfs::model {

namespace {
// Beyond this many entries, those of exited processes are dropped on save.
constexpr std::size_t kOriginsPruneAt = 256;
}  // namespace

void Containers::save_origins_locked() {
  if (origins_.size() > kOriginsPruneAt) {
    std::erase_if(origins_, [](const auto& entry) {
      auto start = kernel::process_start_time(entry.first);
      return !start || *start != entry.second.first;
    });
  }
  std::vector<state::Origin> list;
  list.reserve(origins_.size());
  for (const auto& [pid, origin] : origins_) list.push_back({pid, origin.first, origin.second});
  // A failure costs only the way home after a restart (to the cgroup2 root).
  if (auto saved = root().set_xattr(state::kOriginsXattr, state::encode_origins(list)); !saved)
    log::warn("cannot keep where {} processes came from: {}", list.size(), log::errno_text(saved.error()));
}

void Containers::load_origins_locked() {
  auto text = root().get_xattr(state::kOriginsXattr);
  if (!text) return;  // none yet
  auto list = state::decode_origins(*text);
  if (!list) {
    log::warn("ignoring a malformed {} on {}", state::kOriginsXattr, root().path());
    return;
  }
  // Only processes that still are what they were and still are in a container.
  for (auto& o : *list) {
    auto start = kernel::process_start_time(o.pid);
    auto now = kernel::cgroup_of_process(o.pid);
    if (start && *start == o.start && now && now->starts_with(config_.root_cgroup_path + "/"))
      origins_[o.pid] = {o.start, std::move(o.cgroup)};
  }
  if (origins_.size() != list->size()) save_origins_locked();
}

}  // namespace containerfs::model
