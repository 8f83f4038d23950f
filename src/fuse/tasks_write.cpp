// echo PID > tasks: the process joins the container's cgroup, then every
// one of its threads joins the container's namespaces by injected setns.
// A writer moving itself is interrupted by the seize (the kernel sends
// FUSE_INTERRUPT for its write): that is expected, and the write is
// answered normally.
#include "containerfs/fuse/tasks_write.hpp"

#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>

#include <fmt/format.h>

#include "containerfs/fuse/open_file.hpp"
#include "containerfs/kernel/injector_process.hpp"
#include "containerfs/kernel/process.hpp"
#include "containerfs/util/file_io.hpp"
#include "containerfs/util/log.hpp"

namespace containerfs::fuse {

Result<std::vector<pid_t>> parse_pid_list(std::string_view text) {
  std::vector<pid_t> pids;
  while (!text.empty()) {
    auto nl = text.find('\n');
    auto line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
    while (!line.empty() && (line.back() == ' ' || line.back() == '\t' || line.back() == '\r'))
      line.remove_suffix(1);
    while (!line.empty() && (line.front() == ' ' || line.front() == '\t')) line.remove_prefix(1);
    if (line.empty()) continue;
    long long value = -1;
    auto [end, ec] = std::from_chars(line.data(), line.data() + line.size(), value);
    if (ec != std::errc() || end != line.data() + line.size()) return fail(EINVAL);
    // pid_max is at most 2^22 (PID_MAX_LIMIT): pids are below it.
    if (value < 0 || value >= (1 << 22)) return fail(EINVAL);
    pids.push_back(static_cast<pid_t>(value));
  }
  if (pids.empty()) return fail(EINVAL);
  return pids;
}

namespace {

constexpr int kAllNamespaces = CLONE_NEWNET | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWPID |
                               CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWTIME;

struct Writer {
  pid_t tid;
  pid_t pid;
  uid_t uid;
  gid_t gid;
};

// Root may move any process; anyone else what the kernel lets it ptrace
// (the injector process checks and seizes with the writer's ids: EPERM).
std::optional<kernel::Requester> requester_of(const Writer& writer) {
  if (writer.uid == 0) return std::nullopt;
  return kernel::Requester{writer.uid, writer.gid};
}

// Phase 1 for one pid: every check, then the move handed to the injector
// process, which seizes every thread and writes the new cgroup. On error
// nothing is left changed.
// The daemon's injector process, or one of an earlier daemon still
// finishing its moves (moving it could kill it in the middle of one).
bool is_injector_process(Filesystem& fs, pid_t pid) {
  if (pid == fs.injector->pid()) return true;
  auto comm = read_file(fmt::format("/proc/{}/comm", pid));  // cheap: no look into its memory
  if (!comm || *comm != "containerfs-inj\n") return false;
  auto cmdline = read_file(fmt::format("/proc/{}/cmdline", pid));
  return cmdline && cmdline->starts_with(kernel::kInjectorCommandLine);
}

// A move between its phases. The entry guard lasts until the process is in
// the container's cgroup (a member), so that its namespaces cannot change
// meanwhile.
struct Prepared {
  kernel::MoveTicket ticket;
  model::Containers::Entry entry;
  std::string leaving;  // the cgroup it leaves
};

Result<Prepared> prepare(Filesystem& fs, model::ContainerId id, const Writer& writer, pid_t pid,
                         const std::string& where) {
  if (pid == ::getpid() || is_injector_process(fs, pid))
    return fail(log::refuse(EINVAL, "{}: {} is the daemon or an injector process", where, pid));
  // Held from before the checks: the injector process moves this very
  // process or none (a pid reused meanwhile gives ESRCH).
  UniqueFd pidfd(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));
  if (!pidfd) return fail(log::refuse(errno == EINVAL ? ESRCH : errno, "{}: no process {}", where, pid));
  if (fs.containers->container_of_init(pid))
    return fail(log::refuse(EINVAL, "{}: {} is a container's init", where, pid));
  if (auto maps = fs.containers->ensure_user_maps(id); !maps)
    return fail(log::refuse(maps.error(), "{}: writing the user namespace's maps", where));
  // Until the process is a member, the container's namespaces stay as read.
  auto entry = fs.containers->begin_entry(id);
  if (!entry) return fail(entry.error());
  auto move = fs.containers->plan_cgroup_move(id, pid);
  if (!move) return fail(log::refuse(move.error(), "{}: no cgroup move for {}", where, pid));
  auto ticket = fs.injector->begin(kernel::MoveRequest{pid, entry->holder(), kAllNamespaces,
                                                       std::move(move->join), std::move(move->undo),
                                                       std::move(pidfd), requester_of(writer)});
  if (!ticket)
    return fail(log::refuse(ticket.error(), "{}: cannot move {} in", where, pid));
  return Prepared{std::move(*ticket), std::move(*entry), std::move(move->leaving)};
}

}  // namespace

Result<size_t> write_tasks(Filesystem& fs, fuse_req_t req, model::ContainerId id,
                           std::string_view data) {
  auto path = fs.containers->path_of(id);
  std::string where = "tasks of " + (path ? *path : std::string("?"));
  auto pids = parse_pid_list(data);
  if (!pids) return fail(log::refuse(EINVAL, "{}: not a list of pids: {:?}", where, log::excerpt(data)));

  const fuse_ctx* ctx = fuse_req_ctx(req);
  auto writer_pid = kernel::tgid_of(ctx->pid);
  if (!writer_pid) return fail(writer_pid.error());
  Writer writer{ctx->pid, *writer_pid, ctx->uid, ctx->gid};

  // Pids are numbers in the writer's pid namespace; 0 is the writer itself.
  std::vector<pid_t> host_pids;
  for (pid_t p : *pids) {
    if (p == 0) {
      host_pids.push_back(writer.pid);
      continue;
    }
    auto host = kernel::pid_from_view_of(p, writer.tid);
    if (!host) return fail(log::refuse(host.error(), "{}: no process {}", where, p));
    auto tgid = kernel::tgid_of(*host);
    if (!tgid) return fail(log::refuse(ESRCH, "{}: no process {}", where, p));
    host_pids.push_back(*tgid);
  }

  // Each process once (a second seize of the same one would find it traced).
  std::vector<pid_t> unique;
  for (pid_t p : host_pids)
    if (std::find(unique.begin(), unique.end(), p) == unique.end()) unique.push_back(p);
  host_pids = std::move(unique);

  // The writer's own pid goes last: its write must be answered before it
  // can stop for the injection.
  bool self = false;
  std::erase_if(host_pids, [&](pid_t p) {
    if (p != writer.pid) return false;
    self = true;
    return true;
  });

  for (pid_t pid : host_pids) {
    auto move = prepare(fs, id, writer, pid, where);
    if (!move) return fail(move.error());
    // On failure the injector process has put it back into its cgroup.
    if (auto done = move->ticket.finish(); !done)
      return fail(log::refuse(done.error(), "{}: moving {} failed", where, pid));
    fs.containers->note_cgroup_move(id, pid, move->leaving);
  }
  if (!self) return data.size();

  auto move = prepare(fs, id, writer, writer.pid, where);
  if (!move) return fail(move.error());
  // Seized: the injector process writes the new cgroup, then the write is
  // answered; the writer stops once the answer is in, and its very next
  // instruction after write(2) runs inside. (Should the daemon die before
  // answering, the move is still made whole.)
  if (auto joined = move->ticket.proceed_detached(); !joined)
    return fail(log::refuse(joined.error(), "{}: moving {} failed", where, writer.pid));
  fs.containers->note_cgroup_move(id, writer.pid, move->leaving);
  fuse_reply_write(req, data.size());
  return fail(kAlreadyReplied);
}

}  // namespace containerfs::fuse
