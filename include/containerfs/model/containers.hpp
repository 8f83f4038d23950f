// The container tree: every container of one daemon, by id and by name,
// with the operations that create, remove and rename them in the kernel.
//
// Locking (one lock, tree_, for the tree; passthrough_hp's rule: the order is
// written next to the locks below):
// - tree_ guards by_id_, every Container in it, next_id_, the indexes and
//   origins_. Readers (lookups, stat, listings) hold it shared, so they run
//   in parallel; changes hold it exclusively, and only for bookkeeping.
// - No lock is held across a spawn, a poll or any wait. An operation that
//   waits marks the container (reserved name, removing, replacing_init,
//   entering), drops the lock, waits, takes it again and finishes; the marks
//   make concurrent operations on the same container refuse with EBUSY or
//   wait their turn, and leave other containers alone.
// - freeze_gate_ is never taken with tree_ held (nor tree_ with it held):
//   it is held shared while a process is started inside a container (checked
//   not frozen, then spawned; bounded), exclusively by a freeze write.
// - Helpers named *_locked need tree_ (Clang's thread-safety analysis checks
//   it: REQUIRES / REQUIRES_SHARED).
//
// Scale: no descriptor per container (see container.hpp); every operation
// costs the same with 20,000 containers as with 10 (maps and indexes, no
// scan of the tree or of a container's children).
#pragma once

#include <sched.h>
#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <utility>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "containerfs/kernel/cgroup.hpp"
#include "containerfs/kernel/credentials.hpp"
#include "containerfs/kernel/file_watch.hpp"
#include "containerfs/kernel/reaper.hpp"
#include "containerfs/model/container.hpp"
#include "containerfs/model/files.hpp"
#include "containerfs/util/fd.hpp"
#include "containerfs/util/mutex.hpp"
#include "containerfs/util/result.hpp"

namespace containerfs::kernel {
struct ConsoleOutput;
class DeviceRules;
struct InitSpec;
}  // namespace containerfs::kernel

namespace containerfs::model {

struct Config {
  kernel::Cgroup root;            // the cgroup directory the daemon owns
  std::string root_cgroup_path;   // that directory, relative to the cgroup2 mount ("/containerfs")
  std::string cgroup2_mount;      // where cgroup v2 is mounted
  std::string mount_point;        // where the tree is mounted (absolute)
  int fresh_namespaces = 0;       // CLONE_NEW* mask: namespaces= option
  std::string init_path;          // the containerfs-init program
  std::chrono::milliseconds teardown_timeout{5000};
};

// A copy of what the FUSE layer needs to answer about one container.
struct ContainerView {
  ContainerId id = kHostId;
  ContainerId parent = kHostId;
  std::string name;
  pid_t init_pid = 0;
  NsSlots ns;
  bool removing = false;
  std::vector<std::pair<int, std::string>> pending;  // slot, name
  uid_t owner_uid = 0;
  gid_t owner_gid = 0;
  // The parent's owner: who sets this container's limits (controller files).
  uid_t limits_uid = 0;
  gid_t limits_gid = 0;
  std::size_t child_count = 0;
  std::string root;  // its root file system's directory, if any
};

// A child container as a listing shows it.
struct ChildEntry {
  std::string name;
  ContainerId id = kHostId;
  uid_t owner_uid = 0;
  gid_t owner_gid = 0;
  std::size_t child_count = 0;
};

// Who asks: the credentials of the FUSE request.
using Caller = kernel::UserIds;

// What changed in the tree without a request through the mount saying so
// (a container ended with its init; controller files came or went), for
// whoever caches the tree (the kernel, through the FUSE layer).
struct TreeChange {
  enum class Kind { removed, files_changed } kind;
  ContainerId parent = kHostId;  // removed: the directory it was listed in
  std::string name;              // removed: its name there
  ContainerId id = kHostId;      // the container itself
};

class Containers {
 public:
  explicit Containers(Config config);
  ~Containers();
  Containers(const Containers&) = delete;
  Containers& operator=(const Containers&) = delete;

  // Rebuilds the tree from the cgroup directories and their records, as
  // left by an earlier daemon. Containers whose record is missing or whose
  // init is gone are reported (logged) and left out.
  Status load() EXCLUDES(tree_);
  // Called (on another thread, no lock held) after a change the tree's
  // readers cannot have seen coming. Set before load().
  void on_change(std::function<void(const TreeChange&)> observer) { observer_ = std::move(observer); }

  // --- queries (containers.cpp)
  Result<ContainerView> get(ContainerId id) const EXCLUDES(tree_);
  Result<ContainerId> child(ContainerId parent, std::string_view name) const EXCLUDES(tree_);
  // The children, in name order, with what stat(2) of each shows.
  Result<std::vector<ChildEntry>> children(ContainerId id) const EXCLUDES(tree_);
  // "web/db"; "." for the host.
  Result<std::string> path_of(ContainerId id) const EXCLUDES(tree_);
  // The container whose cgroup holds `pid` (host if none of ours).
  Result<ContainerId> container_of_process(pid_t pid) const EXCLUDES(tree_);
  // The container whose init `pid` is, if any (the daemon counts as the host's).
  std::optional<ContainerId> container_of_init(pid_t pid) const EXCLUDES(tree_);
  // The readlink text of a namespace file; ENOENT when inherited (no file).
  Result<std::string> ns_link(ContainerId id, kernel::NsKind kind) const EXCLUDES(tree_);
  size_t size() const EXCLUDES(tree_);

  // --- cgroup files (cgroup_files.cpp)
  // Member pids (host numbering), init excluded. For the host: every
  // process that is in no container.
  Result<std::vector<pid_t>> members(ContainerId id) const EXCLUDES(tree_);
  // The cgroup's interface file (cgroup.freeze, ...), read or written.
  Result<std::string> read_cgroup_file(ContainerId id, const std::string& file) const EXCLUDES(tree_);
  // A caller other than root writes a controller file only below what was
  // delegated to it (the parent container is its own): the limits of the
  // container root delegated to it stay root's, as in cgroupfs delegation.
  Status write_cgroup_file(ContainerId id, const std::string& file, std::string_view text,
                           Caller caller = {}) const EXCLUDES(tree_);
  // The controller interface files the container's cgroup has now.
  Result<std::vector<std::string>> controller_files(ContainerId id) const EXCLUDES(tree_);
  // Whether the container's cgroup has that interface file, and its mode.
  Result<mode_t> controller_file_mode(ContainerId id, const std::string& name) const EXCLUDES(tree_);
  // The `events` text: "populated" of the members (the init is no member),
  // "frozen" of the whole container.
  Result<std::string> events(ContainerId id) const EXCLUDES(tree_);
  // The cgroup.events files `events` reads (absolute paths), to watch them.
  Result<std::vector<std::string>> events_files(ContainerId id) const EXCLUDES(tree_);
  // echo 1 > kill: every member (not the init), through cgroup.kill of the
  // members' leaf; returns once they are gone (bounded). A caller other than
  // root kills only what it could kill itself (EPERM).
  Status kill_members(ContainerId id, Caller caller = {}) const EXCLUDES(tree_);
  // echo 0|1 > freeze: returns once the cgroup reports the state (bounded).
  Status set_frozen(ContainerId id, bool frozen) const EXCLUDES(tree_);

  // --- membership (members.cpp)
  // A tasks write in progress: from reading the init whose namespaces the
  // process will join until the process is in the container's cgroup (from
  // then on it is a member, which also refuses composition changes), the
  // container's namespaces cannot change (EBUSY).
  class Entry {
   public:
    Entry() = default;
    Entry(Containers* owner, ContainerId id, pid_t holder) : owner_(owner), id_(id), holder_(holder) {}
    Entry(Entry&& o) noexcept : owner_(std::exchange(o.owner_, nullptr)), id_(o.id_), holder_(o.holder_) {}
    Entry& operator=(Entry&&) = delete;
    ~Entry();
    pid_t holder() const { return holder_; }

   private:
    Containers* owner_ = nullptr;
    ContainerId id_ = kHostId;
    pid_t holder_ = 0;
  };
  Result<Entry> begin_entry(ContainerId id) EXCLUDES(tree_);
  // The cgroup move of a process (host pid) joining a container: into its
  // members' cgroup; for the host, back into the cgroup the process had
  // before it first entered a container (none if it is not in one). The
  // injector process writes it (kernel/injector_process.hpp).
  struct CgroupMove {
    UniqueFd join;        // the cgroup directory to join (invalid: stay)
    UniqueFd undo;        // the one it leaves, to put it back
    std::string leaving;  // that one's path below the cgroup2 mount
  };
  Result<CgroupMove> plan_cgroup_move(ContainerId id, pid_t pid) const EXCLUDES(tree_);
  // Records that the move was made: where a process came from when it first
  // entered a container, for the host's tasks file to take it home.
  void note_cgroup_move(ContainerId id, pid_t pid, const std::string& leaving) EXCLUDES(tree_);

  // --- composition (compose.cpp). Each refuses with EBUSY while the
  // container has members or child containers, or while another container
  // shares the namespace being replaced; the host's namespaces are fixed
  // (EPERM). They replace the init (init_replace.cpp).
  // ln -s TARGET C/<kind>: share another container's namespace (target in
  // the tree) or adopt one from outside (root only; EPERM otherwise).
  // `caller_pid`: /proc/self and /proc/thread-self in an adopted path are
  // the caller's (the daemon opens the path, not the caller).
  Status link_namespace(ContainerId id, kernel::NsKind kind, std::string_view target, uid_t caller,
                        pid_t caller_pid = 0) EXCLUDES(tree_);
  // rm C/<kind>: inherit the parent's again.
  Status unlink_namespace(ContainerId id, kernel::NsKind kind) EXCLUDES(tree_);
  // touch C/<kind>: a fresh one of its own.
  Status fresh_namespace(ContainerId id, kernel::NsKind kind) EXCLUDES(tree_);
  // echo "monotonic S N" > C/timens_offsets: the container's own time
  // namespace is made anew with these offsets (as /proc/PID/timens_offsets,
  // possible only before its first member; EBUSY after).
  Status set_time_offsets(ContainerId id, std::string_view offsets) EXCLUDES(tree_);

  // --- stray symlinks (pending_links.cpp): symlinks under other names in a
  // container directory (ln -sf's temporaries): made, read, removed, or
  // renamed over a namespace file. Kept in the record.
  Result<int> add_pending_link(ContainerId id, std::string_view name, std::string_view target) EXCLUDES(tree_);
  Result<int> find_pending_link(ContainerId id, std::string_view name) const EXCLUDES(tree_);
  Result<std::string> pending_link_target(ContainerId id, int slot) const EXCLUDES(tree_);
  Status remove_pending_link(ContainerId id, int slot) EXCLUDES(tree_);
  Status commit_pending_link(ContainerId id, int slot, kernel::NsKind kind, uid_t caller,
                             pid_t caller_pid = 0) EXCLUDES(tree_);

  // --- the init's namespaces (init_access.cpp)
  // Before a first member enters a container with a user namespace of its
  // own and no uid/gid map written, a map is written so the container stays
  // usable (a process entering would otherwise be nobody): the identity
  // map, or for a delegated container its owner mapped to 0.
  Status ensure_user_maps(ContainerId id) EXCLUDES(tree_);
  // The hostname of the container's uts namespace (the init's). Setting it
  // takes one line of at most 64 bytes (EINVAL otherwise).
  Result<std::string> hostname(ContainerId id) const EXCLUDES(tree_);
  Status set_hostname(ContainerId id, std::string_view name) EXCLUDES(tree_);
  // uid_map / gid_map of the container's user namespace (the init's), as
  // user_namespaces(7) allows: once, with the kernel's errnos. ESRCH if the
  // init ends meanwhile (never the file of a process that reused its pid).
  // A caller other than root writes with its own credentials: the kernel's
  // rules for an unprivileged writer apply (one line mapping its own id).
  Status write_id_map(ContainerId id, FileKind which, std::string_view text, Caller caller = {}) EXCLUDES(tree_);

  // --- life and death (create.cpp, remove.cpp, rename.cpp, members.cpp)
  // mkdir. A non-root caller (in a container delegated to it) gets a
  // container owned by it, with a user namespace of its own owned by its
  // uid (mapping its uid and gid to 0), so that its processes can enter.
  Result<ContainerId> create(ContainerId parent, std::string_view name, Caller caller = {}) EXCLUDES(tree_);
  // chown of a container directory: delegates it (root only: EPERM).
  Status set_owner(ContainerId id, uid_t uid, gid_t gid, Caller caller) EXCLUDES(tree_);
  // A caller other than root removes only a container whose every process
  // it could kill itself (EPERM otherwise, nothing changed).
  Status remove(ContainerId parent, std::string_view name, Caller caller = {}) EXCLUDES(tree_);
  // Within one parent only (ENOTSUP otherwise); RENAME_NOREPLACE honoured.
  Status rename(ContainerId parent, std::string_view name, ContainerId new_parent,
                std::string_view new_name, unsigned flags) EXCLUDES(tree_);

  // How many files the daemon watches (two per container); for tests.
  std::size_t watched_files() const { return watch_->size(); }

  // Running a system: container_root.cpp, container_console.cpp,
  // container_run.cpp, container_devices.cpp.

  // ln -s DIR C/root (`replace`: ln -sf): the host directory DIR becomes
  // the container's `/` (its init is replaced, as for a namespace change).
  // EINVAL: DIR is relative, or the container has no mount namespace of
  // its own; ENOENT, ENOTDIR; EEXIST: a root is set (not replacing);
  // EBUSY: members, child containers, a sharer of its mount namespace, a
  // freeze. The directory is opened as the container's owner, who must own
  // it if that is not root (EPERM); only root or the owner may set it.
  Status set_root(ContainerId id, std::string_view dir, Caller caller, bool replace = false) EXCLUDES(tree_);
  // rm C/root: back to the host's tree (or its parent's). ENOENT if none.
  Status clear_root(ContainerId id, Caller caller) EXCLUDES(tree_);
  // readlink C/root; ENOENT if none.
  Result<std::string> root_of(ContainerId id) const EXCLUDES(tree_);
  // ln -sf's rename of a temporary symlink over `root`.
  Status commit_pending_root(ContainerId id, int slot, Caller caller) EXCLUDES(tree_);

  // The console, held by the init: made when first opened (EBUSY if the
  // container is frozen then; the init's errno if it cannot make one).
  Status open_console(ContainerId id) EXCLUDES(tree_);
  // What it kept (empty before it exists); its size: bytes written so far.
  Result<kernel::ConsoleOutput> console_output(ContainerId id) const EXCLUDES(tree_);
  Result<std::uint64_t> console_size(ContainerId id) const EXCLUDES(tree_);
  // Typed as input (bounded wait for the terminal to take it).
  Result<std::size_t> console_input(ContainerId id, std::string_view text) EXCLUDES(tree_);
  // The eventfd the init signals after output, for a poller.
  Result<UniqueFd> console_events(ContainerId id) const EXCLUDES(tree_);

  // echo LINE > C/run: /bin/sh -c LINE starts inside, a child of the init,
  // in the members' cgroup, on the console; one program per line. Returns
  // once each is executing. ENOENT: no /bin/sh; EBUSY: frozen; EPERM: the
  // caller is neither root nor the owner of a container whose user
  // namespace maps its root to the caller.
  Status run(ContainerId id, std::string_view lines, Caller caller) EXCLUDES(tree_);

  // The device whitelist (devices.list form) and writes to it. A caller
  // other than root changes only containers below one delegated to it (as
  // controller files; EPERM). EINVAL malformed, EPERM wider than an
  // ancestor's, ENOSPC too many entries.
  Result<std::string> devices(ContainerId id) const EXCLUDES(tree_);
  Status write_devices(ContainerId id, std::string_view lines, Caller caller) EXCLUDES(tree_);

 private:
  // --- the tree (tree.cpp)
  Container* find_locked(ContainerId id) const REQUIRES_SHARED(tree_);
  // A container by its names from the root; nullptr if none.
  Container* find_path_locked(const std::vector<std::string>& names) const REQUIRES_SHARED(tree_);
  std::vector<std::string> names_of_locked(const Container& c) const REQUIRES_SHARED(tree_);
  // "web/db" (for a container not yet in its parent's children too).
  std::string path_locked(const Container& c) const REQUIRES_SHARED(tree_);
  // The container whose cgroup (or a cgroup below it) `cgroup` is, from its
  // path below the cgroup2 mount; the host if none of ours.
  ContainerId container_of_cgroup_locked(std::string_view cgroup) const REQUIRES_SHARED(tree_);
  // A path that opens the namespace of that kind the container's members
  // get: its init's (a container's init is in exactly its namespaces).
  std::string effective_ns_path_locked(const Container& c, kernel::NsKind kind) const REQUIRES_SHARED(tree_);
  // Whether c's processes are in a user namespace `uid` owns (never the
  // daemon's own).
  bool in_user_ns_of_locked(const Container& c, uid_t uid) const REQUIRES_SHARED(tree_);
  // Adds a container to the tree and its indexes / takes a subtree out.
  void insert_locked(std::unique_ptr<Container> c) REQUIRES(tree_);
  void erase_subtree_locked(ContainerId id) REQUIRES(tree_);
  // The share index (Container::shared_by) follows ns slots.
  void index_shares_locked(const Container& c, bool add) REQUIRES(tree_);
  // Re-derives `source` of shared slots from their link text (after load).
  void resolve_shares_locked() REQUIRES(tree_);

  // --- the kernel side of one container
  // The container's cgroup, or a leaf of it ("init", "tasks"), opened now.
  Result<kernel::Cgroup> open_cgroup_locked(const Container& c, const char* leaf = nullptr) const
      REQUIRES_SHARED(tree_);
  // Absolute path of the container's cgroup directory (or a file in it).
  std::string cgroup_dir(const std::string& cgroup_path, std::string_view file = {}) const;
  Status persist_locked(const Container& c) const REQUIRES_SHARED(tree_);
  // Saves the container's stray symlinks (in its record; the host's in an
  // xattr of the daemon's cgroup), and gives them slots again after a load.
  Status persist_links_locked(const Container& c) const REQUIRES_SHARED(tree_);
  void restore_links_locked(Container& c, const std::vector<std::pair<std::string, std::string>>& links)
      REQUIRES(tree_);

  // --- watches (init_watch.cpp): one inotify instance for all containers.
  // The init leaf's cgroup.events of `c` (a change makes on_init_event check
  // whether the init lives), and its cgroup.subtree_control (a write there
  // makes its children's controller files come or go).
  void watch_locked(Container& c) REQUIRES(tree_);
  // Keys of the watches: the container id, with this bit for its controls.
  static constexpr kernel::FileWatch::Key kControlsKey = kernel::FileWatch::Key{1} << 63;
  void on_watch_event(kernel::FileWatch::Key key) EXCLUDES(tree_);
  void on_init_event(ContainerId id) EXCLUDES(tree_);
  void on_controls_event(ContainerId id) EXCLUDES(tree_);
  // The init of `c` still runs (pid and start time).
  static bool init_alive(pid_t pid, unsigned long long start);
  // Kills and removes a container and everything below it (its init died):
  // marked, the lock dropped for the teardown, then taken out of the tree.
  void end_container(ContainerId id) EXCLUDES(tree_);

  // --- create / remove helpers
  // Tears a container's cgroup tree down: cgroup.kill, wait until empty,
  // remove bottom-up (bounded). No descriptor needed but the root's.
  Status tear_down_cgroup(const std::string& cgroup_path) const;
  // Kills and removes a container cgroup the records do not explain.
  void tear_down_orphan(const std::string& cgroup_path) const;
  Status load_children_locked(Container& parent) REQUIRES(tree_);
  // EPERM unless `caller` could kill every process in the cgroup and below
  // (kill(2)'s rule, asked of the kernel), but `init`: the container's own
  // init goes with the container, whoever may remove it.
  Status check_may_kill_all(const kernel::Cgroup& cgroup, Caller caller, std::string_view what,
                            pid_t init = 0) const;
  // setgroups "deny", then uid_map and gid_map of the init's user namespace
  // mapping 0 to the owner, written as the owner: what the kernel lets an
  // unprivileged owner write itself.
  Status write_owner_maps(pid_t init, uid_t uid, gid_t gid) const;

  // --- composition helpers (compose.cpp, init_replace.cpp)
  // Refusals common to every composition change.
  Status check_composable_locked(const Container& c, int changing_kinds) const REQUIRES_SHARED(tree_);
  // Replaces the init of `c` so that it holds exactly `next` (the
  // container has no members). Kept own namespaces keep their identity,
  // except pid. `adopted`: the namespace newly adopted for the changed kind,
  // if any. `renew`: kinds made fresh even if they stay own (CLONE_NEW*
  // mask). `offsets`: the time offsets the new init's time namespace takes.
  // Drops tree_ for the spawn and for the old init's end, and returns with
  // it held again; `c` stays valid (replacing_init keeps it in the tree).
  Status replace_init(Container& c, const NsSlots& next, const UniqueFd& adopted, int renew,
                      const std::string& offsets) REQUIRES(tree_);
  Status change_namespace(Container& c, kernel::NsKind kind, NsSlot slot, const UniqueFd& adopted)
      REQUIRES(tree_);
  // The init's command line names the container's path (init_titles.cpp):
  // the titles of `c` (and of its subtree) are collected under the lock,
  // then written with no lock held (a write may wait for an init's exec).
  struct InitTitle {
    pid_t pid;
    unsigned long long start;
    std::string path;
  };
  void titles_locked(const Container& c, bool subtree, std::vector<InitTitle>& out) const
      REQUIRES_SHARED(tree_);
  static void apply_titles(const std::vector<InitTitle>& titles);

  // --- freezing (frozen.cpp)
  // The cgroup paths whose cgroup.freeze decides whether `c` is frozen: its
  // own and its ancestors' (the daemon's included).
  struct FreezeLink {
    std::string cgroup_path;
    std::string label;  // "container web", or the daemon's cgroup directory
  };
  std::vector<FreezeLink> freeze_chain_locked(const Container& c) const REQUIRES_SHARED(tree_);
  // EBUSY if any of them is frozen: a process started inside would stop
  // before it could exec, and whoever waits for it with it. Call with
  // freeze_gate_ held shared. `what` names the operation for the log.
  Status refuse_if_frozen(const std::vector<FreezeLink>& chain, std::string_view what) const;
  // The first of them that is frozen, if any (errno if one is unreadable).
  Result<const FreezeLink*> first_frozen(const std::vector<FreezeLink>& chain) const;

  // --- running a system (container_root.cpp, container_devices.cpp,
  // container_console.cpp)
  // What running a system adds to the spec of a container's next init:
  // a /proc of its own (own mount and pid namespaces, `own_kinds` the
  // CLONE_NEW* kinds it has of its own then), its root file system (the
  // directory opened into `root_dir`, as the owner), and for a container
  // below another a fresh mount namespace copied from the parent's, so
  // that it stays inside the parent's root.
  Status add_system_to_spec_locked(const Container& c, int own_kinds, kernel::InitSpec& spec,
                                   UniqueFd& root_dir) const REQUIRES_SHARED(tree_);
  static int own_kinds_of(const NsSlots& slots);
  // Gives the container `root` (empty: the host's tree) through a new
  // init, as a namespace change does; nothing changed on failure.
  Status replace_root_locked(Container& c, std::string root) REQUIRES(tree_);
  // CLONE_NEWNS for a container with a root: a new init sets its root up
  // in a fresh mount namespace.
  static int root_renewal(const Container& c) { return c.root.empty() ? 0 : CLONE_NEWNS; }
  // The whitelist in force for the container: as written, else the /dev
  // set for a container with a root, else its parent's (the host's: all).
  Result<kernel::DeviceRules> device_rules_locked(const Container& c) const REQUIRES_SHARED(tree_);
  // Puts the container's cgroup's device program in line with its rules
  // (none when they are its parent's by default).
  Status sync_device_filter_locked(const Container& c) const REQUIRES_SHARED(tree_);
  // The console of the container's current init: its pidfd (ENOENT if it
  // is being removed or gone).
  Result<UniqueFd> console_holder(ContainerId id) const EXCLUDES(tree_);

  // --- the init as it is now (init_access.cpp)
  struct InitHandle {
    pid_t pid = 0;
    UniqueFd pidfd;
  };
  // The container's init pinned by a pidfd (the daemon for the host); ESRCH
  // if the recorded one is gone (a pid reused meanwhile is never taken).
  Result<InitHandle> current_init(ContainerId id) const EXCLUDES(tree_);
  // op(InitHandle) on the current init, again on the next one if the init
  // was replaced meanwhile (ESRCH).
  template <typename Op>
  auto on_current_init(ContainerId id, Op op) const -> decltype(op(std::declval<InitHandle>()));

  // --- origins (origins.cpp)
  void save_origins_locked() REQUIRES(tree_);
  void load_origins_locked() REQUIRES(tree_);

  void notify(const TreeChange& change) const;

  Config config_;
  const kernel::Cgroup& root() const { return config_.root; }

  mutable SharedMutex tree_;
  mutable SharedMutex freeze_gate_;  // see the lock order above
  std::unordered_map<ContainerId, std::unique_ptr<Container>> by_id_ GUARDED_BY(tree_);
  std::unordered_map<pid_t, ContainerId> by_init_ GUARDED_BY(tree_);  // init pid -> container
  ContainerId next_id_ GUARDED_BY(tree_) = 1;
  // Where processes came from before entering a container:
  // pid -> (start time, cgroup path); kept on the daemon's cgroup
  // (state/origins.hpp) so that a restarted daemon knows them too.
  std::unordered_map<pid_t, std::pair<unsigned long long, std::string>> origins_ GUARDED_BY(tree_);
  std::function<void(const TreeChange&)> observer_;
  // Container cgroups load() found unexplained, torn down once it is done.
  std::vector<std::string> orphans_ GUARDED_BY(tree_);
  std::unique_ptr<kernel::FileWatch> watch_;
  std::unique_ptr<kernel::Reaper> reaper_;
};

}  // namespace containerfs::model
