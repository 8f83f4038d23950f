#include "containerfs/kernel/process.hpp"

#include <fcntl.h>
#include <linux/nsfs.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <cstdlib>

#include <fmt/format.h>

#include "containerfs/kernel/namespaces.hpp"
#include "containerfs/util/directory.hpp"
#include "containerfs/util/fd.hpp"
#include "containerfs/util/file_io.hpp"
#include "containerfs/util/text.hpp"

namespace containerfs::kernel {

namespace {

// The value of "Key:\tvalue" in a /proc status text, blanks around it removed.
Result<std::string_view> status_value(std::string_view text, std::string_view key) {
  for (auto line : Lines(text))
    if (line.size() > key.size() && line.starts_with(key) && line[key.size()] == ':')
      return trimmed(line.substr(key.size() + 1));
  return fail(ENOENT);
}

}  // namespace

Result<std::string> status_field(pid_t pid, std::string_view field) {
  auto text = read_file(fmt::format("/proc/{}/status", pid));
  if (!text) return fail(text.error());
  auto value = status_value(*text, field);
  if (!value) return fail(value.error());
  return std::string(*value);
}

Result<unsigned long long> stat_field(std::string_view text, int number) {
  auto close = text.rfind(')');
  if (number < 3 || close == std::string_view::npos) return fail(EINVAL);
  text.remove_prefix(close + 1);
  for (int field = 2; field < number; ++field) {
    auto space = text.find(' ');
    if (space == std::string_view::npos) return fail(EINVAL);
    text.remove_prefix(space + 1);
  }
  auto value = whole_number<unsigned long long>(text.substr(0, text.find_first_of(" \n")));
  if (!value) return fail(EINVAL);
  return *value;
}

Result<std::vector<pid_t>> parse_ns_pids(std::string_view text) {
  auto line = status_value(text, "NSpid");
  if (!line) return fail(line.error());
  std::vector<pid_t> pids;
  for (auto word : words(*line)) {
    auto pid = whole_number<pid_t>(word);
    if (!pid || *pid <= 0) return fail(EINVAL);
    pids.push_back(*pid);
  }
  if (pids.empty()) return fail(EINVAL);
  return pids;
}

Result<std::vector<pid_t>> ns_pids(pid_t pid) {
  auto text = read_file(fmt::format("/proc/{}/status", pid));
  if (!text) return fail(text.error());
  return parse_ns_pids(*text);
}

Result<pid_t> tgid_of(pid_t tid) {
  auto value = status_field(tid, "Tgid");
  if (!value) return fail(value.error());
  auto pid = whole_number<pid_t>(*value);
  if (!pid) return fail(EINVAL);
  return *pid;
}

Result<bool> under_seccomp(pid_t pid) {
  auto tasks = list_directory(AT_FDCWD, fmt::format("/proc/{}/task", pid));
  if (!tasks) return fail(tasks.error() == ENOENT ? ESRCH : tasks.error());
  // (/proc/TID is there for every thread, if not listed.) A thread that
  // exited meanwhile, or a kernel without seccomp, has no such line.
  for (const auto& task : *tasks) {
    auto tid = whole_number<pid_t>(task.name);
    if (!tid) continue;
    if (auto mode = status_field(*tid, "Seccomp"); mode && !mode->empty() && *mode != "0") return true;
  }
  return false;
}

Result<std::optional<pid_t>> pid_as_seen_by(pid_t pid, pid_t reader) {
  // (Built in place: GCC 12 warns, wrongly, about a converted empty optional.)
  const Result<std::optional<pid_t>> invisible(std::in_place, std::nullopt);
  auto reader_ns = ns_id_of_path(ns_proc_path(reader, NsKind::pid));
  auto own_ns = ns_id_of_path("/proc/self/ns/pid");
  if (!reader_ns) return fail(reader_ns.error());
  if (own_ns && *own_ns == *reader_ns) return std::optional<pid_t>(pid);
  auto reader_levels = ns_pids(reader);
  auto target_levels = ns_pids(pid);
  if (!reader_levels) return fail(reader_levels.error());
  if (!target_levels) return fail(target_levels.error());
  size_t level = reader_levels->size();
  if (target_levels->size() < level) return invisible;
  // Same depth is not enough: walk the target's pid namespace up to the
  // reader's depth and compare identities.
  auto fd = open_at(AT_FDCWD, ns_proc_path(pid, NsKind::pid), O_RDONLY);
  if (!fd) return fail(fd.error());
  UniqueFd cur = std::move(*fd);
  for (size_t up = target_levels->size() - level; up > 0; --up) {
    int parent = ::ioctl(cur.get(), NS_GET_PARENT);
    if (parent < 0) return invisible;
    cur.reset(parent);
  }
  auto id = ns_id_of_fd(cur.get());
  if (!id) return fail(id.error());
  if (!(*id == *reader_ns)) return invisible;
  return std::optional<pid_t>((*target_levels)[level - 1]);
}

Result<pid_t> pid_from_view_of(pid_t pid, pid_t viewer) {
  auto viewer_ns = ns_id_of_path(ns_proc_path(viewer, NsKind::pid));
  auto own_ns = ns_id_of_path("/proc/self/ns/pid");
  if (!viewer_ns) return fail(viewer_ns.error());
  if (own_ns && *own_ns == *viewer_ns) {
    if (::access(fmt::format("/proc/{}", pid).c_str(), F_OK) != 0) return fail(ESRCH);
    return pid;
  }
  // A viewer inside a pid namespace: find the process it calls `pid`.
  auto entries = list_directory(AT_FDCWD, "/proc");
  if (!entries) return fail(entries.error());
  for (const auto& entry : *entries) {
    auto candidate = whole_number<pid_t>(entry.name);
    if (!candidate) continue;
    auto seen = pid_as_seen_by(*candidate, viewer);
    if (seen && *seen && **seen == pid) return *candidate;
  }
  return fail(ESRCH);
}


Result<std::string> read_hostname(int pidfd) {
  auto visit = ThreadNsVisit::enter_process(pidfd, NsKind::uts);
  if (!visit) return fail(visit.error());
  struct utsname u {};
  if (::uname(&u) != 0) return fail_errno();
  return std::string(u.nodename);
}

Status write_hostname(int pidfd, std::string_view name) {
  if (name.size() > 64) return fail(EINVAL);
  auto visit = ThreadNsVisit::enter_process(pidfd, NsKind::uts);
  if (!visit) return fail(visit.error());
  if (::sethostname(name.data(), name.size()) != 0) return fail_errno();
  return {};
}

}  // namespace containerfs::kernel
