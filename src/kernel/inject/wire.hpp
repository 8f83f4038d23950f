// Messages between the daemon and its injector process (injector_process.hpp).
// Both ends are the same binary, so the structs go over the wire as they are
// (SOCK_SEQPACKET: one message per send, never split).
#pragma once

#include <linux/limits.h>

#include <cstdint>
#include <vector>

#include "containerfs/util/fd.hpp"
#include "containerfs/util/result.hpp"

namespace containerfs::kernel::inject_wire {

constexpr std::uint32_t kMagic = 0x31736663;  // "cfs1"

// Control socket, daemon -> helper; carries the job's socket, then the
// descriptors it has, in this order: the cgroup to join, the cgroup to put
// it back into, a pidfd of the process as the daemon checked it.
struct Job {
  std::uint32_t magic = kMagic;
  std::int32_t pid = 0;
  std::int32_t ns_source_pid = 0;
  std::int32_t nstypes = 0;
  std::uint32_t has_join = 0;
  std::uint32_t has_undo = 0;
  std::uint32_t has_pidfd = 0;
  // The seize is made as this requester (not root) when has_requester.
  std::uint32_t has_requester = 0;
  std::uint32_t requester_uid = 0;
  std::uint32_t requester_gid = 0;
  // MoveRequest::place, when has_place.
  std::uint32_t has_place = 0;
  struct Dir {
    std::uint64_t dev = 0;
    std::uint64_t ino = 0;
    char path[PATH_MAX] = {};  // NUL-terminated
  } cwd, root;
};
// (test_injector_process.py packs it byte for byte.)
static_assert(sizeof(Job) == 48 + 2 * (16 + PATH_MAX));

// Job socket, both ways: daemon -> helper proceed, or proceed_joined to be
// told `joined` as soon as the cgroup is written (a writer moving itself
// waits for that before it is answered); helper -> daemon prepared, joined,
// done.
enum class Kind : std::uint32_t { prepared = 1, proceed = 2, done = 3, joined = 4, proceed_joined = 5 };
struct Note {
  Kind kind{};
  std::int32_t error = 0;  // 0 or errno (prepared, joined, done)
};

// sendmsg with SCM_RIGHTS (none if fds is empty); MSG_NOSIGNAL. A full
// socket is waited on at most `timeout_ms` (-1: no bound), then ETIMEDOUT.
Status send_message(int sock, const void* data, std::size_t size, const std::vector<int>& fds = {},
                    int timeout_ms = -1);
// recvmsg of one message of exactly `size` bytes, waiting at most
// `timeout_ms` (-1: no bound). Received fds are appended to *fds (if given;
// closed otherwise). Returns false at end of file; ETIMEDOUT; EPROTO for a
// message of another size or a truncated one.
Result<bool> receive_message(int sock, void* data, std::size_t size, int timeout_ms,
                     std::vector<UniqueFd>* fds = nullptr);

}  // namespace containerfs::kernel::inject_wire
