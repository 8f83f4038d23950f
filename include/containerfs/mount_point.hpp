// The daemon's mount point, checked before anything is made: it must exist,
// be a directory, and not be a containerfs mount already (a second daemon
// there would hide the first one's tree).
#pragma once

#include <expected>
#include <string>
#include <string_view>

namespace containerfs {

// The absolute, resolved mount point, or one line that says what is wrong
// with it ("/containers is already a containerfs mount"). `mountinfo` is
// the text of /proc/self/mountinfo.
std::expected<std::string, std::string> check_mount_point(const std::string& given,
                                                          std::string_view mountinfo);

// `path` made absolute against `cwd`, with ".", ".." and repeated or
// trailing slashes taken out, without looking at the file system.
std::string lexically_absolute(std::string_view cwd, std::string_view path);

}  // namespace containerfs
