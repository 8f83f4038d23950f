// aarch64: PTRACE_GETREGSET/SETREGSET NT_PRSTATUS, `svc #0` (0xd4000001),
// x8 = number, x0..x5 = arguments.
//
// The arm64 kernel rewinds an interrupted system call *before* the tracer
// sees the stop (do_signal: "so that a debugger will see the already changed
// PC"): pc points at the svc and x0 holds the original first argument again.
// The registers saved at the first stop therefore restart the call by
// themselves and need no fix-up. Known limits, both inherent to the
// NT_PRSTATUS view (no orig_x0, syscallno already forgotten):
//  - a call interrupted with -ERESTART_RESTARTBLOCK (nanosleep family) runs
//    again with its original arguments rather than via restart_syscall, so
//    a relative sleep starts over;
//  - a signal that arrived during the injection (pending until the thread's
//    mask is restored) does not turn the restarted call into EINTR for a
//    handler without SA_RESTART.
// Whether the stop was in a system call cannot be told either, so the
// injector always uses an svc found in the vDSO.
#if defined(__aarch64__)

#include <elf.h>
#include <sys/ptrace.h>
#include <sys/uio.h>

#include <cerrno>

#include "../arch.hpp"

namespace containerfs::kernel::inject_detail::arch {

namespace {
constexpr unsigned long long kPsrMode32 = 0x10;  // PSR_MODE32_BIT: AArch32 task
}

Result<Regs> get_regs(pid_t tid) {
  Regs r;
  iovec iov{&r.raw, sizeof r.raw};
  if (ptrace(PTRACE_GETREGSET, tid, reinterpret_cast<void*>(NT_PRSTATUS), &iov) != 0)
    return fail_errno();
  if (iov.iov_len != sizeof r.raw) return fail(EIO);
  return r;
}

Status set_regs(pid_t tid, const Regs& regs) {
  Regs copy = regs;
  iovec iov{&copy.raw, sizeof copy.raw};
  if (ptrace(PTRACE_SETREGSET, tid, reinterpret_cast<void*>(NT_PRSTATUS), &iov) != 0)
    return fail_errno();
  return {};
}

bool is_native(const Regs& regs) { return (regs.raw.pstate & kPsrMode32) == 0; }

std::uint64_t stack_pointer(const Regs& regs) { return regs.raw.sp; }

std::optional<std::uint64_t> syscall_insn_address(const Regs&) { return std::nullopt; }

Regs syscall_regs(const Regs& base, std::uint64_t insn, long nr,
                  const std::array<std::uint64_t, 6>& args) {
  Regs r = base;
  // pc != the restart address do_signal computed: it leaves the registers
  // alone ("a debugger has chosen to restart at a different PC").
  r.raw.pc = insn;
  r.raw.regs[8] = static_cast<unsigned long long>(nr);
  for (std::size_t i = 0; i < args.size(); ++i) r.raw.regs[i] = args[i];
  return r;
}

Regs regs_for_exit_stop(const Regs& original, bool, bool) { return original; }

bool is_compat_syscall_insn(const std::uint8_t*, std::size_t) { return false; }

}  // namespace containerfs::kernel::inject_detail::arch

#endif  // __aarch64__
