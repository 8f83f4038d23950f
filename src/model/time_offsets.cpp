#include "containerfs/model/time_offsets.hpp"

#include <optional>
#include <utility>

#include <fmt/format.h>

#include "containerfs/util/text.hpp"

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

Status apply(Offsets& o, std::string_view text) {
  for (auto line : Lines(text)) {
    auto word = words(line);
    if (word.empty()) continue;
    if (word.size() != 3) return fail(EINVAL);
    auto secs = whole_number<long long>(word[1]);
    auto nanos = whole_number<long long>(word[2]);
    if (!secs || !nanos) return fail(EINVAL);
    Offset off{*secs, *nanos};
    if (off.nanos < 0 || off.nanos >= 1000000000) return fail(EINVAL);
    if (word[0] == "monotonic" || word[0] == "1") o.monotonic = off;
    else if (word[0] == "boottime" || word[0] == "7") o.boottime = off;
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
