// The FUSE side: the low-level operations table and what every operation
// shares. One operation per file under src/fuse/ops/.
#pragma once

#define FUSE_USE_VERSION 312
#include <fuse_lowlevel.h>
#include <sys/stat.h>

#include <string>
#include <vector>

#include "containerfs/fuse/inode.hpp"
#include "containerfs/model/containers.hpp"

namespace containerfs::kernel {
class InjectorProcess;
}
namespace containerfs::model {
class HomePlaces;
}

namespace containerfs::fuse {

class EventsWatcher;
class Invalidator;

struct Filesystem {
  model::Containers* containers = nullptr;  // set once the daemon has detached
  kernel::InjectorProcess* injector = nullptr;  // moves processes into containers
  model::HomePlaces* places = nullptr;          // where they stood before (tasks of the host)
  EventsWatcher* events = nullptr;       // poll on `events` files
  Invalidator* invalidator = nullptr;    // drops what the kernel caches
};

fuse_lowlevel_ops make_operations();

// --- shared by the operations ---
Filesystem& filesystem(fuse_req_t req);

// The files a container directory lists, in order (directory excluded).
std::vector<model::FileKind> files_of(const model::ContainerView& c);
// Whether `node` exists now; ENOENT otherwise.
Result<model::ContainerView> existing(Filesystem& fs, Node node);
Status exists_in(Filesystem& fs, const model::ContainerView& c, Node node);
// `caller`: the pid asking (what `self` points to depends on who asks).
Result<struct stat> stat_of(Filesystem& fs, Node node, pid_t caller);
// The same with the container already in hand.
Result<struct stat> stat_from_view(Filesystem& fs, const model::ContainerView& c, Node node, pid_t caller);
struct stat directory_stat(model::ContainerId id, uid_t uid, gid_t gid, std::size_t children);
// How long the kernel may keep a node's attributes, and its name.
double attr_timeout(Node node);
double entry_timeout(Node node);
// The listing of a container directory (listing.cpp).
struct DirEntryOut;
Result<std::vector<DirEntryOut>> list_directory_of(Filesystem& fs, model::ContainerId id, pid_t caller);
// A change the model reports by itself (a container ended with its init).
void forget_change(Filesystem& fs, const model::TreeChange& change);
// What a symlink node reads as (`self`, a namespace file, a pending link);
// its st_size is this text's length.
Result<std::string> link_target(Filesystem& fs, Node node, pid_t caller);
// Replies with an entry for `node`, or with its errno.
void reply_entry(fuse_req_t req, Filesystem& fs, Node node);
// The container directory named by (parent inode, name); ENOTDIR/ENOENT.
Result<model::ContainerId> container_dir(fuse_ino_t ino);

// File contents as a read sees them, and the effect of a write.
Result<std::string> render_file(Filesystem& fs, Node node, pid_t reader);
// Returns the number of bytes consumed, or an errno (not for tasks files:
// write_tasks, tasks_write.hpp).
Result<size_t> write_file(Filesystem& fs, fuse_req_t req, Node node, std::string_view data);
bool is_writable(model::FileKind kind);
bool is_readable(model::FileKind kind);

struct OpenFile;
// `console` (console_file.cpp): read at the console's own offsets, and
// poll(2) that wakes on new output.
void read_console_file(fuse_req_t req, OpenFile& file, size_t size, off_t off);
void poll_console_file(fuse_req_t req, OpenFile& file, std::uint64_t fh, fuse_pollhandle* ph);

}  // namespace containerfs::fuse
