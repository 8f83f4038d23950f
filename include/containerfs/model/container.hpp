// One container: its name and place in the tree, its cgroup, its init
// process and where each of its namespaces comes from.
#pragma once

#include <sys/types.h>

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "containerfs/kernel/cgroup.hpp"
#include "containerfs/kernel/namespaces.hpp"
#include "containerfs/util/fd.hpp"

namespace containerfs::model {

using ContainerId = uint64_t;
inline constexpr ContainerId kHostId = 0;

// Where a container's namespace of one kind comes from.
enum class NsOrigin : uint8_t {
  inherited,  // the parent container's (no file)
  own,        // created for this container, held by its init
  shared,     // another container's, linked by the user (`link` as written)
  adopted,    // a namespace from outside, linked by the user
};

struct NsSlot {
  NsOrigin origin = NsOrigin::inherited;
  std::string link;  // shared/adopted: the link text as the user wrote it
  ContainerId source = kHostId;  // shared: whose namespace (not persisted)
  friend bool operator==(const NsSlot&, const NsSlot&) = default;
};

struct Container {
  ContainerId id = kHostId;
  std::string name;  // empty for the host
  ContainerId parent = kHostId;
  std::map<std::string, ContainerId, std::less<>> children;

  // The container's cgroup "c<id>" holds no process itself (so that
  // controllers can be enabled for its children): its init lives in the
  // leaf "init", its members in the leaf "tasks", child containers beside.
  kernel::Cgroup cgroup;
  kernel::Cgroup members;  // c<id>/tasks
  std::string cgroup_name;  // its directory name: "c<id>"

  pid_t init_pid = 0;  // the host's "init" is the daemon itself
  UniqueFd init_pidfd;
  unsigned long long init_start = 0;

  std::array<NsSlot, 8> ns{};
  // Who the container is delegated to (chown): that user may create,
  // rename, remove and enter containers below it.
  uid_t owner_uid = 0;
  gid_t owner_gid = 0;
  // Clock offsets of its own time namespace, as written to timens_offsets.
  std::string time_offsets;
  // Its own root file system (ln -s DIR C/root): a host directory, or empty.
  std::string root;
  // Its device whitelist as last written to `devices` (a devices.list
  // listing), or nullopt for the default (model/container_devices.cpp).
  std::optional<std::string> devices;
  bool removing = false;  // rmdir in progress
  int entering = 0;       // tasks writes between reading the init and the cgroup move

  // Symlinks that are not (yet) namespace files: `ln -sf` makes one under
  // a temporary name and renames it over the namespace file. Not persisted.
  struct PendingLink {
    std::string name;
    std::string target;
  };
  std::map<int, PendingLink> pending;  // slot -> link

  NsSlot& slot(kernel::NsKind kind) { return ns[static_cast<size_t>(kind)]; }
  const NsSlot& slot(kernel::NsKind kind) const { return ns[static_cast<size_t>(kind)]; }
};

}  // namespace containerfs::model
