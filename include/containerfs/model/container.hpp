// One container: its name and place in the tree, its cgroup, its init
// process and where each of its namespaces comes from. The daemon holds no
// descriptor for it: the cgroup is opened by its path when needed, the init
// is named by pid and start time (pidfd_open checks it when needed), and its
// death is seen through its leaf's cgroup.events (model/init_watch.cpp).
#pragma once

#include <sys/types.h>

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "containerfs/kernel/namespaces.hpp"

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

// The eight namespace slots of a container, one per kind.
class NsSlots {
 public:
  NsSlot& operator[](kernel::NsKind kind) { return slots_[static_cast<size_t>(kind)]; }
  const NsSlot& operator[](kernel::NsKind kind) const { return slots_[static_cast<size_t>(kind)]; }
  bool own(kernel::NsKind kind) const { return (*this)[kind].origin == NsOrigin::own; }
  bool present(kernel::NsKind kind) const { return (*this)[kind].origin != NsOrigin::inherited; }
  friend bool operator==(const NsSlots&, const NsSlots&) = default;

 private:
  std::array<NsSlot, kernel::kAllNsKinds.size()> slots_{};
};

// A symlink under another name than a namespace file (`ln -sf` links a
// temporary name, then renames it over the namespace file).
struct PendingLink {
  std::string name;
  std::string target;
};

struct Container {
  ContainerId id = kHostId;
  std::string name;  // empty for the host
  ContainerId parent = kHostId;
  std::map<std::string, ContainerId, std::less<>> children;
  // Names taken by child containers being made (mkdir in progress): not
  // listed yet, but not free either.
  std::set<std::string, std::less<>> reserved;

  // The container's cgroup "c<id>", as a path below the daemon's cgroup
  // directory ("c1/c5"; empty for the host). It holds no process itself (so
  // that controllers can be enabled for its children): its init lives in the
  // leaf "init", its members in the leaf "tasks", child containers beside.
  std::string cgroup_path;

  pid_t init_pid = 0;  // the host's "init" is the daemon itself
  unsigned long long init_start = 0;
  int init_watch = -1;      // the watch on its init leaf's cgroup.events
  int controls_watch = -1;  // the watch on its cgroup.subtree_control

  NsSlots ns;
  // Who shares one of this container's namespaces (ln -s ../this/X): the
  // sharers, so that rmdir, rename and composition changes need not scan
  // the tree.
  std::multiset<std::pair<ContainerId, kernel::NsKind>> shared_by;
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

  bool removing = false;       // rmdir (or the end after its init died) in progress
  bool replacing_init = false;  // a namespace change is starting its new init
  int entering = 0;            // tasks writes between reading the init and the cgroup move

  std::map<int, PendingLink> pending;  // slot (an inode kind) -> link

  NsSlot& slot(kernel::NsKind kind) { return ns[kind]; }
  const NsSlot& slot(kernel::NsKind kind) const { return ns[kind]; }
  // A change is under way that the tree lock does not cover.
  bool busy() const { return removing || replacing_init; }
};

}  // namespace containerfs::model
