// Membership: moving processes between container cgroups, and remembering
// where each came from so that the host's tasks file can take it home.
#include <fcntl.h>

#include <fmt/format.h>

#include "containerfs/kernel/cgroup.hpp"
#include "containerfs/kernel/init_process.hpp"
#include "containerfs/model/containers.hpp"
#include "containerfs/state/origins.hpp"
#include "containerfs/util/file_io.hpp"
#include "containerfs/util/log.hpp"

namespace containerfs::model {

std::optional<ContainerId> Containers::container_of_init(pid_t pid) const {
  std::lock_guard lock(mutex_);
  for (auto& [id, c] : by_id_)
    if (c->init_pid == pid) return id;
  return std::nullopt;
}

Status Containers::set_owner(ContainerId id, uid_t uid, gid_t gid, Caller caller) {
  std::lock_guard lock(mutex_);
  auto* c = find(id);
  if (!c) return fail(ENOENT);
  if (id == kHostId) return fail(log::refuse(EPERM, "chown: the host is root's"));
  if (caller.uid != 0) return fail(log::refuse(EPERM, "chown {}: only root delegates", c->name));
  if (c->owner_uid == uid && c->owner_gid == gid) return {};
  auto old_uid = c->owner_uid;
  auto old_gid = c->owner_gid;
  c->owner_uid = uid;
  c->owner_gid = gid;
  if (auto saved = persist(*c); !saved) {
    c->owner_uid = old_uid;
    c->owner_gid = old_gid;
    return saved;
  }
  log::info("container {} delegated to uid {} gid {}", c->name, uid, gid);
  return {};
}

Status Containers::kill_members(ContainerId id, Caller caller) const {
  std::unique_lock lock(mutex_);
  auto* c = find(id);
  if (!c || id == kHostId) return fail(ENOENT);
  auto members = c->members.open_child(".");
  std::string name = c->name;
  lock.unlock();
  if (!members) return fail(members.error());
  if (!caller.is_root())
    if (auto may = check_may_kill_all(*members, caller, fmt::format("kill of {}", name)); !may) return may;
  if (auto ok = members->kill_all(); !ok) return ok;
  return members->wait_empty(config_.teardown_timeout);
}

Status Containers::set_frozen(ContainerId id, bool frozen) const {
  std::unique_lock lock(mutex_);
  auto* c = find(id);
  if (!c || id == kHostId) return fail(ENOENT);
  auto cgroup = find(c->parent)->cgroup.open_child(c->cgroup_name);
  // Below a frozen container, a thawed one stays frozen until that one is
  // thawed (the kernel's rule): its request is taken, nothing to wait for.
  const bool held = !frozen && frozen_above_locked(*c);
  lock.unlock();
  if (!cgroup) return fail(cgroup.error());
  {
    // Not while a process is being started inside (bounded): it would
    // stop before its exec.
    std::unique_lock gate(freeze_gate_);
    if (auto ok = cgroup->write("cgroup.freeze", frozen ? "1" : "0"); !ok) return ok;
  }
  if (held) return {};
  return cgroup->wait_frozen(frozen, config_.teardown_timeout);
}

bool Containers::frozen_above_locked(const Container& c) const {
  for (auto* p = find(c.parent); p; p = p->id == kHostId ? nullptr : find(p->parent)) {
    auto frozen = p->cgroup.freeze_requested();
    if (frozen && *frozen) return true;
  }
  return false;
}

Status Containers::refuse_if_frozen_locked(const Container& c, std::string_view what) const {
  for (auto* p = &c;; p = find(p->parent)) {
    auto frozen = p->cgroup.freeze_requested();
    if (!frozen) return fail(log::refuse(frozen.error(), "{}: cgroup.freeze of {} unreadable", what,
                                         p->cgroup.path()));
    if (*frozen) {
      if (p == &c && c.id != kHostId)
        return fail(log::refuse(EBUSY, "{}: container {} is frozen (echo 0 > freeze to thaw it)", what, c.name));
      return fail(log::refuse(EBUSY, "{}: {} is frozen (thaw it first)", what,
                              p->id == kHostId ? p->cgroup.path() : "container " + p->name));
    }
    if (p->id == kHostId) return {};
  }
}

Result<Containers::CgroupMove> Containers::plan_cgroup_move(ContainerId id, pid_t pid) const {
  auto before = kernel::cgroup_of_process(pid);
  if (!before) return fail(before.error() == ENOENT ? ESRCH : before.error());
  const std::string& root = config_.root_cgroup_path;
  const bool in_container = before->starts_with(root + "/");
  auto open_dir = [&](const std::string& rel) -> Result<UniqueFd> {
    UniqueFd fd(::open((config_.cgroup2_mount + rel).c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (!fd) return fail(errno == ENOENT ? ESRCH : errno);  // it moved meanwhile
    return fd;
  };

  std::lock_guard lock(mutex_);
  auto* c = find(id);
  if (!c) return fail(ENOENT);
  // A frozen process cannot run the injected calls, nor can one that
  // becomes frozen by joining a frozen container.
  auto what = fmt::format("moving {}", pid);
  if (auto* from = find(container_of_cgroup_locked(*before)); from && from->id != kHostId)
    if (auto thawed = refuse_if_frozen_locked(*from, what); !thawed) return fail(thawed.error());
  if (id != kHostId)
    if (auto thawed = refuse_if_frozen_locked(*c, what); !thawed) return fail(thawed.error());
  CgroupMove move;
  move.leaving = *before;
  if (id == kHostId) {
    if (!in_container) return move;  // already home
    // The recorded origin, if it is about this very process (not a later
    // one with a reused pid); the cgroup2 root otherwise.
    auto origin = origins_.find(pid);
    auto start = kernel::process_start_time(pid);
    std::string home = "/";
    if (origin != origins_.end() && start && origin->second.first == *start) home = origin->second.second;
    auto join = open_dir(home);
    if (!join && origin != origins_.end()) join = open_dir("/");  // its cgroup is gone
    if (!join) return fail(join.error());
    move.join = std::move(*join);
  } else {
    if (c->removing) return fail(ENOENT);
    UniqueFd join(::openat(c->members.fd(), ".", O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (!join) return fail(errno);
    move.join = std::move(join);
  }
  auto undo = open_dir(*before);
  if (!undo) return fail(undo.error());
  move.undo = std::move(*undo);
  return move;
}

void Containers::note_cgroup_move(ContainerId id, pid_t pid, const std::string& leaving) {
  std::lock_guard lock(mutex_);
  if (id == kHostId) {
    if (origins_.erase(pid) != 0) save_origins_locked();
    return;
  }
  if (leaving.starts_with(config_.root_cgroup_path + "/")) return;  // from another container
  auto start = kernel::process_start_time(pid);
  if (!start) return;  // gone already
  origins_[pid] = {*start, leaving};
  save_origins_locked();
}

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
  if (auto saved = find(kHostId)->cgroup.set_xattr(state::kOriginsXattr, state::encode_origins(list)); !saved)
    log::warn("cannot keep where {} processes came from: errno {}", list.size(), saved.error());
}

void Containers::load_origins_locked() {
  auto text = find(kHostId)->cgroup.get_xattr(state::kOriginsXattr);
  if (!text) return;  // none yet
  auto list = state::decode_origins(*text);
  if (!list) {
    log::warn("ignoring a malformed {} on {}", state::kOriginsXattr, find(kHostId)->cgroup.path());
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
