#include "containerfs/options.hpp"

#include <sched.h>

#include "containerfs/kernel/namespaces.hpp"

namespace containerfs {

int default_namespaces() {
  return CLONE_NEWNET | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWCGROUP;
}

Result<bool> apply_option(Options& options, std::string_view option) {
  auto eq = option.find('=');
  auto key = option.substr(0, eq);
  if (key != "cgroup" && key != "namespaces" && key != "state") return false;
  if (eq == std::string_view::npos) return fail(EINVAL);
  auto value = option.substr(eq + 1);
  if (key == "namespaces") {
    if (value.empty()) {
      options.namespaces = 0;
      return true;
    }
    auto mask = kernel::parse_ns_list(value);
    if (!mask) return fail(mask.error());
    options.namespaces = *mask;
    return true;
  }
  if (value.empty() || value[0] != '/') return fail(EINVAL);
  while (value.size() > 1 && value.back() == '/') value.remove_suffix(1);
  (key == "cgroup" ? options.cgroup : options.state) = std::string(value);
  return true;
}

}  // namespace containerfs
