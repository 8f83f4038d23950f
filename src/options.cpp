#include "containerfs/options.hpp"

#include <sched.h>

#include <algorithm>
#include <array>
#include <vector>

#include <fmt/format.h>

#include "containerfs/kernel/namespaces.hpp"

namespace containerfs {

namespace {

constexpr std::array<std::string_view, 3> kOwnKeys = {"cgroup", "namespaces", "state"};

// Levenshtein distance, small strings only.
size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] != b[j - 1] ? 1 : 0)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

std::string valid_ns_names() {
  std::string names;
  for (auto kind : kernel::kAllNsKinds) {
    if (!names.empty()) names += ' ';
    names += kernel::ns_file_name(kind);
  }
  return names;
}

}  // namespace

int default_namespaces() {
  return CLONE_NEWNET | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWCGROUP;
}

std::optional<std::string> ns_list_problem(std::string_view list) {
  if (list.empty()) return std::nullopt;  // no namespace of their own
  std::vector<std::string_view> seen;
  while (true) {
    auto comma = list.find(',');
    auto item = list.substr(0, comma);
    if (item.empty()) return "an empty name in the list";
    if (!kernel::ns_kind_from_file_name(item)) {
      std::string hint;
      for (auto kind : kernel::kAllNsKinds)
        if (kernel::ns_proc_name(kind) == item) hint = fmt::format("did you mean '{}'? ", kernel::ns_file_name(kind));
      return fmt::format("unknown namespace '{}' ({}valid names: {})", item, hint, valid_ns_names());
    }
    if (std::find(seen.begin(), seen.end(), item) != seen.end())
      return fmt::format("'{}' is listed twice", item);
    seen.push_back(item);
    if (comma == std::string_view::npos) return std::nullopt;
    list.remove_prefix(comma + 1);
  }
}

std::string close_option_name(std::string_view key) {
  // Ours, and the libfuse options containerfs(8) and its examples name.
  constexpr std::array<std::string_view, 8> kKnown = {
      "cgroup=", "namespaces=", "state=", "allow_other", "default_permissions",
      "fsname=", "max_threads=", "max_idle_threads="};
  std::string best;
  size_t best_distance = 3;  // at most two edits away
  for (auto known : kKnown) {
    auto name = known.ends_with('=') ? known.substr(0, known.size() - 1) : known;
    size_t d = edit_distance(key, name);
    if (d < best_distance) {
      best_distance = d;
      best = std::string(known);
    }
  }
  return best;
}

std::unexpected<int> OptionParser::refuse(std::string problem) {
  if (problem_.empty()) problem_ = std::move(problem);
  return fail(EINVAL);
}

Result<bool> OptionParser::feed(std::string_view option) {
  bool bare = option.find('=') == std::string_view::npos && !option.starts_with('-');
  if (ns_list_ && bare) {
    // A name of the list, or a libfuse option after it; a word libfuse
    // does not take either is a bad name of the list ("namespaces=uts,net").
    if (kernel::ns_kind_from_file_name(option) || (libfuse_ && libfuse_(option))) {
      *ns_list_ += ',';
      *ns_list_ += option;
      return true;
    }
  }
  if (auto done = finish(); !done) return fail(done.error());
  auto eq = option.find('=');
  auto key = option.substr(0, eq);
  if (std::find(kOwnKeys.begin(), kOwnKeys.end(), key) == kOwnKeys.end()) {
    if (!libfuse_) return false;
    auto complaint = libfuse_(option);
    if (!complaint) return false;
    if (complaint->find("unknown option") == std::string::npos)
      return refuse(fmt::format("invalid option '{}' (libfuse: {})", option, *complaint));
    auto close = close_option_name(key);
    return refuse(close.empty()
                      ? fmt::format("unknown option '{}' (see containerfs --help)", option)
                      : fmt::format("unknown option '{}' (did you mean '{}'?)", option, close));
  }
  if (eq == std::string_view::npos)
    return refuse(fmt::format("option '{}' needs a value: {}={}", option, key,
                              key == "namespaces" ? "LIST" : "DIR"));
  auto value = option.substr(eq + 1);
  if (key == "namespaces") {
    std::string list(value);
    std::replace(list.begin(), list.end(), ':', ',');
    ns_list_ = list;
    return true;
  }
  if (value.empty() || value[0] != '/')
    return refuse(fmt::format("invalid option '{}': {}= takes an absolute path", option, key));
  while (value.size() > 1 && value.back() == '/') value.remove_suffix(1);
  (key == "cgroup" ? options_.cgroup : options_.state) = std::string(value);
  return true;
}

Status OptionParser::finish() {
  if (!ns_list_) return {};
  auto list = std::move(*ns_list_);
  ns_list_.reset();
  if (auto problem = ns_list_problem(list))
    return refuse(fmt::format("invalid option 'namespaces={}': {}", list, *problem));
  auto mask = kernel::parse_ns_list(list);
  if (!mask) return refuse(fmt::format("invalid option 'namespaces={}'", list));
  options_.namespaces = *mask;
  return {};
}

}  // namespace containerfs
