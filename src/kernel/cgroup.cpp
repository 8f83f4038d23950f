#include "containerfs/kernel/cgroup.hpp"

#include <dirent.h>
#include <linux/magic.h>
#include <poll.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <sys/xattr.h>

#include <thread>

#include <fmt/format.h>

#include "containerfs/util/directory.hpp"
#include "containerfs/util/file_io.hpp"
#include "containerfs/util/text.hpp"

namespace containerfs::kernel {

namespace {

constexpr const char* kRecordXattr = "trusted.containerfs";

Status check_cgroup2(int fd) {
  struct statfs sfs {};
  if (::fstatfs(fd, &sfs) != 0) return fail_errno();
  if (sfs.f_type != CGROUP2_SUPER_MAGIC) return fail(EINVAL);
  return {};
}

}  // namespace

Result<Cgroup> Cgroup::open(const std::string& path) {
  auto fd = open_at(AT_FDCWD, path, O_RDONLY | O_DIRECTORY);
  if (!fd) return fail(fd.error());
  if (auto ok = check_cgroup2(fd->get()); !ok) return fail(ok.error());
  return Cgroup(std::move(*fd), path);
}

Result<Cgroup> Cgroup::open_below(int dirfd, const std::string& rel, std::string path) {
  auto fd = open_at(dirfd, rel.empty() ? std::string(".") : rel, O_RDONLY | O_DIRECTORY);
  if (!fd) return fail(fd.error());
  return Cgroup(std::move(*fd), std::move(path));
}

Result<Cgroup> Cgroup::open_or_create(const std::string& path) {
  auto existing = open(path);
  if (existing || existing.error() != ENOENT) return existing;
  auto slash = path.rfind('/');
  if (slash == std::string::npos || slash == 0) return fail(ENOENT);
  auto parent = open_or_create(path.substr(0, slash));
  if (!parent) return fail(parent.error());
  if (::mkdir(path.c_str(), 0755) != 0 && errno != EEXIST) return fail_errno();
  return open(path);
}

Result<Cgroup> Cgroup::create_child(const std::string& name) const {
  if (::mkdirat(fd(), name.c_str(), 0755) != 0) return fail_errno();
  return open_child(name);
}

Result<Cgroup> Cgroup::open_child(const std::string& name) const {
  auto fd = open_at(this->fd(), name, O_RDONLY | O_DIRECTORY);
  if (!fd) return fail(fd.error());
  return Cgroup(std::move(*fd), path_ + "/" + name);
}

Result<std::vector<std::string>> Cgroup::children() const {
  auto entries = list_directory(fd(), ".");
  if (!entries) return fail(entries.error());
  std::vector<std::string> names;
  for (auto& e : *entries)
    if (e.type == DT_DIR) names.push_back(std::move(e.name));
  return names;
}

Status Cgroup::lock_exclusive() const {
  if (::flock(fd(), LOCK_EX | LOCK_NB) != 0) return fail_errno();
  return {};
}

Result<std::vector<pid_t>> Cgroup::procs() const {
  auto text = read("cgroup.procs");
  if (!text) return fail(text.error());
  std::vector<pid_t> pids;
  for (auto line : Lines(*text)) {
    if (line.empty()) continue;
    auto pid = whole_number<pid_t>(line);
    if (!pid) return fail(EIO);  // the kernel writes one pid a line
    pids.push_back(*pid);
  }
  return pids;
}

Result<std::vector<pid_t>> Cgroup::procs_below() const {
  auto pids = procs();
  if (!pids) return fail(pids.error());
  auto below = children();
  if (!below) return fail(below.error());
  for (const auto& name : *below) {
    auto child = open_child(name);
    if (!child) {
      if (child.error() == ENOENT) continue;  // removed meanwhile
      return fail(child.error());
    }
    auto more = child->procs_below();
    if (!more) return fail(more.error());
    pids->insert(pids->end(), more->begin(), more->end());
  }
  return pids;
}

Status Cgroup::kill_all() const { return write("cgroup.kill", "1"); }

Result<bool> Cgroup::populated() const {
  auto text = read("cgroup.events");
  if (!text) return fail(text.error());
  return text->find("populated 1") != std::string::npos;
}

Result<bool> Cgroup::freeze_requested() const {
  auto text = read("cgroup.freeze");
  if (!text) return fail(text.error());
  return text->starts_with("1");
}

namespace {

// Polls cgroup.events until `line` appears in it, at most `timeout`.
Status wait_for_event(int cgroup_fd, std::string_view line, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  auto events = open_at(cgroup_fd, "cgroup.events", O_RDONLY);
  if (!events) return fail(events.error());
  for (;;) {
    auto text = read_fd(events->get());
    if (!text) return fail(text.error());
    if (text->find(line) != std::string::npos) return {};
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return fail(EBUSY);
    // kernfs wakes pollers of cgroup.events with POLLPRI on every change;
    // the short cap guards against a change slipping in before poll().
    pollfd pfd{events->get(), POLLPRI, 0};
    ::poll(&pfd, 1, static_cast<int>(std::min<long>(left.count(), 50)));
  }
}

}  // namespace

Status Cgroup::wait_empty(std::chrono::milliseconds timeout) const {
  return wait_for_event(fd(), "populated 0", timeout);
}

Status Cgroup::wait_frozen(bool frozen, std::chrono::milliseconds timeout) const {
  return wait_for_event(fd(), frozen ? "frozen 1" : "frozen 0", timeout);
}

Status Cgroup::remove_child(const std::string& name, std::chrono::milliseconds timeout) const {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (auto pause = std::chrono::microseconds(100);; pause = std::min(pause * 2, decltype(pause)(20000))) {
    if (::unlinkat(fd(), name.c_str(), AT_REMOVEDIR) == 0) return {};
    if (errno != EBUSY) return fail_errno();
    if (std::chrono::steady_clock::now() >= deadline) return fail(EBUSY);
    std::this_thread::sleep_for(pause);
  }
}

Status Cgroup::remove_child_tree(const std::string& name, std::chrono::milliseconds timeout) const {
  // Bottom-up: software inside a container (systemd, a nested runtime) may
  // have made cgroups of its own below the leaves.
  auto child = open_child(name);
  if (!child) return fail(child.error());
  auto below = child->children();
  if (!below) return fail(below.error());
  for (const auto& dir : *below)
    if (auto ok = child->remove_child_tree(dir, timeout); !ok) return ok;
  return remove_child(name, timeout);
}

Status Cgroup::enable_controllers() const {
  auto available = read("cgroup.controllers");
  if (!available) return fail(available.error());
  Status result;
  size_t pos = 0;
  std::string_view all = *available;
  while (pos < all.size()) {
    auto end = all.find_first_of(" \n", pos);
    if (end == std::string_view::npos) end = all.size();
    if (end > pos) {
      auto ok = write("cgroup.subtree_control", fmt::format("+{}", all.substr(pos, end - pos)));
      if (!ok && result) result = ok;
    }
    pos = end + 1;
  }
  return result;
}

Result<std::string> Cgroup::read(const std::string& file) const { return read_file_at(fd(), file); }

Status Cgroup::write(const std::string& file, std::string_view text) const {
  return write_file_at(fd(), file, text);
}

Result<std::string> Cgroup::get_xattr(const char* name) const {
  std::string buf(4096, '\0');
  for (;;) {
    ssize_t n = ::fgetxattr(fd(), name, buf.data(), buf.size());
    if (n >= 0) {
      buf.resize(static_cast<size_t>(n));
      return buf;
    }
    if (errno != ERANGE) return fail_errno();
    buf.resize(buf.size() * 4);
  }
}

Status Cgroup::set_xattr(const char* name, std::string_view value) const {
  if (::fsetxattr(fd(), name, value.data(), value.size(), 0) != 0) return fail_errno();
  return {};
}

Result<std::string> Cgroup::get_record() const { return get_xattr(kRecordXattr); }

Status Cgroup::set_record(std::string_view record) const { return set_xattr(kRecordXattr, record); }

Result<std::string> parse_proc_cgroup(std::string_view text) {
  for (auto line : Lines(text))
    if (line.starts_with("0::")) return std::string(line.substr(3));
  return fail(ENOENT);
}

Result<std::string> cgroup_of_process(pid_t pid) {
  auto text = read_file(fmt::format("/proc/{}/cgroup", pid));
  if (!text) return fail(text.error());
  return parse_proc_cgroup(*text);
}

}  // namespace containerfs::kernel
