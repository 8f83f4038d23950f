// echo PID > tasks: the process joins the container's cgroup, then every
// one of its threads joins the container's namespaces by injected setns.
// A writer moving itself is interrupted by the seize (the kernel sends
// FUSE_INTERRUPT for its write): that is expected, and the write is
// answered normally.
#include "containerfs/fuse/tasks_write.hpp"

#include <sched.h>
#include <unistd.h>

#include <algorithm>

#include <fmt/format.h>

#include "containerfs/kernel/injector_process.hpp"
#include "containerfs/kernel/namespaces.hpp"
#include "containerfs/kernel/pidfd.hpp"
#include "containerfs/kernel/process.hpp"
#include "containerfs/model/home_places.hpp"
#include "containerfs/util/file_io.hpp"
#include "containerfs/util/log.hpp"
#include "containerfs/util/text.hpp"

namespace containerfs::fuse {

Result<std::vector<PidLine>> parse_pid_lines(std::string_view text) {
  std::vector<PidLine> pids;
  for (auto raw : Lines(text)) {
    // Where the line ends in the text, its '\n' included: a short write
    // answers up to there.
    const auto end = std::min(static_cast<std::size_t>(raw.data() - text.data()) + raw.size() + 1, text.size());
    auto line = trimmed(raw);
    if (line.empty()) continue;
    auto value = whole_number<long long>(line).value_or(-1);
    // pid_max is at most 2^22 (PID_MAX_LIMIT): pids are below it.
    if (value < 0 || value >= (1 << 22)) return fail(EINVAL);
    pids.push_back({static_cast<pid_t>(value), end});
  }
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

// One tasks write: who writes to which container.
struct Write {
  Filesystem& fs;
  fuse_req_t req;
  model::ContainerId id;
  Writer writer;
  std::string where;  // "tasks of web/db", for the log
};

// Root may move any process; anyone else what the kernel lets it ptrace
// (the injector process checks and seizes with the writer's ids: EPERM).
std::optional<kernel::Requester> requester_of(const Writer& writer) {
  if (writer.uid == 0) return std::nullopt;
  return kernel::Requester{writer.uid, writer.gid};
}

// The daemon's injector process, or one of an earlier daemon still
// finishing its moves (moving it could kill it in the middle of one).
bool is_injector_process(Filesystem& fs, pid_t pid) {
  if (pid == fs.injector->pid()) return true;
  auto comm = read_file(fmt::format("/proc/{}/comm", pid));  // cheap: no look into its memory
  if (!comm || *comm != "containerfs-inj\n") return false;
  auto cmdline = read_file(fmt::format("/proc/{}/cmdline", pid));
  return cmdline && cmdline->starts_with(kernel::kInjectorCommandLine);
}

// After setns(CLONE_NEWPID) the kernel refuses a process every new thread
// (clone(CLONE_THREAD) is EINVAL while its pid namespace for children is
// not its own): one with threads is refused (the injector process would
// refuse it too), saying what to do instead. `holder` is in the container's
// namespaces.
Status refuse_threads_into_pid_ns(const Write& w, pid_t pid, pid_t holder) {
  auto threads = kernel::status_field(pid, "Threads");
  if (!threads || *threads == "1") return {};  // gone: refused later
  auto theirs = kernel::ns_id_of_path(fmt::format("/proc/{}/ns/pid_for_children", pid));
  auto container = kernel::ns_id_of_path(kernel::ns_proc_path(holder, kernel::NsKind::pid));
  if (!theirs || !container || *theirs == *container) return {};
  auto path = w.fs.containers->path_of(w.id);
  const std::string name = w.id == model::kHostId || !path ? std::string("CONTAINER") : *path;
  return fail(log::refuse(EINVAL, "{}: {} has {} threads, and a process gets no new thread once it has entered "
                                  "another pid namespace; let the container share its parent's (rm {}/pid), or "
                                  "start the program inside",
                          w.where, pid, *threads, name));
}

// A move between its phases. The entry guard lasts until the process is in
// the container's cgroup (a member), so that its namespaces cannot change
// meanwhile.
struct Prepared {
  kernel::MoveTicket ticket;
  model::Containers::Entry entry;
  std::string leaving;  // the cgroup it leaves
  std::optional<model::HomePlaces::Kept> place;  // where it stood, to keep once it is in
};

// Phase 1 for one pid: every check, then the move handed to the injector
// process, which seizes every thread. On error nothing is left changed.
Result<Prepared> prepare(const Write& w, pid_t pid) {
  Filesystem& fs = w.fs;
  if (pid == ::getpid() || is_injector_process(fs, pid))
    return fail(log::refuse(EINVAL, "{}: {} is the daemon or an injector process", w.where, pid));
  // Held from before the checks: the injector process moves this very
  // process or none (a pid reused meanwhile gives ESRCH).
  auto pidfd = kernel::Pidfd::open(pid);
  if (!pidfd)
    return fail(log::refuse(pidfd.error() == EINVAL ? ESRCH : pidfd.error(), "{}: no process {}", w.where, pid));
  if (fs.containers->container_of_init(pid))
    return fail(log::refuse(EINVAL, "{}: {} is a container's init", w.where, pid));
  if (auto maps = fs.containers->ensure_user_maps(w.id); !maps)
    return fail(log::refuse(maps.error(), "{}: writing the user namespace's maps", w.where));
  // Until the process is a member, the container's namespaces stay as read.
  auto entry = fs.containers->begin_entry(w.id);
  if (!entry) return fail(entry.error());
  if (auto threads = refuse_threads_into_pid_ns(w, pid, entry->holder()); !threads) return fail(threads.error());
  auto move = fs.containers->plan_cgroup_move(w.id, pid);
  if (!move) return fail(log::refuse(move.error(), "{}: no cgroup move for {}", w.where, pid));
  kernel::MoveRequest request{.pid = pid,
                              .ns_source_pid = entry->holder(),
                              .nstypes = kAllNamespaces,
                              .join_cgroup = std::move(move->join),
                              .undo_cgroup = std::move(move->undo),
                              .pidfd = std::move(*pidfd),
                              .requester = requester_of(w.writer),
                              .place = std::nullopt};
  // Where it stands before it enters (a mount namespace resets it), or, on
  // the way home, where it stood before it first entered.
  std::optional<model::HomePlaces::Kept> place;
  if (fs.places && w.id == model::kHostId) request.place = fs.places->find(pid);
  if (fs.places && w.id != model::kHostId) place = fs.places->before_entry(pid);
  auto ticket = fs.injector->begin(std::move(request));
  if (!ticket) return fail(log::refuse(ticket.error(), "{}: cannot move {} in", w.where, pid));
  return Prepared{std::move(*ticket), std::move(*entry), std::move(move->leaving), std::move(place)};
}

// Once the process is in: the model and the places learn it.
void note_moved(const Write& w, pid_t pid, Prepared& move) {
  w.fs.containers->note_cgroup_move(w.id, pid, move.leaving);
  if (!w.fs.places) return;
  if (w.id == model::kHostId) w.fs.places->forget(pid);
  else if (move.place) w.fs.places->keep(std::move(*move.place));
}

// Another process than the writer: moved whole before the next one.
Status move_process(const Write& w, pid_t pid) {
  auto move = prepare(w, pid);
  if (!move) return fail(move.error());
  // On failure the injector process has put it back into its cgroup.
  if (auto done = move->ticket.finish(); !done)
    return fail(log::refuse(done.error(), "{}: moving {} failed", w.where, pid));
  note_moved(w, pid, *move);
  return {};
}

// The writer itself: it can stop for the injection only once its write is
// answered, so it is answered (with `bytes`) as soon as it is in the new
// cgroup; its very next instruction after write(2) runs inside. (Should the
// daemon die before answering, the move is still made whole.)
Result<WriteOutcome> move_writer(const Write& w, std::size_t bytes) {
  const pid_t pid = w.writer.pid;
  // Its filters could only be read once it has stopped, after its write
  // succeeded: a refusal then would come too late to be its answer.
  auto filtered = kernel::under_seccomp(pid);
  if (!filtered) return fail(log::refuse(filtered.error(), "{}: no process {}", w.where, pid));
  if (*filtered)
    return fail(log::refuse(EPERM, "{}: {} writes its own pid while under seccomp, whose filters can only be "
                                   "judged once it has stopped, after its write; write its pid from another "
                                   "process", w.where, pid));
  auto move = prepare(w, pid);
  if (!move) return fail(move.error());
  if (auto joined = move->ticket.proceed_detached(); !joined)
    return fail(log::refuse(joined.error(), "{}: moving {} failed", w.where, pid));
  note_moved(w, pid, *move);
  fuse_reply_write(w.req, bytes);
  return WriteOutcome::answered();
}

// The host pid of a pid as the writer numbers it (0: the writer itself).
Result<pid_t> process_of(const Write& w, pid_t pid) {
  if (pid == 0) return w.writer.pid;
  auto host = kernel::pid_from_view_of(pid, w.writer.tid);
  if (!host) return fail(log::refuse(host.error(), "{}: no process {}", w.where, pid));
  auto tgid = kernel::tgid_of(*host);
  if (!tgid) return fail(log::refuse(ESRCH, "{}: no process {}", w.where, pid));
  return *tgid;
}

}  // namespace

Result<WriteOutcome> write_tasks(Filesystem& fs, fuse_req_t req, Node node, std::string_view data) {
  if (auto c = existing(fs, node); !c) return fail(c.error());
  auto path = fs.containers->path_of(node.id);
  std::string where = "tasks of " + (path ? *path : std::string("?"));
  auto lines = parse_pid_lines(data);
  if (!lines) return fail(log::refuse(EINVAL, "{}: not a list of pids: {:?}", where, log::excerpt(data)));
  // Blank lines only: nothing to move. (What echo writes last, its newline,
  // after a line that was refused.)
  if (lines->empty()) return WriteOutcome::written(data.size());

  const fuse_ctx* ctx = fuse_req_ctx(req);
  auto writer_pid = kernel::tgid_of(ctx->pid);
  if (!writer_pid) return fail(writer_pid.error());
  const Write w{fs, req, node.id, Writer{ctx->pid, *writer_pid, ctx->uid, ctx->gid}, std::move(where)};

  // In order; a pid named twice is moved once. Pids are numbers in the
  // writer's pid namespace, which its own move does not change.
  std::vector<pid_t> moved;
  std::size_t taken = 0;  // the bytes of the lines moved
  for (const PidLine& line : *lines) {
    const bool last = &line == &lines->back();
    const std::size_t through = last ? data.size() : line.end;
    auto pid = process_of(w, line.pid);
    Status outcome = pid ? Status{} : Status(fail(pid.error()));
    if (pid && *pid == w.writer.pid) {
      auto answered = move_writer(w, through);
      if (answered) return answered;
      outcome = fail(answered.error());
    } else if (pid && std::find(moved.begin(), moved.end(), *pid) == moved.end()) {
      outcome = move_process(w, *pid);
    }
    if (!outcome) {
      if (taken == 0) return fail(outcome.error());
      return WriteOutcome::written(taken);
    }
    moved.push_back(*pid);
    taken = through;
  }
  return WriteOutcome::written(data.size());
}

}  // namespace containerfs::fuse
