#include "containerfs/kernel/pidfd.hpp"

#include <sys/syscall.h>
#include <unistd.h>

namespace containerfs::kernel {

Result<Pidfd> Pidfd::open(pid_t pid) {
  UniqueFd fd(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));
  if (!fd) return fail_errno();
  return Pidfd(std::move(fd));
}

Status Pidfd::send_signal(int pidfd, int sig) {
  if (::syscall(SYS_pidfd_send_signal, pidfd, sig, nullptr, 0) != 0) return fail_errno();
  return {};
}

}  // namespace containerfs::kernel
