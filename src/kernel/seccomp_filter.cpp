// Classic BPF seccomp filters: the kernel's attach-time checks, the
// interpreter, and the precedence of several filters (seccomp_filter.hpp).
#include "containerfs/kernel/seccomp_filter.hpp"

#include <array>
#include <cerrno>
#include <cstring>

#include <fmt/format.h>

namespace containerfs::kernel::seccomp {

namespace {

constexpr std::uint32_t kScratchWords = BPF_MEMWORDS;  // 16

// The opcodes seccomp accepts, each with what it needs checked.
enum class Kind { load_data, load_len, alu_k, alu_x, div_k, shift_k, memory, other, jump_always, jump_cond, ret, bad };

Kind kind_of(std::uint16_t code) {
  switch (code) {
    case BPF_LD | BPF_W | BPF_ABS:
      return Kind::load_data;
    case BPF_LD | BPF_W | BPF_LEN:
    case BPF_LDX | BPF_W | BPF_LEN:
      return Kind::load_len;
    case BPF_ALU | BPF_ADD | BPF_K:
    case BPF_ALU | BPF_SUB | BPF_K:
    case BPF_ALU | BPF_MUL | BPF_K:
    case BPF_ALU | BPF_AND | BPF_K:
    case BPF_ALU | BPF_OR | BPF_K:
    case BPF_ALU | BPF_XOR | BPF_K:
      return Kind::alu_k;
    case BPF_ALU | BPF_ADD | BPF_X:
    case BPF_ALU | BPF_SUB | BPF_X:
    case BPF_ALU | BPF_MUL | BPF_X:
    case BPF_ALU | BPF_DIV | BPF_X:
    case BPF_ALU | BPF_AND | BPF_X:
    case BPF_ALU | BPF_OR | BPF_X:
    case BPF_ALU | BPF_XOR | BPF_X:
    case BPF_ALU | BPF_LSH | BPF_X:
    case BPF_ALU | BPF_RSH | BPF_X:
    case BPF_ALU | BPF_NEG:
      return Kind::alu_x;
    case BPF_ALU | BPF_DIV | BPF_K:
      return Kind::div_k;
    case BPF_ALU | BPF_LSH | BPF_K:
    case BPF_ALU | BPF_RSH | BPF_K:
      return Kind::shift_k;
    case BPF_LD | BPF_MEM:
    case BPF_LDX | BPF_MEM:
    case BPF_ST:
    case BPF_STX:
      return Kind::memory;
    case BPF_LD | BPF_IMM:
    case BPF_LDX | BPF_IMM:
    case BPF_MISC | BPF_TAX:
    case BPF_MISC | BPF_TXA:
      return Kind::other;
    case BPF_JMP | BPF_JA:
      return Kind::jump_always;
    case BPF_JMP | BPF_JEQ | BPF_K:
    case BPF_JMP | BPF_JEQ | BPF_X:
    case BPF_JMP | BPF_JGT | BPF_K:
    case BPF_JMP | BPF_JGT | BPF_X:
    case BPF_JMP | BPF_JGE | BPF_K:
    case BPF_JMP | BPF_JGE | BPF_X:
    case BPF_JMP | BPF_JSET | BPF_K:
    case BPF_JMP | BPF_JSET | BPF_X:
      return Kind::jump_cond;
    case BPF_RET | BPF_K:
    case BPF_RET | BPF_A:
      return Kind::ret;
    default:
      return Kind::bad;
  }
}

bool reads_scratch(std::uint16_t code) { return code == (BPF_LD | BPF_MEM) || code == (BPF_LDX | BPF_MEM); }
bool writes_scratch(std::uint16_t code) { return code == BPF_ST || code == BPF_STX; }

std::unexpected<int> invalid(std::string* why, std::size_t pc, std::string_view what) {
  if (why) *why = fmt::format("instruction {}: {}", pc, what);
  return fail(EINVAL);
}

// Every read of a scratch word follows a store to it on every path, as the
// kernel's check_load_and_stores() demands: the words stored on all the
// paths into an instruction, met at its jump sources.
Status check_scratch_use(std::span<const sock_filter> p, std::string* why) {
  constexpr std::uint16_t kAll = 0xffff;
  std::vector<std::uint16_t> into(p.size(), kAll);  // stored on every jump into pc
  std::uint16_t stored = 0;
  for (std::size_t pc = 0; pc < p.size(); ++pc) {
    stored &= into[pc];
    const sock_filter& in = p[pc];
    if (writes_scratch(in.code)) {
      stored |= static_cast<std::uint16_t>(1u << in.k);
    } else if (reads_scratch(in.code)) {
      if ((stored & (1u << in.k)) == 0)
        return invalid(why, pc, fmt::format("reads scratch word M[{}] before any store to it", in.k));
    } else if (in.code == (BPF_JMP | BPF_JA)) {
      into[pc + 1 + in.k] &= stored;
      stored = kAll;  // nothing falls through
    } else if (kind_of(in.code) == Kind::jump_cond) {
      into[pc + 1 + in.jt] &= stored;
      into[pc + 1 + in.jf] &= stored;
      stored = kAll;
    }
  }
  return {};
}

std::uint32_t alu(std::uint16_t op, std::uint32_t a, std::uint32_t operand) {
  switch (op) {
    case BPF_ADD: return a + operand;
    case BPF_SUB: return a - operand;
    case BPF_MUL: return a * operand;
    case BPF_DIV: return a / operand;  // (the caller handles 0)
    case BPF_AND: return a & operand;
    case BPF_OR: return a | operand;
    case BPF_XOR: return a ^ operand;
    case BPF_LSH: return a << (operand & 31);
    case BPF_RSH: return a >> (operand & 31);
    case BPF_NEG: return 0u - a;
    default: return a;
  }
}

bool jump_taken(std::uint16_t op, std::uint32_t a, std::uint32_t operand) {
  switch (op) {
    case BPF_JEQ: return a == operand;
    case BPF_JGT: return a > operand;
    case BPF_JGE: return a >= operand;
    case BPF_JSET: return (a & operand) != 0;
    default: return false;
  }
}

// The action part as the kernel compares it (ACTION_ONLY).
std::int32_t precedence(std::uint32_t ret) { return static_cast<std::int32_t>(ret & SECCOMP_RET_ACTION_FULL); }

}  // namespace

Status check(std::span<const sock_filter> p, std::string* why) {
  if (p.empty() || p.size() > kMaxInstructions) {
    if (why) *why = fmt::format("{} instructions (1 to {} allowed)", p.size(), kMaxInstructions);
    return fail(EINVAL);
  }
  for (std::size_t pc = 0; pc < p.size(); ++pc) {
    const sock_filter& in = p[pc];
    const std::size_t after = p.size() - pc - 1;  // instructions after this one
    switch (kind_of(in.code)) {
      case Kind::bad:
        return invalid(why, pc, fmt::format("opcode {:#04x} is not allowed in a seccomp filter", in.code));
      case Kind::load_data:
        if (in.k >= kDataSize || (in.k & 3) != 0)
          return invalid(why, pc, fmt::format("load at offset {} of seccomp_data (32-bit aligned, below {})", in.k,
                                              kDataSize));
        break;
      case Kind::div_k:
        if (in.k == 0) return invalid(why, pc, "division by zero");
        break;
      case Kind::shift_k:
        if (in.k >= 32) return invalid(why, pc, fmt::format("shift by {}", in.k));
        break;
      case Kind::memory:
        if (in.k >= kScratchWords) return invalid(why, pc, fmt::format("scratch word M[{}] out of range", in.k));
        break;
      case Kind::jump_always:
        if (in.k >= after) return invalid(why, pc, fmt::format("jump by {} leaves the program", in.k));
        break;
      case Kind::jump_cond:
        if (in.jt >= after || in.jf >= after)
          return invalid(why, pc, fmt::format("jump by {}/{} leaves the program", in.jt, in.jf));
        break;
      case Kind::load_len:
      case Kind::alu_k:
      case Kind::alu_x:
      case Kind::other:
      case Kind::ret:
        break;
    }
  }
  if (kind_of(p.back().code) != Kind::ret) return invalid(why, p.size() - 1, "the last instruction is not a RET");
  return check_scratch_use(p, why);
}

Result<std::uint32_t> run(std::span<const sock_filter> p, const seccomp_data& data) {
  unsigned char bytes[kDataSize];
  std::memcpy(bytes, &data, sizeof bytes);
  std::uint32_t a = 0, x = 0;
  std::array<std::uint32_t, kScratchWords> mem{};
  std::size_t pc = 0;
  for (std::size_t steps = 0; steps < p.size() && pc < p.size(); ++steps) {
    const sock_filter& in = p[pc];
    std::size_t next = pc + 1;
    const std::uint16_t op = BPF_OP(in.code);
    switch (kind_of(in.code)) {
      case Kind::bad:
        return fail(EINVAL);
      case Kind::load_data:
        if (in.k >= kDataSize || (in.k & 3) != 0) return fail(EINVAL);
        std::memcpy(&a, bytes + in.k, sizeof a);
        break;
      case Kind::load_len:
        (BPF_CLASS(in.code) == BPF_LD ? a : x) = kDataSize;
        break;
      case Kind::alu_k:
      case Kind::shift_k:
      case Kind::div_k:
        if ((op == BPF_DIV && in.k == 0) || ((op == BPF_LSH || op == BPF_RSH) && in.k >= 32)) return fail(EINVAL);
        a = alu(op, a, in.k);
        break;
      case Kind::alu_x:
        if (op == BPF_DIV && x == 0) return 0u;  // the kernel ends the program with 0
        a = alu(op, a, x);
        break;
      case Kind::memory:
        if (in.k >= kScratchWords) return fail(EINVAL);
        if (in.code == BPF_ST) mem[in.k] = a;
        else if (in.code == BPF_STX) mem[in.k] = x;
        else (BPF_CLASS(in.code) == BPF_LD ? a : x) = mem[in.k];
        break;
      case Kind::other:
        if (in.code == (BPF_LD | BPF_IMM)) a = in.k;
        else if (in.code == (BPF_LDX | BPF_IMM)) x = in.k;
        else if (in.code == (BPF_MISC | BPF_TAX)) x = a;
        else a = x;
        break;
      case Kind::jump_always:
        next = pc + 1 + std::size_t{in.k};
        break;
      case Kind::jump_cond:
        next = pc + 1 + (jump_taken(op, a, BPF_SRC(in.code) == BPF_X ? x : in.k) ? in.jt : in.jf);
        break;
      case Kind::ret:
        return BPF_RVAL(in.code) == BPF_A ? a : in.k;
    }
    pc = next;
  }
  return fail(EINVAL);  // ran off the end
}

Action action_of(std::uint32_t ret) {
  switch (ret & SECCOMP_RET_ACTION_FULL) {
    case SECCOMP_RET_KILL_PROCESS: return Action::kill_process;
    case SECCOMP_RET_KILL_THREAD: return Action::kill_thread;
    case SECCOMP_RET_TRAP: return Action::trap;
    case SECCOMP_RET_ERRNO: return Action::error;
    case SECCOMP_RET_USER_NOTIF: return Action::user_notif;
    case SECCOMP_RET_TRACE: return Action::trace;
    case SECCOMP_RET_LOG: return Action::log;
    case SECCOMP_RET_ALLOW: return Action::allow;
    default: return Action::kill_process;  // the kernel's default: kill
  }
}

std::string_view name_of(Action action) {
  switch (action) {
    case Action::kill_process: return "KILL_PROCESS";
    case Action::kill_thread: return "KILL_THREAD";
    case Action::trap: return "TRAP";
    case Action::error: return "ERRNO";
    case Action::user_notif: return "USER_NOTIF";
    case Action::trace: return "TRACE";
    case Action::log: return "LOG";
    case Action::allow: return "ALLOW";
  }
  return "?";
}

std::string describe(const Verdict& v) {
  if (v.invalid) return "KILL_PROCESS (a filter that does not pass the kernel's checks)";
  std::string text(name_of(v.action));
  const std::uint32_t data = v.ret & SECCOMP_RET_DATA;
  if (v.action == Action::error || v.action == Action::trace || v.action == Action::trap)
    text += fmt::format("({})", data);
  if ((v.ret & SECCOMP_RET_ACTION_FULL) != SECCOMP_RET_KILL_PROCESS && v.action == Action::kill_process)
    text += fmt::format(" (unknown action {:#010x})", v.ret);
  return text;
}

FilterChain::FilterChain(std::vector<Program> programs) : programs_(std::move(programs)) {
  problems_.resize(programs_.size());
  for (std::size_t i = 0; i < programs_.size(); ++i) {
    std::string why;
    if (!check(programs_[i], &why)) problems_[i] = why.empty() ? std::string("invalid") : why;
  }
}

Verdict FilterChain::evaluate(const seccomp_data& data) const {
  Verdict best;
  // Most recently attached first, as the kernel walks them; a later one
  // replaces the answer only with an action of strictly higher precedence.
  for (std::size_t n = programs_.size(); n-- > 0;) {
    std::uint32_t ret = SECCOMP_RET_KILL_PROCESS;
    const bool valid = problems_[n].empty();
    if (valid) {
      auto r = run(programs_[n], data);
      if (r) ret = *r;  // (a checked program always returns)
    }
    if (precedence(ret) < precedence(best.ret)) {
      best.ret = ret;
      best.filter = n;
      best.invalid = !valid;
    }
  }
  best.action = action_of(best.ret);
  return best;
}

}  // namespace containerfs::kernel::seccomp
