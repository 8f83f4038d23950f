// The system calls the injector makes inside a target, with their exact
// arguments, built in one place for the injection (in_target.cpp) and for
// the seccomp check that judges them before anything changes
// (seccomp_check.cpp). Unused argument registers are 0: a seccomp filter
// sees all six.
#pragma once

#include <fcntl.h>
#include <sched.h>
#include <sys/syscall.h>
#include <sys/types.h>

#include <array>
#include <cerrno>
#include <cstdint>
#include <string_view>

namespace containerfs::kernel::inject_detail {

struct SysCall {
  long nr = 0;
  std::array<std::uint64_t, 6> args{};
};

namespace calls {

// As the kernel reads a register: the value sign-extended to 64 bits.
inline std::uint64_t arg(long v) { return static_cast<std::uint64_t>(v); }

inline SysCall pidfd_open(pid_t pid) { return {SYS_pidfd_open, {arg(pid), 0, 0, 0, 0, 0}}; }
inline SysCall setns(long fd, int nstype) { return {SYS_setns, {arg(fd), arg(nstype), 0, 0, 0, 0}}; }
inline SysCall close(long fd) { return {SYS_close, {arg(fd), 0, 0, 0, 0, 0}}; }
inline SysCall unshare_fs() { return {SYS_unshare, {arg(CLONE_FS), 0, 0, 0, 0, 0}}; }
// A directory path written at `path` in the target: the working directory
// and the root a process is put back in (place_restore.cpp).
inline SysCall chdir(std::uint64_t path) { return {SYS_chdir, {path, 0, 0, 0, 0, 0}}; }
inline SysCall chroot(std::uint64_t path) { return {SYS_chroot, {path, 0, 0, 0, 0, 0}}; }
// pidfd_open answers on which the thread joins through /proc/PID/ns/X
// instead (no pidfds in that kernel, or the source is not in its view).
inline bool takes_proc_path(long pidfd_open_result) {
  return pidfd_open_result == -ESRCH || pidfd_open_result == -ENOSYS;
}
// openat(AT_FDCWD, path, O_RDONLY | O_CLOEXEC) of a /proc/PID/ns/X path
// written at `path` in the target.
inline SysCall open_ns(std::uint64_t path) {
  return {SYS_openat, {arg(AT_FDCWD), path, arg(O_RDONLY | O_CLOEXEC), 0, 0, 0}};
}

// For log lines.
inline std::string_view name_of(long nr) {
  switch (nr) {
    case SYS_pidfd_open: return "pidfd_open";
    case SYS_setns: return "setns";
    case SYS_close: return "close";
    case SYS_openat: return "openat";
    case SYS_unshare: return "unshare";
    case SYS_chdir: return "chdir";
    case SYS_chroot: return "chroot";
    default: return "a system call";
  }
}

}  // namespace calls
}  // namespace containerfs::kernel::inject_detail
