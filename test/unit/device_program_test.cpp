// containerfs::kernel::device_program: the generated eBPF program, run by
// the interpreter in bpf_interpreter.hpp, decides every request as the
// rules themselves do (DeviceRules::allows), for fixed and random rule
// sets. The interpreter is checked first on programs written here, so a
// wrong interpreter cannot make a wrong program pass.
#include <catch2/catch.hpp>

#include <random>
#include <string>
#include <vector>

#include "bpf_interpreter.hpp"
#include "random_device_rules.hpp"
#include "containerfs/kernel/device_program.hpp"

using namespace containerfs::kernel;
using containerfs::test::DeviceProgramRun;
using containerfs::test::random_device_rules;

namespace {

bpf_insn op(std::uint8_t code, std::uint8_t dst, std::uint8_t src, std::int16_t off, std::int32_t imm) {
  bpf_insn i{};
  i.code = code;
  i.dst_reg = dst;
  i.src_reg = src;
  i.off = off;
  i.imm = imm;
  return i;
}

const bpf_insn kExit = op(BPF_JMP | BPF_EXIT, 0, 0, 0, 0);

bpf_cgroup_dev_ctx request(DeviceType type, std::uint32_t major, std::uint32_t minor, std::uint32_t access) {
  const std::uint32_t t = type == DeviceType::block ? BPF_DEVCG_DEV_BLOCK : BPF_DEVCG_DEV_CHAR;
  return {(access << 16) | t, major, minor};
}

// The program's verdict; fails the test when the interpreter refuses it.
bool verdict(const std::vector<bpf_insn>& program, DeviceType type, std::uint32_t major, std::uint32_t minor,
             std::uint32_t access) {
  auto r0 = DeviceProgramRun::run(program, request(type, major, minor, access));
  INFO((r0 ? std::string() : r0.error()));
  REQUIRE(r0);
  return *r0 == 1;
}

// Every request the rules can tell apart (the numbers they name, their
// neighbours, the ends of the range, a few random ones), each access.
void require_same_decisions(const DeviceRules& rules, std::mt19937& rng) {
  const auto program = device_program(rules);
  const std::vector<std::uint32_t> base = {0, 1, 2, 0x7fffffff, 0x80000000, 0xffffffff,
                                           std::uint32_t(rng()), std::uint32_t(rng())};
  std::vector<std::uint32_t> majors = base, minors = base;
  for (const auto& e : rules.exceptions()) {
    if (e.major) majors.insert(majors.end(), {*e.major, *e.major + 1, *e.major - 1});
    if (e.minor) minors.insert(minors.end(), {*e.minor, *e.minor + 1, *e.minor - 1});
  }
  int checked = 0;
  for (auto type : {DeviceType::block, DeviceType::character})
    for (auto major : majors)
      for (auto minor : minors)
        for (std::uint32_t access = 0; access <= kDeviceAllAccess; ++access) {
          auto r0 = DeviceProgramRun::run(program, request(type, major, minor, access));
          const bool expected = rules.allows(type, major, minor, std::uint8_t(access));
          if (!r0 || (*r0 == 1) != expected) {
            FAIL(rules.format() << "type " << int(type) << " " << major << ":" << minor << " access " << access
                                << ": " << (r0 ? std::to_string(*r0) : r0.error()) << ", rules say "
                                << expected);
          }
          ++checked;
        }
  CHECK(checked > 0);
}

}  // namespace

TEST_CASE("bpf interpreter: eBPF's arithmetic and jumps", "[devices][bpf]") {
  const bpf_cgroup_dev_ctx ctx{0x00020002, 0x80000000, 7};
  auto run = [&](std::vector<bpf_insn> p) { return DeviceProgramRun::run(p, ctx); };
  // A 64-bit jump sign-extends its immediate; a 32-bit one compares low halves.
  const auto major_is_imm = [&](std::uint8_t cls) {
    return run({op(BPF_LDX | BPF_W | BPF_MEM, 2, 1, 4, 0), op(BPF_ALU64 | BPF_MOV | BPF_K, 0, 0, 0, 1),
                op(cls | BPF_JEQ | BPF_K, 2, 0, 1, std::int32_t(0x80000000u)),
                op(BPF_ALU64 | BPF_MOV | BPF_K, 0, 0, 0, 0), kExit});
  };
  CHECK(major_is_imm(BPF_JMP32) == 1u);
  CHECK(major_is_imm(BPF_JMP) == 0u);
  // ALU32 clears the upper half; ALU64 MOV sign-extends.
  auto upper = run({op(BPF_ALU64 | BPF_MOV | BPF_K, 2, 0, 0, -1), op(BPF_ALU | BPF_AND | BPF_K, 2, 0, 0, -1),
                    op(BPF_ALU64 | BPF_MOV | BPF_K, 0, 0, 0, 0),
                    op(BPF_JMP | BPF_JEQ | BPF_K, 2, 0, 1, -1),  // 0xffffffff is not -1 in 64 bits
                    op(BPF_ALU64 | BPF_MOV | BPF_K, 0, 0, 0, 1), kExit});
  CHECK(upper == 1u);
  // The context words: access_type, major, minor.
  auto minor = run({op(BPF_LDX | BPF_W | BPF_MEM, 3, 1, 8, 0), op(BPF_ALU64 | BPF_MOV | BPF_K, 0, 0, 0, 0),
                    op(BPF_JMP32 | BPF_JNE | BPF_K, 3, 0, 1, 7), op(BPF_ALU64 | BPF_MOV | BPF_K, 0, 0, 0, 1), kExit});
  CHECK(minor == 1u);
  auto access = run({op(BPF_LDX | BPF_W | BPF_MEM, 3, 1, 0, 0), op(BPF_ALU | BPF_RSH | BPF_K, 3, 0, 0, 16),
                     op(BPF_ALU64 | BPF_MOV | BPF_X, 0, 3, 0, 0), op(BPF_ALU64 | BPF_XOR | BPF_K, 0, 0, 0, 3), kExit});
  CHECK(access == 1u);
}

TEST_CASE("bpf interpreter: refuses what the verifier would", "[devices][bpf]") {
  const bpf_cgroup_dev_ctx ctx{};
  const auto mov0 = op(BPF_ALU64 | BPF_MOV | BPF_K, 0, 0, 0, 0);
  const std::vector<std::vector<bpf_insn>> refused = {
      {},
      {kExit},                                                       // r0 never written
      {op(BPF_ALU64 | BPF_MOV | BPF_X, 0, 6, 0, 0), kExit},          // r6 never written
      {op(BPF_ALU64 | BPF_MOV | BPF_X, 0, 1, 0, 0), kExit},          // the context as a number
      {op(BPF_ALU64 | BPF_MOV | BPF_K, 0, 0, 0, 2), kExit},          // r0 not 0 or 1
      {mov0},                                                        // runs past the end
      {mov0, op(BPF_JMP | BPF_JA, 0, 0, -2, 0), kExit},              // backwards
      {mov0, op(BPF_JMP | BPF_JA, 0, 0, 5, 0), kExit},               // past the end
      {op(BPF_LDX | BPF_W | BPF_MEM, 0, 1, 12, 0), kExit},           // outside the context
      {op(BPF_LDX | BPF_W | BPF_MEM, 0, 1, 2, 0), kExit},            // unaligned
      {op(BPF_LDX | BPF_DW | BPF_MEM, 0, 1, 0, 0), kExit},           // not a word
      {mov0, op(BPF_LDX | BPF_W | BPF_MEM, 2, 0, 0, 0), kExit},      // not from the context
      {mov0, op(BPF_ALU64 | BPF_ADD | BPF_K, 0, 0, 0, 0), kExit},    // unknown arithmetic
      {mov0, op(BPF_JMP | BPF_JGT | BPF_K, 0, 0, 0, 0), kExit},      // unknown jump
      {mov0, op(BPF_ALU | BPF_RSH | BPF_K, 0, 0, 0, 32), kExit},     // shift by the width
      {op(BPF_ALU64 | BPF_MOV | BPF_K, 10, 0, 0, 0), mov0, kExit},   // writes r10
      {op(BPF_LD | BPF_IMM | BPF_DW, 0, 0, 0, 0), op(0, 0, 0, 0, 0), kExit},  // another class
  };
  for (std::size_t i = 0; i < refused.size(); ++i) {
    INFO("program " << i);
    auto r = DeviceProgramRun::run(refused[i], ctx);
    CHECK_FALSE(r);
  }
}

TEST_CASE("device program: the defaults decide as their rules", "[devices][bpf]") {
  std::mt19937 rng(1);
  require_same_decisions(DeviceRules::allow_all(), rng);
  require_same_decisions(DeviceRules::deny_all(), rng);
  require_same_decisions(DeviceRules::own_dev(), rng);
  const auto dev = device_program(DeviceRules::own_dev());
  CHECK(verdict(dev, DeviceType::character, 1, 3, kDeviceRead | kDeviceWrite));
  CHECK(verdict(dev, DeviceType::character, 136, 0x80000000, kDeviceMknod));
  CHECK_FALSE(verdict(dev, DeviceType::character, 1, 4, kDeviceRead));
  CHECK_FALSE(verdict(dev, DeviceType::block, 1, 3, kDeviceRead));
}

TEST_CASE("device program: access bits other than read, write and mknod are denied", "[devices][bpf]") {
  for (const auto& rules : {DeviceRules::allow_all(), DeviceRules::own_dev()}) {
    const auto program = device_program(rules);
    CHECK(verdict(program, DeviceType::character, 1, 3, kDeviceRead));
    CHECK_FALSE(verdict(program, DeviceType::character, 1, 3, kDeviceRead | 8));
    CHECK_FALSE(verdict(program, DeviceType::character, 1, 3, 0x8000));
  }
}

TEST_CASE("device program: numbers with the sign bit set compare as they are", "[devices][bpf]") {
  auto rules = DeviceRules::parse("c 2147483648:4294967295 r\nb 4294967295:* w\n");
  REQUIRE(rules);
  const auto program = device_program(*rules);
  CHECK(verdict(program, DeviceType::character, 0x80000000, 0xffffffff, kDeviceRead));
  CHECK_FALSE(verdict(program, DeviceType::character, 0x80000000, 0x7fffffff, kDeviceRead));
  CHECK(verdict(program, DeviceType::block, 0xffffffff, 3, kDeviceWrite));
  CHECK_FALSE(verdict(program, DeviceType::block, 0x7fffffff, 3, kDeviceWrite));
}

TEST_CASE("device program: random rule sets decide as their rules", "[devices][bpf]") {
  std::mt19937 rng(424242);
  for (int round = 0; round < 300; ++round) require_same_decisions(random_device_rules(rng, 1 + round % 10), rng);
}

TEST_CASE("device program: the largest rule set stays within the kernel's instruction limit", "[devices][bpf]") {
  std::string text = "a\n";
  for (std::size_t i = 0; i < kMaxDeviceExceptions; ++i) text += "-c " + std::to_string(i) + ":" + std::to_string(i) + " w\n";
  auto rules = DeviceRules::parse(text);
  REQUIRE(rules);
  const auto program = device_program(*rules);
  CHECK(program.size() <= BPF_MAXINSNS);
  CHECK(verdict(program, DeviceType::character, 255, 255, kDeviceRead));
  CHECK_FALSE(verdict(program, DeviceType::character, 255, 255, kDeviceWrite));
  CHECK(verdict(program, DeviceType::character, 255, 254, kDeviceWrite));
}
