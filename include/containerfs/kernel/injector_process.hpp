// Moving a running process -- every thread of it -- into (or out of) a
// container: a cgroup write plus injected setns(2) calls, carried out by the
// injector process, apart from the daemon.
//
// The mechanism. setns(2) only acts on the calling thread, so the process
// has to make the calls itself. Its threads are seized with ptrace
// (PTRACE_SEIZE + PTRACE_INTERRUPT); once all are stopped, each blocks every
// signal (PTRACE_SETSIGMASK: signals that arrive meanwhile stay pending in
// the kernel, none is merged or loses its siginfo) and executes, at a system
// call instruction of its own,
//     fd = pidfd_open(source); setns(fd, mask); close(fd)
// (or openat("/proc/<pid>/ns/<x>") + setns + close per namespace when the
// source is not visible in its pid namespace). A thread that joins a mount
// namespace makes unshare(CLONE_FS) first when the process has more than one
// thread: setns refuses a filesystem context (cwd, root, umask) shared with
// other threads, so afterwards they no longer share it. Then each thread gets
// its registers and signal mask back, with the kernel's system-call-restart
// semantics, and is detached: an interrupted sleep (nanosleep, read,
// poll...) goes on as if nothing happened, and pending signals are delivered
// as the kernel delivers them. Only the namespaces that differ are joined,
// per thread; a process already in all of them moves without being traced
// (even one that could not be). Joining a mount namespace makes every
// thread's working directory and root that namespace's root; on the way
// home they are put back where the process stood before it first entered
// (MoveRequest::place), where those directories still are what they were.
// A pid namespace is entered "for children": the process keeps its pid.
//
// Before anything changes (no thread touched, or every thread stopped and
// nothing injected yet), a move setns would refuse is refused, and a thread
// under seccomp filters has them read (PTRACE_SECCOMP_GET_FILTER) and run,
// as the kernel runs them, on exactly the calls the move would make in it
// (src/kernel/inject/seccomp_check.cpp).
//
// Why a process of its own. The tracer borrows the target's registers for a
// moment: were it killed in the middle (the daemon killed with SIGKILL, or
// restarted by systemd), the kernel would detach the target on borrowed
// registers, and a move could stop halfway (in the container's cgroup with
// the host's namespaces). So the daemon traces nobody itself: it starts a
// helper, "containerfs --injector-service" (comm "containerfs-inj", a child
// of the daemon, its control socket as fd 3), and hands each move over
// whole. Once handed over, a move is carried through or undone by the
// helper, whatever happens to the daemon. ptrace requests must come from
// the thread that attached, so each move runs on one worker thread of the
// helper (a ProcessInjection, src/kernel/inject/process_injection.hpp); a
// thread that never stopped (cgroup v1 freezer) is detached by that
// worker's exit, which is why a worker that ends a move uncleanly ends too.
//
//   daemon                                 injector process
//   [checks; pidfd of the process]
//   begin(move) ─── job socket + fds ───▶  checks; seize every thread,
//                                          interrupt; the pidfd still names it?
//               ◀── prepared (errno) ───
//   proceed     ─────────────────────▶     wait for the stops, judge the
//                                          calls (seccomp); write the pid to
//                                          the new cgroup;
//   [reply to the FUSE write]              inject, restore, detach; on
//               ◀── done (errno) ───────   failure put the cgroup back
//
// A writer moving itself (`echo $$ > web/tasks`) sleeps in FUSE and can only
// stop once its write is answered: it sends proceed_joined instead, is told
// "joined" as soon as it is in the new cgroup, and the rest follows after
// the reply (the helper logs a failure of that part). Such a writer is
// refused up front when under seccomp (its filters could only be judged
// after its write succeeded). A writer seized while it sleeps in FUSE has
// its request interrupted by the kernel (FUSE_INTERRUPT): the tasks-file
// handler ignores that and replies normally.
//
// The job's socket closing before "proceed" (the daemon died, or the
// ticket was dropped) cancels the move: nothing was changed but the seize,
// and the threads are detached untouched. So does no proceed within 30 s
// (then "done" ECANCELED is sent). The helper ignores SIGTERM, SIGINT and
// SIGHUP, holds no fd of the daemon but its sockets (not /dev/fuse, not the
// cgroup lock: a restarted daemon mounts at once), and exits once the
// daemon's end of the control socket is closed and its jobs are over (each
// is bounded: 30 s for the proceed, 2 s for the stops, 1 s per injected
// call). Only a SIGKILL aimed at the helper itself, between "joined" and the
// end of the injection, can still leave a target half moved or with
// borrowed registers. If the helper has died, the next begin() starts one.
//
// Errors are errno values; on every refusal the process is untouched (not
// traced, not stopped, registers, memory, signal mask, namespaces and cgroup
// as they were):
//   EINVAL   a kernel thread; the daemon or an injector process; the init of
//            a pid namespace; a 32-bit process; an io_uring worker thread
//            (iou-wrk-N, iou-sqp-N: it never returns to user space to run a
//            call); with more than one thread: a user or time namespace
//            (setns refuses), or another pid namespace (the kernel would
//            refuse every later thread); a mask bit that is not CLONE_NEW*.
//   ESRCH    no such process (or it exited meanwhile).
//   EBUSY    already traced by someone else; a thread that did not stop
//            within 2 s (frozen by the cgroup v1 freezer, an uninterruptible
//            sleep) or could not run the injected call (cgroup v2 freeze).
//   EPERM    a thread's seccomp filters would not let a call of the move
//            through, or cannot be read (the helper is under seccomp);
//            seccomp strict mode; a writer under seccomp moving itself;
//            ptrace not permitted (Yama, an LSM, a requester who may not
//            trace it); setns would be refused (no CAP_SYS_ADMIN over the
//            namespaces).
//   EOPNOTSUPP the source's namespaces are not reachable from inside the
//            target (the source is invisible in its pid namespace and its
//            /proc does not show the daemon's pids).
//   ETIMEDOUT the helper did not answer within the bound; EPIPE it died.
//   anything else setns(2), pidfd_open(2) or ptrace(2) returned.
// If setns fails in a thread after others were moved (only possible when
// something the checks cannot see, such as an LSM, refuses one thread), the
// error is returned and logged; the moved threads stay moved.
//
// Integration constraints on the daemon: the helper is its child, reaped by
// the daemon's reaper (kernel/reaper.hpp) or here when found dead, whichever
// comes first; the daemon traces nothing itself, so its reaper's
// waitid(P_ALL, WEXITED) takes nothing from anyone.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "containerfs/kernel/pidfd.hpp"
#include "containerfs/kernel/process_place.hpp"
#include "containerfs/util/fd.hpp"
#include "containerfs/util/result.hpp"

namespace containerfs::kernel {

// Who asked for a move, when that is not root: the process is checked and
// seized with these ids, so that the kernel's own ptrace access check
// decides whether the requester may move it (its own processes only, in the
// kernel's sense: real, effective and saved ids its own, dumpable, no
// capabilities beyond its own). EPERM otherwise, the process untouched.
struct Requester {
  uid_t uid = 0;
  gid_t gid = 0;
};

// One move: `pid` (a process, host pid) joins the `nstypes` namespaces of
// `ns_source_pid` and, if `join_cgroup` is open, the cgroup v2 directory it
// names; if the move fails or is cancelled after that, the pid is written to
// `undo_cgroup` (the cgroup it left). If `pidfd` is open (a pidfd of the
// process opened before the daemon checked who may move it), the move is
// refused with ESRCH unless that very process is the one seized: a pid
// reused in between is never moved.
struct MoveRequest {
  pid_t pid = 0;
  pid_t ns_source_pid = 0;
  int nstypes = 0;
  UniqueFd join_cgroup;
  UniqueFd undo_cgroup;
  Pidfd pidfd;
  // Not root: the process is seized with the requester's credentials, so
  // the kernel decides whether it may (EPERM, process untouched).
  std::optional<Requester> requester;
  // Where each thread that joins a mount namespace is put back (its working
  // directory and root as they were before the process first entered a
  // container), if those directories still are what they were.
  std::optional<ProcessPlace> place;
};

// A move between its two phases (see the diagram above). Dropping it before
// finish()/proceed_detached() cancels the move.
class MoveTicket {
 public:
  MoveTicket() = default;
  MoveTicket(UniqueFd job, std::chrono::milliseconds timeout)
      : job_(std::move(job)), timeout_(timeout) {}

  // Phase 2, waiting for the outcome: 0 or errno; ETIMEDOUT past the
  // bound (the move may still end either way), EPIPE if the injector
  // process died.
  Status finish();
  // Phase 2 for a writer moving itself: returns once the process is in its
  // new cgroup (or with the errno why not); the injection follows as soon as
  // the writer stops, which it can only do once its write is answered. The
  // injector process logs a failure of that part.
  Status proceed_detached();

 private:
  UniqueFd job_;
  std::chrono::milliseconds timeout_{0};
};

class InjectorProcess {
 public:
  struct Options {
    std::string program = "/proc/self/exe";  // the daemon's own binary
    bool syslog = false;                    // the helper logs where the daemon does
    std::chrono::milliseconds wait_timeout{10000};  // backstop for each reply
  };

  explicit InjectorProcess(Options options);
  // Closes the control socket and waits (bounded) for the helper to finish
  // its jobs and exit; reaps it.
  ~InjectorProcess();
  InjectorProcess(const InjectorProcess&) = delete;
  InjectorProcess& operator=(const InjectorProcess&) = delete;

  // Phase 1: the request is handed over; returns once every thread of the
  // process is seized (or with the errno of the refusal, the process
  // untouched). Thread-safe.
  Result<MoveTicket> begin(MoveRequest request);
  // begin() + finish(). Not for a writer's own pid while its write is pending.
  Status run(MoveRequest request);

  // The helper's pid (0 if none is running). For tests and logs.
  pid_t pid() const { return pid_.load(); }

 private:
  Status ensure_running_locked();
  void stop_locked();

  Options options_;
  std::mutex mutex_;
  UniqueFd control_;
  Pidfd pidfd_;
  std::atomic<pid_t> pid_{0};
};

// How the daemon's binary is started as the helper: argv[1], then
// "--syslog" if it logs there; the control socket is its fd 3.
inline constexpr std::string_view kInjectorServiceFlag{"--injector-service"};
inline constexpr std::string_view kInjectorSyslogFlag{"--syslog"};
inline constexpr int kInjectorControlFd = 3;
// The helper's command line (argv[0] and argv[1], NUL-terminated), as
// /proc/PID/cmdline shows it.
inline constexpr std::string_view kInjectorCommandLine{"containerfs-injector\0--injector-service\0", 40};

// The helper's main: serves moves sent on `control_fd` until it is closed;
// logs to syslog if `syslog`, to stderr otherwise.
// Returns the process exit code.
int run_injector_service(int control_fd, bool syslog);

}  // namespace containerfs::kernel
