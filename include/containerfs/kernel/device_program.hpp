// The eBPF program (BPF_PROG_TYPE_CGROUP_DEVICE) that enforces a set of
// device rules, written instruction by instruction. The kernel runs it on
// every open and mknod of a device node by a process of the cgroup it is
// attached to, with a struct bpf_cgroup_dev_ctx: access_type =
// (BPF_DEVCG_ACC_* bits << 16) | BPF_DEVCG_DEV_BLOCK or _CHAR, major,
// minor. It returns 1 to allow, 0 to deny (EPERM), and decides exactly as
// DeviceRules::allows does: access bits outside read, write and mknod are
// never allowed.
#pragma once

#include <linux/bpf.h>

#include <vector>

#include "containerfs/kernel/device_rules.hpp"

namespace containerfs::kernel {

// Registers: r1 the context; r2 the device type, r3 the access asked for,
// r4 the major, r5 the minor; r6 gathers the bits of the exceptions that
// apply. Numbers are compared in 32 bits (BPF_JMP32), so majors and minors
// of 2^31 and more compare as they are. Only forward jumps.
std::vector<bpf_insn> device_program(const DeviceRules& rules);

}  // namespace containerfs::kernel
