// containerfs::kernel::DeviceRules: the devices.list text (parsing,
// listing, round trips), edits (merging, taking away, the EINVAL rule when
// an edit cannot take effect, all or nothing), refusals with EINVAL and
// ENOSPC, and within(), each checked against a brute-force evaluation.
#include <catch2/catch.hpp>

#include <chrono>
#include <map>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "containerfs/kernel/device_rules.hpp"

using namespace containerfs::kernel;

namespace {

constexpr auto kBlock = DeviceType::block;
constexpr auto kChar = DeviceType::character;

DeviceRules rules_of(std::string_view listing) {
  auto r = DeviceRules::parse(listing);
  INFO(listing);
  REQUIRE(r);
  return *r;
}

// Applies a write that must be refused with `err`, and checks that the
// rules written to are as they were.
void require_refused(const DeviceRules& rules, std::string_view write, int err) {
  const std::string before = rules.format();
  auto r = rules.apply(write);
  INFO("write: " << write);
  REQUIRE_FALSE(r);
  CHECK(r.error() == err);
  CHECK(rules.format() == before);
}

}  // namespace

TEST_CASE("device rules: the three defaults and their listings", "[devices]") {
  CHECK(DeviceRules::allow_all().format() == "a *:* rwm\n");
  CHECK(DeviceRules::allow_all().allows_everything());
  CHECK(DeviceRules::deny_all().format().empty());
  CHECK_FALSE(DeviceRules::deny_all().allows(kChar, 1, 3, kDeviceRead));
  CHECK(DeviceRules::own_dev().format() ==
        "c 1:3 rwm\nc 1:5 rwm\nc 1:7 rwm\nc 1:8 rwm\nc 1:9 rwm\n"
        "c 5:0 rwm\nc 5:1 rwm\nc 5:2 rwm\nc 136:* rwm\n");
  const auto dev = DeviceRules::own_dev();
  CHECK(dev.allows(kChar, 136, 7, kDeviceRead | kDeviceWrite));
  CHECK(dev.allows(kChar, 5, 2, kDeviceAllAccess));
  CHECK_FALSE(dev.allows(kChar, 5, 3, kDeviceRead));
  CHECK_FALSE(dev.allows(kBlock, 1, 3, kDeviceRead));  // a block device of the same numbers
  CHECK_FALSE(dev.allows(kChar, 10, 200, kDeviceRead));
  CHECK(dev.within(DeviceRules::allow_all()));
  CHECK(DeviceRules::parse(dev.format()) == dev);
}

TEST_CASE("device rules: parsing a listing gives back what it lists", "[devices]") {
  const char* listings[] = {
      "",
      "a *:* rwm\n",
      "c 1:3 rwm\n",
      "b 8:* r\nc 1:3 rwm\nc 136:* rwm\n",
      "a *:* rwm\n-b *:* rwm\n-c 10:200 w\n",
      "c 4294967295:4294967295 m\nc *:0 rw\nc *:* r\n",
  };
  for (std::string_view text : listings) {
    INFO(text);
    auto r = DeviceRules::parse(text);
    REQUIRE(r);
    CHECK(r->format() == text);
    // Written back onto the same rules, the listing changes nothing.
    auto again = r->apply(text);
    REQUIRE(again);
    CHECK(*again == *r);
  }
}

TEST_CASE("device rules: spellings that mean the same are listed one way", "[devices]") {
  CHECK(rules_of("c 1:3 mwr\n").format() == "c 1:3 rwm\n");
  CHECK(rules_of("c 1:3 wr").format() == "c 1:3 rw\n");  // no final newline
  CHECK(rules_of("  c\t1:3   rwm \t\n\n \n").format() == "c 1:3 rwm\n");
  CHECK(rules_of("c 007:0003 r\n").format() == "c 7:3 r\n");
  // Listed in order whatever the order written: block first, numbers before *.
  CHECK(rules_of("c *:* r\nc 136:* r\nc 5:1 r\nc 1:* r\nc 1:3 r\nb 8:0 r\n").format() ==
        "b 8:0 r\nc 1:3 r\nc 1:* r\nc 5:1 r\nc 136:* r\nc *:* r\n");
}

TEST_CASE("device rules: `a` and `-a` replace everything", "[devices]") {
  const auto some = rules_of("c 1:3 rwm\nc 136:* rw\n");
  for (const char* all : {"a", "a *:* rwm", "a *:* mwr", "a\n"}) {
    auto r = some.apply(all);
    REQUIRE(r);
    CHECK(*r == DeviceRules::allow_all());
  }
  auto denied = rules_of("a\n-c 1:3 w\n").apply("-a");
  REQUIRE(denied);
  CHECK(*denied == DeviceRules::deny_all());
  auto also = some.apply("-a *:* rwm");
  REQUIRE(also);
  CHECK(*also == DeviceRules::deny_all());
  // A listing in allow-all mode written anywhere gives itself back.
  auto back = some.apply("a *:* rwm\n-c 1:3 rwm\n");
  REQUIRE(back);
  CHECK(back->format() == "a *:* rwm\n-c 1:3 rwm\n");
}

TEST_CASE("device rules: every malformed line is EINVAL and changes nothing", "[devices]") {
  const auto base = DeviceRules::own_dev();
  const char* bad[] = {
      "x 1:3 rwm", "A 1:3 rwm", "C 1:3 rwm", "cc 1:3 rwm", "- c 1:3 rwm", "--c 1:3 rwm", "+c 1:3 rwm",
      "c", "-c", "c 1:3", "c 1:3 ", "b 8:*",                                      // access missing
      "c 1:3 rwx", "c 1:3 R", "c 1:3 rrw", "c 1:3 rwmr", "c 1:3 r-w", "c 1:3 rw\r",  // access letters
      "c 1:3 rwm extra", "c 1:3 rw m", "c 1:3 rwm #",                               // trailing words
      "c 1-3 rwm", "c 1 rwm", "c :3 rwm", "c 1: rwm", "c : rwm", "c 1:3:4 rwm", "c 1:: rwm",
      "c a:3 rwm", "c 1:b rwm", "c -1:3 rwm", "c +1:3 rwm", "c 0x1:3 rwm", "c 1.0:3 rwm", "c **:3 rwm",
      "c 1:3* rwm", "c 4294967296:0 rwm", "c 0:4294967296 rwm", "c 99999999999999999999:0 rwm",
      "c 1 :3 rwm", "c 1: 3 rwm",
      "a 1:3 rwm", "a *:* r", "a *:* rw", "a *:*", "a *:* rwm x", "a b", "-a 1:* rwm", "a *:3 rwm",
      "b 8:0 r\nz",
  };
  for (std::string_view line : bad) {
    require_refused(base, line, EINVAL);
    require_refused(DeviceRules::allow_all(), line, EINVAL);
  }
  // A NUL byte anywhere in a line.
  require_refused(base, std::string_view("c 1:3 rwm\0", 10), EINVAL);
  // A good line before a bad one is not applied either.
  require_refused(base, "c 10:200 rwm\nc 10:201 rwz\n", EINVAL);
  require_refused(base, "-a\nbogus\n", EINVAL);
  // The largest numbers are fine.
  CHECK(base.apply("c 4294967295:4294967295 rwm"));
}

TEST_CASE("device rules: adding merges access into the entry with the same numbers", "[devices]") {
  auto r = rules_of("c 1:3 r\n");
  r = *r.apply("c 1:3 w");
  CHECK(r.format() == "c 1:3 rw\n");
  r = *r.apply("c 1:* m");  // another pattern: another entry
  CHECK(r.format() == "c 1:3 rw\nc 1:* m\n");
  r = *r.apply("c 1:3 rw");  // nothing new
  CHECK(r.format() == "c 1:3 rw\nc 1:* m\n");
  r = *r.apply("b 1:3 r");
  CHECK(r.format() == "b 1:3 r\nc 1:3 rw\nc 1:* m\n");
}

TEST_CASE("device rules: taking away removes bits from the exactly matching entry", "[devices]") {
  auto r = rules_of("c 1:3 rwm\nc 1:5 rw\n");
  r = *r.apply("-c 1:3 w");
  CHECK(r.format() == "c 1:3 rm\nc 1:5 rw\n");
  r = *r.apply("-c 1:3 rm");  // empty: the entry goes
  CHECK(r.format() == "c 1:5 rw\n");
  r = *r.apply("-c 7:7 rwm");  // nothing there, denied already: no change, no error
  CHECK(r.format() == "c 1:5 rw\n");
  r = *r.apply("-c 1:5 rwm");  // more bits than the entry has
  CHECK(r.format().empty());
}

TEST_CASE("device rules: in allow-all mode the exceptions are denials", "[devices]") {
  auto r = DeviceRules::allow_all();
  r = *r.apply("-c 1:3 rwm");
  CHECK(r.format() == "a *:* rwm\n-c 1:3 rwm\n");
  CHECK_FALSE(r.allows(kChar, 1, 3, kDeviceRead));
  CHECK(r.allows(kChar, 1, 4, kDeviceAllAccess));
  r = *r.apply("c 1:3 r");
  CHECK(r.format() == "a *:* rwm\n-c 1:3 wm\n");
  CHECK(r.allows(kChar, 1, 3, kDeviceRead));
  CHECK_FALSE(r.allows(kChar, 1, 3, kDeviceRead | kDeviceWrite));
  r = *r.apply("-b *:* rwm\nc 1:3 wm");
  CHECK(r.format() == "a *:* rwm\n-b *:* rwm\n");
  CHECK(r.allows(kChar, 8, 0, kDeviceRead));
  CHECK_FALSE(r.allows(kBlock, 8, 0, kDeviceRead));
}

TEST_CASE("device rules: an edit a wider entry overrules is EINVAL and changes nothing", "[devices]") {
  // Deny-all mode: taking 1:3 away while `c 1:*` still allows it.
  const auto wide = rules_of("c 1:* rw\n");
  require_refused(wide, "-c 1:3 r", EINVAL);
  require_refused(rules_of("c *:* rwm\n"), "-c 5:1 m", EINVAL);
  require_refused(rules_of("c *:3 r\n"), "-c 1:3 r", EINVAL);
  // Taking away the wide entry while a narrower one still allows some of it.
  require_refused(rules_of("c 1:* r\nc 1:3 r\n"), "-c 1:* r", EINVAL);
  // Allow-all mode: allowing 1:3 while `-c 1:*` still denies it.
  const auto denied = rules_of("a\n-c 1:* rwm\n");
  require_refused(denied, "c 1:3 r", EINVAL);
  require_refused(rules_of("a\n-c *:* w\n"), "c 10:200 w", EINVAL);
  // Only the bits asked for count: the wide entry denies w, r is free.
  auto partly = rules_of("a\n-c 1:* w\n").apply("c 1:3 r");
  REQUIRE(partly);
  CHECK(partly->format() == "a *:* rwm\n-c 1:* w\n");
  // Lines of one write are applied in order, each must take effect, and a
  // refused line undoes the whole write.
  require_refused(wide, "c 10:200 rwm\n-c 1:3 r\n", EINVAL);
  auto in_order = wide.apply("c 1:3 m\n-c 1:* rw\n-c 1:3 m\n");
  REQUIRE(in_order);
  CHECK(in_order->format().empty());
  auto on_and_off = wide.apply("c 10:200 rwm\n-c 10:200 rwm\n");
  REQUIRE(on_and_off);
  CHECK(*on_and_off == wide);
  // `-a` first rewrites the whole list, whatever was there.
  auto rewritten = rules_of("c 1:* r\nc 1:3 r\n").apply("-a\nc 1:3 r\n");
  REQUIRE(rewritten);
  CHECK(rewritten->format() == "c 1:3 r\n");
}

TEST_CASE("device rules: at most kMaxDeviceExceptions entries, ENOSPC past it", "[devices]") {
  std::string text;
  for (std::size_t i = 0; i < kMaxDeviceExceptions; ++i) text += "c 1:" + std::to_string(i) + " r\n";
  auto full = DeviceRules::parse(text);
  REQUIRE(full);
  CHECK(full->exceptions().size() == kMaxDeviceExceptions);
  require_refused(*full, "c 2:0 r", ENOSPC);
  require_refused(DeviceRules::allow_all(), "-a\n" + text + "c 2:0 r\n", ENOSPC);
  // Merging into an existing entry or taking away needs no room.
  CHECK(full->apply("c 1:0 w"));
  auto fewer = full->apply("-c 1:0 r\nc 2:0 r");
  REQUIRE(fewer);
  CHECK(fewer->exceptions().size() == kMaxDeviceExceptions);
}

TEST_CASE("device rules: the largest rule sets are edited and compared quickly", "[devices]") {
  // Wildcards that cross: every major with every minor is a case of its
  // own; and a write of many lines that each concern every device.
  std::string crossing = "-a\nc *:* r\n", other = "-a\n";
  for (int i = 0; i < 127; ++i) {
    crossing += "c " + std::to_string(i) + ":* r\nc *:" + std::to_string(i) + " w\n";
    other += "c " + std::to_string(i + 1) + ":* r\nc *:" + std::to_string(i) + " w\n";
  }
  std::string write;
  for (int i = 0; i < 1000; ++i) write += i % 2 ? "c *:* m\n" : "-c *:* m\n";
  const auto start = std::chrono::steady_clock::now();
  auto rules = DeviceRules::parse(crossing);
  REQUIRE(rules);
  REQUIRE(rules->exceptions().size() == 255);
  auto parent = DeviceRules::parse(other);
  REQUIRE(parent);
  CHECK(rules->within(*rules));
  CHECK_FALSE(rules->within(*parent));
  CHECK(parent->within(*rules));
  auto edited = rules->apply(write);
  REQUIRE(edited);
  CHECK(edited->format() == rules->apply("c *:* m")->format());
  const auto took = std::chrono::steady_clock::now() - start;
  CHECK(took < std::chrono::seconds(2));
}

TEST_CASE("device rules: a request for no access bit", "[devices]") {
  // The kernel asks with no bit for some operations on a device node: allowed
  // when the device has any bit allowed, refused when it has none.
  const auto r = rules_of("c 1:3 m\n");
  CHECK(r.allows(kChar, 1, 3, 0));
  CHECK_FALSE(r.allows(kChar, 1, 5, 0));
  const auto denied = rules_of("a\n-c 1:3 rwm\n-c 1:5 r\n");
  CHECK_FALSE(denied.allows(kChar, 1, 3, 0));
  CHECK(denied.allows(kChar, 1, 5, 0));
  CHECK(DeviceRules::allow_all().allows(kBlock, 0, 0, 0));
}

TEST_CASE("device rules: within() with wildcards and exceptions", "[devices]") {
  const auto all = DeviceRules::allow_all();
  const auto none = DeviceRules::deny_all();
  const auto dev = DeviceRules::own_dev();
  CHECK(dev.within(all));
  CHECK_FALSE(all.within(dev));
  CHECK(none.within(none));
  CHECK(none.within(dev));
  CHECK(dev.within(dev));
  CHECK(all.within(all));
  CHECK_FALSE(dev.within(none));

  struct Case {
    const char* child;
    const char* parent;
    bool within;
  };
  const Case cases[] = {
      {"c 136:* rwm", "c *:* rwm", true},
      {"c *:* rwm", "c 136:* rwm", false},
      {"c 136:4 rw", "c 136:* rwm", true},
      {"c 136:4 rwm", "c 136:* rw", false},
      {"b 136:4 r", "c *:* rwm", false},
      // Bits of two parent entries together.
      {"c 1:3 rwm", "c 1:* rw\nc 1:3 m", true},
      {"c 1:3 rwm", "c *:3 rw\nc 1:* m", true},
      {"c 1:4 rwm", "c *:3 rw\nc 1:* m", false},
      // Allow-all parents with denials.
      {"a\n-c 1:3 rwm", "a", true},
      {"a", "a\n-c 1:3 rwm", false},
      {"c 1:5 rwm\nc 2:* r", "a\n-c 1:3 rwm", true},
      {"c 1:3 r", "a\n-c 1:3 rwm", false},
      {"c 1:* r", "a\n-c 1:3 rwm", false},  // 1:3 is among 1:*
      {"c *:3 r", "a\n-c 1:3 rwm", false},
      {"a\n-c 1:* rwm", "a\n-c 1:3 rwm", true},
      {"a\n-c 1:3 rwm", "a\n-c 1:* rwm", false},
      {"a\n-c 1:3 rw", "a\n-c 1:3 r", true},
      {"a\n-c 1:3 r", "a\n-c 1:3 rw", false},
      {"c *:* rwm", "a\n-b *:* rwm", true},
      {"b 8:0 r", "a\n-b *:* rwm", false},
      // A child with denials under a deny-all parent: everything else the
      // child allows must be listed by the parent.
      {"a\n-c *:* rwm\n-b 8:* rwm", "b 8:* rwm", false},
      {"a\n-c *:* rwm\n-b 8:* rwm", "b *:* rwm", true},
      {"a\n-c *:* rwm\n-b *:* rwm", "", true},
      // Numbers at the ends of the range.
      {"c 4294967295:* r", "c *:* r", true},
      {"c 4294967295:0 r", "c 4294967294:* r", false},
      {"c 0:4294967295 w", "c 0:* w", true},
  };
  for (const auto& c : cases) {
    INFO("child:\n" << c.child << "\nparent:\n" << c.parent);
    CHECK(rules_of(c.child).within(rules_of(c.parent)) == c.within);
  }
  // An unmentioned value is found whatever the mentioned ones are.
  CHECK_FALSE(rules_of("c 0:* r").within(rules_of("c 0:0 r\nc 0:1 r\nc 0:2 r")));
}

namespace {

// An independent model of the rules over a small universe (majors and
// minors 0..4; rule sets name only 0..2, so 3 and 4 stand for every other
// number): the set of allowed (type, major, minor, bit).
struct Oracle {
  bool default_allow = false;
  // (type, major or -1 for *, minor or -1) -> bits
  std::map<std::tuple<int, long, long>, int> exceptions;

  static constexpr int kValues = 5;

  int allowed(int type, long major, long minor) const {
    int bits = 0;
    for (const auto& [key, access] : exceptions) {
      auto [t, ma, mi] = key;
      if (t == type && (ma < 0 || ma == major) && (mi < 0 || mi == minor)) bits |= access;
    }
    return default_allow ? (7 & ~bits) : bits;
  }
  // The exact-match edit; false when it does not take effect.
  bool edit(bool allow, int type, long major, long minor, int access) {
    auto key = std::make_tuple(type, major, minor);
    if (allow != default_allow) {
      exceptions[key] |= access;
    } else if (auto it = exceptions.find(key); it != exceptions.end()) {
      it->second &= ~access;
      if (it->second == 0) exceptions.erase(it);
    }
    for (long ma = 0; ma < kValues; ++ma)
      for (long mi = 0; mi < kValues; ++mi) {
        if ((major >= 0 && ma != major) || (minor >= 0 && mi != minor)) continue;
        int bits = allowed(type, ma, mi) & access;
        if (allow ? bits != access : bits != 0) return false;
      }
    return true;
  }
};

std::string random_line(std::mt19937& rng, bool& allow, int& type, long& major, long& minor, int& access) {
  std::uniform_int_distribution<int> num(-1, 2), bits(1, 7), coin(0, 1);
  allow = coin(rng);
  type = coin(rng);
  major = num(rng);
  minor = num(rng);
  access = bits(rng);
  std::string text = allow ? "" : "-";
  text += type ? 'c' : 'b';
  text += ' ' + (major < 0 ? std::string("*") : std::to_string(major)) + ':' +
          (minor < 0 ? std::string("*") : std::to_string(minor)) + ' ';
  if (access & kDeviceMknod) text += 'm';
  if (access & kDeviceWrite) text += 'w';
  if (access & kDeviceRead) text += 'r';
  return text;
}

struct RandomRules {
  DeviceRules rules;
  Oracle oracle;
};

RandomRules random_rules(std::mt19937& rng) {
  RandomRules out;
  if (rng() % 2) {
    out.rules = DeviceRules::allow_all();
    out.oracle.default_allow = true;
  }
  for (int n = int(rng() % 8); n > 0; --n) {
    bool allow;
    int type, access;
    long major, minor;
    auto line = random_line(rng, allow, type, major, minor, access);
    if (auto r = out.rules.apply(line)) {
      Oracle copy = out.oracle;
      REQUIRE(copy.edit(allow, type, major, minor, access));
      out.oracle = copy;
      out.rules = *r;
    }
  }
  return out;
}

bool same_everywhere(const DeviceRules& rules, const Oracle& oracle) {
  for (int t = 0; t < 2; ++t)
    for (long ma = 0; ma < Oracle::kValues; ++ma)
      for (long mi = 0; mi < Oracle::kValues; ++mi)
        if (rules.allowed(t ? kChar : kBlock, std::uint32_t(ma), std::uint32_t(mi)) != oracle.allowed(t, ma, mi))
          return false;
  return true;
}

}  // namespace

TEST_CASE("device rules: random edits agree with an independent model", "[devices]") {
  std::mt19937 rng(20240607);
  int refused = 0, applied = 0;
  for (int round = 0; round < 3000; ++round) {
    auto [rules, oracle] = random_rules(rng);
    REQUIRE(same_everywhere(rules, oracle));
    bool allow;
    int type, access;
    long major, minor;
    const auto line = random_line(rng, allow, type, major, minor, access);
    INFO(rules.format() << "write: " << line);
    Oracle edited = oracle;
    const bool takes_effect = edited.edit(allow, type, major, minor, access);
    auto r = rules.apply(line);
    CHECK(bool(r) == takes_effect);
    if (r) {
      ++applied;
      CHECK(same_everywhere(*r, edited));
    } else {
      ++refused;
      CHECK(r.error() == EINVAL);
    }
    // Round trips: the listing parses back to the rules, and written onto
    // them changes nothing.
    auto back = DeviceRules::parse(rules.format());
    REQUIRE(back);
    CHECK(*back == rules);
    auto onto = rules.apply(rules.format());
    REQUIRE(onto);
    CHECK(*onto == rules);
  }
  // Both outcomes were exercised.
  CHECK(refused > 100);
  CHECK(applied > 100);
}

TEST_CASE("device rules: within() agrees with a brute-force comparison on random rule sets", "[devices]") {
  std::mt19937 rng(77);
  int inside = 0, outside = 0;
  for (int round = 0; round < 4000; ++round) {
    auto child = random_rules(rng);
    auto parent = random_rules(rng);
    bool expected = true;
    for (int t = 0; t < 2 && expected; ++t)
      for (long ma = 0; ma < Oracle::kValues; ++ma)
        for (long mi = 0; mi < Oracle::kValues; ++mi)
          if (child.oracle.allowed(t, ma, mi) & ~parent.oracle.allowed(t, ma, mi)) expected = false;
    INFO("child:\n" << child.rules.format() << "parent:\n" << parent.rules.format());
    CHECK(child.rules.within(parent.rules) == expected);
    CHECK(child.rules.within(child.rules));
    (expected ? inside : outside)++;
  }
  CHECK(inside > 200);
  CHECK(outside > 200);
}
