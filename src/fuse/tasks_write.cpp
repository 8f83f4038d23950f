#include "containerfs/fuse/tasks_write.hpp"

#include <charconv>

#include "containerfs/util/log.hpp"

namespace containerfs::fuse {

Result<std::vector<pid_t>> parse_pid_list(std::string_view text) {
  std::vector<pid_t> pids;
  while (!text.empty()) {
    auto nl = text.find('\n');
    auto line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
    while (!line.empty() && (line.back() == ' ' || line.back() == '\t' || line.back() == '\r'))
      line.remove_suffix(1);
    while (!line.empty() && (line.front() == ' ' || line.front() == '\t')) line.remove_prefix(1);
    if (line.empty()) continue;
    long long value = -1;
    auto [end, ec] = std::from_chars(line.data(), line.data() + line.size(), value);
    if (ec != std::errc() || end != line.data() + line.size()) return fail(EINVAL);
    // pid_max is at most 2^22 on 64-bit kernels.
    if (value < 0 || value > (1 << 22)) return fail(EINVAL);
    pids.push_back(static_cast<pid_t>(value));
  }
  if (pids.empty()) return fail(EINVAL);
  return pids;
}

Result<size_t> write_tasks(Filesystem&, fuse_req_t, model::ContainerId, std::string_view data) {
  auto pids = parse_pid_list(data);
  if (!pids) return fail(log::refuse(EINVAL, "tasks: not a list of pids: {:?}", data));
  return fail(ENOSYS);
}

}  // namespace containerfs::fuse
