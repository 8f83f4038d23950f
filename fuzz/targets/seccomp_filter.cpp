// containerfs::kernel::seccomp: check(), run() and FilterChain on random
// programs and random seccomp_data. The input is a seccomp_data (its first
// 64 bytes) and then up to four programs, each a flags byte, a length byte
// and that many 8-byte sock_filters. A program whose flags byte is odd is
// first made one the kernel would take (every opcode mapped onto an allowed
// one, loads aligned and inside, jumps inside, no constant division by 0 or
// shift of 32 or more, every scratch word stored first, a RET last).
// Properties:
//  - nothing crashes or loops (each run is bounded by the program's length);
//  - check() fails with EINVAL only, and says why;
//  - a program that passes check() always runs to a value, the same twice;
//    a program made valid passes check();
//  - the chain's verdict is the answer of highest precedence among the
//    filters' (an invalid one counting as KILL_PROCESS), the most recent
//    one's on a tie; its action is that answer's.
#include <fuzzer/FuzzedDataProvider.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "common.hpp"
#include "containerfs/kernel/seccomp_filter.hpp"

namespace sc = containerfs::kernel::seccomp;

namespace {

constexpr std::uint16_t kAllowed[] = {
    BPF_LD | BPF_W | BPF_ABS,       BPF_LD | BPF_W | BPF_LEN,      BPF_LDX | BPF_W | BPF_LEN,
    BPF_LD | BPF_IMM,               BPF_LDX | BPF_IMM,             BPF_LD | BPF_MEM,
    BPF_LDX | BPF_MEM,              BPF_ST,                        BPF_STX,
    BPF_MISC | BPF_TAX,             BPF_MISC | BPF_TXA,            BPF_ALU | BPF_ADD | BPF_K,
    BPF_ALU | BPF_ADD | BPF_X,      BPF_ALU | BPF_SUB | BPF_K,     BPF_ALU | BPF_SUB | BPF_X,
    BPF_ALU | BPF_MUL | BPF_K,      BPF_ALU | BPF_MUL | BPF_X,     BPF_ALU | BPF_DIV | BPF_K,
    BPF_ALU | BPF_DIV | BPF_X,      BPF_ALU | BPF_AND | BPF_K,     BPF_ALU | BPF_AND | BPF_X,
    BPF_ALU | BPF_OR | BPF_K,       BPF_ALU | BPF_OR | BPF_X,      BPF_ALU | BPF_XOR | BPF_K,
    BPF_ALU | BPF_XOR | BPF_X,      BPF_ALU | BPF_LSH | BPF_K,     BPF_ALU | BPF_LSH | BPF_X,
    BPF_ALU | BPF_RSH | BPF_K,      BPF_ALU | BPF_RSH | BPF_X,     BPF_ALU | BPF_NEG,
    BPF_JMP | BPF_JA,               BPF_JMP | BPF_JEQ | BPF_K,     BPF_JMP | BPF_JEQ | BPF_X,
    BPF_JMP | BPF_JGT | BPF_K,      BPF_JMP | BPF_JGT | BPF_X,     BPF_JMP | BPF_JGE | BPF_K,
    BPF_JMP | BPF_JGE | BPF_X,      BPF_JMP | BPF_JSET | BPF_K,    BPF_JMP | BPF_JSET | BPF_X,
    BPF_RET | BPF_K,                BPF_RET | BPF_A,
};
constexpr std::size_t kAllowedCount = sizeof kAllowed / sizeof kAllowed[0];

// Turns `p` into a program the kernel takes, keeping its shape.
sc::Program made_valid(sc::Program p) {
  sc::Program out;
  for (std::uint32_t w = 0; w < BPF_MEMWORDS; ++w) out.push_back(BPF_STMT(BPF_ST, w));
  p.resize(std::min(p.size(), sc::kMaxInstructions - out.size() - 1));
  const std::size_t total = out.size() + p.size() + 1;
  for (std::size_t i = 0; i < p.size(); ++i) {
    sock_filter in = p[i];
    in.code = kAllowed[in.code % kAllowedCount];
    const std::size_t pc = out.size();
    const std::size_t after = total - pc - 1;  // >= 1: the final RET follows
    switch (in.code) {
      case BPF_LD | BPF_W | BPF_ABS: in.k = (in.k % sc::kDataSize) & ~3u; break;
      case BPF_LD | BPF_MEM: case BPF_LDX | BPF_MEM: case BPF_ST: case BPF_STX: in.k %= BPF_MEMWORDS; break;
      case BPF_ALU | BPF_DIV | BPF_K: if (in.k == 0) in.k = 1; break;
      case BPF_ALU | BPF_LSH | BPF_K: case BPF_ALU | BPF_RSH | BPF_K: in.k %= 32; break;
      case BPF_JMP | BPF_JA: in.k = static_cast<std::uint32_t>(in.k % after); break;
      default:
        if (BPF_CLASS(in.code) == BPF_JMP) {
          in.jt = static_cast<std::uint8_t>(in.jt % std::min<std::size_t>(after, 256));
          in.jf = static_cast<std::uint8_t>(in.jf % std::min<std::size_t>(after, 256));
        }
    }
    out.push_back(in);
  }
  out.push_back(BPF_STMT(BPF_RET | BPF_A, 0));
  return out;
}

std::int32_t precedence(std::uint32_t ret) { return static_cast<std::int32_t>(ret & SECCOMP_RET_ACTION_FULL); }

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  FuzzedDataProvider in(data, size);
  seccomp_data sd{};
  auto head = in.ConsumeBytes<std::uint8_t>(sizeof sd);
  if (!head.empty()) std::memcpy(&sd, head.data(), head.size());

  std::vector<sc::Program> programs;
  std::vector<bool> made;
  while (in.remaining_bytes() > 0 && programs.size() < 4) {
    const auto flags = in.ConsumeIntegral<std::uint8_t>();
    const auto length = in.ConsumeIntegral<std::uint8_t>();
    auto bytes = in.ConsumeBytes<std::uint8_t>(std::size_t{length} * sizeof(sock_filter));
    sc::Program p(bytes.size() / sizeof(sock_filter));
    if (!p.empty()) std::memcpy(p.data(), bytes.data(), p.size() * sizeof(sock_filter));
    if (flags & 1) {
      // Longer ones too, up to the kernel's limit: the bytes repeated.
      const std::size_t times = (flags >> 1) % 32 + 1;
      sc::Program longer;
      for (std::size_t t = 0; t < times; ++t) longer.insert(longer.end(), p.begin(), p.end());
      p = made_valid(std::move(longer));
    }
    programs.push_back(std::move(p));
    made.push_back(flags & 1);
  }

  std::vector<std::uint32_t> answers;
  for (std::size_t i = 0; i < programs.size(); ++i) {
    std::string why;
    auto ok = sc::check(programs[i], &why);
    if (made[i]) FUZZ_CHECK(ok);
    auto first = sc::run(programs[i], sd);
    if (ok) {
      FUZZ_CHECK(first.has_value());
      auto second = sc::run(programs[i], sd);
      FUZZ_CHECK(second && *second == *first);
      answers.push_back(*first);
    } else {
      FUZZ_CHECK(ok.error() == EINVAL);
      FUZZ_CHECK(!why.empty());
      if (!first) FUZZ_CHECK(first.error() == EINVAL);
      answers.push_back(SECCOMP_RET_KILL_PROCESS);
    }
  }

  sc::FilterChain chain(programs);
  const sc::Verdict v = chain.evaluate(sd);
  std::uint32_t best = SECCOMP_RET_ALLOW;
  std::size_t from = programs.size();
  for (std::size_t n = programs.size(); n-- > 0;)
    if (precedence(answers[n]) < precedence(best)) {
      best = answers[n];
      from = n;
    }
  FUZZ_CHECK(v.ret == best);
  FUZZ_CHECK(v.action == sc::action_of(best));
  FUZZ_CHECK(v.filter.has_value() == (from < programs.size()));
  if (v.filter) {
    FUZZ_CHECK(*v.filter == from);
    FUZZ_CHECK(v.invalid == !chain.problem(from).empty());
  }
  FUZZ_CHECK(!sc::describe(v).empty());
  return 0;
}
