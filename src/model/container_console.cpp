// A container's console: the pseudo-terminal its init holds, with the
// output it keeps (kernel/console.hpp). The daemon reaches it through the
// current init's pidfd for each operation, and keeps nothing.
#include <fmt/format.h>

#include "containerfs/kernel/console.hpp"
#include "containerfs/model/containers.hpp"
#include "containerfs/util/log.hpp"

namespace containerfs::model {

namespace {

// The init answers a request within microseconds when it runs.
constexpr std::chrono::milliseconds kRequestBound{2000};
// How long typed input may wait for the terminal to take it.
constexpr std::chrono::milliseconds kInputBound{1000};

// An init that is gone means a container that is (being) removed, or whose
// init was just replaced (and with it its console).
int gone_as_enoent(int err) { return err == ESRCH ? ENOENT : err; }

}  // namespace

Result<UniqueFd> Containers::console_holder(ContainerId id) const {
  if (id == kHostId) return fail(ENOENT);
  auto init = current_init(id);
  if (!init) return fail(init.error());
  return std::move(init->pidfd);
}

Status Containers::open_console(ContainerId id) {
  auto init = console_holder(id);
  if (!init) return fail(init.error());
  auto exists = kernel::has_console(init->get());
  if (!exists) return fail(gone_as_enoent(exists.error()));
  if (*exists) return {};
  std::string name;
  std::vector<FreezeLink> chain;
  {
    SharedLock lock(tree_);
    auto* c = find_locked(id);
    if (!c || c->removing) return fail(ENOENT);
    name = c->name;
    chain = freeze_chain_locked(*c);
  }
  // A frozen init cannot answer.
  if (auto thawed = refuse_if_frozen(chain, fmt::format("the console of {}", name)); !thawed)
    return fail(thawed.error());
  if (auto made = kernel::request_console(init->get(), kRequestBound); !made)
    return fail(log::refuse(gone_as_enoent(made.error()), "the console of {}: its init could not make it", name));
  return {};
}

Result<kernel::ConsoleOutput> Containers::console_output(ContainerId id) const {
  auto init = console_holder(id);
  if (!init) return fail(init.error());
  auto out = kernel::read_console(init->get());
  if (!out) return fail(gone_as_enoent(out.error()));
  return out;
}

Result<std::uint64_t> Containers::console_size(ContainerId id) const {
  auto init = console_holder(id);
  if (!init) return fail(init.error());
  auto n = kernel::console_written(init->get());
  if (!n) return fail(gone_as_enoent(n.error()));
  return n;
}

Result<std::size_t> Containers::console_input(ContainerId id, std::string_view text) {
  if (auto made = open_console(id); !made) return fail(made.error());
  auto init = console_holder(id);
  if (!init) return fail(init.error());
  auto taken = kernel::type_on_console(init->get(), text, kInputBound);
  if (!taken) return fail(gone_as_enoent(taken.error()));
  return taken;
}

Result<UniqueFd> Containers::console_events(ContainerId id) const {
  auto init = console_holder(id);
  if (!init) return fail(init.error());
  auto fd = kernel::console_event_fd(init->get());
  if (!fd) return fail(gone_as_enoent(fd.error()));
  return fd;
}

}  // namespace containerfs::model
