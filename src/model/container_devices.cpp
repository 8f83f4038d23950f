// A container's device whitelist (`devices`), enforced by a BPF device
// program on its cgroup (kernel/device_filter.hpp). The daemon keeps no fd:
// the program stays attached, and the record says what it allows.
//
// The rules in force: as last written; otherwise, for a container with a
// root (its own /dev), the devices of that /dev; otherwise its parent's
// (the host's: every device), enforced by the parent's program, which the
// kernel runs for everything below (BPF_F_ALLOW_MULTI). An access must pass
// every program from the container's cgroup up, so a container never gets
// more than its parent; a write that asks for more is refused (EPERM).
#include <fmt/format.h>

#include "containerfs/kernel/device_filter.hpp"
#include "containerfs/kernel/device_rules.hpp"
#include "containerfs/model/containers.hpp"
#include "containerfs/util/log.hpp"

namespace containerfs::model {

using kernel::DeviceRules;

Result<DeviceRules> Containers::device_rules_locked(const Container& c) const {
  if (c.id == kHostId) return DeviceRules::allow_all();
  if (c.devices) {
    auto rules = DeviceRules::parse(*c.devices);
    if (!rules) log::error("container {}: its recorded devices do not parse: {}", c.name, log::errno_text(rules.error()));
    return rules;
  }
  if (!c.root.empty()) return DeviceRules::own_dev();
  return device_rules_locked(*find_locked(c.parent));
}

Status Containers::sync_device_filter_locked(const Container& c) const {
  auto cgroup = open_cgroup_locked(c);
  if (!cgroup) return fail(cgroup.error());
  if (!c.devices && c.root.empty()) return kernel::remove_device_filter(cgroup->fd());
  auto rules = device_rules_locked(c);
  if (!rules) return fail(rules.error());
  if (rules->allows_everything()) return kernel::remove_device_filter(cgroup->fd());
  auto attached = kernel::apply_device_filter(cgroup->fd(), *rules);
  if (!attached) return fail(attached.error());
  return {};
}

Result<std::string> Containers::devices(ContainerId id) const {
  SharedLock lock(tree_);
  auto* c = find_locked(id);
  if (!c || id == kHostId) return fail(ENOENT);
  auto rules = device_rules_locked(*c);
  if (!rules) return fail(rules.error());
  return rules->format();
}

Status Containers::write_devices(ContainerId id, std::string_view lines, Caller caller) {
  Lock lock(tree_);
  auto* c = find_locked(id);
  if (!c || c->removing || id == kHostId) return fail(ENOENT);
  // A limit, like the controller files: set by whoever owns the parent.
  const auto* parent = find_locked(c->parent);
  if (!caller.is_root() && (parent->id == kHostId || parent->owner_uid != caller.uid))
    return fail(log::refuse(EPERM, "devices of {}: uid {} may not change the limits of what was delegated to it",
                            c->name, caller.uid));
  auto current = device_rules_locked(*c);
  if (!current) return fail(current.error());
  auto next = current->apply(lines);
  if (!next)
    return fail(log::refuse(next.error(), "devices of {}: {:?} is not a devices.list edit{}", c->name,
                            log::excerpt(lines), next.error() == ENOSPC ? " (too many entries)" : ""));
  for (const auto* p = parent; p->id != kHostId; p = find_locked(p->parent)) {
    auto above = device_rules_locked(*p);
    if (!above) return fail(above.error());
    if (!next->within(*above))
      return fail(log::refuse(EPERM, "devices of {}: {:?} would allow more than {} does", c->name,
                              log::excerpt(lines), p->name));
  }
  auto old = std::exchange(c->devices, next->format());
  auto done = sync_device_filter_locked(*c);
  if (done) done = persist_locked(*c);
  if (!done) {
    c->devices = std::move(old);
    if (auto back = sync_device_filter_locked(*c); !back)
      log::error("devices of {}: the former filter could not be put back: {}", c->name, log::errno_text(back.error()));
    return fail(log::refuse(done.error(), "devices of {}: the filter could not be applied", c->name));
  }
  return {};
}

}  // namespace containerfs::model
