// echo LINE > C/run: /bin/sh -c LINE starts inside the container, on its
// console, a child of its init (kernel/run_process.hpp).
#include <fcntl.h>
#include <unistd.h>

#include <fmt/format.h>

#include "containerfs/kernel/console.hpp"
#include "containerfs/kernel/namespaces.hpp"
#include "containerfs/kernel/run_process.hpp"
#include "containerfs/model/containers.hpp"
#include "containerfs/model/system_text.hpp"
#include "containerfs/state/record.hpp"
#include "containerfs/util/file_io.hpp"
#include "containerfs/util/log.hpp"

namespace containerfs::model {

using kernel::NsKind;

namespace {

constexpr std::chrono::milliseconds kConsoleBound{2000};

// The host ids that are root in the user namespace of `init` (its uid_map
// and gid_map); for the daemon's own user namespace, none (nullopt).
Result<std::optional<kernel::UserIds>> root_ids_of(pid_t init) {
  auto mine = kernel::ns_id_of_path(kernel::ns_proc_path(::getpid(), NsKind::user));
  auto theirs = kernel::ns_id_of_path(kernel::ns_proc_path(init, NsKind::user));
  if (!mine) return fail(mine.error());
  if (!theirs) return fail(theirs.error() == ENOENT ? ESRCH : theirs.error());
  if (*mine == *theirs) return std::optional<kernel::UserIds>();
  auto uid_map = read_file(fmt::format("/proc/{}/uid_map", init));
  auto gid_map = read_file(fmt::format("/proc/{}/gid_map", init));
  if (!uid_map || !gid_map) return fail(ESRCH);
  auto uid = host_id_of_inside_root(*uid_map);
  auto gid = host_id_of_inside_root(*gid_map);
  // Nobody is root inside: nobody to run as.
  if (!uid || !gid) return fail(EPERM);
  return std::optional<kernel::UserIds>(kernel::UserIds{*uid, *gid});
}

}  // namespace

Status Containers::run(ContainerId id, std::string_view text, Caller caller) {
  auto lines = parse_run_lines(text);
  if (!lines) return fail(log::refuse(EINVAL, "run: no command line in {:?}", log::excerpt(text)));
  if (id == kHostId) return fail(ENOENT);
  // From here until each program is a member, the namespaces stay (EBUSY
  // for changes), as for a tasks write.
  auto entry = begin_entry(id);
  if (!entry) return fail(entry.error());
  if (auto maps = ensure_user_maps(id); !maps) return fail(maps.error());

  for (const auto& line : *lines) {
    auto init = current_init(id);
    if (!init) return fail(init.error());
    kernel::RunSpec spec;
    spec.command = line;
    spec.init_pidfd = init->pidfd.get();
    std::string name, members;
    std::vector<FreezeLink> chain;
    {
      SharedLock lock(tree_);
      auto* c = find_locked(id);
      if (!c || c->removing || c->init_pid != init->pid) return fail(ENOENT);
      name = c->name;
      if (!caller.is_root() && caller.uid != c->owner_uid)
        return fail(log::refuse(EPERM, "run in {}: uid {} does not own it", name, caller.uid));
      chain = freeze_chain_locked(*c);
      members = fmt::format("{}/{}/cgroup.procs", c->cgroup_path, state::kMembersLeaf);
    }
    // Held while the program starts (bounded): no freeze meanwhile.
    SharedLock gate(freeze_gate_);
    if (auto thawed = refuse_if_frozen(chain, fmt::format("run in {}", name)); !thawed)
      return fail(thawed.error());
    auto procs = open_at(root().fd(), members, O_WRONLY);
    if (!procs) return fail(procs.error());
    spec.cgroup_procs_fd = procs->get();
    auto ids = root_ids_of(init->pid);
    if (!ids) return fail(log::refuse(ids.error(), "run in {}: nobody is root in its user namespace", name));
    if (*ids) {
      spec.join_user = true;
      spec.uid = (*ids)->uid;
      spec.gid = (*ids)->gid;
    }
    // Never more than the caller may: its own ids as root inside a user
    // namespace of its own, and nothing in one where root is root.
    if (!caller.is_root() && (!*ids || (*ids)->uid != caller.uid))
      return fail(log::refuse(EPERM, "run in {}: its root is not uid {}", name, caller.uid));
    if (auto console = kernel::request_console(spec.init_pidfd, kConsoleBound); !console)
      return fail(log::refuse(console.error() == ESRCH ? ENOENT : console.error(),
                              "run in {}: its init has no console", name));
    auto terminal = kernel::open_console_terminal(spec.init_pidfd);
    if (!terminal) return fail(terminal.error());
    spec.terminal_fd = terminal->get();
    if (auto started = kernel::run_in_container(spec); !started)
      return fail(log::refuse(started.error() == ESRCH ? ENOENT : started.error(), "run in {}: {:?} not started{}",
                              name, log::excerpt(line), started.error() == ENOENT ? " (no /bin/sh)" : ""));
    log::debug("container {}: started {:?}", name, log::excerpt(line));
  }
  return {};
}

}  // namespace containerfs::model
