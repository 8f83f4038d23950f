// Reading line-oriented text (control files, /proc files, records): lines,
// words and whole numbers, so that every parser splits text the same way.
#pragma once

#include <charconv>
#include <cstddef>
#include <iterator>
#include <optional>
#include <string_view>
#include <vector>

namespace containerfs {

// The lines of a text, each without its '\n'. A last line without '\n' is a
// line too; an empty text has none; "a\n" has one ("a").
//   for (std::string_view line : Lines(text)) ...
class Lines {
 public:
  explicit Lines(std::string_view text) : text_(text) {}

  class iterator {
   public:
    using value_type = std::string_view;
    using difference_type = std::ptrdiff_t;
    iterator() = default;
    explicit iterator(std::string_view rest) : rest_(rest) { take(); }
    std::string_view operator*() const { return line_; }
    iterator& operator++() {
      take();
      return *this;
    }
    iterator operator++(int) {
      auto before = *this;
      take();
      return before;
    }
    bool operator==(const iterator& other) const { return done_ == other.done_ && (done_ || rest_.data() == other.rest_.data()); }

   private:
    void take() {
      if (rest_.empty()) {
        done_ = true;
        return;
      }
      auto nl = rest_.find('\n');
      line_ = rest_.substr(0, nl);
      rest_ = nl == std::string_view::npos ? std::string_view{} : rest_.substr(nl + 1);
    }
    std::string_view rest_;
    std::string_view line_;
    bool done_ = false;
  };

  iterator begin() const { return iterator(text_); }
  iterator end() const {
    iterator it;
    ++it;  // an iterator over nothing is the end
    return it;
  }

 private:
  std::string_view text_;
};

// The text without the blanks (spaces, tabs, carriage returns) around it.
inline std::string_view trimmed(std::string_view text) {
  constexpr std::string_view blanks = " \t\r";
  auto first = text.find_first_not_of(blanks);
  if (first == std::string_view::npos) return {};
  return text.substr(first, text.find_last_not_of(blanks) - first + 1);
}

// Words of a line as a shell splits them: runs of spaces and tabs separate,
// no word is empty. "  a \tb " -> {"a", "b"}.
inline std::vector<std::string_view> words(std::string_view line) {
  std::vector<std::string_view> out;
  for (std::size_t pos = line.find_first_not_of(" \t"); pos != std::string_view::npos;
       pos = line.find_first_not_of(" \t", pos)) {
    auto end = std::min(line.find_first_of(" \t", pos), line.size());
    out.push_back(line.substr(pos, end - pos));
    pos = end;
  }
  return out;
}

// Fields of a line in a strict format: every separator splits, so empty
// fields are kept. "a  b" -> {"a", "", "b"}; "" -> {""}.
inline std::vector<std::string_view> fields(std::string_view line, char separator = ' ') {
  std::vector<std::string_view> out;
  for (std::size_t at = 0;;) {
    auto sep = line.find(separator, at);
    out.push_back(line.substr(at, sep == std::string_view::npos ? std::string_view::npos : sep - at));
    if (sep == std::string_view::npos) return out;
    at = sep + 1;
  }
}

// The whole text as a number in `base` (from_chars rules: a '-' only for
// signed types, no '+', no blanks); nullopt if anything is left over.
template <typename T>
std::optional<T> whole_number(std::string_view text, int base = 10) {
  T value{};
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value, base);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

}  // namespace containerfs
