// A small eBPF interpreter for device programs (BPF_PROG_TYPE_CGROUP_DEVICE),
// used by the tests to run what containerfs::kernel::device_program
// generates, since the kernel has no test run for this program type. It
// knows the instructions a device program needs and refuses everything else,
// and it checks what the kernel's verifier would: registers read only once
// written, the context read only as aligned 32-bit words of r1, jumps only
// forward and inside the program, r0 set to 0 or 1 at exit. Arithmetic is
// eBPF's: 32-bit operations clear the upper half, a 64-bit operation or
// jump sign-extends its immediate, a 32-bit jump compares the lower halves.
#pragma once

#include <linux/bpf.h>

#include <cstddef>
#include <cstdint>
#include <expected>
#include <span>
#include <string>

namespace containerfs::test {

class DeviceProgramRun {
 public:
  // r0 at exit, or what is wrong with the program.
  static std::expected<std::uint64_t, std::string> run(std::span<const bpf_insn> program,
                                                       const bpf_cgroup_dev_ctx& ctx) {
    DeviceProgramRun vm(ctx);
    return vm.execute(program);
  }

 private:
  static constexpr int kRegisters = 11;  // r0..r10; r10 is the read-only frame pointer

  explicit DeviceProgramRun(const bpf_cgroup_dev_ctx& ctx) : ctx_(ctx) {
    written_[BPF_REG_1] = true;
    is_ctx_[BPF_REG_1] = true;
  }

  static std::unexpected<std::string> wrong(std::size_t pc, const std::string& what) {
    return std::unexpected<std::string>("instruction " + std::to_string(pc) + ": " + what);
  }

  std::expected<std::uint64_t, std::string> value_of(std::size_t pc, unsigned reg) const {
    if (reg >= kRegisters || !written_[reg]) return wrong(pc, "reads r" + std::to_string(reg) + " before it is written");
    if (is_ctx_[reg]) return wrong(pc, "uses the context pointer as a number");
    return regs_[reg];
  }

  std::expected<void, std::string> set(std::size_t pc, unsigned reg, std::uint64_t value) {
    if (reg >= BPF_REG_10) return wrong(pc, "writes r" + std::to_string(reg));
    regs_[reg] = value;
    written_[reg] = true;
    is_ctx_[reg] = false;
    return {};
  }

  static std::uint64_t alu(std::uint8_t op, std::uint64_t a, std::uint64_t b, bool& known) {
    known = true;
    switch (op) {
      case BPF_MOV: return b;
      case BPF_AND: return a & b;
      case BPF_OR: return a | b;
      case BPF_XOR: return a ^ b;
      case BPF_RSH: return a >> b;
      case BPF_LSH: return a << b;
    }
    known = false;
    return 0;
  }

  std::expected<std::uint64_t, std::string> execute(std::span<const bpf_insn> program) {
    if (program.empty()) return wrong(0, "empty program");
    std::size_t pc = 0;
    // Jumps go forward only, so each instruction runs at most once.
    for (std::size_t steps = 0; steps <= program.size(); ++steps) {
      if (pc >= program.size()) return wrong(pc, "runs past the end");
      const bpf_insn& i = program[pc];
      const std::uint8_t cls = BPF_CLASS(i.code), op = BPF_OP(i.code);
      const bool reg_source = BPF_SRC(i.code) == BPF_X;
      std::size_t next = pc + 1;
      switch (cls) {
        case BPF_LDX: {
          if (i.code != (BPF_LDX | BPF_W | BPF_MEM)) return wrong(pc, "a load other than a 32-bit word");
          if (i.src_reg >= kRegisters || !written_[i.src_reg] || !is_ctx_[i.src_reg])
            return wrong(pc, "a load not from the context");
          if (i.off < 0 || i.off % 4 != 0 || std::size_t(i.off) + 4 > sizeof ctx_)
            return wrong(pc, "a load outside the context");
          const std::uint32_t words[] = {ctx_.access_type, ctx_.major, ctx_.minor};
          if (auto ok = set(pc, i.dst_reg, words[i.off / 4]); !ok) return std::unexpected(ok.error());
          break;
        }
        case BPF_ALU:
        case BPF_ALU64: {
          std::uint64_t b = 0;
          if (reg_source) {
            auto v = value_of(pc, i.src_reg);
            if (!v) return v;
            b = *v;
          } else {
            b = static_cast<std::uint64_t>(static_cast<std::int64_t>(i.imm));
          }
          std::uint64_t a = 0;
          if (op != BPF_MOV) {
            auto v = value_of(pc, i.dst_reg);
            if (!v) return v;
            a = *v;
          }
          if ((op == BPF_RSH || op == BPF_LSH) && b >= (cls == BPF_ALU ? 32u : 64u))
            return wrong(pc, "a shift by the width or more");
          bool known = false;
          std::uint64_t result;
          if (cls == BPF_ALU) result = std::uint32_t(alu(op, std::uint32_t(a), std::uint32_t(b), known));
          else result = alu(op, a, b, known);
          if (!known) return wrong(pc, "an arithmetic operation this interpreter does not know");
          if (auto ok = set(pc, i.dst_reg, result); !ok) return std::unexpected(ok.error());
          break;
        }
        case BPF_JMP:
        case BPF_JMP32: {
          if (cls == BPF_JMP && op == BPF_EXIT) {
            auto r0 = value_of(pc, BPF_REG_0);
            if (!r0) return r0;
            if (*r0 > 1) return wrong(pc, "exits with r0 = " + std::to_string(*r0) + ", not 0 or 1");
            return *r0;
          }
          bool taken;
          if (cls == BPF_JMP && op == BPF_JA) {
            taken = true;
          } else {
            auto a = value_of(pc, i.dst_reg);
            if (!a) return a;
            std::uint64_t b = static_cast<std::uint64_t>(static_cast<std::int64_t>(i.imm));
            if (reg_source) {
              auto v = value_of(pc, i.src_reg);
              if (!v) return v;
              b = *v;
            }
            std::uint64_t x = *a;
            if (cls == BPF_JMP32) {
              x = std::uint32_t(x);
              b = std::uint32_t(b);
            }
            if (op == BPF_JEQ) taken = x == b;
            else if (op == BPF_JNE) taken = x != b;
            else return wrong(pc, "a jump this interpreter does not know");
          }
          if (taken) {
            if (i.off < 0) return wrong(pc, "jumps backwards");
            next = pc + 1 + std::size_t(i.off);
            if (next >= program.size()) return wrong(pc, "jumps past the end");
          }
          break;
        }
        default:
          return wrong(pc, "an instruction class this interpreter does not know");
      }
      pc = next;
    }
    return wrong(pc, "runs too long");
  }

  bpf_cgroup_dev_ctx ctx_;
  std::uint64_t regs_[kRegisters] = {};
  bool written_[kRegisters] = {};
  bool is_ctx_[kRegisters] = {};
};

}  // namespace containerfs::test
