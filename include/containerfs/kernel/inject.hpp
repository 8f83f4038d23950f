// Moving a running process — every thread — into other namespaces.
//
// setns(2) only acts on the calling thread, so the process has to call it
// itself. The Injector attaches to every thread with ptrace (PTRACE_SEIZE +
// PTRACE_INTERRUPT), and once all of them are stopped makes each one execute
//     fd = pidfd_open(source); setns(fd, mask); close(fd)
// (or, when the source is not visible in the target's pid namespace,
// openat("/proc/<pid>/ns/<x>") + setns + close per namespace) at a system
// call instruction, restores its registers with the kernel's syscall-restart
// semantics and detaches. An interrupted sleep (nanosleep, read, poll...)
// continues as if nothing happened; signals that arrive meanwhile are
// delivered afterwards with their original siginfo.
//
// Only the namespaces that differ are joined, per thread; a process already
// in all of them succeeds without being traced at all (even one that could
// not be: traced, in seccomp strict mode).
//
// A thread under seccomp filters is moved only if its filters would let
// through every system call the move makes in it: once every thread is
// stopped, each one's filters are read (PTRACE_SECCOMP_GET_FILTER) and run,
// as the kernel runs them, on those calls -- numbers, arguments, the native
// architecture, the instruction pointer they are made from -- before any
// is made (see src/kernel/inject/seccomp_check.cpp). Joining a mount namespace makes the
// process's root and working directory the root of that namespace (setns(2)
// semantics). A pid namespace is only ever entered "for children": the
// process keeps its pid, its new children are born inside.
//
// Errors are positive errno values; on every refusal the process is
// untouched (never traced, never stopped, registers and memory unchanged):
//   EINVAL   pid <= 0, source <= 0, a mask bit that is not CLONE_NEW*;
//            a kernel thread; the calling process itself; the init of a pid
//            namespace; a 32-bit process; user, mount or time namespace for a
//            multi-threaded process (setns refuses them for such callers).
//   ESRCH    no such process (or it exited during the operation).
//   EBUSY    already traced by someone else; or a thread did not stop within
//            InjectorOptions::stop_timeout (e.g. frozen by the cgroup v1
//            freezer, or blocked uninterruptibly), or could not run the
//            injected call (cgroup v2 freeze).
//   EPERM    a thread's seccomp filters would not let a call of the move
//            through (an errno, a kill, a trap, a tracer's or a user
//            notifier's turn), or cannot be read (the tracer itself is
//            under seccomp); seccomp strict mode; ptrace not permitted
//            (Yama ptrace_scope, an LSM); setns itself refused in the target
//            (it lacks CAP_SYS_ADMIN in the relevant user ns).
//   EOPNOTSUPP the source's namespaces are not reachable from inside the
//            target (the source is invisible in its pid namespace and its
//            /proc does not show the daemon's pids).
//   anything else setns(2), pidfd_open(2) or ptrace(2) returned.
// If setns fails in one thread after others were moved (only possible when
// threads of one process have different credentials), the error is returned
// and logged; the moved threads stay moved.
//
// The daemon does not trace from its own process: its injector process
// (injector_process.hpp) runs a ProcessInjection per move on a worker thread
// of its own, as the Injector below does on its tracer threads, so that the
// daemon's death never cuts an injection short. The Injector is the in-process form of the same
// engine, for a program that traces from its own process (and the tests).
//
// Two-phase protocol, for the FUSE write of a pid to a tasks file — the
// writer may be the target itself (`echo $$ > web/tasks`):
//   auto ticket = injector.begin(req);  // 1: every thread seized, interrupt
//                                       //    queued; nothing waited for
//   reply_to_fuse_write(...);           //    the writer can now stop
//   ticket->proceed_detached();         // 2: wait for the stops, inject,
//                                       //    detach; the result is logged
// Waiting for the stop before replying would deadlock (the writer sleeps in
// FUSE, not interruptibly); replying before seizing would let the writer run
// on. When the writer is not the target, `injector.run(req)` does it all.
//
// ptrace requests must come from the thread that attached, so every
// operation runs on a tracer thread owned by the Injector: one per operation,
// alive from begin() until the operation ends. (One thread per operation, not
// one for the Injector, because a thread that never stops — cgroup v1 freezer
// — can only be detached by its tracer thread exiting, and because pending
// tickets must not hold up each other.) Whatever could not be detached
// explicitly is detached by the kernel when that thread exits; finish() and
// a failing begin() return only after that.
//
// Integration constraints:
// - A writer seized while it sleeps in FUSE has the request interrupted by
//   the kernel (the ptrace interrupt looks like a signal): libfuse receives
//   FUSE_INTERRUPT for that write. The tasks-file handler must ignore it
//   (not check fuse_req_interrupted()) and reply normally.
// - Tracees are waited for with waitid(P_PID, tid) on the tracer thread, and
//   their stops are reported to the whole daemon process. Any other thread of
//   the daemon calling waitpid(-1)/wait() (or waitid(P_ALL)) can steal those
//   reports — reap own children by pid or pidfd (or pass __WNOTHREAD). Exits
//   of tracees are never reaped by the Injector. The daemon also receives
//   SIGCHLD for tracee stops; it must not take it for the exit of a child.
// - The same pid twice in one operation batch: the second begin() finds it
//   traced (by the first) and gets EBUSY; deduplicate first.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string_view>
#include <vector>

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

struct InjectRequest {
  InjectRequest() = default;
  InjectRequest(pid_t pid_, pid_t ns_source_pid_, int nstypes_, std::optional<Requester> requester_ = {})
      : pid(pid_), ns_source_pid(ns_source_pid_), nstypes(nstypes_), requester(requester_) {}
  pid_t pid = 0;            // the process to move; a thread id stands for its process
  pid_t ns_source_pid = 0;  // a process in the namespaces to join (the container's init)
  int nstypes = 0;          // CLONE_NEW* mask: which of ns_source_pid's namespaces to join
  std::optional<Requester> requester;  // empty: root asks
};

struct InjectorOptions {
  // After proceed, every thread must reach a ptrace stop within this.
  std::chrono::milliseconds stop_timeout{2000};
  // Each injected system call must complete within this.
  std::chrono::milliseconds syscall_timeout{1000};
  // Upper bound for begin() and Ticket::finish() waiting for the tracer
  // thread (the operation is bounded by the two above; this is a backstop).
  std::chrono::milliseconds wait_timeout{10000};
  // Diagnostics: reasons for refusals, results of detached operations.
  // Default: one line on stderr.
  std::function<void(std::string_view)> log;
};

namespace inject_detail {
struct Session;
struct Shared;
}  // namespace inject_detail

// An operation between its two phases: the target's threads are seized and
// an interrupt is queued for each. Movable, not copyable. Dropping a Ticket
// that was neither finished nor proceeded cancels the operation: the target
// is detached untouched (without waiting for it to stop).
class Ticket {
 public:
  Ticket() = default;
  Ticket(Ticket&&) noexcept;
  Ticket& operator=(Ticket&&) noexcept;
  Ticket(const Ticket&) = delete;
  Ticket& operator=(const Ticket&) = delete;
  ~Ticket();

  // Phase 2, waiting for the result: 0 or errno. Bounded: the tracer gives
  // up after stop_timeout/syscall_timeout; ETIMEDOUT if even the backstop
  // (wait_timeout) passes. Calling it twice returns the same result.
  Status finish();
  // Phase 2 without waiting: the Injector logs the result (failures only) and
  // reaps the tracer thread later. The Ticket becomes empty.
  void proceed_detached();
  // Cancels explicitly (same as dropping it).
  void cancel();

  bool valid() const { return session_ != nullptr; }

 private:
  friend class Injector;
  explicit Ticket(std::shared_ptr<inject_detail::Session> s) : session_(std::move(s)) {}
  std::shared_ptr<inject_detail::Session> session_;
};

class Injector {
 public:
  Injector();
  explicit Injector(InjectorOptions options);
  // Cancels operations still waiting for proceed and joins every tracer
  // thread (each is bounded by the timeouts).
  ~Injector();
  Injector(const Injector&) = delete;
  Injector& operator=(const Injector&) = delete;

  // Phase 1: pre-checks, then every thread of the process seized with an
  // interrupt queued. Returns without waiting for any thread to stop. On
  // error the process is untouched. If the process is already in all the
  // requested namespaces the Ticket finishes with success without ptrace.
  // Thread-safe.
  Result<Ticket> begin(const InjectRequest& request);

  // begin() + finish(). Not for the writer's own pid while its write is
  // pending (see the header comment). Thread-safe.
  Status run(const InjectRequest& request);

 private:
  void reap_finished();

  std::shared_ptr<inject_detail::Shared> shared_;
  std::mutex mutex_;
  std::vector<std::shared_ptr<inject_detail::Session>> sessions_;
};

}  // namespace containerfs::kernel
