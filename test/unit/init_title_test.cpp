#include <catch2/catch.hpp>

#include "containerfs/kernel/init_title.hpp"
#include "containerfs/kernel/process.hpp"
#include "containerfs/util/file_io.hpp"

using namespace containerfs::kernel;

namespace {

// What /proc/PID/cmdline reads for an argument area of `arg_area` bytes
// followed by the environment, holding `bytes`: the kernel's rule.
std::string cmdline_of(const std::string& bytes, size_t arg_area) {
  REQUIRE(arg_area <= bytes.size());
  if (bytes[arg_area - 1] != '\0') return bytes.substr(0, bytes.find('\0') + 1);
  return bytes.substr(0, arg_area);
}

// The area of a new init as execve(2) lays it out: arguments, then the
// environment.
std::string started_area(std::string_view path, size_t* arg_area) {
  auto args = init_title_args(path);
  std::string area = std::string(kInitArgv0) + '\0' + args.path + '\0';
  *arg_area = area.size();
  return area + args.room + '\0';
}

}  // namespace

TEST_CASE("a new init's arguments read 'containerfs-init PATH', with room kept after them") {
  size_t arg_area = 0;
  auto area = started_area("web/db", &arg_area);
  CHECK(cmdline_of(area, arg_area) == std::string("containerfs-init\0web/db\0", 24));
  auto room = init_title_args("web/db").room;
  CHECK(room.size() == 255);
  CHECK(room.starts_with("CONTAINERFS_TITLE_ROOM="));
  CHECK(room.find('\0') == std::string::npos);
}

TEST_CASE("a title written over the area reads as one string, the title") {
  size_t arg_area = 0;
  auto area = started_area("web/db", &arg_area);
  // Shorter, as long (its NUL where the arguments' last NUL was), longer.
  for (std::string path : {std::string("w/db"), std::string("www/db"), std::string(255, 'n') + "/db"}) {
    INFO(path);
    auto bytes = init_title_bytes(path, arg_area, area.size());
    REQUIRE(bytes.size() == area.size());
    auto shown = cmdline_of(bytes, arg_area);
    CHECK(shown == "containerfs-init " + path + '\0');
  }
}

TEST_CASE("renaming one component of any path always fits") {
  for (std::string path : {std::string("a"), std::string("web/db"), std::string(255, 'x'), "p/" + std::string(255, 'y')}) {
    INFO(path);
    size_t arg_area = 0;
    auto area = started_area(path, &arg_area);
    auto renamed = path.substr(0, path.rfind('/') + 1) + std::string(255, 'z');
    CHECK(cmdline_of(init_title_bytes(renamed, arg_area, area.size()), arg_area) ==
          "containerfs-init " + renamed + '\0');
  }
}

TEST_CASE("a path too long for the area keeps its end, after a marker") {
  size_t area = 40, arg_area = 20;
  size_t room = area - 2 - std::string("containerfs-init ").size();
  std::string fits(room, 'a');
  CHECK(cmdline_of(init_title_bytes(fits, arg_area, area), arg_area) == "containerfs-init " + fits + '\0');
  std::string longer = "b" + fits;
  auto shown = cmdline_of(init_title_bytes(longer, arg_area, area), arg_area);
  CHECK(shown == "containerfs-init ..." + std::string(room - 3, 'a') + '\0');
  // A new init's own path is cut the same way, to keep the area in a page.
  auto args = init_title_args(std::string(5000, 'c'));
  CHECK(args.path.starts_with("..."));
  CHECK(std::string("containerfs-init\0", 17).size() + args.path.size() + 1 + args.room.size() + 1 <= 4096);
}

TEST_CASE("a cut path does not begin inside a UTF-8 character") {
  // "é" is two bytes; cutting between them would show a broken character.
  std::string path = "x/" + std::string(30, 'a') + "\xc3\xa9" + "/db";
  for (size_t area = 24; area < 50; ++area) {
    INFO(area);
    auto bytes = init_title_bytes(path, 17, area);
    REQUIRE(bytes.size() == area);
    auto shown = cmdline_of(bytes, 17);
    auto rest = shown.substr(std::string("containerfs-init ").size());
    rest.pop_back();  // the NUL
    if (rest.starts_with("...")) rest.erase(0, 3);
    REQUIRE_FALSE(rest.empty());
    CHECK((static_cast<unsigned char>(rest[0]) & 0xC0) != 0x80);
    CHECK(path.ends_with(rest));
  }
}

TEST_CASE("an area with no room for a title gets none") {
  // An init started before titles: "containerfs-init\0", no environment.
  CHECK(init_title_bytes("web", 17, 17).empty());
  CHECK(init_title_bytes("web", 0, 0).empty());
  CHECK(init_title_bytes("web", 30, 20).empty());  // arguments past the area: nonsense
}

TEST_CASE("numeric fields of /proc/PID/stat, after a command name with spaces and parentheses") {
  std::string stat = "42 (a) b (c) S 1 42 42 0 -1 4194560 1 2 3 4 5 6 7 8 20 0 1 0 98765 1000 200 "
                     "18446744073709551615 1 2 3 0 0 0 0 0 0 0 0 0 17 3 0 0 0 0 0 111 222 333 444 "
                     "555 666 777 888\n";
  CHECK(stat_field(stat, 4) == 1u);
  CHECK(stat_field(stat, 22) == 98765u);
  CHECK(stat_field(stat, 48) == 444u);
  CHECK(stat_field(stat, 49) == 555u);
  CHECK(stat_field(stat, 52) == 888u);
  CHECK_FALSE(stat_field(stat, 53));
  CHECK_FALSE(stat_field(stat, 3));  // the state letter is no number
  CHECK_FALSE(stat_field("no parenthesis", 22));
}

TEST_CASE("this process's own stat has a start time and an argument area") {
  auto text = containerfs::read_file("/proc/self/stat");
  REQUIRE(text);
  auto start = stat_field(*text, 48);
  auto end = stat_field(*text, 49);
  REQUIRE(start);
  REQUIRE(end);
  CHECK(*end > *start);
  CHECK(stat_field(*text, 22));
}
