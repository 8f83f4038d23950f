#include "containerfs/util/log.hpp"

#include <syslog.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstring>

namespace containerfs::log {

namespace {
std::atomic<bool> g_syslog{false};
std::atomic<bool> g_debug{false};
}  // namespace

std::string errno_name(int err) {
  const char* name = ::strerrorname_np(err);
  return name ? std::string(name) : fmt::format("errno {}", err);
}

std::string errno_text(int err) {
  const char* name = ::strerrorname_np(err);
  if (!name) return fmt::format("errno {}", err);
  return fmt::format("{} ({})", name, ::strerrordesc_np(err));
}

void to_syslog(bool enabled) {
  if (enabled) ::openlog("containerfs", LOG_PID, LOG_DAEMON);
  g_syslog = enabled;
}

void set_debug(bool enabled) { g_debug = enabled; }

void write(Level level, std::string_view message) {
  if (level == Level::debug && !g_debug) return;
  if (g_syslog) {
    int prio = level == Level::error ? LOG_ERR : level == Level::warning ? LOG_WARNING : LOG_INFO;
    ::syslog(prio, "%.*s", static_cast<int>(message.size()), message.data());
    return;
  }
  const char* tag = level == Level::error     ? "error"
                    : level == Level::warning ? "warning"
                    : level == Level::debug   ? "debug"
                                              : "info";
  auto line = fmt::format("containerfs[{}]: {}: {}\n", ::getpid(), tag, message);
  (void)!::write(STDERR_FILENO, line.data(), line.size());
}

}  // namespace containerfs::log
