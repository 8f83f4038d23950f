// Architecture layer of the syscall injector: reading and writing a stopped
// thread's registers, the system call instruction and calling convention,
// and the system-call-restart fix-up. Everything else is generic.
#pragma once

#include <linux/audit.h>
#include <sys/types.h>
#include <sys/user.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>

#include "containerfs/util/result.hpp"

#if !defined(__x86_64__) && !defined(__aarch64__)
#error "containerfs: syscall injection is implemented for x86_64 and aarch64 only"
#endif

namespace containerfs::kernel::inject_detail::arch {

#if defined(__x86_64__)
inline constexpr std::array<std::uint8_t, 2> kSyscallInsn = {0x0f, 0x05};  // syscall
inline constexpr std::size_t kInsnAlign = 1;
inline constexpr std::size_t kRedZone = 128;  // System V x86-64 ABI
inline constexpr std::uint32_t kAuditArch = AUDIT_ARCH_X86_64;  // seccomp_data.arch of a native call
#else
inline constexpr std::array<std::uint8_t, 4> kSyscallInsn = {0x01, 0x00, 0x00, 0xd4};  // svc #0
inline constexpr std::size_t kInsnAlign = 4;
inline constexpr std::size_t kRedZone = 0;
inline constexpr std::uint32_t kAuditArch = AUDIT_ARCH_AARCH64;
#endif

// seccomp_data.instruction_pointer of a system call made at `insn`: the
// kernel shows the address the thread returns to, right after the
// instruction (rip after `syscall`, the exception return address after `svc`).
inline std::uint64_t seccomp_ip(std::uint64_t insn) { return insn + kSyscallInsn.size(); }

// user_regs_struct: x86_64 for PTRACE_GETREGS, aarch64 for NT_PRSTATUS.
struct Regs {
  user_regs_struct raw{};
};

Result<Regs> get_regs(pid_t tid);
Status set_regs(pid_t tid, const Regs& regs);

// A thread running the native 64-bit ABI (the only one we drive).
bool is_native(const Regs& regs);
std::uint64_t stack_pointer(const Regs& regs);

// When the stop interrupted (or followed) a system call: the address of the
// instruction that made it. The caller checks the bytes there before reusing
// it. nullopt when not in a system call or the architecture cannot tell.
std::optional<std::uint64_t> syscall_insn_address(const Regs& regs);

// `base` changed to execute system call `nr` with `args` at `insn` — the
// kernel must not apply any restart logic to it on the way out.
Regs syscall_regs(const Regs& base, std::uint64_t insn, long nr,
                  const std::array<std::uint64_t, 6>& args);

// What to write back before detaching from a syscall-exit stop of an injected
// call, given the registers saved at the first stop. Stops inside signal
// delivery (interrupt, group stop, signal-delivery) get `original` unchanged:
// the kernel applies the restart logic itself on the way out. From a
// syscall-exit stop nothing promises that it will (current kernels do pass
// through signal delivery after PTRACE_DETACH, which sets TIF_SIGPENDING, but
// that is an implementation detail), so an interrupted system call
// (-ERESTARTSYS, -ERESTARTNOINTR, -ERESTARTNOHAND, -ERESTART_RESTARTBLOCK) is
// set up to run again here; the kernel's own fix-up then finds nothing to do.
// Unless `signal_pending` (a signal its mask lets through is pending, so
// signal delivery runs for certain): then the kernel decides (EINTR for a
// handler without SA_RESTART) and the original registers are right.
// `compat_insn`: the interrupted instruction was the ia32 `int $0x80`.
Regs regs_for_exit_stop(const Regs& original, bool signal_pending, bool compat_insn);

// The ia32 system call instruction (int $0x80) on x86_64, for the check
// above; empty elsewhere.
bool is_compat_syscall_insn(const std::uint8_t* bytes, std::size_t n);

}  // namespace containerfs::kernel::inject_detail::arch
