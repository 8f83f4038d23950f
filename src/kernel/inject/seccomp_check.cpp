// The part of ProcessInjection that judges a move against the target's
// seccomp filters before anything changes. Every system call the injection
// would make in each thread -- its number and arguments, the native
// architecture, and the instruction pointer it is made from -- is run
// through that thread's filters as the kernel would run them
// (seccomp_filter.hpp). The move goes ahead only if every one would be
// allowed (ALLOW, LOG): an errno, a kill, a trap, a tracer's or a user
// notifier's turn refuses it with EPERM, logged with the call and the
// action. Filters are per thread (TSYNC is optional), so each thread is read
// (PTRACE_SECCOMP_GET_FILTER) and judged on its own calls.
//
// The calls are those of move_threads() and move_thread_per_ns()
// (in_target.cpp), built by the same functions (calls.hpp):
//  - the pidfd path (the source is visible in the target): pidfd_open(source)
//    by each fd table's opener, setns(pidfd, mask), close(pidfd). The pidfd
//    is the lowest free descriptor of the table (every thread is stopped);
//    with several openers any of as many lowest ones. A filter that answers
//    pidfd_open with ENOSYS or ESRCH sends those threads down the /proc
//    path, as the kernel's own answer would.
//  - the /proc path: openat(AT_FDCWD, scratch, O_RDONLY|O_CLOEXEC), then per
//    namespace setns(fd, CLONE_NEW*) and close(fd), with fd the next lowest
//    free descriptor.
//  - before it joins a mount namespace, a thread of a multi-threaded process
//    makes unshare(CLONE_FS).
// (Signals need no call: a tracer blocks them with PTRACE_SETSIGMASK. The
// working directory and root put back on the way home are optional: a
// filter that refuses chdir or chroot leaves the thread at the root, and
// is not a reason to refuse the move; place_restore.cpp asks it itself.)
// Each call is judged once more right before it is made
// (seccomp_lets_through), so a descriptor foreseen wrong (a table shared
// with another, running process) can fail a move but never get the process
// killed, trapped or stalled.
#include <linux/seccomp.h>
#include <signal.h>

#include <algorithm>
#include <bit>
#include <cstring>

#include <fmt/format.h>

#include "containerfs/util/log.hpp"

#include "calls.hpp"
#include "kinds.hpp"
#include "process_injection.hpp"

namespace containerfs::kernel::inject_detail {

namespace {

// What the kernel's filters see of a call made at `insn`.
seccomp_data data_of(std::uint64_t insn, const SysCall& sys) {
  seccomp_data d{};
  d.nr = static_cast<int>(sys.nr);
  d.arch = arch::kAuditArch;
  d.instruction_pointer = arch::seccomp_ip(insn);
  std::copy(sys.args.begin(), sys.args.end(), d.args);
  return d;
}

// The call does no harm: it goes ahead, or it is a pidfd_open answered with
// an errno on which the injector takes the /proc path.
bool harmless(const SysCall& sys, const seccomp::Verdict& v) {
  if (seccomp::lets_through(v.action)) return true;
  constexpr std::uint32_t kMaxErrno = 4095;  // the kernel caps the data there
  const auto err = static_cast<long>(std::min(v.ret & SECCOMP_RET_DATA, kMaxErrno));
  return sys.nr == SYS_pidfd_open && v.action == seccomp::Action::error && calls::takes_proc_path(-err);
}

std::string describe(const SysCall& sys) {
  std::size_t used = sys.args.size();
  while (used > 0 && sys.args[used - 1] == 0) --used;
  std::string text = fmt::format("{}(", calls::name_of(sys.nr));
  for (std::size_t i = 0; i < used; ++i) {
    const auto v = static_cast<std::int64_t>(sys.args[i]);
    const char* sep = i ? ", " : "";
    if (v > -4096 && v < 4096) text += fmt::format("{}{}", sep, v);  // numbers, fds, -errno
    else text += fmt::format("{}{:#x}", sep, sys.args[i]);          // flags, addresses
  }
  return text + ")";
}

std::string why_refused(pid_t tid, const seccomp::FilterChain& chain, const SysCall& sys,
                        const seccomp::Verdict& v) {
  std::string which = v.filter ? fmt::format("filter {} of {}", *v.filter + 1, chain.size()) : "filters";
  std::string text = fmt::format("thread {}: its seccomp {} would answer {} with {}", tid, which,
                                 describe(sys), seccomp::describe(v));
  if (v.invalid && v.filter) text += fmt::format(" ({})", chain.problem(*v.filter));
  return text;
}

// The calls the move makes in one thread (in_target.cpp makes them), with
// `fds` the lowest free descriptors of its table.
std::vector<SysCall> planned_calls(int mask, bool unshare_fs, bool proc_path, const std::vector<int>& fds,
                                   std::size_t openers, const Result<std::uint64_t>& scratch_at) {
  std::vector<SysCall> plan;
  if (unshare_fs) plan.push_back(calls::unshare_fs());
  if (!proc_path) {
    for (std::size_t k = 0; k < openers; ++k) {
      plan.push_back(calls::setns(fds[k], mask));
      plan.push_back(calls::close(fds[k]));
    }
  } else if (scratch_at) {
    plan.push_back(calls::open_ns(*scratch_at));
    std::size_t k = 0;
    for (const auto& kind : kKinds) {
      if ((mask & kind.flag) == 0) continue;
      plan.push_back(calls::setns(fds[k], kind.flag));
      plan.push_back(calls::close(fds[k]));
      ++k;
    }
  }
  return plan;
}

}  // namespace

Status ProcessInjection::seccomp_lets_through(const Thread& th, std::uint64_t insn, const SysCall& sys) {
  if (!th.filters) return {};
  const seccomp::Verdict v = th.filters->evaluate(data_of(insn, sys));
  if (harmless(sys, v)) return {};
  return refuse(EPERM, why_refused(th.tracee.tid(), *th.filters, sys, v) + "; not made");
}

bool ProcessInjection::filters_allow(const Thread& th, std::uint64_t insn, const SysCall& sys) const {
  return !th.filters || seccomp::lets_through(th.filters->evaluate(data_of(insn, sys)).action);
}

Result<bool> ProcessInjection::read_seccomp_filters(const std::vector<Thread*>& ths) {
  bool any = false;
  for (Thread* th : ths) {
    const pid_t tid = th->tracee.tid();
    auto st = read_status(procdir_.get(), fmt::format("task/{}/status", tid));
    if (!st) return refuse(st.error(), fmt::format("cannot read the status of thread {}", tid));
    if (st->seccomp == SECCOMP_MODE_STRICT)
      return refuse(EPERM, fmt::format("thread {} runs in seccomp strict mode", tid));
    if (st->seccomp != SECCOMP_MODE_FILTER) continue;
    auto filters = th->tracee.seccomp_filters();
    if (!filters) {
      const int e = filters.error();
      return refuse(e == ESRCH ? ESRCH : EPERM,
                    fmt::format("cannot read the seccomp filters of thread {}: {}", tid, log::errno_text(e)));
    }
    th->filters = std::make_shared<const seccomp::FilterChain>(std::move(*filters));
    any = true;
  }
  return any;
}

Status ProcessInjection::judge_calls(Thread& th, const std::vector<SysCall>& plan) {
  auto insn = insn_for(th);
  if (!insn) return refuse(insn.error(), fmt::format("no system call instruction to use in thread {}", th.tracee.tid()));
  for (const SysCall& sys : plan) {
    const seccomp::Verdict v = th.filters->evaluate(data_of(*insn, sys));
    if (!harmless(sys, v)) return refuse(EPERM, why_refused(th.tracee.tid(), *th.filters, sys, v));
  }
  return {};
}

// A pidfd, unless there is none to open or the opener's filters answer
// pidfd_open with an errno on which it takes the /proc path (as the
// kernel's own answer would send it there).
Result<std::vector<bool>> ProcessInjection::seccomp_proc_paths(const std::vector<Thread*>& ths,
                                                              const std::vector<std::size_t>& opener) {
  const std::optional<pid_t> source = source_pid_in_target();
  std::vector<bool> proc_path(ths.size(), !source);
  if (!source) return proc_path;
  for (std::size_t i = 0; i < ths.size(); ++i) {
    if (opener[i] != i || !ths[i]->filters) continue;
    const SysCall open = calls::pidfd_open(*source);
    if (auto ok = judge_calls(*ths[i], {open}); !ok) return std::unexpected(ok.error());
    auto insn = insn_for(*ths[i]);
    if (!insn) return std::unexpected(insn.error());
    if (!seccomp::lets_through(ths[i]->filters->evaluate(data_of(*insn, open)).action))
      for (std::size_t j = 0; j < ths.size(); ++j) proc_path[j] = proc_path[j] || opener[j] == i;
  }
  return proc_path;
}

Status ProcessInjection::check_seccomp(const std::vector<Thread*>& ths, const std::vector<int>& masks) {
  auto any = read_seccomp_filters(ths);
  if (!any) return std::unexpected(any.error());
  if (!*any) return {};

  const std::vector<std::size_t> opener = pidfd_openers(ths);
  const auto openers = static_cast<std::size_t>(std::count_if(
      opener.begin(), opener.end(), [i = std::size_t{0}](std::size_t o) mutable { return o == i++; }));
  auto proc_path = seccomp_proc_paths(ths, opener);
  if (!proc_path) return std::unexpected(proc_path.error());
  // Scratch memory for the /proc path; without any, it makes no call.
  const Result<std::uint64_t> scratch_at = scratch_address();

  for (std::size_t i = 0; i < ths.size(); ++i) {
    Thread& th = *ths[i];
    if (!th.filters) continue;
    const auto kinds = static_cast<std::size_t>(std::popcount(static_cast<unsigned>(masks[i])));
    auto fds = lowest_free_fds(procdir_.get(), th.tracee.tid(), std::max(openers, kinds));
    if (!fds) return refuse(fds.error(), fmt::format("cannot list the descriptors of thread {}", th.tracee.tid()));
    if (auto ok = judge_calls(th, planned_calls(masks[i], unshares_fs(masks[i]), (*proc_path)[i], *fds, openers,
                                                 scratch_at));
        !ok)
      return ok;
  }
  return {};
}

}  // namespace containerfs::kernel::inject_detail
