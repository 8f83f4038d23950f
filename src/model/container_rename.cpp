// mv: a new name under the same parent. The cgroup keeps its id (cgroup v2
// cannot rename); only the record changes, in one atomic setxattr.
#include <linux/fs.h>

#include "containerfs/model/containers.hpp"
#include "containerfs/model/names.hpp"
#include "containerfs/util/log.hpp"

namespace containerfs::model {

Status Containers::rename(ContainerId parent_id, std::string_view name, ContainerId new_parent,
                          std::string_view new_name, unsigned flags) {
  if (flags & ~RENAME_NOREPLACE)
    return fail(log::refuse(EINVAL, "rename {} -> {}: flags {:#x} not supported", name, new_name, flags));
  std::lock_guard lock(mutex_);
  auto* parent = find(parent_id);
  if (!parent) return fail(ENOENT);
  auto it = parent->children.find(name);
  if (it == parent->children.end()) return fail(ENOENT);
  if (new_parent != parent_id)
    return fail(log::refuse(ENOTSUP, "rename {}: containers move only within their parent", name));
  if (int err = check_container_name(new_name))
    return fail(log::refuse(err, "rename {} -> {:?}: not a container name", name, new_name));
  if (name == new_name) return {};
  if (parent->children.contains(new_name)) {
    // Replacing would destroy the other container: a container directory
    // is never empty.
    int err = (flags & RENAME_NOREPLACE) ? EEXIST : ENOTEMPTY;
    return fail(log::refuse(err, "rename {} -> {}: target exists", name, new_name));
  }
  auto* c = find(it->second);
  if (c->removing) return fail(log::refuse(EBUSY, "rename {}: being removed", name));
  // A share is a link by path: renaming what it points into would leave it
  // dangling (or pointing at a later container of the old name).
  for (auto& [other_id, other] : by_id_) {
    for (auto kind : kernel::kAllNsKinds) {
      const auto& slot = other->slot(kind);
      if (slot.origin != NsOrigin::shared) continue;
      for (auto* s = find(slot.source); s && s->id != kHostId; s = find(s->parent))
        if (s == c)
          return fail(log::refuse(EBUSY, "rename {}: {} shares its {} namespace by path {}", name,
                                  other->name, kernel::ns_file_name(kind), slot.link));
    }
  }
  std::string old = c->name;
  c->name = std::string(new_name);
  if (auto saved = persist(*c); !saved) {
    c->name = old;
    return fail(saved.error());
  }
  ContainerId id = c->id;
  parent->children.erase(it);
  parent->children.emplace(c->name, id);
  retitle_subtree_locked(*c);
  return {};
}

}  // namespace containerfs::model
