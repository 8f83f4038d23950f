#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "containerfs/util/text.hpp"

using namespace containerfs;

namespace {

std::vector<std::string> all_lines(std::string_view text) {
  std::vector<std::string> out;
  for (auto line : Lines(text)) out.emplace_back(line);
  return out;
}

using Strings = std::vector<std::string>;

Strings strings(const std::vector<std::string_view>& views) { return Strings(views.begin(), views.end()); }

}  // namespace

TEST_CASE("lines: every line without its newline, an unterminated last line too") {
  CHECK(all_lines("").empty());
  CHECK(all_lines("a") == Strings{"a"});
  CHECK(all_lines("a\n") == Strings{"a"});
  CHECK(all_lines("a\nb") == Strings{"a", "b"});
  CHECK(all_lines("a\n\nb\n") == Strings{"a", "", "b"});
  CHECK(all_lines("\n") == Strings{""});
  CHECK(all_lines("\n\n") == Strings{"", ""});
  CHECK(all_lines(std::string_view("x\0y\nz", 5)) == Strings{std::string("x\0y", 3), "z"});
}

TEST_CASE("lines: iterators compare equal only at the same place") {
  Lines lines("a\nb\n");
  auto it = lines.begin();
  CHECK(it != lines.end());
  auto second = it;
  ++second;
  CHECK(second != it);
  CHECK(*second == "b");
  ++second;
  CHECK(second == lines.end());
  CHECK(Lines("").begin() == Lines("").end());
}

TEST_CASE("words: runs of spaces and tabs separate, none is empty") {
  CHECK(strings(words("")).empty());
  CHECK(strings(words(" \t ")).empty());
  CHECK(strings(words("a")) == Strings{"a"});
  CHECK(strings(words("  a \tb  ")) == Strings{"a", "b"});
  CHECK(strings(words("a\nb")) == Strings{"a\nb"});  // lines are split first
}

TEST_CASE("fields: every separator splits, empty fields are kept") {
  CHECK(strings(fields("")) == Strings{""});
  CHECK(strings(fields("a b")) == Strings{"a", "b"});
  CHECK(strings(fields("a  b")) == Strings{"a", "", "b"});
  CHECK(strings(fields(" a ")) == Strings{"", "a", ""});
  CHECK(strings(fields("a:b", ':')) == Strings{"a", "b"});
}

TEST_CASE("trimmed: blanks around the text go, blanks inside stay") {
  CHECK(trimmed("") == "");
  CHECK(trimmed(" \t\r ") == "");
  CHECK(trimmed("\t42\r") == "42");
  CHECK(trimmed(" a b ") == "a b");
}

TEST_CASE("whole_number: the whole text or nothing") {
  CHECK(whole_number<int>("42") == 42);
  CHECK(whole_number<int>("-7") == -7);
  CHECK(whole_number<unsigned>("-7") == std::nullopt);
  CHECK(whole_number<int>("+7") == std::nullopt);
  CHECK(whole_number<int>("") == std::nullopt);
  CHECK(whole_number<int>(" 1") == std::nullopt);
  CHECK(whole_number<int>("1 ") == std::nullopt);
  CHECK(whole_number<int>("12x") == std::nullopt);
  CHECK(whole_number<std::uint8_t>("256") == std::nullopt);
  CHECK(whole_number<std::uint64_t>("ffffffffffffffff", 16) == UINT64_MAX);
  CHECK(whole_number<std::uint64_t>("0x10", 16) == std::nullopt);
}
