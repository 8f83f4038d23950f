#include "procfs.hpp"

#include <elf.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <string_view>

#include <fmt/format.h>

#include "containerfs/util/directory.hpp"
#include "containerfs/util/text.hpp"

namespace containerfs::kernel::inject_detail {

namespace {

// A number filling the text but for blanks around it (as /proc writes
// "Tgid:\t42").
template <typename T>
bool parse_int(std::string_view s, T& out) {
  auto value = whole_number<T>(trimmed(s));
  if (value) out = *value;
  return value.has_value();
}

std::uint64_t parse_hex(std::string_view s) { return whole_number<std::uint64_t>(trimmed(s), 16).value_or(0); }

// "1\t2\t3": the numbers up to the first word that is not one.
std::vector<pid_t> parse_pid_list(std::string_view s) {
  std::vector<pid_t> out;
  for (auto word : words(s)) {
    auto pid = whole_number<pid_t>(word);
    if (!pid) break;
    out.push_back(*pid);
  }
  return out;
}

// A vanished /proc entry means the process (or thread) is gone.
std::unexpected<int> fail_proc() { return fail(errno == ENOENT ? ESRCH : (errno ? errno : EIO)); }

}  // namespace


Result<UniqueFd> open_proc_dir(pid_t pid) {
  UniqueFd fd(::open(fmt::format("/proc/{}", pid).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd) return fail_proc();
  return fd;
}

Result<std::string> read_small_file(int dirfd, const std::string& path) {
  UniqueFd fd(::openat(dirfd, path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return fail_proc();
  std::string out;
  char buf[4096];
  while (out.size() < (4u << 20)) {
    ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail_proc();
    }
    if (n == 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  return out;
}

Result<TaskStatus> read_status(int dirfd, const std::string& path) {
  auto text = read_small_file(dirfd, path);
  if (!text) return std::unexpected(text.error());
  TaskStatus st;
  bool have_tgid = false;
  for (auto line : Lines(*text)) {
    std::size_t colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    std::string_view key = line.substr(0, colon), val = line.substr(colon + 1);
    if (key == "State") {
      if (auto state = trimmed(val); !state.empty()) st.state = state.front();
    } else if (key == "Kthread") {
      parse_int(val, st.kthread);
    } else if (key == "Tgid") have_tgid = parse_int(val, st.tgid);
    else if (key == "TracerPid") parse_int(val, st.tracer_pid);
    else if (key == "Seccomp") parse_int(val, st.seccomp);
    else if (key == "Uid") {
      auto fields = parse_pid_list(val);  // real, effective, saved, fs
      if (fields.size() >= 2) st.euid = static_cast<uid_t>(fields[1]);
    } else if (key == "CapEff") {
      st.cap_effective = parse_hex(val);
    } else if (key == "SigPnd" || key == "ShdPnd") {
      st.pending |= parse_hex(val);
    }
    else if (key == "Threads") parse_int(val, st.threads);
    else if (key == "NSpid") st.nspid = parse_pid_list(val);
    else if (key == "NStgid") st.nstgid = parse_pid_list(val);
  }
  if (!have_tgid || st.nspid.empty() || st.nstgid.empty()) return fail(EIO);
  return st;
}

Result<TaskStat> read_stat(int dirfd, const std::string& path) {
  auto text = read_small_file(dirfd, path);
  if (!text) return std::unexpected(text.error());
  // "pid (comm) state ppid pgrp session tty_nr tpgid flags ..."; comm may
  // contain anything, so parse after the last ')'.
  std::size_t paren = text->rfind(')');
  if (paren == std::string::npos || paren + 2 >= text->size()) return fail(EIO);
  std::string_view rest = std::string_view(*text).substr(paren + 2);
  TaskStat st;
  st.state = rest.front();
  for (int field = 3; field < 9; ++field) {
    std::size_t sp = rest.find(' ');
    if (sp == std::string_view::npos) return fail(EIO);
    rest.remove_prefix(sp + 1);
  }
  if (!parse_int(rest.substr(0, rest.find(' ')), st.flags)) return fail(EIO);
  return st;
}

namespace {

// The non-negative numbers naming the entries of a /proc directory.
Result<std::vector<int>> list_numbers(int dirfd, const std::string& path) {
  auto entries = list_directory(dirfd, path);
  if (!entries) return fail(entries.error() == ENOENT ? ESRCH : entries.error());
  std::vector<int> numbers;
  for (const auto& entry : *entries)
    if (auto n = whole_number<int>(entry.name); n && *n >= 0) numbers.push_back(*n);
  return numbers;
}

}  // namespace

Result<std::vector<pid_t>> list_tasks(int procdir) {
  auto tids = list_numbers(procdir, "task");
  if (!tids) return std::unexpected(tids.error());
  std::erase(*tids, 0);
  if (tids->empty()) return fail(ESRCH);
  return tids;
}

Result<std::vector<int>> lowest_free_fds(int procdir, pid_t tid, std::size_t count) {
  auto open = list_numbers(procdir, fmt::format("task/{}/fd", tid));
  if (!open) return std::unexpected(open.error());
  std::sort(open->begin(), open->end());
  std::vector<int> free;
  auto in_use = open->begin();
  for (int fd = 0; free.size() < count; ++fd) {
    while (in_use != open->end() && *in_use < fd) ++in_use;
    if (in_use == open->end() || *in_use != fd) free.push_back(fd);
  }
  return free;
}

Result<NsId> ns_id_at(int dirfd, const std::string& path) {
  struct stat st{};
  if (::fstatat(dirfd, path.c_str(), &st, 0) != 0) return fail_proc();
  return NsId{st.st_dev, st.st_ino};
}

Result<ino_t> ns_inode_at(int dirfd, const std::string& path) {
  char buf[128];
  ssize_t n = ::readlinkat(dirfd, path.c_str(), buf, sizeof buf);
  if (n < 0) return fail_proc();
  std::string_view link(buf, static_cast<std::size_t>(n));
  const std::size_t open = link.find(":["), close = link.rfind(']');
  if (open == std::string_view::npos || close == std::string_view::npos || close < open + 2)
    return fail(EINVAL);
  ino_t ino = 0;
  if (!parse_int(link.substr(open + 2, close - open - 2), ino)) return fail(EINVAL);
  return ino;
}

Result<NsId> ns_id_of(int fd) {
  struct stat st{};
  if (::fstat(fd, &st) != 0) return fail_errno();
  return NsId{st.st_dev, st.st_ino};
}

Result<int> exe_elf_class(int procdir, const std::string& link) {
  UniqueFd fd(::openat(procdir, link.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return fail_proc();
  unsigned char ident[EI_NIDENT] = {};
  ssize_t n = ::pread(fd.get(), ident, sizeof ident, 0);
  if (n < 0) return fail_errno();
  if (n < EI_CLASS + 1 || ident[EI_MAG0] != ELFMAG0 || ident[EI_MAG1] != ELFMAG1 ||
      ident[EI_MAG2] != ELFMAG2 || ident[EI_MAG3] != ELFMAG3)
    return fail(ENOEXEC);
  return static_cast<int>(ident[EI_CLASS]);
}

Result<std::vector<Mapping>> read_maps(int procdir, const std::string& path) {
  auto text = read_small_file(procdir, path);
  if (!text) return std::unexpected(text.error());
  std::vector<Mapping> maps;
  for (auto line : Lines(*text)) {
    // start-end perms offset dev inode [name]
    Mapping m;
    std::size_t dash = line.find('-'), sp = line.find(' ');
    if (dash == std::string_view::npos || sp == std::string_view::npos || dash > sp) continue;
    auto start = whole_number<std::uint64_t>(line.substr(0, dash), 16);
    auto end = whole_number<std::uint64_t>(line.substr(dash + 1, sp - dash - 1), 16);
    if (!start || !end) continue;
    m.start = *start;
    m.end = *end;
    std::string_view perms = line.substr(sp + 1, 4);
    if (perms.size() < 3) continue;
    m.read = perms[0] == 'r';
    m.write = perms[1] == 'w';
    m.exec = perms[2] == 'x';
    // The name starts after the fifth field.
    std::string_view tail = line.substr(sp + 1);
    for (int field = 0; field < 4 && !tail.empty(); ++field) {
      std::size_t s = tail.find(' ');
      tail = s == std::string_view::npos ? std::string_view() : tail.substr(s + 1);
    }
    while (!tail.empty() && tail.front() == ' ') tail.remove_prefix(1);
    m.name = std::string(tail);
    maps.push_back(std::move(m));
  }
  return maps;
}

}  // namespace containerfs::kernel::inject_detail
