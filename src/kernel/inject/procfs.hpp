// The few /proc readers the injector needs. Paths are relative to a
// directory fd (/proc/<pid> opened once, so a recycled pid cannot swap the
// process underneath).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "containerfs/kernel/namespaces.hpp"
#include "containerfs/util/fd.hpp"
#include "containerfs/util/result.hpp"

namespace containerfs::kernel::inject_detail {

// /proc/<pid> as a directory fd; ESRCH when there is no such process.
Result<UniqueFd> open_proc_dir(pid_t pid);

// A whole small file (status, stat, maps...), up to 4 MiB.
Result<std::string> read_small_file(int dirfd, const std::string& path);

struct TaskStatus {
  char state = '?';
  int kthread = -1;  // "Kthread:" (Linux 6.x); -1 when the kernel does not show it
  pid_t tgid = 0;
  pid_t tracer_pid = 0;
  int seccomp = 0;
  uid_t euid = 0;                   // "Uid:", second field
  std::uint64_t cap_effective = 0;  // "CapEff:"
  int threads = 0;
  std::uint64_t pending = 0;  // "SigPnd:" | "ShdPnd:": signals pending for it
  std::vector<pid_t> nspid;   // from the reader's pid namespace down to the task's own
  std::vector<pid_t> nstgid;
};
Result<TaskStatus> read_status(int dirfd, const std::string& path);

struct TaskStat {
  char state = '?';
  unsigned long flags = 0;  // PF_*
};
constexpr unsigned long kPfIoWorker = 0x00000010;  // PF_IO_WORKER: an io_uring thread
constexpr unsigned long kPfKthread = 0x00200000;   // PF_KTHREAD (include/linux/sched.h)
Result<TaskStat> read_stat(int dirfd, const std::string& path);
inline bool is_dead_state(char s) { return s == 'Z' || s == 'X' || s == 'x'; }

// Thread ids under <procdir>/task.
Result<std::vector<pid_t>> list_tasks(int procdir);

// The `count` lowest descriptor numbers that are not open in the fd table
// of thread `tid`: those the next calls that open one will get, in order.
Result<std::vector<int>> lowest_free_fds(int procdir, pid_t tid, std::size_t count);

// Identity of the namespace a /proc/.../ns/<x> or /proc/.../fd/<n> link
// opens (stat follows the magic link).
Result<NsId> ns_id_at(int dirfd, const std::string& path);
Result<NsId> ns_id_of(int fd);
// The same, cheaper: the inode number from the link text "<type>:[<inode>]"
// (readlink, no stat of the namespace). EINVAL if the link is not a namespace.
Result<ino_t> ns_inode_at(int dirfd, const std::string& path);

// ELF class byte (ELFCLASS32/ELFCLASS64) of an executable link such as
// "exe" or "task/<tid>/exe".
Result<int> exe_elf_class(int procdir, const std::string& link);

struct Mapping {
  std::uint64_t start = 0;
  std::uint64_t end = 0;
  bool read = false;
  bool write = false;
  bool exec = false;
  std::string name;
};
// "maps" or "task/<tid>/maps" (the main thread may have exited).
Result<std::vector<Mapping>> read_maps(int procdir, const std::string& path);

}  // namespace containerfs::kernel::inject_detail
