#include "tracee.hpp"

#include <sched.h>
#include <sys/ptrace.h>
#include <sys/wait.h>
#include <time.h>

#include <algorithm>
#include <cerrno>
#include <utility>

namespace containerfs::kernel::inject_detail {

void Backoff::pause() {
  // A tracee usually reports within microseconds of being resumed; yield
  // first (it may be waiting for this CPU), then sleep 10 us, 20 us, ... 1 ms.
  if (round_ < 8) {
    ::sched_yield();
  } else {
    long ns = 10'000L << std::min(round_ - 8, 7);
    if (ns > 1'000'000L) ns = 1'000'000L;
    timespec ts{0, ns};
    ::nanosleep(&ts, nullptr);
  }
  ++round_;
}

Result<Tracee> Tracee::seize(pid_t tid) {
  if (::ptrace(PTRACE_SEIZE, tid, nullptr, PTRACE_O_TRACESYSGOOD) != 0) return fail_errno();
  Tracee t(tid);
  if (::ptrace(PTRACE_INTERRUPT, tid, nullptr, nullptr) != 0) {
    // Attached but running: the tracer thread's exit detaches it.
    t.released_ = true;
    return fail_errno();
  }
  return t;
}

Tracee::Tracee(Tracee&& o) noexcept
    : tid_(o.tid_),
      stopped_(o.stopped_),
      gone_(o.gone_),
      released_(o.released_),
      dirty_(o.dirty_),
      signal_pending_(o.signal_pending_),
      compat_insn_(o.compat_insn_),
      drop_signal_(o.drop_signal_),
      unrecoverable_(o.unrecoverable_),
      detached_(o.detached_),
      idle_polls_(o.idle_polls_),
      current_(o.current_),
      siginfo_(o.siginfo_),
      original_(std::move(o.original_)),
      saved_mask_(o.saved_mask_),
      intercepted_(std::move(o.intercepted_)) {
  o.released_ = true;
}

Tracee::~Tracee() { (void)release(); }

Status Tracee::on_stop(const StopEvent& ev) {
  stopped_ = true;
  current_ = ev;
  drop_signal_ = false;
  if (ev.kind == StopEvent::Kind::signal) {
    if (::ptrace(PTRACE_GETSIGINFO, tid_, nullptr, &siginfo_) != 0) return fail_errno();
  }
  return {};
}

Result<StopEvent> Tracee::poll() {
  using K = StopEvent::Kind;
  if (gone_) return StopEvent{K::exited, 0};
  if (stopped_) return current_;
  // A stop report is consumed (WSTOPPED alone never consumes an exit).
  siginfo_t st{};
  if (::waitid(P_PID, static_cast<id_t>(tid_), &st, WSTOPPED | WNOHANG | __WALL) != 0) {
    if (errno == EINTR) return StopEvent{};
    if (errno == ECHILD) {  // no longer ours to wait for: gone
      gone_ = true;
      return StopEvent{K::exited, 0};
    }
    return fail_errno();
  }
  if (st.si_pid == 0 || st.si_code != CLD_TRAPPED) {
    // No stop. Exited? (Asked every 4th time only: stops are what we wait
    // for.) Only peeked at (WNOWAIT): the exit status belongs to the real
    // parent, which may be a thread of this very process.
    if (++idle_polls_ % 4 != 1) return StopEvent{};
    siginfo_t ex{};
    if (::waitid(P_PID, static_cast<id_t>(tid_), &ex, WEXITED | WNOHANG | WNOWAIT | __WALL) != 0) {
      if (errno == EINTR) return StopEvent{};
      if (errno == ECHILD) {
        gone_ = true;
        return StopEvent{K::exited, 0};
      }
      return fail_errno();
    }
    // (Tracees report stops even without WSTOPPED: a stop that came in
    // meanwhile shows here and is consumed next time.)
    if (ex.si_pid != 0 &&
        (ex.si_code == CLD_EXITED || ex.si_code == CLD_KILLED || ex.si_code == CLD_DUMPED)) {
      gone_ = true;
      return StopEvent{K::exited, 0};
    }
    return StopEvent{};
  }
  // si_status is the tracee's exit_code: signal | PTRACE_EVENT_* << 8.
  const int code = st.si_status;
  const int sig = code & 0xff, event = (code >> 8) & 0xff;
  StopEvent ev;
  if (sig == (SIGTRAP | 0x80)) {
    ev = {K::syscall, SIGTRAP};
  } else if (event == PTRACE_EVENT_STOP) {
    ev = {K::event_stop, sig};
  } else if (event != 0) {
    ev = {K::other, sig};
  } else {
    ev = {K::signal, sig};
  }
  if (auto s = on_stop(ev); !s) {
    if (s.error() == ESRCH) {  // killed while we looked
      stopped_ = false;
      return StopEvent{};
    }
    return std::unexpected(s.error());
  }
  return ev;
}

Result<StopEvent> Tracee::wait(Deadline deadline) {
  Backoff backoff;
  while (true) {
    auto ev = poll();
    if (!ev || ev->kind != StopEvent::Kind::none) return ev;
    if (Clock::now() >= deadline) return fail(ETIMEDOUT);
    backoff.pause();
  }
}

Status Tracee::resume(int request) {
  if (!stopped_) return fail(EINVAL);
  if (current_.kind == StopEvent::Kind::signal && !drop_signal_) intercepted_.push_back(siginfo_);
  stopped_ = false;
  drop_signal_ = false;
  if (::ptrace(static_cast<__ptrace_request>(request), tid_, nullptr, nullptr) != 0)
    return fail_errno();
  return {};
}

Status Tracee::deliver() {
  if (!stopped_ || current_.kind != StopEvent::Kind::signal) return fail(EINVAL);
  stopped_ = false;
  if (::ptrace(PTRACE_CONT, tid_, nullptr, reinterpret_cast<void*>(static_cast<long>(current_.sig))) != 0)
    return fail_errno();
  return {};
}

Status Tracee::block_signals() {
  if (!stopped_) return fail(EINVAL);
  if (saved_mask_) return {};
  std::uint64_t mask = 0;  // the kernel's sigset_t: 64 bits on every 64-bit architecture
  if (::ptrace(PTRACE_GETSIGMASK, tid_, sizeof mask, &mask) != 0) return fail_errno();
  const std::uint64_t all = ~std::uint64_t{0};
  if (::ptrace(PTRACE_SETSIGMASK, tid_, sizeof all, &all) != 0) return fail_errno();
  saved_mask_ = mask;
  return {};
}

Status Tracee::interrupt() {
  if (::ptrace(PTRACE_INTERRUPT, tid_, nullptr, nullptr) != 0) return fail_errno();
  return {};
}

Result<arch::Regs> Tracee::original_regs() {
  if (!original_) {
    if (!stopped_ || dirty_) return fail(EINVAL);
    auto r = arch::get_regs(tid_);
    if (!r) return std::unexpected(r.error());
    original_ = *r;
  }
  return *original_;
}

Result<std::vector<seccomp::Program>> Tracee::seccomp_filters() const {
  if (!stopped_) return fail(EINVAL);
  // The kernel caps a thread's filters at 32768 instructions in all,
  // counting 4 more for each filter: fewer than 6554 filters.
  constexpr unsigned long kMaxFilters = 32768 / 5 + 1;
  std::vector<seccomp::Program> filters;
  for (unsigned long index = 0; index < kMaxFilters; ++index) {
    void* at = reinterpret_cast<void*>(index);
    const long n = ::ptrace(PTRACE_SECCOMP_GET_FILTER, tid_, at, nullptr);
    if (n < 0 && errno == ENOENT) return filters;  // past the last one
    if (n < 0) return fail_errno();
    if (n == 0 || static_cast<unsigned long>(n) > seccomp::kMaxInstructions) return fail(EIO);
    seccomp::Program program(static_cast<std::size_t>(n));
    const long got = ::ptrace(PTRACE_SECCOMP_GET_FILTER, tid_, at, program.data());
    if (got < 0) return fail_errno();
    if (got != n) return fail(EIO);  // (filters only grow, and not while it is stopped)
    filters.push_back(std::move(program));
  }
  return fail(EIO);
}

Status Tracee::release() {
  if (released_) return {};
  released_ = true;
  if (gone_) return {};
  if (!stopped_) return {};  // the tracer thread's exit detaches it
  Status result;
  if (saved_mask_) {
    // Back before anything else: a thread must never run on with every
    // signal blocked.
    if (::ptrace(PTRACE_SETSIGMASK, tid_, sizeof *saved_mask_, &*saved_mask_) != 0) {
      if (errno == ESRCH) {  // killed meanwhile
        stopped_ = false;
        return {};
      }
      unrecoverable_ = true;
      return fail_errno();
    }
    saved_mask_.reset();
  }
  if (dirty_ && original_) {
    const arch::Regs regs =
        in_signal_delivery()
            ? *original_
            : arch::regs_for_exit_stop(*original_, signal_pending_, compat_insn_);
    if (auto s = arch::set_regs(tid_, regs); !s) {
      if (s.error() == ESRCH) {  // killed meanwhile
        stopped_ = false;
        return {};
      }
      // Detaching now would run the thread on the injected registers. Leave
      // it stopped; the caller kills the process (unrecoverable()).
      unrecoverable_ = true;
      return s;
    }
  }
  // From a signal-delivery-stop we never resumed, the signal goes on with
  // its siginfo (the kernel keeps it). Group stops stay stopped: the kernel
  // re-arms the group stop when a tracee of a stopped group is detached.
  long sig = 0;
  if (current_.kind == StopEvent::Kind::signal && !drop_signal_) sig = current_.sig;
  if (::ptrace(PTRACE_DETACH, tid_, nullptr, reinterpret_cast<void*>(sig)) == 0)
    detached_ = true;
  else if (errno != ESRCH && result)
    result = fail_errno();
  stopped_ = false;
  return result;
}

}  // namespace containerfs::kernel::inject_detail
