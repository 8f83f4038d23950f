// How a child the daemon starts (an init, a program for `run`) reports
// back: over a SOCK_SEQPACKET socket pair whose writing end the child and
// its descendants hold (close-on-exec) until they exec. One message is an
// errno (> 0), or 0 with a descriptor passed along; end of file means that
// every writer has exec'd or exited.
//
// The child's side is made of raw system calls only (it may share the
// daemon's memory); the daemon's side waits, always within a bound.
#pragma once

#include <chrono>

#include "containerfs/util/fd.hpp"
#include "containerfs/util/result.hpp"

namespace containerfs::kernel {

// Every step of starting a child is waited for at most this long: a child
// that stops (a frozen cgroup stops it before it can exec) is killed, never
// waited for without end.
inline constexpr std::chrono::milliseconds kChildStepBound{5000};

// Child side: reports `err` (raw calls only).
void send_child_errno(int sock, int err);
// Child side: passes a descriptor (a pidfd) along with a 0.
void send_child_fd(int sock, int fd);

// Daemon side: the next message within `bound` (ETIMEDOUT past it): the
// errno, 0 (with the passed descriptor in *passed, if given), or -1 at end
// of file.
Result<int> next_child_status(int sock, UniqueFd* passed, std::chrono::milliseconds bound = kChildStepBound);

// Whether the process a pidfd names has exited (no wait).
bool has_exited(int pidfd);
// SIGKILL (which ends a frozen process too), then a bounded wait for the
// exit, then the reap (ECHILD is fine: not, or no longer, our child).
// False if it still runs after the bound.
bool kill_and_reap(int pidfd);

}  // namespace containerfs::kernel
