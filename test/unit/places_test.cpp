// state::encode_places / decode_places: where processes stood before they
// first entered a container.
#include <catch2/catch.hpp>

#include "containerfs/state/places.hpp"

using containerfs::kernel::KnownDir;
using containerfs::kernel::ProcessPlace;
using containerfs::state::decode_places;
using containerfs::state::encode_places;
using containerfs::state::KeptPlace;

TEST_CASE("places: round trip, in order, odd bytes escaped", "[places]") {
  std::vector<KeptPlace> list{
      {12, 345, ProcessPlace{KnownDir{"/home/ann/my dir", 2049, 131}, KnownDir{"/", 2049, 2}}},
      {4194304, 18446744073709551615ULL,
       ProcessPlace{KnownDir{"/tmp/a\tb\nc\\d", 18446744073709551615ULL, 1}, KnownDir{"/srv/jail", 7, 8}}}};
  auto text = encode_places(list);
  CHECK(text ==
        "containerfs-places 1\n"
        "12 345 2049 131 2049 2 /home/ann/my\\040dir /\n"
        "4194304 18446744073709551615 18446744073709551615 1 7 8 /tmp/a\\011b\\012c\\134d /srv/jail\n");
  auto back = decode_places(text);
  REQUIRE(back);
  CHECK(*back == list);
  CHECK(decode_places("containerfs-places 1\n")->empty());
  // Any other byte goes as it is (a path is bytes, not text).
  std::vector<KeptPlace> raw{{1, 1, ProcessPlace{KnownDir{"/\xff\x01\x7f", 1, 1}, KnownDir{"/", 1, 2}}}};
  CHECK(decode_places(encode_places(raw)) == raw);
}

TEST_CASE("places: what cannot be kept is left out", "[places]") {
  const ProcessPlace ok{KnownDir{"/", 1, 2}, KnownDir{"/", 1, 2}};
  std::vector<KeptPlace> list{{0, 1, ok},
                              {-3, 1, ok},
                              {4, 1, ProcessPlace{KnownDir{"relative", 1, 2}, KnownDir{"/", 1, 2}}},
                              {5, 1, ProcessPlace{KnownDir{"/", 1, 2}, KnownDir{std::string("/a\0b", 4), 1, 2}}},
                              {6, 1, ok}};
  auto back = decode_places(encode_places(list));
  REQUIRE(back);
  CHECK(*back == std::vector<KeptPlace>{{6, 1, ok}});
}

TEST_CASE("places: malformed text is EINVAL", "[places]") {
  const char* bad[] = {
      "",
      "containerfs-places 1",                          // no newline after the header
      "containerfs-places 2\n",                        // another version
      "containerfs-places 1\n1 2 3 4 5 6 / /",         // last line unterminated
      "containerfs-places 1\n1 2 3 4 5 6 /\n",         // a field missing
      "containerfs-places 1\n1 2 3 4 5 6 / / /\n",     // one too many
      "containerfs-places 1\n0 2 3 4 5 6 / /\n",       // pid 0
      "containerfs-places 1\n-1 2 3 4 5 6 / /\n",
      "containerfs-places 1\n01 2 3 4 5 6 / /\n",      // another spelling of 1
      "containerfs-places 1\n1 2 3 4 5 x / /\n",
      "containerfs-places 1\n1 2 3 4 5 6 a /\n",       // not absolute
      "containerfs-places 1\n1 2 3 4 5 6 /a\\141 /\n",  // 'a' needs no escape
      "containerfs-places 1\n1 2 3 4 5 6 /a\\04 /\n",   // cut short
      "containerfs-places 1\n1 2 3 4 5 6 /a\\000 /\n",  // NUL
      "containerfs-places 1\n1 2 3 4 5 6 /a\\x /\n",
      "containerfs-places 1\n1 2 3 4 5 6 /a\\ /\n",
      "containerfs-places 1\n1 2 3 4 5 6 /a  /\n",      // empty field
      "containerfs-places 1\n1 2 3 4 5 6 /a\tb /\n",    // a tab not written escaped
  };
  for (const char* text : bad) {
    INFO(text);
    auto r = decode_places(text);
    REQUIRE_FALSE(r);
    CHECK(r.error() == EINVAL);
  }
}
