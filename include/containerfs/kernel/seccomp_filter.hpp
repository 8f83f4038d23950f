// Seccomp filters judged as the kernel runs them: what a thread's filters
// answer to a system call, without making the call.
//
// A filter is a classic BPF program (struct sock_filter[]) run on a
// struct seccomp_data (nr, arch, instruction_pointer, args[6]); it returns a
// SECCOMP_RET_* value, the action in the high 16 bits and its data (an
// errno, a message for a tracer) in the low 16. The rules are the kernel's
// (net/core/filter.c bpf_check_classic, kernel/seccomp.c
// seccomp_check_filter and seccomp_run_filters):
//  - checked when attached: 1 to 4096 instructions; only the opcodes seccomp
//    accepts (no packet loads, no MOD, no MSH); loads from seccomp_data are
//    32 bits wide, 4-aligned and inside its 64 bytes; BPF_LEN gives 64; no
//    division by a constant 0, no shift by a constant >= 32; scratch words
//    M[0..15], each read only after a store on every path to the read;
//    jumps forward, inside the program; the last instruction a RET.
//  - run: A and X start at 0; arithmetic is unsigned 32-bit; a division by
//    X == 0 ends the program with 0 (SECCOMP_RET_KILL_THREAD); a shift by X
//    uses its low 5 bits; comparisons are unsigned.
//  - several filters: every one runs, and the answer is the one whose action
//    takes precedence: the action bits read as a signed 32-bit number, the
//    lowest wins (KILL_PROCESS > KILL_THREAD > TRAP > ERRNO > USER_NOTIF >
//    TRACE > LOG > ALLOW); on a tie the most recently attached filter's.
//    An action the kernel does not know kills the process.
#pragma once

#include <linux/filter.h>
#include <linux/seccomp.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "containerfs/util/result.hpp"

namespace containerfs::kernel::seccomp {

using Program = std::vector<sock_filter>;

inline constexpr std::size_t kMaxInstructions = 4096;  // BPF_MAXINSNS
inline constexpr std::uint32_t kDataSize = sizeof(seccomp_data);
static_assert(kDataSize == 64);

// The kernel's checks when a filter is attached: EINVAL for a program it
// would refuse, with the reason (and the instruction) in *why.
Status check(std::span<const sock_filter> program, std::string* why = nullptr);

// Runs a program on `data` and returns what it returns. A program that
// passes check() always returns a value; any other may end with EINVAL at
// its first fault (a bad opcode, load, jump, scratch word, or running off
// the end). Never more steps than the program has instructions, since every
// jump goes forward.
Result<std::uint32_t> run(std::span<const sock_filter> program, const seccomp_data& data);

enum class Action : std::uint8_t { kill_process, kill_thread, trap, error, user_notif, trace, log, allow };

// The action of a SECCOMP_RET_* value (an unknown one kills the process).
Action action_of(std::uint32_t ret);
// "KILL_PROCESS", "ERRNO", ...
std::string_view name_of(Action action);
// The call goes ahead: SECCOMP_RET_ALLOW, SECCOMP_RET_LOG.
inline bool lets_through(Action action) { return action == Action::allow || action == Action::log; }

struct Verdict {
  std::uint32_t ret = SECCOMP_RET_ALLOW;
  Action action = Action::allow;
  // The filter whose answer it is (its index in attach order); none when
  // every filter allows.
  std::optional<std::size_t> filter;
  // That filter does not pass check(): taken as SECCOMP_RET_KILL_PROCESS.
  bool invalid = false;
};

// "ERRNO(1)", "KILL_PROCESS", "TRACE(7)", "ALLOW"; an invalid filter's
// verdict says so.
std::string describe(const Verdict& verdict);

// The filters of one thread, in the order they were attached (the order of
// PTRACE_SECCOMP_GET_FILTER's index, 0 the first attached). Each program is
// checked once, here.
class FilterChain {
 public:
  explicit FilterChain(std::vector<Program> programs);

  // What the kernel would do with a system call described by `data`.
  Verdict evaluate(const seccomp_data& data) const;

  std::size_t size() const { return programs_.size(); }
  // Why filter `index` fails check(); empty when it passes.
  const std::string& problem(std::size_t index) const { return problems_.at(index); }

 private:
  std::vector<Program> programs_;
  std::vector<std::string> problems_;
};

}  // namespace containerfs::kernel::seccomp
