// containerfs::kernel::DeviceRules (src/kernel/device_rules.cpp): a write to
// a container's `devices` file, taken as a whole listing (parse) and as a
// write onto the /dev defaults and onto allow-all (apply); and the eBPF
// program generated from the result (src/kernel/device_program.cpp), run by
// the tests' interpreter. Properties:
//  - parse and apply fail with EINVAL or ENOSPC only;
//  - rules that come out are well formed: exceptions in listing order, one
//    per pattern, access bits set and within rwm, at most the limit;
//  - the listing parses back to the same rules, and written onto them
//    changes nothing; the rules are within themselves and allow-all, and
//    deny-all is within them;
//  - the program of the first of them that gives rules runs to 0 or 1
//    without a fault and decides as the rules do, for the numbers of the
//    first exceptions, their neighbours and the range's ends.
#include <cstdint>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "../../test/unit/bpf_interpreter.hpp"
#include "common.hpp"
#include "containerfs/kernel/device_program.hpp"
#include "containerfs/kernel/device_rules.hpp"

namespace k = containerfs::kernel;

namespace {

auto order_key(const k::DeviceException& e) {
  return std::make_tuple(e.type, !e.major, e.major.value_or(0), !e.minor, e.minor.value_or(0));
}

void check_program(const k::DeviceRules& rules) {
  const auto program = k::device_program(rules);
  std::vector<std::uint32_t> values = {0, 1, 0x7fffffff, 0x80000000, 0xffffffff};
  for (const auto& e : rules.exceptions())
    for (auto v : {e.major, e.minor})
      if (v && values.size() < 16) values.insert(values.end(), {*v, *v + 1, *v - 1});
  for (auto type : {k::DeviceType::block, k::DeviceType::character})
    for (auto major : values)
      for (auto minor : values)
        for (std::uint32_t access : {0u, 1u, 2u, 6u}) {
          const std::uint32_t t = type == k::DeviceType::block ? BPF_DEVCG_DEV_BLOCK : BPF_DEVCG_DEV_CHAR;
          auto r0 = containerfs::test::DeviceProgramRun::run(program, {(access << 16) | t, major, minor});
          FUZZ_CHECK(r0.has_value());
          FUZZ_CHECK((*r0 == 1) == rules.allows(type, major, minor, std::uint8_t(access)));
        }
}

void check_rules(const k::DeviceRules& rules) {
  const auto& list = rules.exceptions();
  FUZZ_CHECK(list.size() <= k::kMaxDeviceExceptions);
  for (size_t i = 0; i < list.size(); ++i) {
    FUZZ_CHECK(list[i].access != 0 && (list[i].access & ~k::kDeviceAllAccess) == 0);
    if (i > 0) FUZZ_CHECK(order_key(list[i - 1]) < order_key(list[i]));
  }
  const std::string listing = rules.format();
  auto back = k::DeviceRules::parse(listing);
  FUZZ_CHECK(back && *back == rules);
  auto onto = rules.apply(listing);
  FUZZ_CHECK(onto && *onto == rules);
  FUZZ_CHECK(rules.within(rules));
  FUZZ_CHECK(rules.within(k::DeviceRules::allow_all()));
  FUZZ_CHECK(k::DeviceRules::deny_all().within(rules));
}

// True when there are rules to check.
bool check(const containerfs::Result<k::DeviceRules>& r) {
  if (r) check_rules(*r);
  else FUZZ_CHECK(r.error() == EINVAL || r.error() == ENOSPC);
  return r.has_value();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  bool programmed = false;  // the program (the slow part) of the first that gives rules
  for (const auto& r : {k::DeviceRules::parse(text), k::DeviceRules::own_dev().apply(text),
                        k::DeviceRules::allow_all().apply(text)}) {
    if (check(r) && !programmed) {
      check_program(*r);
      programmed = true;
    }
  }
  return 0;
}
