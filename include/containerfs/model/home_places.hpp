// Where processes stood (working directory and root) before they first
// entered a container: entering a mount namespace resets both to its root,
// and the host's tasks file puts them back on the way home. Kept in the
// file `places` of the daemon's state directory (state/places.hpp), so that
// a restarted daemon knows them too. Only directories reachable by their
// paths in the daemon's mount namespace are kept. Thread-safe.
#pragma once

#include <sys/types.h>

#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>

#include "containerfs/kernel/process_place.hpp"
#include "containerfs/state/places.hpp"

namespace containerfs::model {

class HomePlaces {
 public:
  // Takes over what an earlier daemon kept in `state_dir`, for the
  // processes that still are what they were.
  explicit HomePlaces(std::string state_dir);

  using Kept = state::KeptPlace;

  // Before `pid` enters a container: where it stands now, if it is in the
  // daemon's mount namespace and nothing is kept for it yet (the place
  // before its first entry counts). keep() it once it has entered.
  std::optional<Kept> before_entry(pid_t pid) const;
  void keep(Kept place);
  // Where to put `pid` back on its way home, if anything is kept for this
  // very process (not one that reused its pid).
  std::optional<kernel::ProcessPlace> find(pid_t pid) const;
  // It is home: nothing more to keep.
  void forget(pid_t pid);

 private:
  void save_locked() const;

  std::string file_;
  mutable std::mutex mutex_;
  // pid -> (start time, place)
  std::unordered_map<pid_t, std::pair<unsigned long long, kernel::ProcessPlace>> kept_;
};

}  // namespace containerfs::model
