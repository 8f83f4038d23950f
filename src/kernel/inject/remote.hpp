// Acting inside a stopped tracee: its memory, a borrowed scratch area on its
// stack, a system call instruction to jump to, and the injection of one
// system call.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <vector>

#include "containerfs/util/fd.hpp"
#include "containerfs/util/result.hpp"
#include "procfs.hpp"
#include "tracee.hpp"

namespace containerfs::kernel::inject_detail {

// The target's memory through /proc/<pid>/task/<tid>/mem of a live thread
// (opened on first use).
class RemoteMemory {
 public:
  RemoteMemory(int procdir, pid_t tid) : procdir_(procdir), tid_(tid) {}
  Status read(std::uint64_t addr, void* buf, std::size_t n);
  Status write(std::uint64_t addr, const void* buf, std::size_t n);

 private:
  Status open();
  int procdir_;
  pid_t tid_;
  UniqueFd fd_;
};

// An area just below a stopped thread's stack pointer (and the red zone),
// used to pass strings and structures to injected calls. No user code runs
// in the process while it is borrowed (every thread is stopped or running an
// injected call), and restore() puts the original bytes back before any
// thread is detached.
class Scratch {
 public:
  static constexpr std::size_t kSize = 2048;

  // Picks the area below the first stack pointer whose area lies inside one
  // writable mapping, and saves its bytes. Idempotent.
  Result<std::uint64_t> acquire(RemoteMemory& mem, const std::vector<Mapping>& maps,
                                const std::vector<std::uint64_t>& stack_pointers);
  // The area acquire() chose, or the one it would choose if the memory
  // reads well (EFAULT if none), without reading or saving anything.
  Result<std::uint64_t> locate(const std::vector<Mapping>& maps,
                               const std::vector<std::uint64_t>& stack_pointers) const;
  Status restore(RemoteMemory& mem);

 private:
  std::uint64_t base_ = 0;
  std::vector<std::uint8_t> saved_;
};

// A system call instruction in an executable mapping: the vDSO first, then
// the rest (read through /proc/<pid>/mem, so execute-only pages work too).
Result<std::uint64_t> find_syscall_insn(RemoteMemory& mem, const std::vector<Mapping>& maps);

struct SyscallTimeouts {
  std::chrono::milliseconds syscall;  // for the call to complete
  std::chrono::milliseconds stop;     // for the stop after an interrupt
};

// One system call to inject into a stopped thread.
struct RemoteCall {
  Tracee* tracee = nullptr;
  std::uint64_t insn = 0;  // address of a system call instruction
  long nr = 0;
  std::array<std::uint64_t, 6> args{};
  // The raw return value (-errno on failure of the call), or an error of the
  // mechanism: ESRCH the thread died; EBUSY it could not be made to run the
  // call (e.g. frozen by cgroup v2; registers restorable); EPERM or EFAULT
  // the call instruction itself trapped (seccomp, syscall user dispatch,
  // bad address; the trap's signal is discarded).
  std::optional<Result<long>> result;

  bool entered = false;
  bool interrupted = false;
  Deadline deadline{};
};

// Makes every thread run its call (all at once, one call per thread) and
// stop again at its syscall-exit. On return each call has a result and its
// thread is stopped or gone -- unless the thread's unrecoverable() is set (it
// did not stop again after an interrupt while on injected registers).
void run_calls(std::vector<RemoteCall>& calls, SyscallTimeouts timeouts);

}  // namespace containerfs::kernel::inject_detail
