// The namespaces of a container's init as it is now: its user namespace's
// maps, its hostname. The init is pinned by a pidfd for the operation
// (never a pid that was reused), and followed to its successor if a
// namespace change replaced it meanwhile.
#include <fcntl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <fmt/format.h>

#include "containerfs/kernel/credentials.hpp"
#include "containerfs/kernel/init_process.hpp"
#include "containerfs/kernel/namespaces.hpp"
#include "containerfs/kernel/process.hpp"
#include "containerfs/model/containers.hpp"
#include "containerfs/util/file_io.hpp"
#include "containerfs/util/log.hpp"

namespace containerfs::model {

using kernel::NsKind;

Status Containers::ensure_user_maps(ContainerId id) {
  pid_t init;
  uid_t owner_uid;
  gid_t owner_gid;
  {
    SharedLock lock(tree_);
    auto* c = find_locked(id);
    if (!c) return fail(ENOENT);
    if (id == kHostId) return {};
    init = c->init_pid;
    owner_uid = c->owner_uid;
    owner_gid = c->owner_gid;
  }
  auto mine = kernel::ns_id_of_path(kernel::ns_proc_path(::getpid(), NsKind::user));
  auto theirs = kernel::ns_id_of_path(kernel::ns_proc_path(init, NsKind::user));
  if (!theirs) return fail(theirs.error());
  if (mine && *mine == *theirs) return {};
  if (owner_uid != 0) {
    // A delegated container: only what its owner could write itself.
    auto text = read_file(fmt::format("/proc/{}/uid_map", init));
    if (!text) return fail(text.error());
    if (!text->empty()) return {};
    if (auto ok = write_owner_maps(init, owner_uid, owner_gid); !ok) return ok;
    log::info("container {}: no uid_map was written before the first member; its owner {} mapped to 0", id,
              owner_uid);
    return {};
  }
  for (const char* map : {"uid_map", "gid_map"}) {
    auto path = fmt::format("/proc/{}/{}", init, map);
    auto text = read_file(path);
    if (!text) return fail(text.error());
    if (!text->empty()) continue;
    if (auto ok = write_file_at(AT_FDCWD, path, "0 0 4294967295\n"); !ok) return ok;
    log::info("container {}: no {} was written before the first member; identity map written", id, map);
  }
  return {};
}

Status Containers::write_owner_maps(pid_t init, uid_t uid, gid_t gid) const {
  auto as = kernel::ActingAs::assume(kernel::UserIds{uid, gid});
  if (!as) return fail(as.error());
  // The kernel lets an unprivileged owner write gid_map only once setgroups
  // is denied (dropping groups could otherwise lift a restriction).
  const std::pair<const char*, std::string> writes[] = {
      {"setgroups", "deny\n"}, {"uid_map", fmt::format("0 {} 1\n", uid)}, {"gid_map", fmt::format("0 {} 1\n", gid)}};
  for (const auto& [file, text] : writes) {
    if (auto ok = write_file_at(AT_FDCWD, fmt::format("/proc/{}/{}", init, file), text); !ok)
      return fail(log::refuse(ok.error(), "the user namespace of init {}: writing {} as uid {}", init, file, uid));
  }
  return {};
}

Result<Containers::InitHandle> Containers::current_init(ContainerId id) const {
  pid_t pid;
  unsigned long long start;
  {
    SharedLock lock(tree_);
    auto* c = find_locked(id);
    if (!c || c->removing) return fail(ENOENT);
    pid = c->init_pid;
    start = c->init_start;
  }
  InitHandle init{pid, UniqueFd(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)))};
  if (!init.pidfd) return fail(errno == EINVAL ? ESRCH : errno);
  if (id == kHostId) return init;  // the daemon stands for the host
  // The pidfd names the recorded init only if that one still runs now.
  auto now = kernel::process_start_time(pid);
  if (!now || *now != start) return fail(ESRCH);
  return init;
}

namespace {
// A namespace change replaces the init (init_replace.cpp): an operation on the
// one it had a moment ago fails with ESRCH, and is tried on the new one. An
// init that is simply gone means the container is (being) removed: ENOENT,
// as for any file of a container that is no more.
constexpr int kInitAttempts = 5;
}  // namespace

template <typename Op>
auto Containers::on_current_init(ContainerId id, Op op) const -> decltype(op(std::declval<InitHandle>())) {
  for (int attempt = 1;; ++attempt) {
    auto init = current_init(id);
    int err;
    if (init) {
      auto result = op(std::move(*init));
      if (result || result.error() != ESRCH) return result;
      err = result.error();
    } else {
      err = init.error();
    }
    if (err != ESRCH) return fail(err);
    if (attempt == kInitAttempts) return fail(ENOENT);
    // Replaced a moment ago (the record follows at once), or ending.
    ::usleep(1000);
  }
}

Result<std::string> Containers::hostname(ContainerId id) const {
  return on_current_init(id, [](InitHandle init) { return kernel::read_hostname(init.pidfd.get()); });
}

Status Containers::set_hostname(ContainerId id, std::string_view name) {
  if (name.ends_with('\n')) name.remove_suffix(1);
  if (name.empty() || name.size() > 64 || name.find('\n') != std::string_view::npos ||
      name.find('\0') != std::string_view::npos)
    return fail(EINVAL);
  return on_current_init(id, [&](InitHandle init) { return kernel::write_hostname(init.pidfd.get(), name); });
}

Status Containers::write_id_map(ContainerId id, FileKind which, std::string_view text, Caller caller) {
  if (which != FileKind::uid_map && which != FileKind::gid_map) return fail(EINVAL);
  return on_current_init(id, [&](InitHandle init) -> Status {
    // Opened and written as the caller: the kernel applies its rules for
    // that writer (file->f_cred and the writer's capabilities).
    const kernel::UserIds as = caller;
    Result<UniqueFd> file = fail(EIO);
    {
      auto acting = kernel::ActingAs::assume(as);
      if (!acting) return fail(acting.error());
      file = open_at(AT_FDCWD, fmt::format("/proc/{}/{}", init.pid, file_name(which)), O_WRONLY);
    }
    if (!file) return fail(file.error() == ENOENT ? ESRCH : file.error());
    // Opened while the init lived: the file is the init's, not a successor's.
    if (::syscall(SYS_pidfd_send_signal, init.pidfd.get(), 0, nullptr, 0) != 0) return fail(ESRCH);
    auto acting = kernel::ActingAs::assume(as);
    if (!acting) return fail(acting.error());
    return write_fd(file->get(), text);
  });
}

}  // namespace containerfs::model
