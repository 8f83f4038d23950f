#include "containerfs/model/record_of.hpp"

namespace containerfs::model {

namespace {

using Origin = state::NsRecord::Origin;

Origin origin_to_record(NsOrigin o) {
  switch (o) {
    case NsOrigin::shared: return Origin::shared;
    case NsOrigin::adopted: return Origin::adopted;
    default: return Origin::own;
  }
}

NsOrigin origin_from_record(Origin o) {
  switch (o) {
    case Origin::shared: return NsOrigin::shared;
    case Origin::adopted: return NsOrigin::adopted;
    case Origin::own: return NsOrigin::own;
  }
  return NsOrigin::own;
}

}  // namespace

state::ContainerRecord record_of(const Container& c) {
  state::ContainerRecord r;
  r.name = c.name;
  r.init_pid = c.init_pid;
  r.init_start = c.init_start;
  for (auto kind : kernel::kAllNsKinds) {
    const auto& slot = c.ns[kind];
    if (slot.origin == NsOrigin::inherited) continue;
    // A share's source is derived from its link text, not kept.
    r.ns[kind] = state::NsRecord{origin_to_record(slot.origin), slot.link};
  }
  r.owner_uid = c.owner_uid;
  r.owner_gid = c.owner_gid;
  r.time_offsets = c.time_offsets;
  r.root = c.root;
  r.devices = c.devices;
  for (const auto& [slot, link] : c.pending) r.links.emplace_back(link.name, link.target);
  return r;
}

void apply_record(Container& c, const state::ContainerRecord& r) {
  c.name = r.name;
  c.init_pid = r.init_pid;
  c.init_start = r.init_start;
  c.ns = NsSlots{};
  for (const auto& [kind, ns] : r.ns) c.ns[kind] = NsSlot{origin_from_record(ns.origin), ns.link, kHostId};
  c.owner_uid = r.owner_uid;
  c.owner_gid = r.owner_gid;
  c.time_offsets = r.time_offsets;
  c.root = r.root;
  c.devices = r.devices;
}

}  // namespace containerfs::model
