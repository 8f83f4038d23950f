// Symlinks under other names than the namespace files: `ln -sf` links a
// temporary name, then renames it over the namespace file; anything else
// is kept as the user made it, in the container's record (the host's in
// an xattr of the daemon's cgroup directory), so it survives a restart.
#include "containerfs/model/containers.hpp"
#include "containerfs/model/record_of.hpp"
#include "containerfs/state/record.hpp"
#include "containerfs/util/log.hpp"

namespace containerfs::model {

Result<int> Containers::add_pending_link(ContainerId id, std::string_view name, std::string_view target) {
  if (target.empty()) return fail(ENOENT);
  if (target.size() >= 4096) return fail(ENAMETOOLONG);
  if (name.size() > 255) return fail(ENAMETOOLONG);
  Lock lock(tree_);
  auto* c = find_locked(id);
  if (!c || c->removing) return fail(ENOENT);
  if (file_kind_from_name(name) || c->children.contains(name)) return fail(EEXIST);
  int free_slot = -1;
  for (int slot = kPendingLinkFirst; slot < kPendingLinkFirst + kPendingLinkSlots; ++slot) {
    auto it = c->pending.find(slot);
    if (it != c->pending.end() && it->second.name == name) return fail(EEXIST);
    if (it == c->pending.end() && free_slot < 0) free_slot = slot;
  }
  if (free_slot < 0) return fail(log::refuse(ENOSPC, "{}: too many stray symlinks", c->name));
  c->pending[free_slot] = PendingLink{std::string(name), std::string(target)};
  if (auto saved = persist_links_locked(*c); !saved) {
    c->pending.erase(free_slot);
    return fail(saved.error());
  }
  return free_slot;
}

Result<int> Containers::find_pending_link(ContainerId id, std::string_view name) const {
  Lock lock(tree_);
  auto* c = find_locked(id);
  if (!c) return fail(ENOENT);
  for (auto& [slot, link] : c->pending)
    if (link.name == name) return slot;
  return fail(ENOENT);
}

Result<std::string> Containers::pending_link_target(ContainerId id, int slot) const {
  Lock lock(tree_);
  auto* c = find_locked(id);
  if (!c) return fail(ENOENT);
  auto it = c->pending.find(slot);
  if (it == c->pending.end()) return fail(ENOENT);
  return it->second.target;
}

Status Containers::remove_pending_link(ContainerId id, int slot) {
  Lock lock(tree_);
  auto* c = find_locked(id);
  if (!c || !c->pending.erase(slot)) return fail(ENOENT);
  if (auto saved = persist_links_locked(*c); !saved)
    log::error("{}: stray symlinks not saved: {}", c->id == kHostId ? "the host" : c->name, log::errno_text(saved.error()));
  return {};
}

Status Containers::persist_links_locked(const Container& c) const {
  if (c.id != kHostId) return persist_locked(c);
  std::vector<std::pair<std::string, std::string>> links;
  for (const auto& [slot, link] : c.pending) links.emplace_back(link.name, link.target);
  return root().set_xattr(state::kHostLinksXattr, state::encode_links(links));
}

void Containers::restore_links_locked(Container& c, const std::vector<std::pair<std::string, std::string>>& links) {
  int slot = kPendingLinkFirst;
  for (const auto& [name, target] : links) {
    if (slot == kPendingLinkFirst + kPendingLinkSlots) break;
    c.pending[slot++] = PendingLink{name, target};
  }
}

Status Containers::commit_pending_link(ContainerId id, int slot, kernel::NsKind kind, uid_t caller,
                                       pid_t caller_pid) {
  auto target = pending_link_target(id, slot);
  if (!target) return fail(target.error());
  if (auto linked = link_namespace(id, kind, *target, caller, caller_pid); !linked) return linked;
  return remove_pending_link(id, slot);
}

Status Containers::persist_locked(const Container& c) const {
  auto cgroup = open_cgroup_locked(c);
  if (!cgroup) return fail(cgroup.error());
  return cgroup->set_record(state::encode_record(record_of(c)));
}

}  // namespace containerfs::model
