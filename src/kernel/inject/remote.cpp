#include "remote.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/ptrace.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <optional>
#include <string>

namespace containerfs::kernel::inject_detail {

Status RemoteMemory::open() {
  if (fd_) return {};
  const std::string path = "task/" + std::to_string(tid_) + "/mem";
  fd_.reset(::openat(procdir_, path.c_str(), O_RDWR | O_CLOEXEC));
  if (!fd_) return fail(errno == ENOENT ? ESRCH : (errno ? errno : EIO));
  return {};
}

namespace {

// Whole transfers through /proc/PID/mem: pread or pwrite until done. An
// address that is not mapped gives EIO; end of file (ESRCH here) means
// there is no address space any more: the process is exiting.
template <typename Buf, typename Io>
Status transfer(int fd, std::uint64_t addr, Buf* p, std::size_t n, Io io) {
  while (n > 0) {
    ssize_t r = io(fd, p, n, static_cast<off_t>(addr));
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return fail_errno();
    if (r == 0) return fail(ESRCH);
    p += r;
    addr += static_cast<std::uint64_t>(r);
    n -= static_cast<std::size_t>(r);
  }
  return {};
}

}  // namespace

Status RemoteMemory::read(std::uint64_t addr, void* buf, std::size_t n) {
  if (auto s = open(); !s) return s;
  return transfer(fd_.get(), addr, static_cast<char*>(buf), n, ::pread);
}

Status RemoteMemory::write(std::uint64_t addr, const void* buf, std::size_t n) {
  if (auto s = open(); !s) return s;
  return transfer(fd_.get(), addr, static_cast<const char*>(buf), n, ::pwrite);
}

namespace {

// The area below one stack pointer (and its red zone), if it lies inside
// one readable and writable mapping.
std::optional<std::uint64_t> area_below(std::uint64_t sp, const std::vector<Mapping>& maps) {
  if (sp < arch::kRedZone + Scratch::kSize + 64) return std::nullopt;
  const std::uint64_t top = (sp - arch::kRedZone) & ~std::uint64_t{63};
  const std::uint64_t base = top - Scratch::kSize;
  auto in = std::find_if(maps.begin(), maps.end(), [&](const Mapping& m) {
    return m.start <= base && top <= m.end && m.read && m.write;
  });
  if (in == maps.end()) return std::nullopt;
  return base;
}

}  // namespace

Result<std::uint64_t> Scratch::acquire(RemoteMemory& mem, const std::vector<Mapping>& maps,
                                       const std::vector<std::uint64_t>& stack_pointers) {
  if (base_ != 0) return base_;
  for (std::uint64_t sp : stack_pointers) {
    auto base = area_below(sp, maps);
    if (!base) continue;
    std::vector<std::uint8_t> saved(kSize);
    if (!mem.read(*base, saved.data(), saved.size())) continue;
    base_ = *base;
    saved_ = std::move(saved);
    return base_;
  }
  return fail(EFAULT);
}

Result<std::uint64_t> Scratch::locate(const std::vector<Mapping>& maps,
                                      const std::vector<std::uint64_t>& stack_pointers) const {
  if (base_ != 0) return base_;
  for (std::uint64_t sp : stack_pointers)
    if (auto base = area_below(sp, maps)) return *base;
  return fail(EFAULT);
}

Status Scratch::restore(RemoteMemory& mem) {
  if (base_ == 0) return {};
  auto s = mem.write(base_, saved_.data(), saved_.size());
  if (s) base_ = 0;
  return s;
}

Result<std::uint64_t> find_syscall_insn(RemoteMemory& mem, const std::vector<Mapping>& maps) {
  std::vector<const Mapping*> order;
  for (const auto& m : maps)
    if (m.exec && m.name == "[vdso]") order.push_back(&m);
  for (const auto& m : maps)
    if (m.exec && m.name != "[vdso]" && m.name != "[vsyscall]") order.push_back(&m);
  constexpr std::size_t kChunk = 64 * 1024;
  constexpr std::size_t kMaxPerMapping = 4 * 1024 * 1024;
  const auto& insn = arch::kSyscallInsn;
  std::vector<std::uint8_t> buf(kChunk);
  for (const Mapping* m : order) {
    const std::uint64_t end = std::min(m->end, m->start + kMaxPerMapping);
    for (std::uint64_t at = m->start; at < end; at += kChunk) {
      const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(kChunk, end - at));
      if (auto s = mem.read(at, buf.data(), n); !s) {
        if (s.error() == ESRCH) return std::unexpected(ESRCH);  // exiting
        break;
      }
      // Chunks are aligned to kInsnAlign; an instruction split across two
      // chunks is simply not found (there are plenty).
      for (std::size_t i = 0; i + insn.size() <= n; i += arch::kInsnAlign)
        if (std::equal(insn.begin(), insn.end(), buf.begin() + static_cast<long>(i))) return at + i;
    }
  }
  return fail(ENOEXEC);
}

namespace {

// A synchronous signal the kernel raised for the thread itself. While it
// runs nothing but the injected call, such a signal can only be that call
// trapping: seccomp RET_TRAP, syscall user dispatch, a bad instruction
// address.
bool is_trap_of_injected_call(const siginfo_t& si) {
  switch (si.si_signo) {
    case SIGSYS:
    case SIGSEGV:
    case SIGBUS:
    case SIGILL:
    case SIGFPE:
    case SIGTRAP:
      return si.si_code > 0;  // kernel-generated (SI_USER, SI_QUEUE, SI_TKILL... are <= 0)
    default:
      return false;
  }
}

bool is_restart_code(long rv) { return rv == -512 || rv == -513 || rv == -514 || rv == -516; }

void start_call(RemoteCall& c, SyscallTimeouts timeouts) {
  Tracee& t = *c.tracee;
  auto base = t.original_regs();
  if (!base) {
    c.result = std::unexpected(base.error());
    return;
  }
  t.mark_dirty();
  if (auto s = arch::set_regs(t.tid(), arch::syscall_regs(*base, c.insn, c.nr, c.args)); !s) {
    c.result = std::unexpected(s.error());
    return;
  }
  if (auto s = t.resume(PTRACE_SYSCALL); !s) {
    c.result = std::unexpected(s.error());
    return;
  }
  c.deadline = Clock::now() + timeouts.syscall;
}

// Resumes towards the call; records a failure to do so.
void go_on(RemoteCall& c) {
  if (auto s = c.tracee->resume(PTRACE_SYSCALL); !s) c.result = std::unexpected(s.error());
}

void on_event(RemoteCall& c, const StopEvent& ev) {
  using K = StopEvent::Kind;
  Tracee& t = *c.tracee;
  switch (ev.kind) {
    case K::none:
      return;
    case K::exited:
      c.result = fail(ESRCH);
      return;
    case K::syscall: {
      if (!c.entered) {
        // Resumed from a stop before the call, the first syscall stop is
        // its entry: on to the exit.
        c.entered = true;
        return go_on(c);
      }
      __ptrace_syscall_info info{};
      if (::ptrace(PTRACE_GET_SYSCALL_INFO, t.tid(), sizeof info, &info) <= 0) {
        c.result = fail_errno();
        return;
      }
      if (info.op != PTRACE_SYSCALL_INFO_EXIT) {
        c.result = fail(EIO);
        return;
      }
      const long rv = info.exit.rval;
      c.result = c.interrupted && is_restart_code(rv) ? Result<long>(fail(EBUSY)) : Result<long>(rv);
      return;
    }
    case K::signal:
      if (is_trap_of_injected_call(t.current_siginfo())) {
        t.drop_current_signal();
        c.result = fail(t.current_siginfo().si_signo == SIGSYS ? EPERM : EFAULT);
        return;
      }
      // A signal that cannot be blocked (SIGSTOP): suppressed now, sent
      // again once the process is detached.
      return go_on(c);
    case K::event_stop:
      // Our interrupt before the call ran: stopped in signal delivery with
      // the injected registers, which the caller can put back.
      if (c.interrupted && !c.entered) {
        c.result = fail(EBUSY);
        return;
      }
      return go_on(c);
    case K::other:
      return go_on(c);
  }
}

void on_deadline(RemoteCall& c, SyscallTimeouts timeouts) {
  if (c.interrupted) {
    // Running on our registers and it will not stop: nothing safe is left.
    c.tracee->set_unrecoverable();
    c.result = fail(ETIMEDOUT);
    return;
  }
  // It does not get to the call (cgroup v2 freezer traps it in signal
  // delivery) or the call blocks: make it stop where it is.
  if (auto s = c.tracee->interrupt(); !s) {
    c.result = std::unexpected(s.error());
    return;
  }
  c.interrupted = true;
  c.deadline = Clock::now() + timeouts.stop;
}

}  // namespace

void run_calls(std::vector<RemoteCall>& calls, SyscallTimeouts timeouts) {
  for (auto& c : calls) start_call(c, timeouts);
  Backoff backoff;
  while (true) {
    bool pending = false, progressed = false;
    for (auto& c : calls) {
      if (c.result) continue;
      auto ev = c.tracee->poll();
      if (!ev) {
        c.result = std::unexpected(ev.error());
        progressed = true;
        continue;
      }
      if (ev->kind == StopEvent::Kind::none) {
        if (Clock::now() >= c.deadline) {
          on_deadline(c, timeouts);
          progressed = true;
        }
      } else {
        on_event(c, *ev);
        progressed = true;
      }
      if (!c.result) pending = true;
    }
    if (!pending) return;
    if (progressed) {
      backoff = Backoff();
    } else {
      backoff.pause();
    }
  }
}

}  // namespace containerfs::kernel::inject_detail
