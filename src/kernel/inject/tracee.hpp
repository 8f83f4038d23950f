// One thread attached with PTRACE_SEIZE, owned by the tracer thread that
// attached it.
//
// While it is used, the thread blocks every signal (PTRACE_SETSIGMASK at its
// first clean stop, block_signals()): signals that arrive meanwhile stay
// pending in the kernel, as they would while it runs with them blocked, so
// none is taken from it, merged with a later one of its kind or stripped of
// its siginfo (a POSIX timer's overrun count).
//
// RAII: release() (also run by the destructor) restores the registers saved
// at the first stop if they were changed and the signal mask, and detaches,
// handing back a signal the thread was about to receive. A thread that is not in a ptrace stop
// cannot be detached by PTRACE_DETACH; the kernel detaches it when the tracer
// thread exits, which is why every operation runs on its own tracer thread
// that exits at the end. Exits are observed with WNOWAIT and never reaped.
#pragma once

#include <signal.h>
#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <vector>

#include "arch.hpp"
#include "containerfs/kernel/seccomp_filter.hpp"
#include "containerfs/util/result.hpp"

namespace containerfs::kernel::inject_detail {

using Clock = std::chrono::steady_clock;
using Deadline = Clock::time_point;

struct StopEvent {
  enum class Kind {
    none,        // nothing to report yet
    event_stop,  // PTRACE_EVENT_STOP: interrupt (sig SIGTRAP) or group stop (stop signal)
    signal,      // signal-delivery-stop for `sig`
    syscall,     // syscall-entry or -exit stop (PTRACE_O_TRACESYSGOOD)
    other,       // another PTRACE_EVENT_* stop: not a safe place to inject
    exited,
  };
  Kind kind = Kind::none;
  int sig = 0;
};

// Spins briefly, then sleeps with growing pauses (up to 1 ms).
class Backoff {
 public:
  void pause();

 private:
  int round_ = 0;
};

class Tracee {
 public:
  // PTRACE_SEIZE + PTRACE_INTERRUPT; the thread stops whenever it can.
  static Result<Tracee> seize(pid_t tid);

  Tracee(Tracee&& other) noexcept;
  Tracee& operator=(Tracee&&) = delete;
  Tracee(const Tracee&) = delete;
  ~Tracee();

  pid_t tid() const { return tid_; }
  bool stopped() const { return stopped_; }
  bool gone() const { return gone_; }
  const StopEvent& current() const { return current_; }
  // The stop is inside signal delivery (get_signal), where the kernel
  // applies the syscall restart logic itself after we resume.
  bool in_signal_delivery() const {
    return stopped_ && (current_.kind == StopEvent::Kind::event_stop ||
                        current_.kind == StopEvent::Kind::signal);
  }

  // One non-blocking look for a report.
  Result<StopEvent> poll();
  // Polls until a report or the deadline (ETIMEDOUT).
  Result<StopEvent> wait(Deadline deadline);

  // Resumes from the current stop (PTRACE_SYSCALL or PTRACE_CONT). Resuming
  // from a signal-delivery-stop suppresses the signal and keeps its siginfo
  // in intercepted() (only SIGSTOP gets there once signals are blocked).
  Status resume(int request);
  // Resumes from a signal-delivery-stop with the signal delivered, as if
  // nobody were tracing (PTRACE_CONT).
  Status deliver();
  Status interrupt();

  // In a stop: blocks every signal (but SIGKILL and SIGSTOP, which cannot
  // be), keeping the mask it had for release(). Once only.
  Status block_signals();
  bool signals_blocked() const { return saved_mask_.has_value(); }
  // The mask it had before block_signals() (the one a ppoll or sigsuspend
  // in progress will return to).
  std::uint64_t saved_mask() const { return saved_mask_.value_or(0); }

  // In a signal-delivery-stop: its siginfo.
  const siginfo_t& current_siginfo() const { return siginfo_; }
  // Forget the current signal (one our injection caused).
  void drop_current_signal() { drop_signal_ = true; }

  // Its seccomp filters, the first attached first (PTRACE_SECCOMP_GET_FILTER:
  // only in a stop, and only for a tracer with CAP_SYS_ADMIN that is not
  // under seccomp itself, else EACCES).
  Result<std::vector<seccomp::Program>> seccomp_filters() const;

  // The registers at the first stop; later stops change them only through us.
  Result<arch::Regs> original_regs();
  // Call before writing registers: release() then restores the originals.
  void mark_dirty() { dirty_ = true; }
  bool dirty() const { return dirty_; }
  // A signal its mask lets through is pending: the thread passes through
  // signal delivery right after detaching.
  void set_signal_pending() { signal_pending_ = true; }
  void set_compat_insn(bool v) { compat_insn_ = v; }

  std::vector<siginfo_t>& intercepted() { return intercepted_; }

  // Restores (registers, signal mask) and detaches if stopped; idempotent.
  // Errors are returned for logging; the thread is then still detached by
  // the tracer thread's exit.
  Status release();
  // The thread runs (or would run) on injected registers that could not be
  // restored: the owner must kill the process.
  bool unrecoverable() const { return unrecoverable_; }
  // Detached by release() itself (PTRACE_DETACH succeeded): not left to
  // the tracer thread's exit.
  bool detached() const { return detached_; }
  void set_unrecoverable() { unrecoverable_ = true; }

 private:
  explicit Tracee(pid_t tid) : tid_(tid) {}
  Status on_stop(const StopEvent& ev);

  pid_t tid_ = -1;
  bool stopped_ = false;
  bool gone_ = false;
  bool released_ = false;
  bool dirty_ = false;
  bool signal_pending_ = false;
  bool compat_insn_ = false;
  bool drop_signal_ = false;
  bool unrecoverable_ = false;
  bool detached_ = false;
  unsigned idle_polls_ = 0;
  StopEvent current_;
  siginfo_t siginfo_{};
  std::optional<arch::Regs> original_;
  std::optional<std::uint64_t> saved_mask_;
  std::vector<siginfo_t> intercepted_;
};

}  // namespace containerfs::kernel::inject_detail
