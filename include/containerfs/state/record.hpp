// The persistent record of one container, kept as the xattr
// trusted.containerfs of its cgroup directory: it dies with the cgroup, and
// one setxattr replaces it atomically. The parent is the cgroup's parent
// directory; the id is the directory's name.
//
// This layer knows records, not containers: model/record_of.cpp turns one
// into the other.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "containerfs/kernel/namespaces.hpp"
#include "containerfs/util/result.hpp"

namespace containerfs::state {

// A namespace the container has a file for (an inherited one has none).
struct NsRecord {
  enum class Origin : uint8_t { own, shared, adopted };
  Origin origin = Origin::own;
  std::string link;  // shared, adopted: the link text as the user wrote it
  friend bool operator==(const NsRecord&, const NsRecord&) = default;
};

struct ContainerRecord {
  std::string name;
  pid_t init_pid = 0;
  unsigned long long init_start = 0;
  std::map<kernel::NsKind, NsRecord> ns;
  uid_t owner_uid = 0;
  gid_t owner_gid = 0;
  std::string time_offsets;
  std::string root;                    // the root file system's directory, if any
  std::optional<std::string> devices;  // the device whitelist as written, if it was
  // Symlinks under other names than the namespace files (name, target).
  std::vector<std::pair<std::string, std::string>> links;
  friend bool operator==(const ContainerRecord&, const ContainerRecord&) = default;
};

std::string encode_record(const ContainerRecord& record);
// EINVAL on anything malformed.
Result<ContainerRecord> decode_record(std::string_view text);

// The host's symlinks (it has no record of its own): kept in this xattr of
// the daemon's cgroup directory, one "link NAME TARGET" line each.
inline constexpr const char* kHostLinksXattr = "trusted.containerfs.links";
std::string encode_links(const std::vector<std::pair<std::string, std::string>>& links);
// EINVAL on anything malformed.
Result<std::vector<std::pair<std::string, std::string>>> decode_links(std::string_view text);

// Leaves inside a container's cgroup.
inline constexpr const char* kInitLeaf = "init";
inline constexpr const char* kMembersLeaf = "tasks";

// "c17" <-> 17
std::string cgroup_name_of(std::uint64_t id);
Result<std::uint64_t> id_of_cgroup_name(std::string_view name);

}  // namespace containerfs::state
