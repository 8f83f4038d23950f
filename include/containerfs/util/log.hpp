// Daemon log: stderr in the foreground, syslog otherwise. Every refusal is
// logged with its reason.
#pragma once

#include <string>
#include <string_view>

#include <fmt/format.h>

namespace containerfs::log {

enum class Level { debug, info, warning, error };

void to_syslog(bool enabled);
void set_debug(bool enabled);
void write(Level level, std::string_view message);

template <typename... Args>
void info(fmt::format_string<Args...> f, Args&&... args) {
  write(Level::info, fmt::format(f, std::forward<Args>(args)...));
}
template <typename... Args>
void warn(fmt::format_string<Args...> f, Args&&... args) {
  write(Level::warning, fmt::format(f, std::forward<Args>(args)...));
}
template <typename... Args>
void error(fmt::format_string<Args...> f, Args&&... args) {
  write(Level::error, fmt::format(f, std::forward<Args>(args)...));
}
template <typename... Args>
void debug(fmt::format_string<Args...> f, Args&&... args) {
  write(Level::debug, fmt::format(f, std::forward<Args>(args)...));
}

// At most the first 64 bytes of user-supplied text, for a log line: a huge
// write must not become a huge log line.
inline std::string_view excerpt(std::string_view text) { return text.substr(0, 64); }

// An errno for a log line, by its name and text: "EBUSY (Device or resource
// busy)"; a number the C library does not know stays a number.
std::string errno_text(int err);
// Its name alone ("EBUSY"), or the number.
std::string errno_name(int err);

// Logs a refused request and returns its errno, for `return refuse(...)`:
// "refused (EBUSY): rmdir web: ...".
template <typename... Args>
int refuse(int err, fmt::format_string<Args...> f, Args&&... args) {
  write(Level::info, fmt::format("refused ({}): {}", errno_name(err), fmt::format(f, std::forward<Args>(args)...)));
  return err;
}

}  // namespace containerfs::log
