// A process descriptor (pidfd_open(2)): names one process for good, where
// its pid number may be reused once it is reaped. Through syscall(2):
// glibc 2.36's <sys/pidfd.h> lacks C linkage for C++.
#pragma once

#include <sys/types.h>

#include "containerfs/util/fd.hpp"
#include "containerfs/util/result.hpp"

namespace containerfs::kernel {

class Pidfd {
 public:
  Pidfd() = default;
  explicit Pidfd(UniqueFd fd) : fd_(std::move(fd)) {}

  // pidfd_open(2) of a process (a thread group leader): ESRCH if there is
  // no such process, EINVAL for a thread that leads none.
  static Result<Pidfd> open(pid_t pid);

  int get() const { return fd_.get(); }
  bool valid() const { return fd_.valid(); }
  explicit operator bool() const { return valid(); }
  // Hands the descriptor on (to a record that keeps a plain UniqueFd).
  UniqueFd release() { return std::move(fd_); }

  // pidfd_send_signal(2); signal 0 checks only that it could be sent.
  Status send_signal(int sig) const { return send_signal(get(), sig); }
  // The process has not been reaped yet: its pid still names it (a zombie
  // counts, as it holds its pid).
  bool alive() const { return alive(get()); }

  // The same for a pidfd held as a plain descriptor.
  static Status send_signal(int pidfd, int sig);
  static bool alive(int pidfd) { return send_signal(pidfd, 0).has_value(); }

 private:
  UniqueFd fd_;
};

}  // namespace containerfs::kernel
