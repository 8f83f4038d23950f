// A thread that serves one descriptor: it runs a handler once at start and
// then each time the descriptor is readable, until the PollThread is
// destroyed (an eventfd of its own wakes it to stop; the destructor joins).
// The handler must not block: it reads what is there (the descriptor is
// non-blocking) and returns. The descriptor stays its owner's and must
// outlive the PollThread (declare the PollThread after it).
//
// The daemon's watchers are built on it: the reaper (a signalfd), the file
// watch (an inotify instance), the console pollers (an epoll set).
#pragma once

#include <functional>
#include <thread>

#include "containerfs/util/fd.hpp"

namespace containerfs {

class PollThread {
 public:
  PollThread(int fd, std::function<void()> on_readable);
  ~PollThread();
  PollThread(const PollThread&) = delete;
  PollThread& operator=(const PollThread&) = delete;

 private:
  void run();
  int fd_;
  std::function<void()> on_readable_;
  UniqueFd stop_;  // eventfd
  std::thread thread_;
};

}  // namespace containerfs
