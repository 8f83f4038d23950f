// Reaps the daemon's children (container inits, adopted ones) on one thread,
// so that no zombie is ever left: PID 1 of the machine may not reap them.
//
// It waits on each watched process's pidfd, never with waitpid(-1): a wait
// for "any child" would also swallow the stops of processes that the
// injector is tracing.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <functional>
#include <mutex>
#include <thread>
#include <unordered_map>

#include "containerfs/util/fd.hpp"
#include "containerfs/util/result.hpp"

namespace containerfs::kernel {

class Reaper {
 public:
  // Called once, before any other thread exists: makes the daemon a child
  // subreaper, so that a grandchild init (user namespaces) is its child.
  static void prepare_process();

  // on_exit runs on the reaper thread after a watched process is reaped.
  explicit Reaper(std::function<void(pid_t)> on_exit = {});
  ~Reaper();
  Reaper(const Reaper&) = delete;
  Reaper& operator=(const Reaper&) = delete;

  // Watches a child (the pidfd is duplicated); reaped as soon as it exits.
  Status watch(pid_t pid, int pidfd);

 private:
  void run();
  std::function<void(pid_t)> on_exit_;
  UniqueFd epoll_;
  UniqueFd wake_;  // eventfd: stop request
  std::mutex mutex_;
  std::unordered_map<int, pid_t> watched_;  // pidfd -> pid
  std::thread thread_;
};

// Reaps one exited child by pidfd, waiting at most until it exits if `block`.
Status reap_pidfd(int pidfd, bool block);

}  // namespace containerfs::kernel
