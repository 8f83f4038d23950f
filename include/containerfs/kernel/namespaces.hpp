// The eight namespace kinds, their file names, clone flags and /proc names.
#pragma once

#include <sys/types.h>

#include <array>
#include <optional>
#include <string>
#include <string_view>

#include "containerfs/util/fd.hpp"
#include "containerfs/util/result.hpp"

namespace containerfs::kernel {

enum class NsKind { network, uts, ipc, pid, user, mount, cgroup, time };

inline constexpr std::array<NsKind, 8> kAllNsKinds = {
    NsKind::network, NsKind::uts,   NsKind::ipc,    NsKind::pid,
    NsKind::user,    NsKind::mount, NsKind::cgroup, NsKind::time};

// File name in a container directory: "network", "uts", ...
std::string_view ns_file_name(NsKind kind);
// Name under /proc/PID/ns: "net", "uts", ..., "pid_for_children" is not used.
std::string_view ns_proc_name(NsKind kind);
// CLONE_NEW* flag of the kind.
int ns_clone_flag(NsKind kind);
std::optional<NsKind> ns_kind_from_file_name(std::string_view name);
std::optional<NsKind> ns_kind_from_clone_flag(int flag);

// Parses a comma separated list of file names ("network,uts"); EINVAL on an
// unknown or repeated name. Returns a CLONE_NEW* mask.
Result<int> parse_ns_list(std::string_view list);

// /proc/PID/ns/<proc name>
std::string ns_proc_path(pid_t pid, NsKind kind);

// Identity of a namespace: nsfs device and inode.
struct NsId {
  dev_t dev = 0;
  ino_t ino = 0;
  friend bool operator==(const NsId&, const NsId&) = default;
};

Result<NsId> ns_id_of_path(const std::string& path);
Result<NsId> ns_id_of_fd(int fd);
// The CLONE_NEW* type of an open namespace fd (NS_GET_NSTYPE); EINVAL if the
// fd is not a namespace.
Result<int> ns_type_of_fd(int fd);
// The uid that owns the user namespace at `path` (NS_GET_OWNER_UID), as the
// daemon's user namespace sees it.
Result<uid_t> user_ns_owner(const std::string& path);

// This thread joins the namespace at `path` (setns is per thread) for the
// lifetime of the object, and goes back to the one it had on destruction.
// For the pid namespace that is the namespace of the thread's children.
// Not for mount or user namespaces (per process).
class ThreadNsVisit {
 public:
  static Result<ThreadNsVisit> enter(const std::string& path, NsKind kind);
  // The namespace of that kind of the process a pidfd names (setns(2) on a
  // pidfd, Linux 5.8).
  static Result<ThreadNsVisit> enter_process(int pidfd, NsKind kind);
  ThreadNsVisit() = default;
  ThreadNsVisit(UniqueFd home, int type) : home_(std::move(home)), type_(type) {}
  ThreadNsVisit(ThreadNsVisit&&) = default;
  ThreadNsVisit& operator=(ThreadNsVisit&&) = default;
  ~ThreadNsVisit();

 private:
  UniqueFd home_;
  int type_ = 0;
};

}  // namespace containerfs::kernel
