#include "containerfs/model/time_offsets.hpp"

#include <charconv>
#include <optional>
#include <utility>

#include <fmt/format.h>

namespace containerfs::model {

namespace {

struct Offset {
  long long secs = 0;
  long long nanos = 0;
};

struct Offsets {
  std::optional<Offset> monotonic;
  std::optional<Offset> boottime;
};

template <typename T>
bool number(std::string_view s, T& out) {
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && end == s.data() + s.size() && !s.empty();
}

Status apply(Offsets& o, std::string_view text) {
  while (!text.empty()) {
    auto nl = text.find('\n');
    auto line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
    std::string_view words[4];
    size_t n = 0;
    for (size_t pos = 0; pos < line.size();) {
      while (pos < line.size() && (line[pos] == ' ' || line[pos] == '\t')) ++pos;
      if (pos == line.size()) break;
      auto end = line.find_first_of(" \t", pos);
      if (end == std::string_view::npos) end = line.size();
      if (n == 4) return fail(EINVAL);
      words[n++] = line.substr(pos, end - pos);
      pos = end;
    }
    if (n == 0) continue;
    if (n != 3) return fail(EINVAL);
    Offset off;
    if (!number(words[1], off.secs) || !number(words[2], off.nanos)) return fail(EINVAL);
    if (off.nanos < 0 || off.nanos >= 1000000000) return fail(EINVAL);
    if (words[0] == "monotonic" || words[0] == "1") o.monotonic = off;
    else if (words[0] == "boottime" || words[0] == "7") o.boottime = off;
    else return fail(EINVAL);
  }
  return {};
}

}  // namespace

Result<std::string> merge_time_offsets(std::string_view current, std::string_view written) {
  Offsets o;
  if (auto ok = apply(o, current); !ok) return fail(ok.error());
  if (auto ok = apply(o, written); !ok) return fail(ok.error());
  std::string out;
  if (o.monotonic) out += fmt::format("monotonic {} {}\n", o.monotonic->secs, o.monotonic->nanos);
  if (o.boottime) out += fmt::format("boottime {} {}\n", o.boottime->secs, o.boottime->nanos);
  return out;
}

}  // namespace containerfs::model
