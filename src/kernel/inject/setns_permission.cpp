#include "setns_permission.hpp"

#include <fcntl.h>
#include <linux/capability.h>
#include <linux/nsfs.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/stat.h>

#include <algorithm>

#include "containerfs/util/fd.hpp"

namespace containerfs::kernel::inject_detail {

ino_t NsTree::parent(ino_t ns) const {
  auto it = nodes_.find(ns);
  return it == nodes_.end() ? 0 : it->second.parent;
}

uid_t NsTree::owner(ino_t ns) const {
  auto it = nodes_.find(ns);
  return it == nodes_.end() ? static_cast<uid_t>(-1) : it->second.owner;
}

int NsTree::level(ino_t ns) const {
  int level = 0;
  for (ino_t p = parent(ns); p != 0 && level < 64; p = parent(p)) ++level;
  return level;
}

bool ns_capable(const NsTree& users, const ThreadCreds& creds, ino_t ns, int cap) {
  for (int steps = 0; steps < 64 && ns != 0; ++steps) {
    if (ns == creds.user_ns) return (creds.cap_effective >> cap) & 1;
    // Not below the thread's own: no capability there.
    if (users.level(ns) <= users.level(creds.user_ns)) return false;
    ino_t parent = users.parent(ns);
    if (parent == creds.user_ns && users.owner(ns) == creds.euid) return true;
    ns = parent;
  }
  return false;
}

namespace {

// pidns_install: only the active pid namespace or one below it.
bool pid_ns_reachable(const NsTree& pids, ino_t active, ino_t target) {
  for (int steps = 0; steps < 64 && target != 0; ++steps, target = pids.parent(target))
    if (target == active) return true;
  return false;
}

}  // namespace

int predict_setns(const NsTree& users, const NsTree& pids, ThreadCreds creds,
                  const std::vector<Joining>& joining) {
  auto user = std::find_if(joining.begin(), joining.end(), [](const Joining& j) { return j.flag == CLONE_NEWUSER; });
  if (user != joining.end()) {
    if (user->ns == creds.user_ns) return EINVAL;  // no capabilities by re-entering
    if (!ns_capable(users, creds, user->ns, CAP_SYS_ADMIN)) return EPERM;
    // What the other namespaces are then checked with.
    creds.user_ns = user->ns;
    creds.cap_effective = ~std::uint64_t{0};
  }
  for (const auto& j : joining) {
    if (j.flag == CLONE_NEWUSER) continue;
    if (!ns_capable(users, creds, j.owner_user_ns, CAP_SYS_ADMIN) ||
        !ns_capable(users, creds, creds.user_ns, CAP_SYS_ADMIN))
      return EPERM;
    if (j.flag == CLONE_NEWNS && !ns_capable(users, creds, creds.user_ns, CAP_SYS_CHROOT)) return EPERM;
    if (j.flag == CLONE_NEWPID && !pid_ns_reachable(pids, creds.active_pid_ns, j.ns)) return EINVAL;
  }
  return 0;
}

namespace {

Result<ino_t> inode_of(int fd) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) return fail_errno();
  return st.st_ino;
}

// Adds the namespace at `fd` and its ancestors, as far as they can be seen
// (NS_GET_PARENT fails with EPERM above the caller's own).
Result<ino_t> add_chain(NsTree& tree, int fd, bool users) {
  auto first = inode_of(fd);
  if (!first) return fail(first.error());
  UniqueFd here(::fcntl(fd, F_DUPFD_CLOEXEC, 0));
  if (!here) return fail_errno();
  for (int steps = 0; steps < 64; ++steps) {
    auto ino = inode_of(here.get());
    if (!ino) return fail(ino.error());
    if (tree.knows(*ino)) break;
    uid_t owner = 0;
    if (users && ::ioctl(here.get(), NS_GET_OWNER_UID, &owner) != 0) return fail_errno();
    UniqueFd up(::ioctl(here.get(), NS_GET_PARENT));
    ino_t parent = 0;
    if (up) {
      auto p = inode_of(up.get());
      if (!p) return fail(p.error());
      parent = *p;
    }
    tree.add(*ino, parent, owner);
    if (!up) break;
    here = std::move(up);
  }
  return *first;
}

}  // namespace

Result<ino_t> add_user_ns(NsTree& users, int fd) { return add_chain(users, fd, true); }
Result<ino_t> add_pid_ns(NsTree& pids, int fd) { return add_chain(pids, fd, false); }

}  // namespace containerfs::kernel::inject_detail
