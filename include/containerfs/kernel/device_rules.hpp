// A container's device whitelist, as cgroup v1's devices controller kept it:
// a default (every device allowed, or none) plus exceptions to it, each a
// device pattern (`c 1:3`, `c 136:*`, `b *:*`) with access bits (read,
// write, mknod). Pure: parsing, editing, the listing, and comparing two
// sets of rules; the eBPF program that enforces them is built from this
// (device_program.hpp).
//
// The text is cgroup v1's devices.list, one entry a line:
//   a *:* rwm          every device (the allow-all default; `a` alone too)
//   c 1:3 rwm          character device 1:3, all access
//   -c 1:3 w           a line written with `-` takes access away
// In allow-all mode the listing is `a *:* rwm` followed by the exceptions
// (denials) with a leading `-`; in deny-all mode it is the allowed entries
// (an empty listing allows nothing). Parsing a listing gives back the rules
// it was made from.
//
// Meaning: an exception applies to a device when its type is the device's
// and its major and minor are equal or `*`. The access bits that apply to a
// device are those of every exception that applies, OR-ed: in deny-all
// mode they are the bits allowed, in allow-all mode the bits denied. A
// request is allowed when each bit it asks for is allowed; a request that
// asks for no bit at all (the kernel makes those, e.g. for exec of a device
// node) is allowed when the device has some bit allowed.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "containerfs/util/result.hpp"

namespace containerfs::kernel {

enum class DeviceType : std::uint8_t { block, character };

// Access bits; the values are the kernel's BPF_DEVCG_ACC_* bits.
inline constexpr std::uint8_t kDeviceMknod = 1;
inline constexpr std::uint8_t kDeviceRead = 2;
inline constexpr std::uint8_t kDeviceWrite = 4;
inline constexpr std::uint8_t kDeviceAllAccess = kDeviceMknod | kDeviceRead | kDeviceWrite;

// The most exceptions a rule set holds (ENOSPC past it); the program that
// enforces them stays far below the kernel's size limits.
inline constexpr std::size_t kMaxDeviceExceptions = 256;

// One exception: a device pattern and access bits (never 0).
struct DeviceException {
  DeviceType type = DeviceType::character;
  std::optional<std::uint32_t> major;  // nullopt: `*`
  std::optional<std::uint32_t> minor;  // nullopt: `*`
  std::uint8_t access = 0;

  bool same_devices(const DeviceException& other) const {
    return type == other.type && major == other.major && minor == other.minor;
  }
  bool applies_to(DeviceType t, std::uint32_t maj, std::uint32_t min) const {
    return type == t && (!major || *major == maj) && (!minor || *minor == min);
  }
  bool operator==(const DeviceException&) const = default;
};

class DeviceRules {
 public:
  // Everything allowed (`a *:* rwm`), as a container sharing the host's /dev.
  static DeviceRules allow_all();
  // Nothing allowed (an empty listing).
  static DeviceRules deny_all();
  // The devices of a container's own /dev: null, zero, full, random,
  // urandom, tty, console, ptmx and every pts (136:*), each rwm.
  static DeviceRules own_dev();

  // The rules a listing describes: the lines applied, in order, to
  // deny_all(). EINVAL for a malformed line, ENOSPC for too many entries.
  static Result<DeviceRules> parse(std::string_view listing);

  // These rules edited by the lines of a write, all or nothing:
  //  - `a` (or `a *:* rwm`) makes everything allowed, `-a` nothing; both
  //    drop every exception;
  //  - `X` allows X: in deny-all mode its bits are added to the exception
  //    with X's type, major and minor (a new one if none); in allow-all
  //    mode they are taken from that exception (dropped once empty);
  //  - `-X` denies X, the other way round.
  // After each line every device X names must have X's bits allowed (X) or
  // denied (-X); when an exception wider than X decides otherwise, the write
  // fails with EINVAL. Blank lines are ignored. EINVAL for a malformed line
  // (type not a, b or c; major or minor neither decimal u32 nor `*`; access
  // empty, repeated or not of r, w, m; anything after the access), ENOSPC
  // past kMaxDeviceExceptions.
  Result<DeviceRules> apply(std::string_view lines) const;

  // The listing, one entry a line, each ending in "\n" (empty in deny-all
  // mode with no exception). Exceptions are listed in a fixed order (block
  // before character, then by major and minor, numbers before `*`).
  std::string format() const;

  // The access bits allowed on a device (a subset of kDeviceAllAccess).
  std::uint8_t allowed(DeviceType type, std::uint32_t major, std::uint32_t minor) const;
  // Whether a request for `access` (kDevice* bits, maybe none) is allowed.
  bool allows(DeviceType type, std::uint32_t major, std::uint32_t minor, std::uint8_t access) const;

  // True when every access these rules allow the parent's allow too, for
  // every device: exact, wildcards and exceptions included.
  bool within(const DeviceRules& parent) const;

  // allow-all with no exception: nothing to enforce.
  bool allows_everything() const { return default_allow_ && exceptions_.empty(); }
  bool default_allow() const { return default_allow_; }
  const std::vector<DeviceException>& exceptions() const { return exceptions_; }

  bool operator==(const DeviceRules&) const = default;

 private:
  // One line of apply(): `pattern` nullopt for `a`. Leaves the rules
  // half-edited on failure (apply() works on a copy).
  Status edit(bool allow, const std::optional<DeviceException>& pattern);

  bool default_allow_ = false;
  std::vector<DeviceException> exceptions_;  // in format()'s order, one per pattern
};

}  // namespace containerfs::kernel
