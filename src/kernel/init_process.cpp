#include "containerfs/kernel/init_process.hpp"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <poll.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <memory>

#include <fmt/format.h>

#include "containerfs/kernel/child_status.hpp"
#include "containerfs/kernel/init_title.hpp"
#include "containerfs/kernel/namespaces.hpp"
#include "containerfs/kernel/pidfd.hpp"
#include "containerfs/kernel/reaper.hpp"
#include "containerfs/kernel/root_fs.hpp"
#include "containerfs/util/file_io.hpp"
#include "containerfs/util/log.hpp"

namespace containerfs::kernel {

namespace {

// Everything the child needs, prepared by the parent: the child shares the
// parent's memory (CLONE_VM) and may only make system calls.
struct ChildPlan {
  int cgroup_procs_fd = -1;  // the container's cgroup: born there
  int leaf_procs_fd = -1;    // the init's leaf: moved there once set up
  std::array<int, 8> join_fds{};  // namespaces to join, user last
  std::array<int, 8> join_types{};
  int join_count = 0;
  int unshare_flags = 0;
  bool fresh_mount = false;
  bool double_fork = false;  // pid 1 must be a grandchild (user namespace)
  int status_sock = -1;      // SEQPACKET: an errno, or the grandchild's pidfd
  const char* hostname = nullptr;
  const char* time_offsets = nullptr;  // for a fresh time namespace
  size_t time_offsets_len = 0;
  size_t hostname_len = 0;
  std::vector<const char*> detach;
  // The init program, opened beforehand: a root of the container's own
  // (root_fs.hpp) does not hold it.
  int init_fd = -1;
  char* const* argv = nullptr;
  char* const* envp = nullptr;
  // The only descriptors the child keeps (ascending): it closes every
  // other one first thing, so that a child that never gets to exec (a
  // frozen cgroup stops it) holds nothing of the daemon's: not /dev/fuse,
  // not the flock of its cgroup directory.
  std::array<int, 16> keep{};
  int keep_count = 0;
  bool in_leaf = false;  // already moved into the init's leaf
  int root_tree_fd = -1;  // the root file system to enter (root_fs.hpp)
  std::vector<const char*> detach_in_root;  // containerfs mounts inside it
  bool own_proc = false;
  bool root_inside = false;  // become root of a joined user namespace
  bool user_join_as_owner = false;  // the user namespace is joined after drop_to_owner
  uid_t owner_uid = 0;
  gid_t owner_gid = 0;
};

[[noreturn]] void child_fail(ChildPlan* plan, int err) {
  send_child_errno(plan->status_sock, err);
  ::_exit(127);
}

// Closes every descriptor but plan->keep (raw system calls only: the child
// may share the daemon's memory).
void close_all_but_kept(const ChildPlan* plan) {
  unsigned first = 0;
  for (int i = 0; i < plan->keep_count; ++i) {
    auto fd = static_cast<unsigned>(plan->keep[i]);
    if (fd > first) ::syscall(SYS_close_range, first, fd - 1, 0U);
    first = fd + 1;
  }
  ::syscall(SYS_close_range, first, ~0U, 0U);
}

// The path an open descriptor names (in the daemon's mount namespace).
Result<std::string> fd_path(int fd) {
  char buf[4096];
  ssize_t n = ::readlink(fmt::format("/proc/self/fd/{}", fd).c_str(), buf, sizeof buf);
  if (n < 0) return fail_errno();
  return std::string(buf, static_cast<size_t>(n));
}

// The pid of a pidfd as the daemon's pid namespace sees it.
Result<pid_t> pid_of_pidfd(int pidfd) {
  auto text = read_file(fmt::format("/proc/self/fdinfo/{}", pidfd));
  if (!text) return fail(text.error());
  auto pos = text->find("\nPid:");
  if (pos == std::string::npos) return fail(EIO);
  pid_t pid = static_cast<pid_t>(std::strtol(text->c_str() + pos + 5, nullptr, 10));
  if (pid <= 0) return fail(ESRCH);
  return pid;
}

void log_abandoned(pid_t pid) {
  log::error("spawning an init: child {} did not end within {} ms of SIGKILL; left behind", pid,
             kChildStepBound.count());
}

[[noreturn]] void become_init(ChildPlan* plan) {
  // After the cgroup namespace was made (rooted at the container's cgroup):
  // the init then lives in its leaf, members see themselves in "/tasks".
  if (!plan->in_leaf && ::write(plan->leaf_procs_fd, "0", 1) != 1) child_fail(plan, errno);
  if (plan->fresh_mount) {
    // As unshare(1): nothing done inside leaks out through propagation.
    ::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr);
    for (const char* m : plan->detach) ::umount2(m, MNT_DETACH);
  }
  if (plan->root_tree_fd >= 0) {
    int err = enter_root_fs(plan->root_tree_fd, plan->detach_in_root.data(),
                            static_cast<int>(plan->detach_in_root.size()));
    if (err) child_fail(plan, err);
  } else if (plan->own_proc) {
    if (int err = mount_own_proc()) child_fail(plan, err);
  }
  if (plan->hostname && ::sethostname(plan->hostname, plan->hostname_len) != 0)
    child_fail(plan, errno);
  ::syscall(SYS_close_range, 3U, ~0U, CLOSE_RANGE_CLOEXEC);
  ::syscall(SYS_execveat, plan->init_fd, "", plan->argv, plan->envp, AT_EMPTY_PATH);
  child_fail(plan, errno);
}

// For a delegated container: what needs root is done now — the move into
// the init's leaf (cgroup.procs is root's), a private copy of the mount
// namespace without containerfs mounts (once copied into a less privileged
// namespace they could not be unmounted) — then the credentials become the
// owner's, so that the user namespace made next is the owner's.
void private_mounts_without_containerfs(ChildPlan* plan) {
  if (::unshare(CLONE_NEWNS) != 0) child_fail(plan, errno);
  ::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr);
  for (const char* m : plan->detach) ::umount2(m, MNT_DETACH);
}

void drop_to_owner(ChildPlan* plan) {
  if (::write(plan->leaf_procs_fd, "0", 1) != 1) child_fail(plan, errno);
  plan->in_leaf = true;
  if (plan->fresh_mount) private_mounts_without_containerfs(plan);
  // Raw system calls: glibc's set*id would try to signal the daemon's
  // other threads, which do not exist in this copy.
  if (::syscall(SYS_setgroups, 0, nullptr) != 0 ||
      ::syscall(SYS_setresgid, plan->owner_gid, plan->owner_gid, plan->owner_gid) != 0 ||
      ::syscall(SYS_setresuid, plan->owner_uid, plan->owner_uid, plan->owner_uid) != 0)
    child_fail(plan, errno);
}

int child_main(void* arg) {
  auto* plan = static_cast<ChildPlan*>(arg);
  // Every signal blocked from here through the exec (the mask is kept):
  // the init waits for its signals blocked, and one that came before it
  // blocked them itself would be dropped (a pid namespace's init ignores
  // signals it has no handler for), such as the daemon's console request.
  const unsigned long all = ~0ul;
  ::syscall(SYS_rt_sigprocmask, SIG_SETMASK, &all, nullptr, sizeof all);
  close_all_but_kept(plan);
  // Through the container's cgroup, so that a fresh cgroup namespace is
  // rooted there; once controllers are enabled for its children it takes
  // no process (EBUSY), and the namespace is rooted at the init's leaf.
  if (::write(plan->cgroup_procs_fd, "0", 1) != 1 &&
      (errno != EBUSY || ::write(plan->leaf_procs_fd, "0", 1) != 1))
    child_fail(plan, errno);
  int owners_user = -1;
  for (int i = 0; i < plan->join_count; ++i) {
    if (plan->user_join_as_owner && plan->join_types[i] == CLONE_NEWUSER) {
      owners_user = i;
      continue;
    }
    if (::setns(plan->join_fds[i], plan->join_types[i]) != 0) child_fail(plan, errno);
  }
  if (plan->root_inside) {
    // A joined user namespace's root: files the init makes (a root file
    // system's /dev) need ids mapped there. Raw calls, as in drop_to_owner.
    if (::syscall(SYS_setresgid, 0, 0, 0) != 0 || ::syscall(SYS_setresuid, 0, 0, 0) != 0) child_fail(plan, errno);
  }
  if (plan->owner_uid != 0) {
    drop_to_owner(plan);
    // With the owner's credentials and none of root's: the kernel lets the
    // owner of a user namespace in, as it would let the owner's own process.
    if (owners_user >= 0 && ::setns(plan->join_fds[owners_user], CLONE_NEWUSER) != 0)
      child_fail(plan, errno);
  } else if (plan->fresh_mount && (plan->unshare_flags & CLONE_NEWUSER)) {
    // Mounts copied into a namespace of a new user namespace are locked
    // and could not be detached there: clean a private copy first, as root.
    private_mounts_without_containerfs(plan);
  }
  if (plan->unshare_flags && ::unshare(plan->unshare_flags) != 0) child_fail(plan, errno);
  if (plan->time_offsets) {
    // Only possible before any process is in the new time namespace: the
    // exec of the init is what enters it.
    int fd = ::open("/proc/self/timens_offsets", O_WRONLY | O_CLOEXEC);
    if (fd < 0) child_fail(plan, errno);
    if (::write(fd, plan->time_offsets, plan->time_offsets_len) < 0) child_fail(plan, errno);
    ::close(fd);
  }
  if (!plan->double_fork) become_init(plan);
  // The raw system call: glibc's fork() runs atfork handlers and takes
  // locks that another thread of the daemon may have held at clone time.
  pid_t grandchild = static_cast<pid_t>(::syscall(SYS_clone, SIGCHLD, 0, 0, 0, 0));
  if (grandchild < 0) child_fail(plan, errno);
  if (grandchild == 0) become_init(plan);
  auto pidfd = Pidfd::open(grandchild);
  if (!pidfd) child_fail(plan, pidfd.error());
  send_child_fd(plan->status_sock, pidfd->get());
  ::_exit(0);
}

}  // namespace

Result<InitProcess> spawn_init(const InitSpec& spec) {
  ChildPlan plan;
  auto procs = open_at(spec.cgroup->fd(), "cgroup.procs", O_WRONLY);
  if (!procs) return fail(procs.error());
  plan.cgroup_procs_fd = procs->get();
  auto leaf_procs = open_at(spec.leaf->fd(), "cgroup.procs", O_WRONLY);
  if (!leaf_procs) return fail(leaf_procs.error());
  plan.leaf_procs_fd = leaf_procs->get();

  // The user namespace is joined last: the others are joined with the
  // daemon's full capabilities (which reach every descendant user
  // namespace), and the fresh ones are then made under the joined user
  // namespace. Namespaces the daemon is in already are skipped.
  std::vector<UniqueFd> join_fds;
  bool joins_user = false;
  auto ordered = spec.join;
  std::stable_partition(ordered.begin(), ordered.end(),
                        [](const auto& j) { return j.first != NsKind::user; });
  for (const auto& [kind, path] : ordered) {
    if (kind == NsKind::pid) return fail(EINVAL);  // pid: spec.pid_parent
    auto fd = open_at(AT_FDCWD, path, O_RDONLY);
    if (!fd) return fail(fd.error());
    auto theirs = ns_id_of_fd(fd->get());
    auto mine = ns_id_of_path(ns_proc_path(::getpid(), kind));
    if (!theirs) return fail(theirs.error());
    if (mine && *mine == *theirs) continue;
    if (plan.join_count == static_cast<int>(plan.join_fds.size())) return fail(EINVAL);
    plan.join_fds[plan.join_count] = fd->get();
    plan.join_types[plan.join_count] = ns_clone_flag(kind);
    ++plan.join_count;
    if (kind == NsKind::user) joins_user = true;
    join_fds.push_back(std::move(*fd));
  }

  // Born in another pid namespace than the daemon's?
  std::string pid_parent;
  if (!spec.pid_parent.empty()) {
    auto theirs = ns_id_of_path(spec.pid_parent);
    auto mine = ns_id_of_path(ns_proc_path(::getpid(), NsKind::pid));
    if (!theirs) return fail(theirs.error());
    if (!(mine && *mine == *theirs)) pid_parent = spec.pid_parent;
  }

  bool fresh_user = spec.fresh & CLONE_NEWUSER;
  // An owner's init is in a user namespace of the owner's: a fresh one, or
  // one it joins as the owner; never in the daemon's.
  if (spec.owner_uid != 0 && !fresh_user && !joins_user) return fail(EINVAL);
  plan.owner_uid = spec.owner_uid;
  plan.owner_gid = spec.owner_gid;
  plan.user_join_as_owner = spec.owner_uid != 0 && !fresh_user;
  // A new pid namespace is made a child of the creator's *active* one
  // (setns only changes the one for children), so a nested container's init
  // is made by an intermediate born in the parent container.
  bool nested_pid = !pid_parent.empty() && (spec.fresh & CLONE_NEWPID);
  plan.double_fork = fresh_user || joins_user || nested_pid;
  // Only where it sets a root up: elsewhere an init is as it always was.
  plan.root_inside = joins_user && !fresh_user && spec.root_fd >= 0;
  int clone_flags = CLONE_PIDFD | SIGCHLD;
  if (plan.double_fork) {
    // A user namespace cannot be joined or created by a process sharing
    // its memory; the pid namespace then comes from unshare, and pid 1 is
    // the grandchild.
    plan.unshare_flags = spec.fresh;
  } else {
    // Shares the daemon's memory until it execs (no copy of the daemon);
    // no CLONE_VFORK, whose wait has no bound: the status socket says when
    // the exec is done.
    clone_flags |= CLONE_VM | (spec.fresh & CLONE_NEWPID);
    plan.unshare_flags = spec.fresh & ~CLONE_NEWPID;
  }
  plan.fresh_mount = spec.fresh & CLONE_NEWNS;
  if (spec.fresh & CLONE_NEWUTS) {
    plan.hostname = spec.hostname.c_str();
    plan.hostname_len = spec.hostname.size();
  }
  for (auto& m : spec.detach_mounts) plan.detach.push_back(m.c_str());
  plan.own_proc = spec.own_proc;
  UniqueFd root_tree;
  std::vector<std::string> inside_root;
  if (spec.root_fd >= 0) {
    if (!plan.fresh_mount) return fail(EINVAL);
    auto tree = clone_root_tree(spec.root_fd);
    if (!tree) return fail(tree.error());
    root_tree = std::move(*tree);
    auto where = fd_path(spec.root_fd);
    if (!where) return fail(where.error());
    inside_root = mounts_inside(*where, spec.detach_mounts);
    for (auto& m : inside_root) plan.detach_in_root.push_back(m.c_str());
    plan.root_tree_fd = root_tree.get();
  }
  if ((spec.fresh & CLONE_NEWTIME) && !spec.time_offsets.empty()) {
    plan.time_offsets = spec.time_offsets.c_str();
    plan.time_offsets_len = spec.time_offsets.size();
  }

  auto program = open_at(AT_FDCWD, spec.init_path, O_PATH);
  if (!program) return fail(program.error());
  plan.init_fd = program->get();

  // The status socket: an errno if the child (or the grandchild) fails, the
  // grandchild's pidfd from an intermediate, end of file once every writer
  // has exec'd or exited.
  UniqueFd status_read, status_write;
  {
    int sv[2];
    if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) return fail_errno();
    status_read.reset(sv[0]);
    status_write.reset(sv[1]);
    plan.status_sock = sv[1];
  }
  for (int fd : {plan.cgroup_procs_fd, plan.leaf_procs_fd, plan.status_sock}) plan.keep[plan.keep_count++] = fd;
  for (int i = 0; i < plan.join_count; ++i) plan.keep[plan.keep_count++] = plan.join_fds[i];
  if (root_tree) plan.keep[plan.keep_count++] = root_tree.get();
  plan.keep[plan.keep_count++] = program->get();
  std::sort(plan.keep.begin(), plan.keep.begin() + plan.keep_count);

  std::string argv0(kInitArgv0);
  auto title = init_title_args(spec.title);  // "containerfs-init web/db" (kernel/init_title.hpp)
  char* argv[] = {argv0.data(), title.path.data(), nullptr};
  char* envp[] = {title.room.data(), nullptr};
  plan.argv = argv;
  plan.envp = envp;

  std::optional<ThreadNsVisit> pid_guard;
  if (!pid_parent.empty()) {
    auto guard = ThreadNsVisit::enter(pid_parent, NsKind::pid);
    if (!guard) return fail(guard.error());
    pid_guard.emplace(std::move(*guard));
  }

  constexpr size_t kStack = 64 * 1024;
  auto stack = std::make_unique<char[]>(kStack);
  int pidfd = -1;
  pid_t pid = ::clone(child_main, stack.get() + kStack, clone_flags, &plan, &pidfd);
  if (pid < 0) return fail_errno();
  pid_guard.reset();
  status_write.reset();
  InitProcess child{pid, UniqueFd(pidfd)};

  if (!plan.double_fork) {
    // The child runs on `stack` in the daemon's memory until it execs: it
    // is waited for (bounded), never abandoned while it might still run.
    auto status = next_child_status(status_read.get(), nullptr);
    if (status && *status < 0 && !has_exited(child.pidfd.get())) return child;  // exec'd
    int err = !status ? status.error() : *status > 0 ? *status : ECHILD;
    if (!kill_and_reap(child.pidfd.get())) {
      (void)stack.release();  // it may still use it: leaked rather than reused
      log_abandoned(pid);
    }
    return fail(err);
  }

  // The intermediate is reaped whatever happens (killed first on failure);
  // so is a grandchild that is not handed out.
  UniqueFd grandchild;
  bool handed_out = false;
  struct Cleanup {
    const UniqueFd& intermediate;
    const UniqueFd& grandchild;
    bool& handed_out;
    ~Cleanup() {
      if (!handed_out && grandchild) (void)Pidfd::send_signal(grandchild.get(), SIGKILL);
      if (handed_out) {
        pollfd pfd{intermediate.get(), POLLIN, 0};
        if (::poll(&pfd, 1, static_cast<int>(kChildStepBound.count())) > 0) {
          (void)reap_pidfd(intermediate.get(), true);
          return;
        }
      }
      if (!kill_and_reap(intermediate.get())) log_abandoned(-1);
      // Orphaned by the intermediate, a killed grandchild is the daemon's.
      if (!handed_out && grandchild) (void)kill_and_reap(grandchild.get());
    }
  } cleanup{child.pidfd, grandchild, handed_out};
  auto first = next_child_status(status_read.get(), &grandchild);
  if (!first) return fail(first.error());
  if (*first > 0) return fail(*first);
  if (*first < 0 || !grandchild) return fail(EIO);
  // End of file once the grandchild has exec'd; an errno if it failed before.
  auto second = next_child_status(status_read.get(), nullptr);
  if (!second) return fail(second.error());
  if (*second > 0) return fail(*second);
  auto gpid = pid_of_pidfd(grandchild.get());
  if (!gpid) return fail(gpid.error());
  if (has_exited(grandchild.get())) return fail(ECHILD);
  handed_out = true;
  return InitProcess{*gpid, std::move(grandchild)};
}

Result<unsigned long long> process_start_time(pid_t pid) {
  auto text = read_file(fmt::format("/proc/{}/stat", pid));
  if (!text) return fail(text.error());
  auto close = text->rfind(')');
  if (close == std::string::npos) return fail(EINVAL);
  // Fields after "comm)": state is field 3; starttime is field 22.
  size_t pos = close + 2;
  for (int field = 3; field < 22; ++field) {
    pos = text->find(' ', pos);
    if (pos == std::string::npos) return fail(EINVAL);
    ++pos;
  }
  return std::strtoull(text->c_str() + pos, nullptr, 10);
}

}  // namespace containerfs::kernel
