// A container as its record keeps it (state/record.hpp), and back.
#pragma once

#include "containerfs/model/container.hpp"
#include "containerfs/state/record.hpp"

namespace containerfs::model {

state::ContainerRecord record_of(const Container& c);
// Name, init, namespaces, owner, time offsets of the record; `links` get
// their slots from the caller (Containers::restore_links_locked).
void apply_record(Container& c, const state::ContainerRecord& r);

}  // namespace containerfs::model
