// x86_64: PTRACE_GETREGS/SETREGS, `syscall` (0f 05), rax = number,
// rdi rsi rdx r10 r8 r9 = arguments, orig_rax = number of the system call the
// thread is in (-1 when none).
#if defined(__x86_64__)

#include <sys/ptrace.h>
#include <sys/syscall.h>

#include <cerrno>

#include "../arch.hpp"

namespace containerfs::kernel::inject_detail::arch {

namespace {
// Kernel-internal return values of an interrupted system call
// (include/linux/errno.h); user space never sees them.
constexpr long kERestartSys = 512;
constexpr long kERestartNoIntr = 513;
constexpr long kERestartNoHand = 514;
constexpr long kERestartRestartBlock = 516;
constexpr unsigned long kUserCs64 = 0x33;   // __USER_CS
constexpr long kIa32RestartSyscall = 0;     // __NR_restart_syscall, ia32 table
}  // namespace

Result<Regs> get_regs(pid_t tid) {
  Regs r;
  if (ptrace(PTRACE_GETREGS, tid, nullptr, &r.raw) != 0) return fail_errno();
  return r;
}

Status set_regs(pid_t tid, const Regs& regs) {
  if (ptrace(PTRACE_SETREGS, tid, nullptr, &regs.raw) != 0) return fail_errno();
  return {};
}

bool is_native(const Regs& regs) { return regs.raw.cs == kUserCs64; }

std::uint64_t stack_pointer(const Regs& regs) { return regs.raw.rsp; }

std::optional<std::uint64_t> syscall_insn_address(const Regs& regs) {
  if (static_cast<long>(regs.raw.orig_rax) < 0) return std::nullopt;
  return regs.raw.rip - kSyscallInsn.size();
}

Regs syscall_regs(const Regs& base, std::uint64_t insn, long nr,
                  const std::array<std::uint64_t, 6>& args) {
  Regs r = base;
  r.raw.rip = insn;
  r.raw.rax = static_cast<unsigned long>(nr);
  // Not "in a system call": no restart logic may touch rax/rip on the way
  // back to user space.
  r.raw.orig_rax = static_cast<unsigned long>(-1L);
  r.raw.rdi = args[0];
  r.raw.rsi = args[1];
  r.raw.rdx = args[2];
  r.raw.r10 = args[3];
  r.raw.r8 = args[4];
  r.raw.r9 = args[5];
  return r;
}

Regs regs_for_exit_stop(const Regs& original, bool signal_pending, bool compat_insn) {
  Regs r = original;
  if (signal_pending || static_cast<long>(r.raw.orig_rax) < 0) return r;
  switch (-static_cast<long>(r.raw.rax)) {
    case kERestartSys:
    case kERestartNoIntr:
    case kERestartNoHand:
      r.raw.rax = r.raw.orig_rax;
      r.raw.rip -= kSyscallInsn.size();
      break;
    case kERestartRestartBlock:
      // restart_syscall() continues from current->restart_block, which the
      // injected calls leave alone (e.g. nanosleep's remaining time).
      r.raw.rax = compat_insn ? kIa32RestartSyscall : SYS_restart_syscall;
      r.raw.rip -= kSyscallInsn.size();
      break;
    default:
      break;
  }
  return r;
}

bool is_compat_syscall_insn(const std::uint8_t* bytes, std::size_t n) {
  return n >= 2 && bytes[0] == 0xcd && bytes[1] == 0x80;
}

}  // namespace containerfs::kernel::inject_detail::arch

#endif  // __x86_64__
