// state::encode_origins / decode_origins: where processes came from.
#include <catch2/catch.hpp>

#include "containerfs/state/origins.hpp"

using containerfs::state::decode_origins;
using containerfs::state::encode_origins;
using containerfs::state::Origin;

TEST_CASE("origins: round trip, in order", "[origins]") {
  std::vector<Origin> list{{12, 345, "/"},
                           {4194304, 18446744073709551615ULL, "/user.slice/user-1000.slice/a b"},
                           {7, 0, "/system.slice/ssh.service"}};
  auto text = encode_origins(list);
  CHECK(text ==
        "containerfs-origins 1\n12 345 /\n4194304 18446744073709551615 /user.slice/user-1000.slice/a b\n"
        "7 0 /system.slice/ssh.service\n");
  auto back = decode_origins(text);
  REQUIRE(back);
  CHECK(*back == list);
  CHECK(decode_origins("containerfs-origins 1\n")->empty());
}

TEST_CASE("origins: what cannot be kept on one line is left out", "[origins]") {
  std::vector<Origin> list{{1, 1, "/a\nb"}, {2, 2, "relative"}, {0, 3, "/"}, {-4, 4, "/"}, {5, 5, "/ok"}};
  auto back = decode_origins(encode_origins(list));
  REQUIRE(back);
  CHECK(*back == std::vector<Origin>{{5, 5, "/ok"}});
}

TEST_CASE("origins: malformed text is EINVAL", "[origins]") {
  const char* bad[] = {
      "",
      "containerfs-origins 1",          // no newline after the header
      "containerfs-origins 2\n",        // another version
      "containerfs-origins 1\n12 345 /",  // last line unterminated
      "containerfs-origins 1\n12 345\n",  // no path
      "containerfs-origins 1\n12\n",
      "containerfs-origins 1\n-12 345 /\n",
      "containerfs-origins 1\n+12 345 /\n",
      "containerfs-origins 1\n0 345 /\n",
      "containerfs-origins 1\n12 -1 /\n",
      "containerfs-origins 1\n12 x /\n",
      "containerfs-origins 1\n012 345 /\n",  // one spelling per number (found by fuzzing)
      "containerfs-origins 1\n12 0345 /\n",
      "containerfs-origins 1\n99999999999 1 /\n",     // pid overflows
      "containerfs-origins 1\n12 99999999999999999999 /\n",  // start overflows
      "containerfs-origins 1\n12 345 relative\n",
      "containerfs-origins 1\n12 345 \n",
      "containerfs-origins 1\n\n",
  };
  for (const char* text : bad) {
    INFO(text);
    auto r = decode_origins(text);
    REQUIRE(!r);
    CHECK(r.error() == EINVAL);
  }
  std::string nul("containerfs-origins 1\n12 345 /a\0b\n", 35);
  CHECK(!decode_origins(nul));
}
