// The tree's construction and its queries: what lookups, stat and listings
// ask, each answered from the tree under the shared lock, in time that does
// not grow with the number of containers.
#include "containerfs/model/containers.hpp"

#include <unistd.h>

#include "containerfs/kernel/namespaces.hpp"
#include "containerfs/kernel/init_process.hpp"
#include "containerfs/kernel/process.hpp"
#include "containerfs/state/record.hpp"

namespace containerfs::model {

Containers::Containers(Config config) : config_(std::move(config)) {
  auto host = std::make_unique<Container>();
  host->id = kHostId;
  host->init_pid = ::getpid();
  {
    Lock lock(tree_);
    by_id_[kHostId] = std::move(host);
  }
  watch_ = std::make_unique<kernel::FileWatch>([this](kernel::FileWatch::Key key) { on_watch_event(key); });
  reaper_ = std::make_unique<kernel::Reaper>();
}

Containers::~Containers() {
  watch_.reset();  // no more callbacks into the tree
  reaper_.reset();
}

void Containers::notify(const TreeChange& change) const {
  if (observer_) observer_(change);
}

size_t Containers::size() const {
  SharedLock lock(tree_);
  return by_id_.size() - 1;
}

Result<ContainerView> Containers::get(ContainerId id) const {
  SharedLock lock(tree_);
  auto* c = find_locked(id);
  if (!c) return fail(ENOENT);
  ContainerView view{c->id, c->parent, c->name, c->init_pid, c->ns, c->removing, {},
                     c->owner_uid, c->owner_gid, 0, 0, c->children.size(), c->root};
  for (auto& [slot, link] : c->pending) view.pending.emplace_back(slot, link.name);
  if (id != kHostId) {
    const auto* parent = find_locked(c->parent);
    view.limits_uid = parent->owner_uid;
    view.limits_gid = parent->owner_gid;
  }
  return view;
}

Result<ContainerId> Containers::child(ContainerId parent, std::string_view name) const {
  SharedLock lock(tree_);
  auto* p = find_locked(parent);
  if (!p) return fail(ENOENT);
  auto it = p->children.find(name);
  if (it == p->children.end()) return fail(ENOENT);
  return it->second;
}

Result<std::vector<ChildEntry>> Containers::children(ContainerId id) const {
  SharedLock lock(tree_);
  auto* c = find_locked(id);
  if (!c) return fail(ENOENT);
  std::vector<ChildEntry> out;
  out.reserve(c->children.size());
  for (const auto& [name, child_id] : c->children) {
    const auto* child = find_locked(child_id);
    out.push_back({name, child_id, child->owner_uid, child->owner_gid, child->children.size()});
  }
  return out;
}

Result<std::string> Containers::path_of(ContainerId id) const {
  SharedLock lock(tree_);
  auto* c = find_locked(id);
  if (!c) return fail(ENOENT);
  if (id == kHostId) return std::string(".");
  return path_locked(*c);
}

Result<ContainerId> Containers::container_of_process(pid_t pid) const {
  auto cg = kernel::cgroup_of_process(pid);
  if (!cg) return fail(cg.error());
  SharedLock lock(tree_);
  return container_of_cgroup_locked(*cg);
}

std::optional<ContainerId> Containers::container_of_init(pid_t pid) const {
  if (pid == ::getpid()) return kHostId;
  SharedLock lock(tree_);
  auto it = by_init_.find(pid);
  if (it == by_init_.end()) return std::nullopt;
  return it->second;
}

Result<std::string> Containers::ns_link(ContainerId id, kernel::NsKind kind) const {
  SharedLock lock(tree_);
  auto* c = find_locked(id);
  if (!c) return fail(ENOENT);
  if (id == kHostId) return kernel::ns_proc_path(c->init_pid, kind);
  const auto& slot = c->ns[kind];
  switch (slot.origin) {
    case NsOrigin::inherited: return fail(ENOENT);
    case NsOrigin::own:
    // Reached through the init that holds it: the path as written may be
    // swapped for another namespace (a bind mount replaced, a /proc/PID
    // reused) or mean each reader's own (/proc/self).
    case NsOrigin::adopted: return kernel::ns_proc_path(c->init_pid, kind);
    case NsOrigin::shared: return slot.link;
  }
  return fail(ENOENT);
}

}  // namespace containerfs::model
