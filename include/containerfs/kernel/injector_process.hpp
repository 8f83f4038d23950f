// The injector process: where every move of a process into (or out of) a
// container is carried out, apart from the daemon.
//
// A move is a cgroup write plus injected setns calls in every thread of the
// target (inject.hpp), which borrows the target's registers for a moment. If
// the tracer died in the middle — the daemon killed with SIGKILL, or
// restarted by systemd — the kernel would detach the target with borrowed
// registers (its interrupted system call fails, or it crashes), and a move
// could stop halfway: in the container's cgroup with the host's namespaces.
// So the daemon does not trace anyone itself: it starts a helper,
// "containerfs --injector-service" (comm "containerfs-inj", a child of the
// daemon), and hands each move over whole. Once handed over, a move is
// carried through or undone by the helper whatever happens to the daemon:
//
//   daemon                                 injector process
//   [checks; pidfd of the process]
//   begin(move) ─── job socket + fds ───▶  seize every thread, interrupt;
//                                          the pidfd still names it?
//               ◀── prepared (errno) ───
//   proceed     ─────────────────────▶     write the pid to the new cgroup
//               ◀── joined (errno) ─────   (if asked: a writer moving itself)
//   [reply to the FUSE write]              wait for the stops, inject,
//                                          restore, detach; on failure put
//               ◀── done (errno) ───────   the cgroup back (the daemon may
//                                          be gone by then: logged)
//
// The job's socket closing before "proceed" (the daemon died, or the ticket
// was dropped) cancels the move: nothing was changed but the seize, and the
// threads are detached untouched. So does no proceed within 30 s (then
// "done" ECANCELED is sent). The helper ignores SIGTERM, SIGINT and SIGHUP,
// holds no fd of the daemon but its sockets (not /dev/fuse, not the cgroup
// lock: a restarted daemon mounts at once), and exits once the daemon's end
// of the control socket is closed and its jobs are over (each is bounded:
// 30 s for the proceed, 2 s for the stops, 1 s per injected call). Only a
// SIGKILL aimed at the helper itself, between "joined" and the end of the
// injection, can still leave a target half moved (in the new cgroup, not all
// of its namespaces) or with borrowed registers.
//
// If the helper has died, the next begin() starts a new one.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "containerfs/kernel/inject.hpp"
#include "containerfs/util/fd.hpp"
#include "containerfs/util/result.hpp"

namespace containerfs::kernel {

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
  UniqueFd pidfd;
  // Not root: the process is seized with the requester's credentials, so
  // the kernel decides whether it may (EPERM, process untouched).
  std::optional<Requester> requester;
};

// A move between its two phases (see the diagram above). Dropping it before
// proceed()/finish() cancels the move.
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
    // Called with each helper started (pid, pidfd), e.g. to have it reaped
    // as soon as it exits; it is also reaped here when found dead.
    std::function<void(pid_t, int)> on_start;
  };

  explicit InjectorProcess(Options options);
  // Closes the control socket and waits (bounded) for the helper to finish
  // its jobs and exit; reaps it.
  ~InjectorProcess();
  InjectorProcess(const InjectorProcess&) = delete;
  InjectorProcess& operator=(const InjectorProcess&) = delete;

  // Phase 1: the request is handed over; returns once every thread of the
  // process is seized and it is in the new cgroup (or with the errno of the
  // refusal, the process untouched). Thread-safe.
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
  UniqueFd pidfd_;
  std::atomic<pid_t> pid_{0};
};

// The helper's command line (argv[0] and argv[1], NUL-terminated), as
// /proc/PID/cmdline shows it.
inline constexpr std::string_view kInjectorCommandLine{"containerfs-injector\0--injector-service\0", 40};

// The helper's main: serves moves sent on `control_fd` until it is closed;
// logs to syslog if `syslog`, to stderr otherwise.
// Returns the process exit code.
int run_injector_service(int control_fd, bool syslog);

}  // namespace containerfs::kernel
