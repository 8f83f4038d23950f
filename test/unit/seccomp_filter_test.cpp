// Seccomp filters judged as the kernel runs them (seccomp_filter.hpp): the
// interpreter on hand-built programs for every opcode class, the kernel's
// attach-time refusals, precedence across several filters, architecture and
// argument checks as libseccomp writes them, and a program shaped like the
// default profile of docker and podman.
#include <catch2/catch.hpp>

#include <linux/audit.h>
#include <sched.h>
#include <signal.h>
#include <sys/syscall.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <set>
#include <string>
#include <vector>

#include "containerfs/kernel/seccomp_filter.hpp"

namespace sc = containerfs::kernel::seccomp;
using sc::Action;
using sc::Program;

namespace {

#if defined(__x86_64__)
constexpr std::uint32_t kNativeArch = AUDIT_ARCH_X86_64;
constexpr std::uint32_t kOtherArch = AUDIT_ARCH_AARCH64;
#else
constexpr std::uint32_t kNativeArch = AUDIT_ARCH_AARCH64;
constexpr std::uint32_t kOtherArch = AUDIT_ARCH_X86_64;
#endif
static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "offsets below are little-endian's");

constexpr std::uint32_t kNr = offsetof(seccomp_data, nr);
constexpr std::uint32_t kArch = offsetof(seccomp_data, arch);
constexpr std::uint32_t kIpLo = offsetof(seccomp_data, instruction_pointer);
constexpr std::uint32_t kIpHi = kIpLo + 4;
// A 64-bit argument is read as two 32-bit words, as libseccomp does.
constexpr std::uint32_t arg_lo(int i) { return offsetof(seccomp_data, args) + 8 * i; }
constexpr std::uint32_t arg_hi(int i) { return arg_lo(i) + 4; }

sock_filter stmt(std::uint16_t code, std::uint32_t k) { return BPF_STMT(code, k); }
sock_filter jump(std::uint16_t code, std::uint32_t k, std::uint8_t jt, std::uint8_t jf) {
  return BPF_JUMP(code, k, jt, jf);
}
sock_filter load(std::uint32_t offset) { return stmt(BPF_LD | BPF_W | BPF_ABS, offset); }
sock_filter ret(std::uint32_t value) { return stmt(BPF_RET | BPF_K, value); }
sock_filter ret_a() { return stmt(BPF_RET | BPF_A, 0); }

seccomp_data call(long nr, std::array<std::uint64_t, 6> args = {}, std::uint32_t arch = kNativeArch,
                  std::uint64_t ip = 0x7fff12345678) {
  seccomp_data d{};
  d.nr = static_cast<int>(nr);
  d.arch = arch;
  d.instruction_pointer = ip;
  std::copy(args.begin(), args.end(), d.args);
  return d;
}

// Runs a program that must pass the kernel's checks.
std::uint32_t run_ok(const Program& p, const seccomp_data& d = call(0)) {
  std::string why;
  const bool passes = sc::check(p, &why).has_value();
  INFO("check: " << why);
  REQUIRE(passes);
  auto r = sc::run(p, d);
  REQUIRE(r);
  return *r;
}

// The value A ends with after `body` (the program returns A).
std::uint32_t a_after(Program body, const seccomp_data& d = call(0)) {
  body.push_back(ret_a());
  return run_ok(body, d);
}

// check() refuses it with EINVAL and a reason; a chain holding it answers
// KILL_PROCESS for any call, marked invalid.
void require_refused(const Program& p) {
  std::string why;
  auto r = sc::check(p, &why);
  REQUIRE_FALSE(r);
  CHECK(r.error() == EINVAL);
  CHECK_FALSE(why.empty());
  if (p.empty() || p.size() > sc::kMaxInstructions) return;
  sc::FilterChain chain({p});
  CHECK(chain.problem(0) == why);
  auto v = chain.evaluate(call(SYS_getpid));
  CHECK(v.action == Action::kill_process);
  CHECK(v.invalid);
  REQUIRE(v.filter);
  CHECK(*v.filter == 0);
}

}  // namespace

// ---------------------------------------------------------------- running

TEST_CASE("seccomp: loads read the 32-bit words of seccomp_data", "[seccomp]") {
  const auto d = call(SYS_setns, {0x1122334455667788, 2, 3, 4, 5, 0xaabbccdd00000006}, kNativeArch,
                      0x00007f0011223344);
  CHECK(a_after({load(kNr)}, d) == SYS_setns);
  CHECK(a_after({load(kArch)}, d) == kNativeArch);
  CHECK(a_after({load(kIpLo)}, d) == 0x11223344u);
  CHECK(a_after({load(kIpHi)}, d) == 0x00007f00u);
  CHECK(a_after({load(arg_lo(0))}, d) == 0x55667788u);
  CHECK(a_after({load(arg_hi(0))}, d) == 0x11223344u);
  CHECK(a_after({load(arg_lo(5))}, d) == 6u);
  CHECK(a_after({load(arg_hi(5))}, d) == 0xaabbccddu);
  // BPF_LEN is the size of seccomp_data, for A and for X.
  CHECK(a_after({stmt(BPF_LD | BPF_W | BPF_LEN, 0)}) == 64u);
  CHECK(a_after({stmt(BPF_LDX | BPF_W | BPF_LEN, 0), stmt(BPF_MISC | BPF_TXA, 0)}) == 64u);
}

TEST_CASE("seccomp: immediates, register moves and scratch memory", "[seccomp]") {
  CHECK(a_after({stmt(BPF_LD | BPF_IMM, 7)}) == 7u);
  CHECK(a_after({stmt(BPF_LDX | BPF_IMM, 9), stmt(BPF_MISC | BPF_TXA, 0)}) == 9u);
  CHECK(a_after({stmt(BPF_LD | BPF_IMM, 5), stmt(BPF_MISC | BPF_TAX, 0), stmt(BPF_LD | BPF_IMM, 0),
                 stmt(BPF_MISC | BPF_TXA, 0)}) == 5u);
  // A and X start at 0.
  CHECK(a_after({}) == 0u);
  CHECK(a_after({stmt(BPF_MISC | BPF_TXA, 0)}) == 0u);
  // ST/STX store A/X; LD/LDX MEM load them back, in all 16 words.
  CHECK(a_after({stmt(BPF_LD | BPF_IMM, 11), stmt(BPF_ST, 15), stmt(BPF_LD | BPF_IMM, 0),
                 stmt(BPF_LD | BPF_MEM, 15)}) == 11u);
  CHECK(a_after({stmt(BPF_LDX | BPF_IMM, 12), stmt(BPF_STX, 0), stmt(BPF_LDX | BPF_IMM, 0),
                 stmt(BPF_LDX | BPF_MEM, 0), stmt(BPF_MISC | BPF_TXA, 0)}) == 12u);
}

TEST_CASE("seccomp: 32-bit unsigned arithmetic with K and with X", "[seccomp]") {
  using Alu = std::uint32_t (*)(std::uint32_t, std::uint16_t, std::uint32_t);
  Alu with_k = [](std::uint32_t a, std::uint16_t op, std::uint32_t k) {
    return a_after({stmt(BPF_LD | BPF_IMM, a), stmt(BPF_ALU | op | BPF_K, k)});
  };
  Alu with_x = [](std::uint32_t a, std::uint16_t op, std::uint32_t x) {
    return a_after({stmt(BPF_LD | BPF_IMM, a), stmt(BPF_LDX | BPF_IMM, x), stmt(BPF_ALU | op | BPF_X, 0)});
  };
  for (auto alu : {with_k, with_x}) {
    CHECK(alu(0xffffffff, BPF_ADD, 2) == 1u);
    CHECK(alu(1, BPF_SUB, 2) == 0xffffffffu);
    CHECK(alu(0x10000, BPF_MUL, 0x10001) == 0x10000u);
    CHECK(alu(0xfffffffe, BPF_DIV, 2) == 0x7fffffffu);  // unsigned
    CHECK(alu(0xf0f0, BPF_AND, 0xff00) == 0xf000u);
    CHECK(alu(0xf0f0, BPF_OR, 0x0f00) == 0xfff0u);
    CHECK(alu(0xff00ff00, BPF_XOR, 0xffffffff) == 0x00ff00ffu);
    CHECK(alu(0x80000001, BPF_LSH, 1) == 2u);
    CHECK(alu(0x80000000, BPF_RSH, 31) == 1u);  // logical, not arithmetic
  }
  CHECK(a_after({stmt(BPF_LD | BPF_IMM, 5), stmt(BPF_ALU | BPF_NEG, 0)}) == 0xfffffffbu);
  // A shift by X uses X's low 5 bits, as the hardware does.
  CHECK(with_x(1, BPF_LSH, 33) == 2u);
  CHECK(with_x(0x80000000, BPF_RSH, 63) == 1u);
  // Division by X == 0 ends the program with 0, whatever follows.
  Program div0 = {stmt(BPF_LD | BPF_IMM, 10), stmt(BPF_ALU | BPF_DIV | BPF_X, 0), ret(SECCOMP_RET_ALLOW)};
  CHECK(run_ok(div0) == 0u);
  CHECK(sc::action_of(0) == Action::kill_thread);
}

TEST_CASE("seccomp: jumps compare unsigned, with K and with X", "[seccomp]") {
  // Returns 1 when the jump is taken, 2 when not.
  auto taken = [](std::uint32_t a, std::uint16_t op, std::uint32_t operand, bool with_x) {
    Program p = {stmt(BPF_LD | BPF_IMM, a), stmt(BPF_LDX | BPF_IMM, operand),
                 jump(BPF_JMP | op | (with_x ? BPF_X : BPF_K), with_x ? 0 : operand, 1, 0), ret(2), ret(1)};
    return run_ok(p) == 1;
  };
  for (bool x : {false, true}) {
    INFO("with X: " << x);
    CHECK(taken(5, BPF_JEQ, 5, x));
    CHECK_FALSE(taken(5, BPF_JEQ, 6, x));
    CHECK(taken(0x80000000, BPF_JGT, 1, x));  // unsigned: 2^31 > 1
    CHECK_FALSE(taken(1, BPF_JGT, 0x80000000, x));
    CHECK_FALSE(taken(5, BPF_JGT, 5, x));
    CHECK(taken(5, BPF_JGE, 5, x));
    CHECK(taken(0xffffffff, BPF_JGE, 0xfffffffe, x));
    CHECK_FALSE(taken(0, BPF_JGE, 1, x));
    CHECK(taken(0x10001, BPF_JSET, 0x10000, x));
    CHECK_FALSE(taken(0x10001, BPF_JSET, 0x0fffe, x));
  }
  // JA skips k instructions.
  CHECK(run_ok({jump(BPF_JMP | BPF_JA, 2, 0, 0), ret(1), ret(2), ret(3)}) == 3u);
  CHECK(run_ok({jump(BPF_JMP | BPF_JA, 0, 0, 0), ret(1)}) == 1u);
}

TEST_CASE("seccomp: RET returns K or A", "[seccomp]") {
  CHECK(run_ok({ret(SECCOMP_RET_ERRNO | EPERM)}) == (SECCOMP_RET_ERRNO | EPERM));
  CHECK(run_ok({stmt(BPF_LD | BPF_IMM, SECCOMP_RET_TRACE | 7), ret_a()}) == (SECCOMP_RET_TRACE | 7));
}

TEST_CASE("seccomp: the longest program the kernel takes runs every instruction once", "[seccomp]") {
  Program p(sc::kMaxInstructions - 1, stmt(BPF_ALU | BPF_ADD | BPF_K, 1));
  p.push_back(ret_a());
  CHECK(run_ok(p) == sc::kMaxInstructions - 1);
}

// ---------------------------------------------------------------- refusals

TEST_CASE("seccomp: programs the kernel refuses to attach", "[seccomp]") {
  SECTION("no instructions, or too many") {
    require_refused({});
    require_refused(Program(sc::kMaxInstructions + 1, ret(SECCOMP_RET_ALLOW)));
  }
  SECTION("opcodes seccomp does not take") {
    for (std::uint16_t code : {
             std::uint16_t(BPF_ALU | BPF_MOD | BPF_K), std::uint16_t(BPF_ALU | BPF_MOD | BPF_X),
             std::uint16_t(BPF_LD | BPF_H | BPF_ABS), std::uint16_t(BPF_LD | BPF_B | BPF_ABS),
             std::uint16_t(BPF_LD | BPF_W | BPF_IND), std::uint16_t(BPF_LDX | BPF_B | BPF_MSH),
             std::uint16_t(BPF_LDX | BPF_W | BPF_ABS), std::uint16_t(BPF_ALU | BPF_NEG | BPF_X),
             std::uint16_t(BPF_LD | BPF_IMM | BPF_H), std::uint16_t(BPF_JMP | BPF_JA | BPF_X),
             std::uint16_t(BPF_RET | BPF_X), std::uint16_t(0xffff)}) {
      INFO("opcode " << code);
      require_refused({stmt(code, 1), ret(SECCOMP_RET_ALLOW)});
    }
  }
  SECTION("loads outside seccomp_data or not 32-bit aligned") {
    for (std::uint32_t off : {64u, 2u, 61u, 0xfffff000u /* an ancillary load */})
      require_refused({load(off), ret(SECCOMP_RET_ALLOW)});
    CHECK(sc::check(Program{load(60), ret(SECCOMP_RET_ALLOW)}));
  }
  SECTION("division by a constant 0, shifts by a constant of 32 or more") {
    require_refused({stmt(BPF_ALU | BPF_DIV | BPF_K, 0), ret(SECCOMP_RET_ALLOW)});
    require_refused({stmt(BPF_ALU | BPF_LSH | BPF_K, 32), ret(SECCOMP_RET_ALLOW)});
    require_refused({stmt(BPF_ALU | BPF_RSH | BPF_K, 40), ret(SECCOMP_RET_ALLOW)});
    CHECK(sc::check(Program{stmt(BPF_ALU | BPF_RSH | BPF_K, 31), ret(SECCOMP_RET_ALLOW)}));
  }
  SECTION("scratch words beyond M[15]") {
    require_refused({stmt(BPF_ST, 16), ret(SECCOMP_RET_ALLOW)});
    require_refused({stmt(BPF_STX, 16), ret(SECCOMP_RET_ALLOW)});
    require_refused({stmt(BPF_ST, 0), stmt(BPF_LD | BPF_MEM, 16), ret(SECCOMP_RET_ALLOW)});
    require_refused({stmt(BPF_ST, 0), stmt(BPF_LDX | BPF_MEM, 16), ret(SECCOMP_RET_ALLOW)});
  }
  SECTION("jumps out of the program") {
    require_refused({jump(BPF_JMP | BPF_JA, 1, 0, 0), ret(SECCOMP_RET_ALLOW)});
    require_refused({jump(BPF_JMP | BPF_JA, 0xffffffff, 0, 0), ret(SECCOMP_RET_ALLOW)});
    require_refused({jump(BPF_JMP | BPF_JEQ | BPF_K, 0, 1, 0), ret(SECCOMP_RET_ALLOW)});
    require_refused({jump(BPF_JMP | BPF_JGT | BPF_X, 0, 0, 1), ret(SECCOMP_RET_ALLOW)});
  }
  SECTION("not ending in RET") {
    require_refused({ret(SECCOMP_RET_ALLOW), stmt(BPF_LD | BPF_IMM, 0)});
    require_refused({jump(BPF_JMP | BPF_JEQ | BPF_K, 0, 0, 1), ret(SECCOMP_RET_ALLOW), load(kNr)});
  }
  SECTION("a scratch word read before a store on some path to it") {
    require_refused({stmt(BPF_LD | BPF_MEM, 3), ret_a()});
    // Stored on the jump-true path only.
    require_refused({load(kNr), jump(BPF_JMP | BPF_JEQ | BPF_K, 1, 0, 1), stmt(BPF_ST, 3),
                     stmt(BPF_LD | BPF_MEM, 3), ret_a()});
    // Stored on both paths: taken.
    Program both = {load(kNr), jump(BPF_JMP | BPF_JEQ | BPF_K, 1, 0, 2), stmt(BPF_ST, 3),
                    jump(BPF_JMP | BPF_JA, 1, 0, 0), stmt(BPF_ST, 3), stmt(BPF_LD | BPF_MEM, 3), ret_a()};
    CHECK(run_ok(both, call(1)) == 1u);
    CHECK(run_ok(both, call(2)) == 2u);
    // A store after the read does not count.
    require_refused({stmt(BPF_LDX | BPF_MEM, 0), stmt(BPF_STX, 0), ret_a()});
  }
}

TEST_CASE("seccomp: run() of a program that was not checked stops at its fault", "[seccomp]") {
  CHECK_FALSE(sc::run(Program{stmt(0xffff, 0)}, call(0)));
  CHECK_FALSE(sc::run(Program{load(62), ret_a()}, call(0)));
  CHECK_FALSE(sc::run(Program{stmt(BPF_LD | BPF_IMM, 1)}, call(0)));                 // runs off the end
  CHECK_FALSE(sc::run(Program{jump(BPF_JMP | BPF_JA, 0xffffffff, 0, 0)}, call(0)));  // jumps out
  CHECK_FALSE(sc::run(Program{}, call(0)));
}

// ---------------------------------------------------------------- several filters

TEST_CASE("seccomp: several filters: the action of highest precedence wins", "[seccomp]") {
  auto answer = [](std::uint32_t value) { return Program{ret(value)}; };
  auto verdict = [&](std::vector<std::uint32_t> values) {
    std::vector<Program> programs;
    for (auto v : values) programs.push_back(answer(v));
    return sc::FilterChain(std::move(programs)).evaluate(call(SYS_setns));
  };
  const std::vector<std::uint32_t> by_precedence = {
      SECCOMP_RET_KILL_PROCESS, SECCOMP_RET_KILL_THREAD, SECCOMP_RET_TRAP | 1, SECCOMP_RET_ERRNO | EPERM,
      SECCOMP_RET_USER_NOTIF,   SECCOMP_RET_TRACE | 3,   SECCOMP_RET_LOG,      SECCOMP_RET_ALLOW};
  const std::vector<Action> actions = {Action::kill_process, Action::kill_thread, Action::trap, Action::error,
                                       Action::user_notif,   Action::trace,       Action::log,  Action::allow};
  for (std::size_t hi = 0; hi < by_precedence.size(); ++hi)
    for (std::size_t lo = hi; lo < by_precedence.size(); ++lo) {
      INFO("precedence " << hi << " against " << lo);
      for (auto order : {std::vector{by_precedence[hi], by_precedence[lo]},
                         std::vector{by_precedence[lo], by_precedence[hi]}}) {
        auto v = verdict(order);
        CHECK(v.ret == by_precedence[hi]);
        CHECK(v.action == actions[hi]);
        CHECK_FALSE(v.invalid);
      }
    }
  // Nobody objects: ALLOW, from no filter in particular.
  auto allow = verdict({SECCOMP_RET_ALLOW, SECCOMP_RET_ALLOW});
  CHECK(allow.action == Action::allow);
  CHECK_FALSE(allow.filter);
  CHECK(sc::FilterChain({}).evaluate(call(0)).action == Action::allow);
  // The data does not count; on a tie the most recently attached filter's
  // answer (the last in attach order) is taken.
  auto tie = verdict({SECCOMP_RET_ERRNO | 1, SECCOMP_RET_ERRNO | 2, SECCOMP_RET_LOG});
  CHECK(tie.ret == (SECCOMP_RET_ERRNO | 2));
  REQUIRE(tie.filter);
  CHECK(*tie.filter == 1);
  auto lower_data_loses = verdict({SECCOMP_RET_TRACE | 0xffff, SECCOMP_RET_TRACE | 1});
  CHECK(lower_data_loses.ret == (SECCOMP_RET_TRACE | 1));
  // An action the kernel does not know sorts by its value and kills the process.
  auto unknown = verdict({SECCOMP_RET_TRAP, 0x00010000});
  CHECK(unknown.ret == 0x00010000u);
  CHECK(unknown.action == Action::kill_process);
  CHECK(verdict({SECCOMP_RET_KILL_THREAD, 0x00010000}).action == Action::kill_thread);
  CHECK(verdict({0x7fff0001 /* ALLOW with data */}).action == Action::allow);
  CHECK(verdict({0x7ff80000}).action == Action::kill_process);
  // A filter that does not pass the checks counts as KILL_PROCESS.
  sc::FilterChain with_bad({answer(SECCOMP_RET_ALLOW), Program{load(3), ret(SECCOMP_RET_ALLOW)}});
  auto bad = with_bad.evaluate(call(SYS_getpid));
  CHECK(bad.action == Action::kill_process);
  CHECK(bad.invalid);
  REQUIRE(bad.filter);
  CHECK(*bad.filter == 1);
  CHECK(with_bad.problem(0).empty());
  CHECK_FALSE(with_bad.problem(1).empty());
}

TEST_CASE("seccomp: which calls go ahead, and how verdicts read in a log", "[seccomp]") {
  CHECK(sc::lets_through(Action::allow));
  CHECK(sc::lets_through(Action::log));
  for (Action a : {Action::kill_process, Action::kill_thread, Action::trap, Action::error, Action::user_notif,
                   Action::trace})
    CHECK_FALSE(sc::lets_through(a));
  CHECK(sc::describe({SECCOMP_RET_ERRNO | EPERM, Action::error, 0, false}) == "ERRNO(1)");
  CHECK(sc::describe({SECCOMP_RET_KILL_PROCESS, Action::kill_process, 0, false}) == "KILL_PROCESS");
  CHECK(sc::describe({0x00010000, Action::kill_process, 0, false}) == "KILL_PROCESS (unknown action 0x00010000)");
  CHECK(sc::describe({SECCOMP_RET_KILL_PROCESS, Action::kill_process, 0, true}).find("does not pass") !=
        std::string::npos);
}

// ---------------------------------------------------------------- as libseccomp writes them

namespace {

// The architecture check libseccomp puts first: another architecture gets
// `bad_arch`.
Program arch_check(std::uint32_t bad_arch) {
  return {load(kArch), jump(BPF_JMP | BPF_JEQ | BPF_K, kNativeArch, 1, 0), ret(bad_arch)};
}

// 64-bit argument `i` == value, as libseccomp compares it: the high word,
// then the low word. Continues with the next instruction when equal, skips
// `skip_if_not` more instructions after the comparison otherwise.
void arg_equals(Program& p, int i, std::uint64_t value, std::uint8_t skip_if_not) {
  p.push_back(load(arg_hi(i)));
  p.push_back(jump(BPF_JMP | BPF_JEQ | BPF_K, static_cast<std::uint32_t>(value >> 32), 0,
                   static_cast<std::uint8_t>(skip_if_not + 2)));
  p.push_back(load(arg_lo(i)));
  p.push_back(jump(BPF_JMP | BPF_JEQ | BPF_K, static_cast<std::uint32_t>(value), 0, skip_if_not));
}

}  // namespace

TEST_CASE("seccomp: an architecture check sends other architectures to its action", "[seccomp]") {
  Program p = arch_check(SECCOMP_RET_KILL_PROCESS);
  p.push_back(ret(SECCOMP_RET_ALLOW));
  sc::FilterChain chain({p});
  CHECK(chain.evaluate(call(SYS_getpid)).action == Action::allow);
  CHECK(chain.evaluate(call(SYS_getpid, {}, kOtherArch)).action == Action::kill_process);
  CHECK(chain.evaluate(call(SYS_getpid, {}, AUDIT_ARCH_I386)).action == Action::kill_process);
}

TEST_CASE("seccomp: 64-bit arguments compared in two 32-bit halves", "[seccomp]") {
  // setns is allowed only into a network namespace: setns(fd, CLONE_NEWNET).
  Program p = arch_check(SECCOMP_RET_KILL_PROCESS);
  p.push_back(load(kNr));
  p.push_back(jump(BPF_JMP | BPF_JEQ | BPF_K, SYS_setns, 0, 6));
  arg_equals(p, 1, CLONE_NEWNET, 1);
  p.push_back(ret(SECCOMP_RET_ALLOW));
  p.push_back(ret(SECCOMP_RET_ERRNO | EPERM));
  p.push_back(ret(SECCOMP_RET_ALLOW));
  sc::FilterChain chain({p});
  CHECK(chain.evaluate(call(SYS_setns, {3, CLONE_NEWNET})).action == Action::allow);
  CHECK(chain.evaluate(call(SYS_setns, {3, CLONE_NEWNET | CLONE_NEWUTS})).action == Action::error);
  // Same low word, another high word: not the same 64-bit value.
  CHECK(chain.evaluate(call(SYS_setns, {3, (1ull << 32) | CLONE_NEWNET})).action == Action::error);
  CHECK(chain.evaluate(call(SYS_setns, {3, 0})).action == Action::error);
  CHECK(chain.evaluate(call(SYS_close, {3, CLONE_NEWUTS})).action == Action::allow);

  // A flag test on the low word (JSET): unshare(CLONE_NEWUSER) is denied.
  Program flags = {load(kNr), jump(BPF_JMP | BPF_JEQ | BPF_K, SYS_unshare, 0, 3), load(arg_lo(0)),
                   jump(BPF_JMP | BPF_JSET | BPF_K, CLONE_NEWUSER, 0, 1), ret(SECCOMP_RET_ERRNO | EPERM),
                   ret(SECCOMP_RET_ALLOW)};
  sc::FilterChain by_flag({flags});
  CHECK(by_flag.evaluate(call(SYS_unshare, {CLONE_NEWUSER | CLONE_NEWNS})).action == Action::error);
  CHECK(by_flag.evaluate(call(SYS_unshare, {CLONE_NEWNS})).action == Action::allow);

  // A 64-bit "greater than", high word first as libseccomp orders it: fd > 0xffffffff.
  Program gt = {load(arg_hi(0)), jump(BPF_JMP | BPF_JGT | BPF_K, 0, 3, 0),
                jump(BPF_JMP | BPF_JEQ | BPF_K, 0, 0, 3), load(arg_lo(0)),
                jump(BPF_JMP | BPF_JGT | BPF_K, 0xffffffff, 0, 1), ret(SECCOMP_RET_TRAP), ret(SECCOMP_RET_ALLOW)};
  sc::FilterChain greater({gt});
  CHECK(greater.evaluate(call(SYS_close, {0x100000000ull})).action == Action::trap);
  CHECK(greater.evaluate(call(SYS_close, {0xffffffffull})).action == Action::allow);
}

TEST_CASE("seccomp: the instruction pointer can be filtered", "[seccomp]") {
  // Calls from one 4 KiB page are killed, others allowed.
  const std::uint64_t page = 0x00007ffd'1234'5000;
  Program p = {load(kIpHi), jump(BPF_JMP | BPF_JEQ | BPF_K, static_cast<std::uint32_t>(page >> 32), 0, 4),
               load(kIpLo), stmt(BPF_ALU | BPF_AND | BPF_K, 0xfffff000),
               jump(BPF_JMP | BPF_JEQ | BPF_K, static_cast<std::uint32_t>(page), 0, 1),
               ret(SECCOMP_RET_KILL_PROCESS), ret(SECCOMP_RET_ALLOW)};
  sc::FilterChain chain({p});
  CHECK(chain.evaluate(call(SYS_setns, {}, kNativeArch, page + 0x10)).action == Action::kill_process);
  CHECK(chain.evaluate(call(SYS_setns, {}, kNativeArch, page + 0x1000)).action == Action::allow);
  CHECK(chain.evaluate(call(SYS_setns, {}, kNativeArch, page + (1ull << 32))).action == Action::allow);
}

namespace {

// A program shaped like the default profile of docker and podman as
// libseccomp compiles it: the architecture check, (on x86_64) x32 numbers
// refused, an allow-list of every system call but those that need
// CAP_SYS_ADMIN or worse (a chain of JEQs, each with a JA to the shared
// ALLOW), clone allowed only without namespace flags, personality only with
// a few values, and SECCOMP_RET_ERRNO(EPERM) for everything else.
const std::set<long>& denied_by_default_profile() {
  static const std::set<long> denied = {
      SYS_setns, SYS_unshare, SYS_mount, SYS_umount2, SYS_pivot_root, SYS_bpf, SYS_perf_event_open,
      SYS_kexec_load, SYS_init_module, SYS_finit_module, SYS_delete_module, SYS_add_key, SYS_keyctl,
      SYS_request_key, SYS_reboot, SYS_swapon, SYS_swapoff, SYS_syslog, SYS_acct, SYS_settimeofday,
      SYS_clock_settime, SYS_open_by_handle_at, SYS_name_to_handle_at, SYS_quotactl, SYS_userfaultfd,
      SYS_fanotify_init, SYS_lookup_dcookie, SYS_vhangup, SYS_kcmp, SYS_process_vm_readv,
      SYS_process_vm_writev, SYS_clone, SYS_personality, SYS_fsopen, SYS_fsmount, SYS_move_mount,
      SYS_open_tree, SYS_fspick, SYS_fsconfig, SYS_clone3, SYS_io_uring_setup, SYS_io_uring_enter,
      SYS_io_uring_register, SYS_ptrace};
  return denied;
}

Program default_profile() {
#if defined(__x86_64__)
  const long last_classic = 334;  // x86_64 numbers run 0..334, then 424 on
#else
  const long last_classic = 293;  // aarch64: 0..293
#endif
  std::vector<long> allowed;
  for (long nr = 0; nr <= 450; ++nr)
    if ((nr <= last_classic || nr >= 424) && !denied_by_default_profile().count(nr)) allowed.push_back(nr);

  Program p = arch_check(SECCOMP_RET_KILL_THREAD);
  p.push_back(load(kNr));
#if defined(__x86_64__)
  p.push_back(jump(BPF_JMP | BPF_JGE | BPF_K, 0x40000000, 0, 1));  // __X32_SYSCALL_BIT
  p.push_back(ret(SECCOMP_RET_ERRNO | EPERM));
#endif
  // clone without CLONE_NEWNS|NEWCGROUP|NEWUTS|NEWIPC|NEWUSER|NEWPID|NEWNET.
  constexpr std::uint32_t kNamespaceFlags = 0x7e020000;
  p.push_back(jump(BPF_JMP | BPF_JEQ | BPF_K, SYS_clone, 0, 5));
  p.push_back(load(arg_lo(0)));
  p.push_back(stmt(BPF_ALU | BPF_AND | BPF_K, kNamespaceFlags));
  p.push_back(jump(BPF_JMP | BPF_JEQ | BPF_K, 0, 0, 1));
  p.push_back(ret(SECCOMP_RET_ALLOW));
  p.push_back(ret(SECCOMP_RET_ERRNO | EPERM));
  // personality(0), (8), (0x20000), (0x20008), (0xffffffff): compared on
  // the low word with the high word 0.
  const std::vector<std::uint32_t> personas = {0, 8, 0x20000, 0x20008, 0xffffffff};
  p.push_back(jump(BPF_JMP | BPF_JEQ | BPF_K, SYS_personality, 0, static_cast<std::uint8_t>(personas.size() + 5)));
  p.push_back(load(arg_hi(0)));
  p.push_back(jump(BPF_JMP | BPF_JEQ | BPF_K, 0, 0, static_cast<std::uint8_t>(personas.size() + 1)));
  p.push_back(load(arg_lo(0)));
  for (std::size_t i = 0; i < personas.size(); ++i)
    p.push_back(jump(BPF_JMP | BPF_JEQ | BPF_K, personas[i], static_cast<std::uint8_t>(personas.size() - i), 0));
  p.push_back(ret(SECCOMP_RET_ERRNO | EPERM));
  p.push_back(ret(SECCOMP_RET_ALLOW));
  p.push_back(load(kNr));
  // The allow-list, then the default action, then ALLOW.
  const std::size_t first = p.size();
  const std::size_t allow_at = first + 2 * allowed.size() + 1;
  for (std::size_t i = 0; i < allowed.size(); ++i) {
    p.push_back(jump(BPF_JMP | BPF_JEQ | BPF_K, static_cast<std::uint32_t>(allowed[i]), 0, 1));
    const std::size_t here = p.size();
    p.push_back(jump(BPF_JMP | BPF_JA, static_cast<std::uint32_t>(allow_at - here - 1), 0, 0));
  }
  p.push_back(ret(SECCOMP_RET_ERRNO | EPERM));
  p.push_back(ret(SECCOMP_RET_ALLOW));
  REQUIRE(p.size() == allow_at + 1);
  REQUIRE(allowed.size() >= 280);
  return p;
}

}  // namespace

TEST_CASE("seccomp: a default container profile allows what the move needs but setns", "[seccomp]") {
  const Program p = default_profile();
  std::string why;
  const bool passes = sc::check(p, &why).has_value();
  INFO(why);
  REQUIRE(passes);
  sc::FilterChain chain({p});
  auto action = [&](long nr, std::array<std::uint64_t, 6> args = {}) {
    return chain.evaluate(call(nr, args)).action;
  };
  // Without CAP_SYS_ADMIN a container may not setns: the move would fail.
  auto setns = chain.evaluate(call(SYS_setns, {3, CLONE_NEWNET}));
  CHECK(setns.action == Action::error);
  CHECK((setns.ret & SECCOMP_RET_DATA) == EPERM);
  REQUIRE(setns.filter);
  CHECK(*setns.filter == 0);
  // The rest of what a move makes is allowed.
  for (long nr : {SYS_pidfd_open, SYS_close, SYS_openat, SYS_rt_sigprocmask, SYS_rt_tgsigqueueinfo, SYS_read,
                  SYS_write, SYS_getpid, SYS_exit_group})
    CHECK(action(nr) == Action::allow);
  CHECK(action(SYS_unshare, {CLONE_NEWNET}) == Action::error);
  CHECK(action(SYS_mount) == Action::error);
  CHECK(action(SYS_clone, {SIGCHLD}) == Action::allow);
  CHECK(action(SYS_clone, {CLONE_NEWNET | SIGCHLD}) == Action::error);
  CHECK(action(SYS_personality, {8}) == Action::allow);
  CHECK(action(SYS_personality, {9}) == Action::error);
  CHECK(action(SYS_personality, {(1ull << 32) | 8}) == Action::error);
  CHECK(action(999) == Action::error);
#if defined(__x86_64__)
  CHECK(action(0x40000000 | SYS_getpid) == Action::error);  // x32
#endif
  // Another architecture's call: the thread is killed.
  CHECK(chain.evaluate(call(SYS_getpid, {}, kOtherArch)).action == Action::kill_thread);
  // Stacked under an allow-all filter (a runtime's own on top): still denied.
  sc::FilterChain stacked({p, Program{ret(SECCOMP_RET_ALLOW)}});
  CHECK(stacked.evaluate(call(SYS_setns, {3, CLONE_NEWNET})).action == Action::error);
  CHECK(stacked.evaluate(call(SYS_pidfd_open, {1})).action == Action::allow);
}
