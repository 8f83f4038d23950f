// Directories the daemon makes while it sets up (its cgroup directory, its
// state directory), removed again unless set-up gets as far as keep(): a
// start that fails leaves no directory behind.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "containerfs/util/result.hpp"

namespace containerfs {

class MadeDirs {
 public:
  MadeDirs() = default;
  MadeDirs(const MadeDirs&) = delete;
  MadeDirs& operator=(const MadeDirs&) = delete;
  ~MadeDirs();

  // mkdir -p: makes `path` and its missing parents, remembering those this
  // call made (not those that existed, or that another process made
  // meanwhile). ENOTDIR if a component is not a directory.
  Status make(const std::string& path, mode_t mode = 0755);
  // Set-up succeeded: what was made stays.
  void keep() { made_.clear(); }

 private:
  std::vector<std::string> made_;  // in the order made
};

}  // namespace containerfs
