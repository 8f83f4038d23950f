// poll(2)/select(2) on `events`: readable (and POLLPRI, as cgroup.events
// is) once the state differs from what this open file last read. inotify
// does not work through FUSE; this is the way to wait.
#include <poll.h>

#include "containerfs/fuse/events_watch.hpp"
#include "containerfs/fuse/filesystem.hpp"
#include "containerfs/fuse/open_file.hpp"

namespace containerfs::fuse {

void op_poll(fuse_req_t req, fuse_ino_t, fuse_file_info* fi, fuse_pollhandle* ph) {
  auto& fs = filesystem(req);
  auto* file = reinterpret_cast<OpenFile*>(fi->fh);
  if (file->node.kind == model::FileKind::console) return poll_console_file(req, *file, fi->fh, ph);
  if (file->node.kind != model::FileKind::events) {
    if (ph) fuse_pollhandle_destroy(ph);
    return (void)fuse_reply_poll(req, POLLIN | POLLRDNORM | POLLOUT | POLLWRNORM);
  }
  // Watch first, then look: a change in between still wakes the poller.
  if (ph) {
    auto files = fs.containers->events_files(file->node.id);
    if (!files) {
      fuse_pollhandle_destroy(ph);
      return (void)fuse_reply_err(req, files.error());
    }
    if (auto ok = fs.events->watch(file->node.id, fi->fh, *files, ph); !ok)
      return (void)fuse_reply_err(req, ok.error());
  }
  auto now = render_file(fs, file->node, fuse_req_ctx(req)->pid);
  if (!now) return (void)fuse_reply_err(req, now.error());
  unsigned revents = *now != file->content ? (POLLIN | POLLRDNORM | POLLPRI) : 0;
  fuse_reply_poll(req, revents);
}

}  // namespace containerfs::fuse
