// What the kernel caches of the tree (entries, attributes, directory
// listings: see nodes.cpp for how long) is dropped here exactly when the
// tree changes in a way the kernel cannot see: a container ended by itself,
// a namespace change replaced files of a directory, a chown changed every
// file's owner, controller files came or went.
//
// The notifications go out on a thread of their own: the kernel answers
// them only once it holds the directory's lock, which a request being
// served may hold while it waits for the daemon, so they must never be
// sent from a request's own path (libfuse's rule for notify_inval_entry).
// Changes made through the mount itself (mkdir, rmdir, mv, ln -s, rm) the
// kernel keeps track of on its own.
#pragma once

#define FUSE_USE_VERSION 312
#include <fuse_lowlevel.h>

#include <condition_variable>
#include <deque>
#include <string>
#include <thread>
#include <variant>

#include "containerfs/fuse/inode.hpp"
#include "containerfs/util/mutex.hpp"

namespace containerfs::fuse {

class Invalidator {
 public:
  Invalidator();
  ~Invalidator();
  Invalidator(const Invalidator&) = delete;
  Invalidator& operator=(const Invalidator&) = delete;

  // Until set (and after stop()), requests are dropped: nothing is cached yet.
  void start(fuse_session* session);
  void stop();

  // The attributes of a node, and for a directory its cached listing.
  void inode(Node node);
  // The name `name` in directory `dir` (and the directory's listing).
  void entry(model::ContainerId dir, std::string name);
  // Waits until every request queued so far has been sent (for tests and
  // orderly answers where the caller is not a request).
  void flush();

 private:
  struct Inode {
    fuse_ino_t ino;
  };
  struct Entry {
    fuse_ino_t parent;
    std::string name;
  };
  using Job = std::variant<Inode, Entry>;
  void push(Job job);
  void run();

  Mutex mutex_;
  std::condition_variable_any wake_;
  std::deque<Job> queue_ GUARDED_BY(mutex_);
  fuse_session* session_ GUARDED_BY(mutex_) = nullptr;
  bool stopping_ GUARDED_BY(mutex_) = false;
  unsigned long long pushed_ GUARDED_BY(mutex_) = 0, done_ GUARDED_BY(mutex_) = 0;
  std::thread thread_;
};

}  // namespace containerfs::fuse
