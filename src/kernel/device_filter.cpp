#include "containerfs/kernel/device_filter.hpp"

#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "containerfs/kernel/device_program.hpp"
#include "containerfs/util/log.hpp"

namespace containerfs::kernel {

namespace {

// Tries of a replace whose old program went away between finding it and
// replacing it (someone else detached it): found again each time.
constexpr int kReplaceAttempts = 5;
// Tries of a load the kernel answers EAGAIN (it asks for a retry).
constexpr int kLoadAttempts = 5;
constexpr std::size_t kVerifierLogSize = 64 * 1024;

bpf_attr zeroed_attr() {
  bpf_attr attr;
  std::memset(&attr, 0, sizeof attr);
  return attr;
}

long bpf(int cmd, bpf_attr& attr) { return ::syscall(__NR_bpf, cmd, &attr, sizeof attr); }

std::uint64_t address(const void* p) { return reinterpret_cast<std::uintptr_t>(p); }

bool valid_program_name(std::string_view name) {
  return !name.empty() && name.size() < BPF_OBJ_NAME_LEN && std::all_of(name.begin(), name.end(), [](char c) {
           return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.';
         });
}

struct ProgramInfo {
  std::uint32_t id = 0;
  std::string name;
};

Result<ProgramInfo> program_info(int program_fd) {
  bpf_prog_info info;
  std::memset(&info, 0, sizeof info);
  auto attr = zeroed_attr();
  attr.info.bpf_fd = static_cast<std::uint32_t>(program_fd);
  attr.info.info_len = sizeof info;
  attr.info.info = address(&info);
  if (bpf(BPF_OBJ_GET_INFO_BY_FD, attr) != 0) return fail_errno();
  return ProgramInfo{info.id, std::string(info.name, ::strnlen(info.name, sizeof info.name))};
}

// An attached program of ours, held by fd while it is worked on.
struct OwnProgram {
  std::uint32_t id = 0;
  UniqueFd fd;
};

// The ids of the device programs attached to the cgroup itself.
Result<std::vector<std::uint32_t>> attached_ids(int cgroup_fd) {
  std::vector<std::uint32_t> ids(16);
  // The list may grow between a query that says ENOSPC (with the count it
  // needs) and the next: a few tries, each with room for more.
  for (int attempt = 0; attempt < 8; ++attempt) {
    auto attr = zeroed_attr();
    attr.query.target_fd = static_cast<std::uint32_t>(cgroup_fd);
    attr.query.attach_type = BPF_CGROUP_DEVICE;
    attr.query.prog_ids = address(ids.data());
    attr.query.prog_cnt = static_cast<std::uint32_t>(ids.size());
    if (bpf(BPF_PROG_QUERY, attr) == 0) {
      ids.resize(std::min<std::size_t>(attr.query.prog_cnt, ids.size()));
      return ids;
    }
    if (errno != ENOSPC) return fail_errno();
    ids.resize(std::max<std::size_t>(attr.query.prog_cnt, ids.size()) * 2);
  }
  return fail(EAGAIN);
}

// Calls visit(id, fd, name) for each device program attached to the
// cgroup itself that still exists.
template <typename Visit>
Status each_attached_program(int cgroup_fd, Visit visit) {
  auto ids = attached_ids(cgroup_fd);
  if (!ids) return fail(ids.error());
  for (auto id : *ids) {
    auto fd = device_program_by_id(id);
    if (!fd && fd.error() == ENOENT) continue;  // detached and freed since the query
    if (!fd) return fail(fd.error());
    auto info = program_info(fd->get());
    if (!info) return fail(info.error());
    visit(id, std::move(*fd), std::move(info->name));
  }
  return {};
}

Result<std::vector<OwnProgram>> own_programs(int cgroup_fd) {
  std::vector<OwnProgram> ours;
  auto ok = each_attached_program(cgroup_fd, [&](std::uint32_t id, UniqueFd fd, std::string name) {
    if (name == kDeviceFilterName) ours.push_back({id, std::move(fd)});
  });
  if (!ok) return fail(ok.error());
  return ours;
}

// Detaches the programs; one already detached by someone else is no error.
Status detach_all(int cgroup_fd, std::span<const OwnProgram> programs) {
  for (const auto& p : programs) {
    auto ok = detach_device_program(cgroup_fd, p.fd.get());
    if (!ok && ok.error() != ENOENT) return ok;
  }
  return {};
}

// BPF_PROG_LOAD; with `verifier_log`, the verifier's log is written there.
long load_program(std::span<const bpf_insn> program, std::string_view name, std::string* verifier_log) {
  auto attr = zeroed_attr();
  attr.prog_type = BPF_PROG_TYPE_CGROUP_DEVICE;
  attr.expected_attach_type = BPF_CGROUP_DEVICE;
  attr.insn_cnt = static_cast<std::uint32_t>(program.size());
  attr.insns = address(program.data());
  attr.license = address("GPL");
  std::memcpy(attr.prog_name, name.data(), name.size());
  if (verifier_log) {
    verifier_log->assign(kVerifierLogSize, '\0');
    attr.log_level = 1;
    attr.log_size = static_cast<std::uint32_t>(verifier_log->size());
    attr.log_buf = address(verifier_log->data());
  }
  return bpf(BPF_PROG_LOAD, attr);
}

void log_verifier_refusal(std::span<const bpf_insn> program, std::string_view name) {
  std::string text;
  if (long fd = load_program(program, name, &text); fd >= 0) ::close(static_cast<int>(fd));
  text.resize(::strnlen(text.data(), text.size()));
  // The end of the log says why.
  std::string_view tail = text;
  if (tail.size() > 600) tail.remove_prefix(tail.size() - 600);
  log::error("the kernel refused device program {} ({} instructions): {}", name, program.size(), tail);
}

}  // namespace

Result<UniqueFd> load_device_program(std::span<const bpf_insn> program, std::string_view name) {
  if (!valid_program_name(name)) return fail(EINVAL);
  for (int attempt = 0; attempt < kLoadAttempts; ++attempt) {
    long fd = load_program(program, name, nullptr);
    if (fd >= 0) return UniqueFd(static_cast<int>(fd));
    if (errno == EAGAIN) continue;
    const int err = errno;
    if (err == EACCES || err == EINVAL) log_verifier_refusal(program, name);
    return fail(err);
  }
  return fail(EAGAIN);
}

Status attach_device_program(int cgroup_fd, int program_fd, std::optional<int> replace_fd) {
  auto attr = zeroed_attr();
  attr.target_fd = static_cast<std::uint32_t>(cgroup_fd);
  attr.attach_bpf_fd = static_cast<std::uint32_t>(program_fd);
  attr.attach_type = BPF_CGROUP_DEVICE;
  attr.attach_flags = BPF_F_ALLOW_MULTI;
  if (replace_fd) {
    attr.attach_flags |= BPF_F_REPLACE;
    attr.replace_bpf_fd = static_cast<std::uint32_t>(*replace_fd);
  }
  if (bpf(BPF_PROG_ATTACH, attr) != 0) return fail_errno();
  return {};
}

Status detach_device_program(int cgroup_fd, int program_fd) {
  auto attr = zeroed_attr();
  attr.target_fd = static_cast<std::uint32_t>(cgroup_fd);
  attr.attach_bpf_fd = static_cast<std::uint32_t>(program_fd);
  attr.attach_type = BPF_CGROUP_DEVICE;
  if (bpf(BPF_PROG_DETACH, attr) != 0) return fail_errno();
  return {};
}

Result<UniqueFd> device_program_by_id(std::uint32_t id) {
  auto attr = zeroed_attr();
  attr.prog_id = id;
  long fd = bpf(BPF_PROG_GET_FD_BY_ID, attr);
  if (fd < 0) return fail_errno();
  return UniqueFd(static_cast<int>(fd));
}

Result<std::uint32_t> program_id(int program_fd) {
  auto info = program_info(program_fd);
  if (!info) return fail(info.error());
  return info->id;
}

Result<std::vector<AttachedProgram>> attached_device_programs(int cgroup_fd) {
  std::vector<AttachedProgram> out;
  auto ok = each_attached_program(cgroup_fd, [&](std::uint32_t id, UniqueFd, std::string name) {
    out.push_back({id, std::move(name)});
  });
  if (!ok) return fail(ok.error());
  return out;
}

Result<std::uint32_t> apply_device_filter(int cgroup_fd, const DeviceRules& rules) {
  const auto program = device_program(rules);
  auto fd = load_device_program(program, kDeviceFilterName);
  if (!fd) return fail(fd.error());
  auto id = program_id(fd->get());
  if (!id) return fail(id.error());
  for (int attempt = 0; attempt < kReplaceAttempts; ++attempt) {
    auto ours = own_programs(cgroup_fd);
    if (!ours) return fail(ours.error());
    if (ours->empty()) {
      if (auto ok = attach_device_program(cgroup_fd, fd->get()); !ok) return fail(ok.error());
      return *id;
    }
    auto replaced = attach_device_program(cgroup_fd, fd->get(), ours->front().fd.get());
    if (!replaced && replaced.error() == ENOENT) continue;  // detached meanwhile: look again
    if (!replaced) return fail(replaced.error());
    // More than one of ours (left by an earlier failure): the new one took
    // the first one's place, the rest go.
    if (auto ok = detach_all(cgroup_fd, std::span(*ours).subspan(1)); !ok) {
      log::error("device filter {} attached, but an older one stays attached: {}", *id, log::errno_text(ok.error()));
      return fail(ok.error());
    }
    return *id;
  }
  return fail(EBUSY);
}

Status remove_device_filter(int cgroup_fd) {
  auto ours = own_programs(cgroup_fd);
  if (!ours) return fail(ours.error());
  return detach_all(cgroup_fd, *ours);
}

Result<std::optional<std::uint32_t>> attached_device_filter(int cgroup_fd) {
  auto ours = own_programs(cgroup_fd);
  if (!ours) return fail(ours.error());
  // Built in place: GCC 12 warns, wrongly, about a converted empty optional.
  using Found = Result<std::optional<std::uint32_t>>;
  if (ours->empty()) return Found(std::in_place);
  return Found(std::in_place, ours->front().id);
}

}  // namespace containerfs::kernel
