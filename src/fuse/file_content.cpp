// What reading a container file returns, and what writing one does.
#include <fmt/format.h>

#include "containerfs/fuse/filesystem.hpp"
#include "containerfs/model/controller_files.hpp"
#include "containerfs/kernel/process.hpp"
#include "containerfs/util/file_io.hpp"
#include "containerfs/util/log.hpp"

namespace containerfs::fuse {

using model::FileKind;

bool is_readable(FileKind kind) { return kind != FileKind::kill && kind != FileKind::run; }

bool is_writable(FileKind kind) {
  if (model::is_controller_file(kind)) return true;  // the kernel's mode decides
  switch (kind) {
    case FileKind::tasks:
    case FileKind::hostname:
    case FileKind::uid_map:
    case FileKind::gid_map:
    case FileKind::freeze:
    case FileKind::kill:
    case FileKind::timens_offsets:
    case FileKind::console:
    case FileKind::run:
    case FileKind::devices: return true;
    default: return false;
  }
}

namespace {

Result<std::string> pid_lines(const std::vector<pid_t>& pids, pid_t reader) {
  std::string out;
  for (pid_t pid : pids) {
    auto seen = kernel::pid_as_seen_by(pid, reader);
    if (!seen || !*seen) continue;  // exited meanwhile, or invisible to the reader
    out += fmt::format("{}\n", **seen);
  }
  return out;
}

// "1\n" -> true; anything else than 0 or 1 -> EINVAL.
Result<bool> parse_bool(std::string_view data) {
  while (!data.empty() && (data.back() == '\n' || data.back() == ' ')) data.remove_suffix(1);
  if (data == "1") return true;
  if (data == "0") return false;
  return fail(EINVAL);
}

}  // namespace

Result<std::string> render_file(Filesystem& fs, Node node, pid_t reader) {
  auto c = existing(fs, node);
  if (!c) return fail(c.error());
  if (model::is_controller_file(node.kind))
    return fs.containers->read_cgroup_file(node.id, model::controller_file_name(node.kind));
  switch (node.kind) {
    case FileKind::tasks: {
      auto pids = fs.containers->members(node.id);
      if (!pids) return fail(pids.error());
      return pid_lines(*pids, reader);
    }
    case FileKind::init: return pid_lines({c->init_pid}, reader);
    case FileKind::hostname: {
      auto name = fs.containers->hostname(node.id);
      if (!name) return fail(name.error());
      return *name + "\n";
    }
    case FileKind::uid_map: return read_file(fmt::format("/proc/{}/uid_map", c->init_pid));
    case FileKind::gid_map: return read_file(fmt::format("/proc/{}/gid_map", c->init_pid));
    case FileKind::freeze: return fs.containers->read_cgroup_file(node.id, "cgroup.freeze");
    case FileKind::timens_offsets: return read_file(fmt::format("/proc/{}/timens_offsets", c->init_pid));
    case FileKind::events: return fs.containers->events(node.id);
    case FileKind::devices: return fs.containers->devices(node.id);
    default: return fail(EINVAL);
  }
}

Result<size_t> write_file(Filesystem& fs, fuse_req_t req, Node node, std::string_view data) {
  auto c = existing(fs, node);
  if (!c) return fail(c.error());
  if (model::is_controller_file(node.kind)) {
    auto name = model::controller_file_name(node.kind);
    const fuse_ctx* ctx = fuse_req_ctx(req);
    if (auto ok = fs.containers->write_cgroup_file(node.id, name, data, {ctx->uid, ctx->gid}); !ok)
      return fail(log::refuse(ok.error(), "{} of {}: the kernel refused it", name, c->name));
    return data.size();
  }
  switch (node.kind) {
    case FileKind::hostname: {
      if (auto ok = fs.containers->set_hostname(node.id, data); !ok)
        return fail(log::refuse(ok.error(), "hostname of {}: not one line of at most 64 bytes, or refused",
                                c->name));
      return data.size();
    }
    case FileKind::uid_map:
    case FileKind::gid_map: {
      const fuse_ctx* ctx = fuse_req_ctx(req);
      if (auto ok = fs.containers->write_id_map(node.id, node.kind, data, {ctx->uid, ctx->gid}); !ok)
        return fail(log::refuse(ok.error(), "{} of {}: the kernel refused it",
                                model::file_name(node.kind), c->name));
      return data.size();
    }
    case FileKind::freeze: {
      auto on = parse_bool(data);
      if (!on) return fail(log::refuse(EINVAL, "freeze of {}: write 0 or 1", c->name));
      if (auto ok = fs.containers->set_frozen(node.id, *on); !ok)
        return fail(log::refuse(ok.error(), "freeze of {}: state not reached", c->name));
      return data.size();
    }
    case FileKind::timens_offsets: {
      if (auto ok = fs.containers->set_time_offsets(node.id, data); !ok)
        return fail(log::refuse(ok.error(), "timens_offsets of {}: not taken", c->name));
      return data.size();
    }
    case FileKind::kill: {
      auto on = parse_bool(data);
      if (!on || !*on) return fail(log::refuse(EINVAL, "kill of {}: write 1", c->name));
      const fuse_ctx* ctx = fuse_req_ctx(req);
      if (auto ok = fs.containers->kill_members(node.id, {ctx->uid, ctx->gid}); !ok) return fail(ok.error());
      return data.size();
    }
    case FileKind::console: return fs.containers->console_input(node.id, data);
    case FileKind::run: {
      const fuse_ctx* ctx = fuse_req_ctx(req);
      if (auto ok = fs.containers->run(node.id, data, {ctx->uid, ctx->gid}); !ok) return fail(ok.error());
      return data.size();
    }
    case FileKind::devices: {
      const fuse_ctx* ctx = fuse_req_ctx(req);
      if (auto ok = fs.containers->write_devices(node.id, data, {ctx->uid, ctx->gid}); !ok) return fail(ok.error());
      return data.size();
    }
    default: return fail(EACCES);
  }
}

}  // namespace containerfs::fuse
