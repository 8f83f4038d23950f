#include "containerfs/kernel/root_fs.hpp"

#include <fcntl.h>
#include <linux/mount.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cerrno>

namespace containerfs::kernel {

namespace {

struct DeviceNode {
  const char* path;  // in the new tree, relative
  const char* host;  // bound instead where mknod is not allowed
  unsigned major;
  unsigned minor;
};

constexpr DeviceNode kNodes[] = {
    {"dev/null", "/dev/null", 1, 3},       {"dev/zero", "/dev/zero", 1, 5},
    {"dev/full", "/dev/full", 1, 7},       {"dev/random", "/dev/random", 1, 8},
    {"dev/urandom", "/dev/urandom", 1, 9}, {"dev/tty", "/dev/tty", 5, 0},
};

constexpr const char* kLinks[][2] = {
    {"pts/ptmx", "dev/ptmx"},          {"/proc/self/fd", "dev/fd"},
    {"/proc/self/fd/0", "dev/stdin"}, {"/proc/self/fd/1", "dev/stdout"},
    {"/proc/self/fd/2", "dev/stderr"},
};

constexpr unsigned long kNoSuidDevExec = MS_NOSUID | MS_NODEV | MS_NOEXEC;

int mkdir_here(const char* path, mode_t mode) {
  if (::mkdirat(AT_FDCWD, path, mode) != 0 && errno != EEXIST) return errno;
  return 0;
}

int make_node(const DeviceNode& n) {
  if (::mknodat(AT_FDCWD, n.path, S_IFCHR | 0666, makedev(n.major, n.minor)) == 0)
    return ::fchmodat(AT_FDCWD, n.path, 0666, 0) == 0 ? 0 : errno;
  if (errno != EPERM) return errno;
  // No mknod here (a user namespace, or a device filter): the host's node.
  int fd = ::openat(AT_FDCWD, n.path, O_CREAT | O_WRONLY | O_CLOEXEC, 0666);
  if (fd < 0) return errno;
  ::close(fd);
  return ::mount(n.host, n.path, nullptr, MS_BIND, nullptr) == 0 ? 0 : errno;
}

int mount_sys() {
  if (::mount("sysfs", "sys", "sysfs", MS_RDONLY | kNoSuidDevExec, nullptr) == 0) return 0;
  if (errno != EPERM) return errno;
  // sysfs shows the mounter's network namespace: one the container's user
  // namespace does not own (the host's) is refused. The host's /sys, then.
  if (::mount("/sys", "sys", nullptr, MS_BIND | MS_REC, nullptr) != 0) return errno;
  if (::mount(nullptr, "sys", nullptr, MS_REMOUNT | MS_BIND | MS_RDONLY | kNoSuidDevExec, nullptr) != 0) return errno;
  return 0;
}

int mount_dev() {
  if (::mount("tmpfs", "dev", "tmpfs", MS_NOSUID | MS_NOEXEC, "mode=755,size=65536k") != 0) return errno;
  for (const auto& n : kNodes)
    if (int err = make_node(n)) return err;
  // Bound over by the console once the init makes it.
  int console = ::openat(AT_FDCWD, "dev/console", O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
  if (console < 0) return errno;
  ::close(console);
  for (const auto& link : kLinks)
    if (::symlinkat(link[0], AT_FDCWD, link[1]) != 0) return errno;
  if (int err = mkdir_here("dev/pts", 0755)) return err;
  // gid 5 (tty) may not be mapped in a user namespace: then without it.
  if (::mount("devpts", "dev/pts", "devpts", MS_NOSUID | MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620,gid=5") != 0 &&
      ::mount("devpts", "dev/pts", "devpts", MS_NOSUID | MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620") != 0)
    return errno;
  if (int err = mkdir_here("dev/shm", 01777)) return err;
  if (::mount("shm", "dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777") != 0) return errno;
  return 0;
}

}  // namespace

Result<UniqueFd> clone_root_tree(int dir_fd) {
  int fd = static_cast<int>(::syscall(SYS_open_tree, dir_fd, "",
                                      AT_EMPTY_PATH | OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE));
  if (fd < 0) return fail_errno();
  return UniqueFd(fd);
}

std::vector<std::string> mounts_inside(const std::string& root, const std::vector<std::string>& mounts) {
  std::string prefix = root;
  while (prefix.size() > 1 && prefix.back() == '/') prefix.pop_back();
  if (prefix != "/") prefix += '/';
  std::vector<std::string> inside;
  for (const auto& m : mounts)
    if (m.size() > prefix.size() && m.starts_with(prefix)) inside.push_back(m.substr(prefix.size()));
  return inside;
}

int enter_root_fs(int tree_fd, const char* const* detach, int detach_count) {
  // Over the current root: absolute paths still lead to the old tree (the
  // host's nodes, /sys), relative ones into the new one.
  if (::syscall(SYS_move_mount, tree_fd, "", AT_FDCWD, "/", MOVE_MOUNT_F_EMPTY_PATH) != 0) return errno;
  if (::fchdir(tree_fd) != 0) return errno;
  for (int i = 0; i < detach_count; ++i) ::umount2(detach[i], MNT_DETACH);
  for (const char* dir : {"proc", "sys", "dev"})
    if (int err = mkdir_here(dir, 0755)) return err;
  if (::mount("proc", "proc", "proc", kNoSuidDevExec, nullptr) != 0) return errno;
  if (int err = mount_sys()) return err;
  if (int err = mount_dev()) return err;
  // The old root goes under the new one, and is detached from there.
  if (::syscall(SYS_pivot_root, ".", ".") != 0) return errno;
  if (::umount2(".", MNT_DETACH) != 0) return errno;
  if (::chdir("/") != 0) return errno;
  return 0;
}

int mount_own_proc() {
  char self[32];
  if (::readlink("/proc/self", self, sizeof self) < 0) ::umount2("/proc", MNT_DETACH);
  if (::mount("proc", "/proc", "proc", kNoSuidDevExec, nullptr) != 0) return errno;
  return 0;
}

}  // namespace containerfs::kernel
