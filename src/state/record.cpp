#include "containerfs/state/record.hpp"

#include <fmt/format.h>

#include "containerfs/util/text.hpp"

namespace containerfs::state {

namespace {

constexpr std::string_view kMagic = "containerfs-record 1";

// Names and links may hold any byte but NUL: escape the separators.
std::string escape(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c == '\\') out += "\\\\";
    else if (c == '\n') out += "\\n";
    else if (c == ' ') out += "\\s";
    else out.push_back(c);
  }
  return out;
}

Result<std::string> unescape(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '\\') {
      out.push_back(s[i]);
      continue;
    }
    if (++i == s.size()) return fail(EINVAL);
    switch (s[i]) {
      case '\\': out.push_back('\\'); break;
      case 'n': out.push_back('\n'); break;
      case 's': out.push_back(' '); break;
      default: return fail(EINVAL);
    }
  }
  return out;
}

using Origin = NsRecord::Origin;

std::string_view origin_name(Origin o) {
  switch (o) {
    case Origin::own: return "own";
    case Origin::shared: return "shared";
    case Origin::adopted: return "adopted";
  }
  return "own";
}

Result<Origin> origin_of(std::string_view s) {
  for (auto o : {Origin::own, Origin::shared, Origin::adopted})
    if (origin_name(o) == s) return o;
  return fail(EINVAL);
}

}  // namespace

std::string encode_record(const ContainerRecord& r) {
  std::string out = fmt::format("{}\nname {}\ninit {} {}\n", kMagic, escape(r.name), r.init_pid,
                                r.init_start);
  if (r.owner_uid != 0 || r.owner_gid != 0) out += fmt::format("owner {} {}\n", r.owner_uid, r.owner_gid);
  if (!r.time_offsets.empty()) out += fmt::format("timens {}\n", escape(r.time_offsets));
  if (!r.root.empty()) out += fmt::format("root {}\n", escape(r.root));
  // An empty listing (nothing allowed) is kept too: "devices" alone.
  if (r.devices) out += r.devices->empty() ? "devices\n" : fmt::format("devices {}\n", escape(*r.devices));
  for (auto kind : kernel::kAllNsKinds) {
    auto it = r.ns.find(kind);
    if (it == r.ns.end()) continue;
    const auto& slot = it->second;
    out += fmt::format("ns {} {}", kernel::ns_file_name(kind), origin_name(slot.origin));
    if (!slot.link.empty()) out += fmt::format(" {}", escape(slot.link));
    out += '\n';
  }
  out += encode_links(r.links);
  return out;
}

std::string encode_links(const std::vector<std::pair<std::string, std::string>>& links) {
  std::string out;
  for (const auto& [name, target] : links) out += fmt::format("link {} {}\n", escape(name), escape(target));
  return out;
}

namespace {

// "link NAME TARGET" (words already split): appended to `links`.
Status decode_link(const std::vector<std::string_view>& w,
                   std::vector<std::pair<std::string, std::string>>& links) {
  if (w.size() != 3 || w[0] != "link") return fail(EINVAL);
  auto name = unescape(w[1]);
  auto target = unescape(w[2]);
  if (!name || !target || name->empty() || target->empty()) return fail(EINVAL);
  for (const auto& [n, t] : links)
    if (n == *name) return fail(EINVAL);
  links.emplace_back(std::move(*name), std::move(*target));
  return {};
}

}  // namespace

Result<std::vector<std::pair<std::string, std::string>>> decode_links(std::string_view text) {
  std::vector<std::pair<std::string, std::string>> links;
  for (auto line : Lines(text)) {
    if (auto ok = decode_link(fields(line), links); !ok) return fail(ok.error());
  }
  return links;
}

Result<ContainerRecord> decode_record(std::string_view text) {
  ContainerRecord r;
  bool magic = false, name = false, init = false, owner = false;
  for (auto line : Lines(text)) {
    if (!magic) {
      if (line != kMagic) return fail(EINVAL);
      magic = true;
      continue;
    }
    auto w = fields(line);
    if (w[0] == "name" && w.size() == 2 && !name) {
      auto n = unescape(w[1]);
      if (!n || n->empty()) return fail(EINVAL);
      r.name = *n;
      name = true;
    } else if (w[0] == "init" && w.size() == 3 && !init) {
      auto pid = whole_number<pid_t>(w[1]);
      auto start = whole_number<unsigned long long>(w[2]);
      if (!pid || !start || *pid < 0) return fail(EINVAL);
      r.init_pid = *pid;
      r.init_start = *start;
      init = true;
    } else if (w[0] == "owner" && w.size() == 3 && !owner) {
      auto uid = whole_number<uid_t>(w[1]);
      auto gid = whole_number<gid_t>(w[2]);
      if (!uid || !gid) return fail(EINVAL);
      r.owner_uid = *uid;
      r.owner_gid = *gid;
      owner = true;
    } else if (w[0] == "timens" && w.size() == 2 && r.time_offsets.empty()) {
      auto text = unescape(w[1]);
      if (!text || text->empty()) return fail(EINVAL);
      r.time_offsets = *text;
    } else if (w[0] == "root" && w.size() == 2 && r.root.empty()) {
      auto root = unescape(w[1]);
      if (!root || root->empty() || root->front() != '/') return fail(EINVAL);
      r.root = *root;
    } else if (w[0] == "devices" && w.size() <= 2 && !r.devices) {
      auto listing = w.size() == 2 ? unescape(w[1]) : Result<std::string>(std::string());
      if (!listing || (w.size() == 2 && listing->empty())) return fail(EINVAL);
      r.devices = *listing;
    } else if (w[0] == "link") {
      if (auto ok = decode_link(w, r.links); !ok) return fail(ok.error());
    } else if (w[0] == "ns" && (w.size() == 3 || w.size() == 4)) {
      auto kind = kernel::ns_kind_from_file_name(w[1]);
      auto origin = origin_of(w[2]);
      if (!kind || !origin || r.ns.contains(*kind)) return fail(EINVAL);
      auto& slot = r.ns[*kind];
      slot.origin = *origin;
      bool needs_link = *origin != Origin::own;
      if (needs_link != (w.size() == 4)) return fail(EINVAL);
      if (needs_link) {
        auto link = unescape(w[3]);
        if (!link || link->empty()) return fail(EINVAL);
        slot.link = *link;
      }
    } else {
      return fail(EINVAL);
    }
  }
  if (!magic || !name || !init) return fail(EINVAL);
  return r;
}

std::string cgroup_name_of(std::uint64_t id) { return fmt::format("c{}", id); }

Result<std::uint64_t> id_of_cgroup_name(std::string_view name) {
  if (name.size() < 2 || name[0] != 'c' || name[1] == '0') return fail(EINVAL);
  auto id = whole_number<std::uint64_t>(name.substr(1));
  if (!id) return fail(EINVAL);
  return *id;
}

}  // namespace containerfs::state
