// Membership: entering a container (the tasks write's part in the tree),
// the cgroup move of a process, and delegation (chown).
#include <fcntl.h>

#include <fmt/format.h>

#include "containerfs/kernel/cgroup.hpp"
#include "containerfs/kernel/init_process.hpp"
#include "containerfs/kernel/process.hpp"
#include "containerfs/model/containers.hpp"
#include "containerfs/state/record.hpp"
#include "containerfs/util/log.hpp"

namespace containerfs::model {

Result<Containers::Entry> Containers::begin_entry(ContainerId id) {
  Lock lock(tree_);
  auto* c = find_locked(id);
  if (!c || c->removing) return fail(ENOENT);
  if (c->replacing_init) return fail(log::refuse(EBUSY, "{}: changing its namespaces; try again", c->name));
  ++c->entering;
  return Entry(this, id, c->init_pid);
}

Containers::Entry::~Entry() {
  if (!owner_) return;
  Lock lock(owner_->tree_);
  if (auto* c = owner_->find_locked(id_)) --c->entering;
}

Status Containers::set_owner(ContainerId id, uid_t uid, gid_t gid, Caller caller) {
  Lock lock(tree_);
  auto* c = find_locked(id);
  if (!c) return fail(ENOENT);
  if (id == kHostId) return fail(log::refuse(EPERM, "chown: the host is root's"));
  if (!caller.is_root()) return fail(log::refuse(EPERM, "chown {}: only root delegates", c->name));
  if (c->owner_uid == uid && c->owner_gid == gid) return {};
  auto old_uid = c->owner_uid;
  auto old_gid = c->owner_gid;
  c->owner_uid = uid;
  c->owner_gid = gid;
  if (auto saved = persist_locked(*c); !saved) {
    c->owner_uid = old_uid;
    c->owner_gid = old_gid;
    return saved;
  }
  log::info("container {} delegated to uid {} gid {}", c->name, uid, gid);
  return {};
}

Result<Containers::CgroupMove> Containers::plan_cgroup_move(ContainerId id, pid_t pid) const {
  auto before = kernel::cgroup_of_process(pid);
  if (!before) return fail(before.error() == ENOENT ? ESRCH : before.error());
  const std::string& root_path = config_.root_cgroup_path;
  const bool in_container = before->starts_with(root_path + "/");
  auto open_dir = [&](const std::string& rel) -> Result<UniqueFd> {
    UniqueFd fd(::open((config_.cgroup2_mount + rel).c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (!fd) return fail(errno == ENOENT ? ESRCH : errno);  // it moved meanwhile
    return fd;
  };

  std::vector<FreezeLink> from_chain, to_chain;
  std::string members_path;
  std::optional<std::pair<unsigned long long, std::string>> origin;
  {
    SharedLock lock(tree_);
    auto* c = find_locked(id);
    if (!c) return fail(ENOENT);
    if (auto* from = find_locked(container_of_cgroup_locked(*before)); from && from->id != kHostId)
      from_chain = freeze_chain_locked(*from);
    if (id != kHostId) {
      if (c->removing) return fail(ENOENT);
      to_chain = freeze_chain_locked(*c);
      members_path = fmt::format("{}/{}", c->cgroup_path, state::kMembersLeaf);
    } else if (auto o = origins_.find(pid); o != origins_.end()) {
      origin = o->second;
    }
  }
  // A frozen process cannot run the injected calls, nor can one that
  // becomes frozen by joining a frozen container.
  auto what = fmt::format("moving {}", pid);
  if (!from_chain.empty())
    if (auto thawed = refuse_if_frozen(from_chain, what); !thawed) return fail(thawed.error());
  if (!to_chain.empty())
    if (auto thawed = refuse_if_frozen(to_chain, what); !thawed) return fail(thawed.error());

  CgroupMove move;
  move.leaving = *before;
  if (id == kHostId) {
    if (!in_container) return move;  // already home
    // The recorded origin, if it is about this very process (not a later
    // one with a reused pid); the cgroup2 root otherwise.
    auto start = kernel::process_start_time(pid);
    std::string home = "/";
    if (origin && start && origin->first == *start) home = origin->second;
    auto join = open_dir(home);
    if (!join && origin) join = open_dir("/");  // its cgroup is gone
    if (!join) return fail(join.error());
    move.join = std::move(*join);
  } else {
    UniqueFd join(::openat(root().fd(), members_path.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (!join) return fail(errno);
    move.join = std::move(join);
  }
  auto undo = open_dir(*before);
  if (!undo) return fail(undo.error());
  move.undo = std::move(*undo);
  return move;
}

void Containers::note_cgroup_move(ContainerId id, pid_t pid, const std::string& leaving) {
  Lock lock(tree_);
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

}  // namespace containerfs::model
