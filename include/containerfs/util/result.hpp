// Errors travel as positive errno values inside Result<T>; FUSE handlers
// turn them into replies, nothing in between swallows them.
#pragma once

#include <cerrno>
#include <expected>

namespace containerfs {

template <typename T>
using Result = std::expected<T, int>;

// A Result carrying nothing but success or an errno.
using Status = std::expected<void, int>;

inline std::unexpected<int> fail(int err) { return std::unexpected<int>(err); }

// The errno of the last failed libc call, never 0.
inline std::unexpected<int> fail_errno() { return std::unexpected<int>(errno ? errno : EIO); }

}  // namespace containerfs
