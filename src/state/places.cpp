// The places record (state/places.hpp).
#include "containerfs/state/places.hpp"

#include <fmt/format.h>

#include "containerfs/state/canonical_number.hpp"
#include "containerfs/util/text.hpp"

namespace containerfs::state {

namespace {

constexpr std::string_view kHeader = "containerfs-places 1";
constexpr std::string_view kEscaped = " \t\n\\";

bool keepable(const std::string& path) {
  return path.starts_with('/') && path.find('\0') == std::string::npos;
}

std::string escape(std::string_view path) {
  std::string out;
  for (char c : path) {
    if (kEscaped.find(c) != std::string_view::npos) out += fmt::format("\\{:03o}", static_cast<unsigned char>(c));
    else out += c;
  }
  return out;
}

// The inverse of escape(); false for any other spelling.
bool unescape(std::string_view text, std::string& out) {
  out.clear();
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '\\') {
      if (kEscaped.find(text[i]) != std::string_view::npos) return false;  // written escaped
      out += text[i];
      continue;
    }
    if (i + 4 > text.size()) return false;
    unsigned value = 0;
    for (std::size_t k = 1; k <= 3; ++k) {
      const char d = text[i + k];
      if (d < '0' || d > '7') return false;
      value = value * 8 + static_cast<unsigned>(d - '0');
    }
    const char c = static_cast<char>(value);
    if (value > 0xff || kEscaped.find(c) == std::string_view::npos) return false;
    out += c;
    i += 3;
  }
  return true;
}

}  // namespace

std::string encode_places(const std::vector<KeptPlace>& places) {
  std::string out(kHeader);
  out += '\n';
  for (const auto& k : places) {
    const auto& p = k.place;
    if (k.pid <= 0 || !keepable(p.cwd.path) || !keepable(p.root.path)) continue;
    out += fmt::format("{} {} {} {} {} {} {} {}\n", k.pid, k.start, p.cwd.dev, p.cwd.ino, p.root.dev, p.root.ino,
                       escape(p.cwd.path), escape(p.root.path));
  }
  return out;
}

Result<std::vector<KeptPlace>> decode_places(std::string_view text) {
  if (!text.starts_with(kHeader) || text.size() == kHeader.size() || text[kHeader.size()] != '\n')
    return fail(EINVAL);
  text.remove_prefix(kHeader.size() + 1);
  std::vector<KeptPlace> out;
  if (!text.empty() && !text.ends_with('\n')) return fail(EINVAL);  // every line ends
  for (auto line : Lines(text)) {
    auto field = fields(line);
    if (field.size() != 8) return fail(EINVAL);
    KeptPlace k;
    auto& p = k.place;
    if (!parse_canonical_number(field[0], k.pid) || k.pid <= 0 || !parse_canonical_number(field[1], k.start) ||
        !parse_canonical_number(field[2], p.cwd.dev) || !parse_canonical_number(field[3], p.cwd.ino) ||
        !parse_canonical_number(field[4], p.root.dev) || !parse_canonical_number(field[5], p.root.ino) ||
        !unescape(field[6], p.cwd.path) || !unescape(field[7], p.root.path) || !keepable(p.cwd.path) ||
        !keepable(p.root.path))
      return fail(EINVAL);
    out.push_back(std::move(k));
  }
  return out;
}

}  // namespace containerfs::state
