// A container's `console`, read and polled: its offsets are the console's
// byte counts (kernel/console_ring.hpp ConsoleReader), so `cat` gives what
// is kept and `tail -f` follows; poll(2) waits on the init's eventfd, which
// the daemon holds only while a poller waits.
#include <poll.h>

#include "containerfs/fuse/events_watch.hpp"
#include "containerfs/fuse/filesystem.hpp"
#include "containerfs/fuse/open_file.hpp"

namespace containerfs::fuse {

void read_console_file(fuse_req_t req, OpenFile& file, size_t size, off_t off) {
  if (off < 0) return (void)fuse_reply_err(req, EINVAL);
  auto output = filesystem(req).containers->console_output(file.node.id);
  if (!output) return (void)fuse_reply_err(req, output.error());
  auto bytes = file.console.read(*output, static_cast<std::uint64_t>(off), size);
  fuse_reply_buf(req, bytes.data(), bytes.size());
}

void poll_console_file(fuse_req_t req, OpenFile& file, std::uint64_t fh, fuse_pollhandle* ph) {
  auto& fs = filesystem(req);
  // Watch first (the eventfd is emptied as it is taken), then look: output
  // in between still wakes the poller.
  if (ph) {
    auto events = fs.containers->console_events(file.node.id);
    if (!events) {
      fuse_pollhandle_destroy(ph);
      return (void)fuse_reply_err(req, events.error());
    }
    if (auto ok = fs.events->watch_readable(EventsWatcher::kConsoleKey | file.node.id, fh, std::move(*events), ph); !ok)
      return (void)fuse_reply_err(req, ok.error());
  }
  auto written = fs.containers->console_size(file.node.id);
  if (!written) return (void)fuse_reply_err(req, written.error());
  unsigned revents = POLLOUT | POLLWRNORM;  // input is always taken (or waited for)
  if (*written > file.console.next()) revents |= POLLIN | POLLRDNORM;
  fuse_reply_poll(req, revents);
}

}  // namespace containerfs::fuse
