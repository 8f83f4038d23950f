// Whether a container is frozen, for the operations that must not start a
// process inside one (mkdir below it, a new init, a move in or out).
#include <fmt/format.h>

#include "containerfs/model/containers.hpp"
#include "containerfs/util/file_io.hpp"
#include "containerfs/util/log.hpp"

namespace containerfs::model {

std::vector<Containers::FreezeLink> Containers::freeze_chain_locked(const Container& c) const {
  std::vector<FreezeLink> chain;
  for (auto* p = &c;; p = find_locked(p->parent)) {
    if (p->id == kHostId) {
      chain.push_back({p->cgroup_path, root().path()});
      return chain;
    }
    chain.push_back({p->cgroup_path, "container " + path_locked(*p)});
  }
}

Result<const Containers::FreezeLink*> Containers::first_frozen(const std::vector<FreezeLink>& chain) const {
  for (const auto& link : chain) {
    auto text = read_file_at(root().fd(), link.cgroup_path.empty() ? std::string("cgroup.freeze")
                                                                   : link.cgroup_path + "/cgroup.freeze");
    if (!text) return fail(text.error());
    if (text->starts_with("1")) return &link;
  }
  return nullptr;
}

Status Containers::refuse_if_frozen(const std::vector<FreezeLink>& chain, std::string_view what) const {
  auto frozen = first_frozen(chain);
  if (!frozen) return fail(log::refuse(frozen.error(), "{}: a cgroup.freeze is unreadable", what));
  if (*frozen)
    return fail(log::refuse(EBUSY, "{}: {} is frozen (echo 0 > freeze to thaw it)", what, (*frozen)->label));
  return {};
}

}  // namespace containerfs::model
