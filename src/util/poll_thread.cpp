#include "containerfs/util/poll_thread.hpp"

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>

#include "containerfs/util/log.hpp"

namespace containerfs {

PollThread::PollThread(int fd, std::function<void()> on_readable)
    : fd_(fd), on_readable_(std::move(on_readable)), stop_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {
  thread_ = std::thread([this] { run(); });
}

PollThread::~PollThread() {
  std::uint64_t one = 1;
  (void)!::write(stop_.get(), &one, sizeof one);
  thread_.join();
}

void PollThread::run() {
  for (;;) {
    on_readable_();
    pollfd fds[2] = {{fd_, POLLIN, 0}, {stop_.get(), POLLIN, 0}};
    while (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      log::error("a watcher thread stops: poll: {}", log::errno_text(errno));
      return;
    }
    if (fds[1].revents) return;
  }
}

}  // namespace containerfs
