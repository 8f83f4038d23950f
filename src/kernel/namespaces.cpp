#include "containerfs/kernel/namespaces.hpp"

#include <fcntl.h>
#include <linux/nsfs.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/stat.h>

#include <fmt/format.h>

namespace containerfs::kernel {

namespace {

struct NsInfo {
  NsKind kind;
  std::string_view file;
  std::string_view proc;
  int flag;
};

constexpr std::array<NsInfo, 8> kNsInfo = {{
    {NsKind::network, "network", "net", CLONE_NEWNET},
    {NsKind::uts, "uts", "uts", CLONE_NEWUTS},
    {NsKind::ipc, "ipc", "ipc", CLONE_NEWIPC},
    {NsKind::pid, "pid", "pid", CLONE_NEWPID},
    {NsKind::user, "user", "user", CLONE_NEWUSER},
    {NsKind::mount, "mount", "mnt", CLONE_NEWNS},
    {NsKind::cgroup, "cgroup", "cgroup", CLONE_NEWCGROUP},
    {NsKind::time, "time", "time", CLONE_NEWTIME},
}};

const NsInfo& info(NsKind kind) { return kNsInfo[static_cast<size_t>(kind)]; }

}  // namespace

std::string_view ns_file_name(NsKind kind) { return info(kind).file; }
std::string_view ns_proc_name(NsKind kind) { return info(kind).proc; }
int ns_clone_flag(NsKind kind) { return info(kind).flag; }

std::optional<NsKind> ns_kind_from_file_name(std::string_view name) {
  for (const auto& i : kNsInfo)
    if (i.file == name) return i.kind;
  return std::nullopt;
}

std::optional<NsKind> ns_kind_from_clone_flag(int flag) {
  for (const auto& i : kNsInfo)
    if (i.flag == flag) return i.kind;
  return std::nullopt;
}

Result<int> parse_ns_list(std::string_view list) {
  if (list.ends_with(',')) return fail(EINVAL);
  int mask = 0;
  while (!list.empty()) {
    auto comma = list.find(',');
    auto item = list.substr(0, comma);
    list = comma == std::string_view::npos ? std::string_view{} : list.substr(comma + 1);
    if (item.empty()) return fail(EINVAL);
    auto kind = ns_kind_from_file_name(item);
    if (!kind) return fail(EINVAL);
    int flag = ns_clone_flag(*kind);
    if (mask & flag) return fail(EINVAL);
    mask |= flag;
  }
  return mask;
}

std::string ns_proc_path(pid_t pid, NsKind kind) {
  return fmt::format("/proc/{}/ns/{}", pid, ns_proc_name(kind));
}

Result<NsId> ns_id_of_path(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return fail_errno();
  return NsId{st.st_dev, st.st_ino};
}

Result<NsId> ns_id_of_fd(int fd) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) return fail_errno();
  return NsId{st.st_dev, st.st_ino};
}

Result<uid_t> user_ns_owner(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return fail_errno();
  uid_t owner = 0;
  if (::ioctl(fd.get(), NS_GET_OWNER_UID, &owner) != 0) return fail(errno == ENOTTY ? EINVAL : errno);
  return owner;
}

Result<int> ns_type_of_fd(int fd) {
  int type = ::ioctl(fd, NS_GET_NSTYPE);
  if (type < 0) return fail(errno == ENOTTY ? EINVAL : errno);
  return type;
}

namespace {

// Joins (on this thread) the namespace `target` refers to: an nsfs fd, or a
// pidfd for that kind of its namespaces; returns the way home.
Result<ThreadNsVisit> visit_from(int target, NsKind kind) {
  std::string home_path = kind == NsKind::pid ? "/proc/thread-self/ns/pid_for_children"
                                              : fmt::format("/proc/thread-self/ns/{}", ns_proc_name(kind));
  UniqueFd home(::open(home_path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!home) return fail_errno();
  if (::setns(target, ns_clone_flag(kind)) != 0) return fail_errno();
  return ThreadNsVisit(std::move(home), ns_clone_flag(kind));
}

}  // namespace

Result<ThreadNsVisit> ThreadNsVisit::enter(const std::string& path, NsKind kind) {
  UniqueFd target(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!target) return fail_errno();
  return visit_from(target.get(), kind);
}

Result<ThreadNsVisit> ThreadNsVisit::enter_process(int pidfd, NsKind kind) {
  return visit_from(pidfd, kind);
}

ThreadNsVisit::~ThreadNsVisit() {
  if (home_ && type_) ::setns(home_.get(), type_);
}

}  // namespace containerfs::kernel
