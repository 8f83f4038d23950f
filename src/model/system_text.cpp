#include "containerfs/model/system_text.hpp"

#include "containerfs/util/text.hpp"

namespace containerfs::model {

Result<std::vector<std::string>> parse_run_lines(std::string_view text) {
  if (text.find('\0') != std::string_view::npos) return fail(EINVAL);
  std::vector<std::string> commands;
  for (auto line : Lines(text)) {
    if (line.ends_with('\r')) line.remove_suffix(1);
    if (!trimmed(line).empty()) commands.emplace_back(line);
  }
  if (commands.empty()) return fail(EINVAL);
  return commands;
}

Result<unsigned> host_id_of_inside_root(std::string_view map) {
  for (auto line : Lines(map)) {
    auto field = words(line);
    if (field.empty()) continue;
    if (field.size() != 3) return fail(EINVAL);
    auto inside = whole_number<unsigned>(field[0]);
    auto outside = whole_number<unsigned>(field[1]);
    auto count = whole_number<unsigned>(field[2]);
    if (!inside || !outside || !count) return fail(EINVAL);
    if (*inside == 0 && *count > 0) return *outside;
  }
  return fail(ENOENT);
}

Result<std::string> root_target(std::string_view target) {
  if (target.empty() || target.front() != '/' || target.find('\0') != std::string_view::npos) return fail(EINVAL);
  while (target.size() > 1 && target.back() == '/') target.remove_suffix(1);
  return std::string(target);
}

}  // namespace containerfs::model
