#include "containerfs/kernel/device_program.hpp"

#include <cstddef>
#include <cstdint>

namespace containerfs::kernel {

namespace {

bpf_insn insn(std::uint8_t code, std::uint8_t dst, std::uint8_t src, std::int16_t off, std::int32_t imm) {
  bpf_insn i{};
  i.code = code;
  i.dst_reg = dst & 0xf;
  i.src_reg = src & 0xf;
  i.off = off;
  i.imm = imm;
  return i;
}

bpf_insn load_ctx_word(std::uint8_t dst, std::size_t offset) {
  return insn(BPF_LDX | BPF_W | BPF_MEM, dst, BPF_REG_1, static_cast<std::int16_t>(offset), 0);
}
bpf_insn alu32_imm(std::uint8_t op, std::uint8_t dst, std::int32_t imm) { return insn(BPF_ALU | op | BPF_K, dst, 0, 0, imm); }
bpf_insn alu64_imm(std::uint8_t op, std::uint8_t dst, std::int32_t imm) {
  return insn(BPF_ALU64 | op | BPF_K, dst, 0, 0, imm);
}
bpf_insn alu64_reg(std::uint8_t op, std::uint8_t dst, std::uint8_t src) {
  return insn(BPF_ALU64 | op | BPF_X, dst, src, 0, 0);
}
// Compares the low 32 bits of dst with imm taken as a u32.
bpf_insn jump32_imm(std::uint8_t op, std::uint8_t dst, std::uint32_t imm, int off) {
  return insn(BPF_JMP32 | op | BPF_K, dst, 0, static_cast<std::int16_t>(off), static_cast<std::int32_t>(imm));
}
// Compares all 64 bits of dst with imm sign-extended.
bpf_insn jump_imm(std::uint8_t op, std::uint8_t dst, std::int32_t imm, int off) {
  return insn(BPF_JMP | op | BPF_K, dst, 0, static_cast<std::int16_t>(off), imm);
}
bpf_insn exit_insn() { return insn(BPF_JMP | BPF_EXIT, 0, 0, 0, 0); }

constexpr std::uint8_t kType = BPF_REG_2, kAccess = BPF_REG_3, kMajor = BPF_REG_4, kMinor = BPF_REG_5,
                       kBits = BPF_REG_6;

}  // namespace

std::vector<bpf_insn> device_program(const DeviceRules& rules) {
  std::vector<bpf_insn> p = {
      load_ctx_word(kType, offsetof(bpf_cgroup_dev_ctx, access_type)),
      alu32_imm(BPF_AND, kType, 0xffff),
      load_ctx_word(kAccess, offsetof(bpf_cgroup_dev_ctx, access_type)),
      alu32_imm(BPF_RSH, kAccess, 16),
      load_ctx_word(kMajor, offsetof(bpf_cgroup_dev_ctx, major)),
      load_ctx_word(kMinor, offsetof(bpf_cgroup_dev_ctx, minor)),
      alu64_imm(BPF_MOV, kBits, 0),
  };
  // Each exception: a test per thing it names, each jumping past the rest
  // and the OR when it does not hold, then the OR of its bits.
  for (const auto& e : rules.exceptions()) {
    const int tests = 1 + (e.major ? 1 : 0) + (e.minor ? 1 : 0);
    int left = tests;  // from the next test, the jump that skips the OR
    const std::uint32_t type = e.type == DeviceType::block ? BPF_DEVCG_DEV_BLOCK : BPF_DEVCG_DEV_CHAR;
    p.push_back(jump32_imm(BPF_JNE, kType, type, left--));
    if (e.major) p.push_back(jump32_imm(BPF_JNE, kMajor, *e.major, left--));
    if (e.minor) p.push_back(jump32_imm(BPF_JNE, kMinor, *e.minor, left--));
    p.push_back(alu64_imm(BPF_OR, kBits, e.access));
  }
  // kBits becomes the bits not allowed, of read, write and mknod.
  if (!rules.default_allow()) p.push_back(alu64_imm(BPF_XOR, kBits, kDeviceAllAccess));
  const bpf_insn tail[] = {
      // No bit asked for: allowed when some bit is.
      jump_imm(BPF_JNE, kAccess, 0, 4),
      alu64_imm(BPF_MOV, BPF_REG_0, 1),
      jump_imm(BPF_JNE, kBits, kDeviceAllAccess, 1),
      alu64_imm(BPF_MOV, BPF_REG_0, 0),
      exit_insn(),
      // Otherwise allowed when no bit asked for is one not allowed, every
      // bit other than read, write and mknod counting as not allowed (-8
      // sign-extends to all bits but the lowest three).
      alu64_imm(BPF_OR, kBits, -8),
      alu64_reg(BPF_AND, kAccess, kBits),
      alu64_imm(BPF_MOV, BPF_REG_0, 1),
      jump_imm(BPF_JEQ, kAccess, 0, 1),
      alu64_imm(BPF_MOV, BPF_REG_0, 0),
      exit_insn(),
  };
  p.insert(p.end(), std::begin(tail), std::end(tail));
  return p;
}

}  // namespace containerfs::kernel
