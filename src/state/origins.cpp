// The origins record (state/origins.hpp).
#include "containerfs/state/origins.hpp"

#include <fmt/format.h>

#include "containerfs/state/canonical_number.hpp"
#include "containerfs/util/text.hpp"

namespace containerfs::state {

namespace {

constexpr std::string_view kHeader = "containerfs-origins 1";

bool keepable(std::string_view cgroup) {
  return cgroup.starts_with('/') && cgroup.find('\n') == std::string_view::npos &&
         cgroup.find('\0') == std::string_view::npos;
}

}  // namespace

std::string encode_origins(const std::vector<Origin>& origins) {
  std::string out(kHeader);
  out += '\n';
  for (const auto& o : origins)
    if (o.pid > 0 && keepable(o.cgroup)) out += fmt::format("{} {} {}\n", o.pid, o.start, o.cgroup);
  return out;
}

Result<std::vector<Origin>> decode_origins(std::string_view text) {
  if (!text.starts_with(kHeader) || text.size() == kHeader.size() || text[kHeader.size()] != '\n')
    return fail(EINVAL);
  text.remove_prefix(kHeader.size() + 1);
  std::vector<Origin> out;
  if (!text.empty() && !text.ends_with('\n')) return fail(EINVAL);  // every line ends
  for (auto line : Lines(text)) {
    auto sp1 = line.find(' ');
    if (sp1 == std::string_view::npos) return fail(EINVAL);
    auto sp2 = line.find(' ', sp1 + 1);
    if (sp2 == std::string_view::npos) return fail(EINVAL);
    Origin o;
    if (!parse_canonical_number(line.substr(0, sp1), o.pid) || o.pid <= 0) return fail(EINVAL);
    if (!parse_canonical_number(line.substr(sp1 + 1, sp2 - sp1 - 1), o.start)) return fail(EINVAL);
    o.cgroup = std::string(line.substr(sp2 + 1));
    if (!keepable(o.cgroup)) return fail(EINVAL);
    out.push_back(std::move(o));
  }
  return out;
}

}  // namespace containerfs::state
