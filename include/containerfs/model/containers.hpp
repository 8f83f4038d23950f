// The container tree: every container of one daemon, by id and by name,
// with the operations that create, remove and rename them in the kernel.
// All methods are thread-safe; none holds the lock across a long wait.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <utility>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "containerfs/kernel/cgroup.hpp"
#include "containerfs/kernel/credentials.hpp"
#include "containerfs/kernel/reaper.hpp"
#include "containerfs/model/container.hpp"
#include "containerfs/model/files.hpp"
#include "containerfs/util/result.hpp"

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
  std::array<NsSlot, 8> ns{};
  bool removing = false;
  std::vector<std::pair<int, std::string>> pending;  // slot, name
  uid_t owner_uid = 0;
  gid_t owner_gid = 0;
  // The parent's owner: who sets this container's limits (controller files).
  uid_t limits_uid = 0;
  gid_t limits_gid = 0;
};

// Who asks: the credentials of the FUSE request.
using Caller = kernel::UserIds;

class Containers {
 public:
  explicit Containers(Config config);
  ~Containers();

  // Rebuilds the tree from the cgroup directories and their records, as
  // left by an earlier daemon. Containers whose record is missing or whose
  // init is gone are reported (logged) and left out.
  Status load();

  Result<ContainerView> get(ContainerId id) const;
  Result<ContainerId> child(ContainerId parent, std::string_view name) const;
  Result<std::vector<std::pair<std::string, ContainerId>>> children(ContainerId id) const;
  // "web/db"; "." for the host.
  Result<std::string> path_of(ContainerId id) const;
  // The container whose cgroup holds `pid` (host if none of ours).
  Result<ContainerId> container_of_process(pid_t pid) const;
  // The readlink text of a namespace file; ENOENT when inherited (no file).
  Result<std::string> ns_link(ContainerId id, kernel::NsKind kind) const;
  // Member pids (host numbering), init excluded. For the host: every
  // process that is in no container.
  Result<std::vector<pid_t>> members(ContainerId id) const;
  // The cgroup's interface file (cgroup.freeze, ...), read or written.
  Result<std::string> read_cgroup_file(ContainerId id, const std::string& file) const;
  // A caller other than root writes a controller file only below what was
  // delegated to it (the parent container is its own): the limits of the
  // container root delegated to it stay root's, as in cgroupfs delegation.
  Status write_cgroup_file(ContainerId id, const std::string& file, std::string_view text,
                           Caller caller = {}) const;
  // A path that opens the namespace the container's members get for that
  // kind: its own, the one it shares or adopted, or its parent's.
  Result<std::string> effective_ns_path(ContainerId id, kernel::NsKind kind) const;
  // echo 1 > kill: every member (not the init), through cgroup.kill of the
  // members' leaf; returns once they are gone (bounded).
  // A caller other than root kills only what it could kill itself (EPERM).
  Status kill_members(ContainerId id, Caller caller = {}) const;
  // echo 0|1 > freeze: returns once the cgroup reports the state (bounded).
  Status set_frozen(ContainerId id, bool frozen) const;
  // The controller interface files the container's cgroup has now.
  Result<std::vector<std::string>> controller_files(ContainerId id) const;
  // Whether the container's cgroup has that interface file, and its mode.
  Result<mode_t> controller_file_mode(ContainerId id, const std::string& name) const;
  // The `events` text: "populated" of the members (the init is no member),
  // "frozen" of the whole container.
  Result<std::string> events(ContainerId id) const;
  // The container's cgroup directory fd and its members' leaf (valid while
  // the container exists): their cgroup.events feed `events`.
  Result<std::pair<int, int>> events_fds(ContainerId id) const;
  // Any pid in the container's namespaces: its init, or the daemon for the host.
  Result<pid_t> ns_holder(ContainerId id) const;

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
  Result<Entry> begin_entry(ContainerId id);
  size_t size() const;
  // Has another child of the daemon reaped as soon as it exits.
  Status watch_child(pid_t pid, int pidfd) { return reaper_->watch(pid, pidfd); }
  // The container whose init `pid` is, if any (the daemon counts as the
  // host's).
  std::optional<ContainerId> container_of_init(pid_t pid) const;

  // The cgroup move of a process (host pid) joining a container: into its
  // members' cgroup; for the host, back into the cgroup the process had
  // before it first entered a container (none if it is not in one). The
  // injector process writes it (kernel/injector_process.hpp).
  struct CgroupMove {
    UniqueFd join;        // the cgroup directory to join (invalid: stay)
    UniqueFd undo;        // the one it leaves, to put it back
    std::string leaving;  // that one's path below the cgroup2 mount
  };
  Result<CgroupMove> plan_cgroup_move(ContainerId id, pid_t pid) const;
  // Records that the move was made: where a process came from when it first
  // entered a container, for the host's tasks file to take it home.
  void note_cgroup_move(ContainerId id, pid_t pid, const std::string& leaving);

  // Namespace composition. Each refuses with EBUSY while the container has
  // members or child containers, or while another container shares the
  // namespace being replaced; the host's namespaces are fixed (EPERM).
  // ln -s TARGET C/<kind>: share another container's namespace (target in
  // the tree) or adopt one from outside (root only; EPERM otherwise).
  // `caller_pid`: /proc/self and /proc/thread-self in an adopted path are
  // the caller's (the daemon opens the path, not the caller).
  Status link_namespace(ContainerId id, kernel::NsKind kind, std::string_view target, uid_t caller,
                        pid_t caller_pid = 0);
  // rm C/<kind>: inherit the parent's again.
  Status unlink_namespace(ContainerId id, kernel::NsKind kind);
  // touch C/<kind>: a fresh one of its own.
  Status fresh_namespace(ContainerId id, kernel::NsKind kind);
  // echo "monotonic S N" > C/timens_offsets: the container's own time
  // namespace is made anew with these offsets (as /proc/PID/timens_offsets,
  // possible only before its first member; EBUSY after).
  Status set_time_offsets(ContainerId id, std::string_view offsets);

  // Symlinks under other names in a container directory (ln -sf's
  // temporaries): made, read, removed, or renamed over a namespace file.
  Result<int> add_pending_link(ContainerId id, std::string_view name, std::string_view target);
  Result<int> find_pending_link(ContainerId id, std::string_view name) const;
  Result<std::string> pending_link_target(ContainerId id, int slot) const;
  Status remove_pending_link(ContainerId id, int slot);
  Status commit_pending_link(ContainerId id, int slot, kernel::NsKind kind, uid_t caller,
                             pid_t caller_pid = 0);

  // Before a first member enters a container with a user namespace of its
  // own and no uid/gid map written, the identity map is written so the
  // container stays usable (a process entering would otherwise be nobody).
  Status ensure_user_maps(ContainerId id);
  // The hostname of the container's uts namespace (the init's). Setting it
  // takes one line of at most 64 bytes (EINVAL otherwise).
  Result<std::string> hostname(ContainerId id) const;
  Status set_hostname(ContainerId id, std::string_view name);
  // uid_map / gid_map of the container's user namespace (the init's), as
  // user_namespaces(7) allows: once, with the kernel's errnos. ESRCH if the
  // init ends meanwhile (never the file of a process that reused its pid).
  // A caller other than root writes with its own credentials: the kernel's
  // rules for an unprivileged writer apply (one line mapping its own id).
  Status write_id_map(ContainerId id, FileKind which, std::string_view text, Caller caller = {});

  // mkdir. A non-root caller (in a container delegated to it) gets a
  // container owned by it, with a user namespace of its own owned by its
  // uid (mapping its uid and gid to 0), so that its processes can enter.
  Result<ContainerId> create(ContainerId parent, std::string_view name, Caller caller = {});
  // chown of a container directory: delegates it (root only: EPERM).
  Status set_owner(ContainerId id, uid_t uid, gid_t gid, Caller caller);
  // A caller other than root removes only a container whose every process
  // it could kill itself (EPERM otherwise, nothing changed).
  Status remove(ContainerId parent, std::string_view name, Caller caller = {});
  // Within one parent only (ENOTSUP otherwise); RENAME_NOREPLACE honoured.
  Status rename(ContainerId parent, std::string_view name, ContainerId new_parent,
                std::string_view new_name, unsigned flags);

 private:
  Container* find(ContainerId id) const;
  // The container whose cgroup (or a cgroup below it) `cgroup` is, from its
  // path below the cgroup2 mount; the host if none of ours.
  ContainerId container_of_cgroup_locked(std::string_view cgroup) const;
  std::string effective_path_locked(const Container& c, kernel::NsKind kind) const;
  // Whether c's processes are in a user namespace that uid owns (not the
  // daemon's).
  bool in_user_ns_of_locked(const Container& c, uid_t uid) const;
  Result<std::string> cgroup_path_of(const Container& c) const;
  Status persist(const Container& c) const;
  void on_process_exit(pid_t pid);
  // Kills and removes a container and everything below it (its init died).
  void end_container_locked(Container& c);
  Status load_children(Container& parent);
  // Kills and removes a container cgroup the records do not explain.
  void tear_down_orphan(const kernel::Cgroup& parent, const std::string& name);
  // EPERM unless `caller` could kill every process in the cgroup and below
  // (kill(2)'s rule, asked of the kernel), but `init`: the container's own
  // init goes with the container, whoever may remove it.
  Status check_may_kill_all(const kernel::Cgroup& cgroup, Caller caller, std::string_view what,
                            pid_t init = 0) const;
  // setgroups "deny", then uid_map and gid_map of the init's user namespace
  // mapping 0 to the owner, written as the owner: what the kernel lets an
  // unprivileged owner write itself.
  Status write_owner_maps(pid_t init, uid_t uid, gid_t gid) const;
  // Refusals common to every composition change.
  Status check_composable(const Container& c, int changing_kinds) const;
  // Replaces the init so that it holds exactly `next` (the container has no
  // members). Kept own namespaces keep their identity, except pid.
  // `adopted`: the namespace newly adopted for the changed kind, if any.
  // `renew`: kinds made fresh even if they stay own (CLONE_NEW* mask).
  Status respawn_init(Container& c, const std::array<NsSlot, 8>& next, const UniqueFd& adopted,
                      int renew = 0);
  Status change_namespace(Container& c, kernel::NsKind kind, NsSlot slot, const UniqueFd& adopted);
  // A container by its names from the root; ENOENT.
  Container* find_path(const std::vector<std::string>& names) const;
  std::vector<std::string> names_of(const Container& c) const;
  // Saves the container's stray symlinks (in its record; the host's in an
  // xattr of the daemon's cgroup), and gives them slots again after a load.
  Status persist_links_locked(const Container& c) const;
  void restore_links_locked(Container& c, const std::vector<std::pair<std::string, std::string>>& links);
  // Re-derives `source` of shared slots from their link text (after load).
  void resolve_shares();
  // "web/db" (for a container not yet in its parent's children too).
  std::string path_locked(const Container& c) const;
  // Has the init's command line name the container's path (after a load);
  // _subtree: of every container from `c` down (after mv).
  void retitle_init_locked(const Container& c) const;
  void retitle_subtree_locked(const Container& c) const;

  // EBUSY if the container or one of its ancestors is frozen (cgroup.freeze):
  // a process started inside would stop before it could exec, and whoever
  // waits for it with it. `what` names the operation for the log.
  Status refuse_if_frozen_locked(const Container& c, std::string_view what) const;
  // Whether a container above c (the host's cgroup included) is frozen.
  bool frozen_above_locked(const Container& c) const;

  Config config_;
  // Lock order: mutex_, then freeze_gate_. mutex_ guards the tree (by_id_,
  // every Container in it, next_id_, origins_).
  mutable std::mutex mutex_;
  // Held shared while a process is started inside a container (checked not
  // frozen, then spawned: bounded), exclusively by a freeze write, so that
  // the daemon never freezes a container under a spawn it just allowed.
  mutable std::shared_mutex freeze_gate_;
  std::unordered_map<ContainerId, std::unique_ptr<Container>> by_id_;
  ContainerId next_id_ = 1;
  // Where processes came from before entering a container:
  // pid -> (start time, cgroup path); kept on the daemon's cgroup
  // (state/origins.hpp) so that a restarted daemon knows them too.
  std::unordered_map<pid_t, std::pair<unsigned long long, std::string>> origins_;
  void save_origins_locked();
  // The container's init as it is now, pinned by a pidfd (the daemon for
  // the host).
  struct InitHandle {
    pid_t pid = 0;
    UniqueFd pidfd;
  };
  Result<InitHandle> current_init(ContainerId id) const;
  // op(InitHandle) on the current init, again on the next one if the init
  // was replaced meanwhile (ESRCH).
  template <typename Op>
  auto on_current_init(ContainerId id, Op op) const -> decltype(op(std::declval<InitHandle>()));
  void load_origins_locked();
  std::unique_ptr<kernel::Reaper> reaper_;
};

}  // namespace containerfs::model
