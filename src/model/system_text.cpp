#include "containerfs/model/system_text.hpp"

#include <charconv>

namespace containerfs::model {

namespace {

// Splits at '\n', giving every line (the last one too, if not empty).
std::vector<std::string_view> lines_of(std::string_view text) {
  std::vector<std::string_view> lines;
  while (!text.empty()) {
    auto nl = text.find('\n');
    lines.push_back(text.substr(0, nl));
    text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
  }
  return lines;
}

bool blank(std::string_view s) { return s.find_first_not_of(" \t") == std::string_view::npos; }

}  // namespace

Result<std::vector<std::string>> parse_run_lines(std::string_view text) {
  if (text.find('\0') != std::string_view::npos) return fail(EINVAL);
  std::vector<std::string> commands;
  for (auto line : lines_of(text)) {
    if (line.ends_with('\r')) line.remove_suffix(1);
    if (!blank(line)) commands.emplace_back(line);
  }
  if (commands.empty()) return fail(EINVAL);
  return commands;
}

Result<unsigned> host_id_of_inside_root(std::string_view map) {
  for (auto line : lines_of(map)) {
    unsigned long long field[3];
    int n = 0;
    size_t pos = 0;
    for (; n < 3; ++n) {
      pos = line.find_first_not_of(' ', pos);
      if (pos == std::string_view::npos) break;
      auto [end, ec] = std::from_chars(line.data() + pos, line.data() + line.size(), field[n]);
      if (ec != std::errc()) return fail(EINVAL);
      pos = static_cast<size_t>(end - line.data());
    }
    if (n == 0 && blank(line)) continue;
    if (n != 3 || line.find_first_not_of(' ', pos) != std::string_view::npos) return fail(EINVAL);
    auto [inside, outside, count] = field;
    if (inside == 0 && count > 0) return static_cast<unsigned>(outside);
  }
  return fail(ENOENT);
}

Result<std::string> root_target(std::string_view target) {
  if (target.empty() || target.front() != '/' || target.find('\0') != std::string_view::npos) return fail(EINVAL);
  while (target.size() > 1 && target.back() == '/') target.remove_suffix(1);
  return std::string(target);
}

}  // namespace containerfs::model
