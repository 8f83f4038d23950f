// The device filter of a cgroup v2 directory: containerfs's
// BPF_PROG_TYPE_CGROUP_DEVICE program (device_program.hpp), named
// kDeviceFilterName, attached with BPF_F_ALLOW_MULTI so that the programs
// of the cgroups above apply too (the kernel allows an access only when
// every one of them does). The daemon keeps no fd: an attached program
// stays after its fd is closed and is found again by name among the
// cgroup's programs. Needs CAP_SYS_ADMIN, kernel 5.6 or later
// (BPF_F_REPLACE, BPF_JMP32).
#pragma once

#include <linux/bpf.h>

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "containerfs/kernel/device_rules.hpp"
#include "containerfs/util/fd.hpp"
#include "containerfs/util/result.hpp"

namespace containerfs::kernel {

inline constexpr std::string_view kDeviceFilterName = "cfs_devices";

// Enforces `rules` on the cgroup: loads their program and attaches it, or,
// when one of ours is attached already, puts it in that one's place in one
// step (BPF_F_REPLACE), so the cgroup is never without a filter nor has
// two of ours (any other of ours found is detached after). Returns the new
// program's id. Programs of others are left alone. Rules that allow
// everything need no program: remove_device_filter() is their form.
// `cgroup_fd`: the cgroup v2 directory opened O_RDONLY (EBADF otherwise).
Result<std::uint32_t> apply_device_filter(int cgroup_fd, const DeviceRules& rules);

// Detaches every program of ours from the cgroup (every device allowed
// again, as far as this cgroup goes). Nothing attached is not an error.
Status remove_device_filter(int cgroup_fd);

// The id of our program on the cgroup, nullopt if none (the first, should
// there be more).
Result<std::optional<std::uint32_t>> attached_device_filter(int cgroup_fd);

// The lower-level steps, for the above and for tests.

struct AttachedProgram {
  std::uint32_t id = 0;
  std::string name;
};

// BPF_PROG_LOAD of a device program under `name` (1 to 15 characters of
// letters, digits, '_' and '.'). A program the verifier refuses has its log
// logged; the kernel's errno is returned.
Result<UniqueFd> load_device_program(std::span<const bpf_insn> program, std::string_view name);
// BPF_PROG_ATTACH with BPF_F_ALLOW_MULTI, replacing `replace_fd` in one
// step when it is given.
Status attach_device_program(int cgroup_fd, int program_fd, std::optional<int> replace_fd = std::nullopt);
Status detach_device_program(int cgroup_fd, int program_fd);
// The device programs attached to the cgroup itself (not those of the
// cgroups above), in the order they run.
Result<std::vector<AttachedProgram>> attached_device_programs(int cgroup_fd);
// An fd of the program with that id (ENOENT once it is gone).
Result<UniqueFd> device_program_by_id(std::uint32_t id);
// The id of a loaded program.
Result<std::uint32_t> program_id(int program_fd);

}  // namespace containerfs::kernel
