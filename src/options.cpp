#include "containerfs/options.hpp"

#include <sched.h>

#include <algorithm>

#include "containerfs/kernel/namespaces.hpp"

namespace containerfs {

int default_namespaces() {
  return CLONE_NEWNET | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWCGROUP;
}

Result<bool> OptionParser::feed(std::string_view option) {
  if (ns_list_ && kernel::ns_kind_from_file_name(option)) {
    *ns_list_ += ',';
    *ns_list_ += option;
    return true;
  }
  if (auto done = finish(); !done) return fail(done.error());
  auto eq = option.find('=');
  auto key = option.substr(0, eq);
  if (key != "cgroup" && key != "namespaces" && key != "state") return false;
  if (eq == std::string_view::npos) return fail(EINVAL);
  auto value = option.substr(eq + 1);
  if (key == "namespaces") {
    std::string list(value);
    std::replace(list.begin(), list.end(), ':', ',');
    ns_list_ = list;
    return true;
  }
  if (value.empty() || value[0] != '/') return fail(EINVAL);
  while (value.size() > 1 && value.back() == '/') value.remove_suffix(1);
  (key == "cgroup" ? options_.cgroup : options_.state) = std::string(value);
  return true;
}

Status OptionParser::finish() {
  if (!ns_list_) return {};
  auto list = std::move(*ns_list_);
  ns_list_.reset();
  auto mask = kernel::parse_ns_list(list);
  if (!mask) return fail(mask.error());
  options_.namespaces = *mask;
  return {};
}

}  // namespace containerfs
