// Whether setns(2) will let a thread join namespaces, known before anything
// is touched: a move the kernel would refuse halfway (after the cgroup was
// written, or after a writer moving itself was answered) is refused up front
// instead, with the errno setns would give.
//
// The rules are those of the kernel's *_install functions, as setns(pidfd,
// flags) applies them (kernel/nsproxy.c, validate_nsset): a user namespace
// first, which needs CAP_SYS_ADMIN in it and then gives every capability
// there; each other namespace needs CAP_SYS_ADMIN over its owning user
// namespace and over the thread's own (mount also CAP_SYS_CHROOT); a pid
// namespace must be the thread's active one or a descendant (EINVAL).
// "Capable" is cap_capable(): the thread's effective set in its own user
// namespace, every capability in a user namespace whose owner is the
// thread's euid and whose parent is the thread's, and so in what lies below.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <vector>

#include "containerfs/util/result.hpp"

namespace containerfs::kernel::inject_detail {

// User or pid namespaces by inode, with their parents (0: the root as
// seen) and, for user namespaces, their owners.
class NsTree {
 public:
  void add(ino_t ns, ino_t parent, uid_t owner = 0) { nodes_[ns] = Node{parent, owner}; }
  bool knows(ino_t ns) const { return nodes_.count(ns) != 0; }
  ino_t parent(ino_t ns) const;
  uid_t owner(ino_t ns) const;
  int level(ino_t ns) const;

 private:
  struct Node {
    ino_t parent = 0;
    uid_t owner = 0;
  };
  std::map<ino_t, Node> nodes_;
};

struct ThreadCreds {
  ino_t user_ns = 0;
  uid_t euid = 0;
  std::uint64_t cap_effective = 0;
  ino_t active_pid_ns = 0;
};

struct Joining {
  int flag = 0;          // CLONE_NEW*
  ino_t ns = 0;          // the namespace (used for user and pid)
  ino_t owner_user_ns = 0;  // its owning user namespace (for user: its parent)
};

// cap_capable(): whether `creds` has capability `cap` in user namespace `ns`.
bool ns_capable(const NsTree& users, const ThreadCreds& creds, ino_t ns, int cap);

// 0 if setns would join them all; else its errno (EPERM, EINVAL).
int predict_setns(const NsTree& users, const NsTree& pids, ThreadCreds creds,
                  const std::vector<Joining>& joining);

// The nsfs side: adds the user namespace open at `fd` and its ancestors to
// `users` (NS_GET_PARENT, NS_GET_OWNER_UID); returns its inode.
Result<ino_t> add_user_ns(NsTree& users, int fd);
// The same for a pid namespace.
Result<ino_t> add_pid_ns(NsTree& pids, int fd);

}  // namespace containerfs::kernel::inject_detail
