// A cgroup v2 directory held open by fd, for as long as an operation needs
// it (the daemon keeps none open but its own): create children, list
// processes, kill, wait for emptiness, remove (retrying EBUSY), and keep a
// record in an xattr on the directory itself.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <string>
#include <vector>

#include "containerfs/util/fd.hpp"
#include "containerfs/util/result.hpp"

namespace containerfs::kernel {

class Cgroup {
 public:
  Cgroup() = default;
  Cgroup(UniqueFd dirfd, std::string path) : fd_(std::move(dirfd)), path_(std::move(path)) {}

  // Opens an existing cgroup v2 directory (ENOTDIR/ENOENT; EINVAL if not cgroup2).
  static Result<Cgroup> open(const std::string& path);
  // Opens `rel` below the directory `dirfd` is (no check for cgroup2: the
  // caller knows it is one); `path` is what logs call it.
  static Result<Cgroup> open_below(int dirfd, const std::string& rel, std::string path);
  // Opens `path`, creating it (and missing parents) first.
  static Result<Cgroup> open_or_create(const std::string& path);

  int fd() const { return fd_.get(); }
  const std::string& path() const { return path_; }
  bool valid() const { return fd_.valid(); }

  // mkdir of a child directory; EEXIST if present.
  Result<Cgroup> create_child(const std::string& name) const;
  Result<Cgroup> open_child(const std::string& name) const;
  // Names of the child cgroup directories.
  Result<std::vector<std::string>> children() const;

  // Takes an exclusive, non-blocking flock on the directory: EWOULDBLOCK
  // when another daemon owns it.
  Status lock_exclusive() const;

  Result<std::vector<pid_t>> procs() const;
  // The processes of this cgroup and of every cgroup below it.
  Result<std::vector<pid_t>> procs_below() const;
  Status kill_all() const;               // cgroup.kill
  Result<bool> populated() const;        // cgroup.events
  // cgroup.freeze: whether this cgroup itself is asked to be frozen.
  Result<bool> freeze_requested() const;
  // Waits until the cgroup has no live process, at most `timeout`.
  Status wait_empty(std::chrono::milliseconds timeout) const;
  // Waits until cgroup.events says "frozen <frozen>", at most `timeout`
  // (EBUSY then).
  Status wait_frozen(bool frozen, std::chrono::milliseconds timeout) const;
  // rmdir of a child, retried while the kernel says EBUSY, at most `timeout`.
  Status remove_child(const std::string& name, std::chrono::milliseconds timeout) const;
  // rmdir of a child and, bottom-up, of every (process-free) cgroup below it.
  Status remove_child_tree(const std::string& name, std::chrono::milliseconds timeout) const;
  // Enables for the children every controller this cgroup has (best effort:
  // returns the first refusal, having tried them all).
  Status enable_controllers() const;

  Result<std::string> read(const std::string& file) const;
  Status write(const std::string& file, std::string_view text) const;

  // The containerfs record (xattr trusted.containerfs); ENODATA if none.
  Result<std::string> get_record() const;
  Status set_record(std::string_view record) const;
  // Any extended attribute of the directory; ENODATA if none.
  Result<std::string> get_xattr(const char* name) const;
  Status set_xattr(const char* name, std::string_view value) const;

 private:
  UniqueFd fd_;
  std::string path_;
};

// The cgroup v2 path of a process relative to the cgroup2 mount ("/a/b"),
// from the "0::" line of /proc/PID/cgroup.
Result<std::string> cgroup_of_process(pid_t pid);
// Pure parser of /proc/PID/cgroup text.
Result<std::string> parse_proc_cgroup(std::string_view text);

}  // namespace containerfs::kernel
