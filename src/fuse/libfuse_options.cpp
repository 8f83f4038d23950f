#include "containerfs/fuse/libfuse_options.hpp"

#include <cstdarg>
#include <cstdio>
#include <cstdlib>

#include "containerfs/fuse/filesystem.hpp"

namespace containerfs::fuse {

namespace {

// What libfuse logged during one check, instead of printing it.
std::string captured;

void capture(enum fuse_log_level, const char* fmt, va_list ap) {
  char line[512];
  std::vsnprintf(line, sizeof line, fmt, ap);
  captured += line;
}

// libfuse's "fuse: unknown option(s): `-o x'\n" as "unknown option(s): `-o x'".
std::string complaint(std::string text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  if (auto nl = text.rfind('\n'); nl != std::string::npos) text.erase(0, nl + 1);
  if (text.starts_with("fuse: ")) text.erase(0, 6);
  return text.empty() ? std::string("refused") : text;
}

}  // namespace

std::optional<std::string> libfuse_refusal(std::string_view option) {
  fuse_args args = FUSE_ARGS_INIT(0, nullptr);
  std::string text(option);
  bool built = fuse_opt_add_arg(&args, "containerfs") == 0;
  if (text.starts_with('-')) {
    built = built && fuse_opt_add_arg(&args, text.c_str()) == 0;
  } else {
    char* group = nullptr;  // libfuse's own escaping of ',' and '\'
    built = built && fuse_opt_add_opt_escaped(&group, text.c_str()) == 0 &&
            fuse_opt_add_arg(&args, "-o") == 0 && fuse_opt_add_arg(&args, group) == 0;
    std::free(group);
  }
  if (!built) {
    fuse_opt_free_args(&args);
    return std::string("out of memory");
  }
  captured.clear();
  fuse_set_log_func(capture);
  // As the daemon does: the command-line options first, the session's
  // and the mount's after.
  fuse_cmdline_opts cmd{};
  bool accepted = fuse_parse_cmdline(&args, &cmd) == 0;
  std::free(cmd.mountpoint);
  if (accepted) {
    fuse_lowlevel_ops ops{};
    fuse_session* session = fuse_session_new(&args, &ops, sizeof ops, nullptr);
    accepted = session != nullptr;
    if (session) fuse_session_destroy(session);
  }
  fuse_set_log_func(nullptr);
  fuse_opt_free_args(&args);
  if (accepted) return std::nullopt;
  return complaint(std::move(captured));
}

}  // namespace containerfs::fuse
