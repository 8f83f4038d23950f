// The namespace kinds as the injector handles them: the files to compare,
// which need a single-threaded caller, and the order they are joined in.
#pragma once

#include <sched.h>

namespace containerfs::kernel::inject_detail {

struct KindInfo {
  int flag;
  const char* source_name;  // /proc/<source>/ns/<x>: what joining gives
  const char* own_name;     // /proc/<tid>/ns/<x> to compare: what setns changes
  const char* own_name2;    // a second one setns changes too, or nullptr
  bool single_threaded;     // setns refuses it for a multi-threaded caller
};

// In the order the per-namespace path joins them: user first (it may grant
// the capabilities for the others), pid next (fails on a non-descendant pid
// namespace before anything changed), mount last (it changes root and cwd).
inline constexpr KindInfo kKinds[] = {
    {CLONE_NEWUSER, "user", "user", nullptr, true},
    // setns(CLONE_NEWPID) sets the pid namespace for children; the process
    // keeps its own.
    {CLONE_NEWPID, "pid", "pid_for_children", nullptr, false},
    {CLONE_NEWNET, "net", "net", nullptr, false},
    {CLONE_NEWUTS, "uts", "uts", nullptr, false},
    {CLONE_NEWIPC, "ipc", "ipc", nullptr, false},
    {CLONE_NEWCGROUP, "cgroup", "cgroup", nullptr, false},
    // setns(CLONE_NEWTIME) switches both (and needs a single thread: EUSERS).
    {CLONE_NEWTIME, "time", "time", "time_for_children", true},
    // Joining a mount namespace makes the thread's root and working
    // directory the root of that namespace (setns(2)); it needs a
    // filesystem context not shared with other threads, which a thread of a
    // multi-threaded process gets first (unshare(CLONE_FS)).
    {CLONE_NEWNS, "mnt", "mnt", nullptr, false},
};

inline constexpr int all_flags() {
  int m = 0;
  for (const auto& k : kKinds) m |= k.flag;
  return m;
}
inline constexpr int single_threaded_flags() {
  int m = 0;
  for (const auto& k : kKinds)
    if (k.single_threaded) m |= k.flag;
  return m;
}

}  // namespace containerfs::kernel::inject_detail
