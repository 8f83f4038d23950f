// A decimal number as the records write it: one spelling only (no sign, no
// leading zero), so that decoding then encoding gives the text back.
#pragma once

#include <charconv>
#include <string_view>

namespace containerfs::state {

template <typename T>
bool parse_canonical_number(std::string_view text, T& out) {
  if (text.empty() || text.front() == '+' || text.front() == '-') return false;
  if (text.size() > 1 && text.front() == '0') return false;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc() && end == text.data() + text.size();
}

}  // namespace containerfs::state
