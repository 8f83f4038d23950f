// Random device rule sets for the tests: a random default and up to
// `lines` random edits (those the rules refuse are skipped), with numbers
// around the interesting values: 0, small, the sign bit, the largest, `*`.
#pragma once

#include <random>
#include <string>

#include "containerfs/kernel/device_rules.hpp"

namespace containerfs::test {

inline std::string random_device_number(std::mt19937& rng) {
  switch (rng() % 6) {
    case 0: return "*";
    case 1: return std::to_string(rng() % 4);
    case 2: return std::to_string(0x80000000u + rng() % 4);
    case 3: return std::to_string(0xffffffffu - rng() % 2);
    case 4: return std::to_string(rng() % 300);
    default: return std::to_string(std::uint32_t(rng()));
  }
}

inline kernel::DeviceRules random_device_rules(std::mt19937& rng, int lines) {
  auto rules = rng() % 2 ? kernel::DeviceRules::allow_all() : kernel::DeviceRules::deny_all();
  for (int n = 0; n < lines; ++n) {
    std::string line = rng() % 3 == 0 ? "-" : "";
    line += rng() % 2 ? "c " : "b ";
    line += random_device_number(rng) + ":" + random_device_number(rng) + " ";
    const unsigned access = 1 + rng() % 7;
    if (access & kernel::kDeviceRead) line += 'r';
    if (access & kernel::kDeviceWrite) line += 'w';
    if (access & kernel::kDeviceMknod) line += 'm';
    if (auto r = rules.apply(line)) rules = *r;
  }
  return rules;
}

}  // namespace containerfs::test
