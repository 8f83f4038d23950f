#include "containerfs/model/controller_files.hpp"

#include <array>
#include <mutex>
#include <unordered_map>
#include <vector>

namespace containerfs::model {

namespace {

constexpr std::array<std::string_view, 8> kPrefixes = {"memory.", "cpu.",   "pids.", "io.",
                                                       "hugetlb.", "cpuset.", "rdma.", "misc."};

struct Table {
  std::mutex mutex;
  std::unordered_map<std::string, int> index;
  std::vector<std::string> names;
};

Table& table() {
  static Table t;
  return t;
}

}  // namespace

bool is_controller_file_name(std::string_view name) {
  if (name.find('/') != std::string_view::npos) return false;
  for (auto p : kPrefixes)
    if (name.size() > p.size() && name.starts_with(p)) return true;
  return false;
}

std::optional<FileKind> controller_file_kind(std::string_view name) {
  if (!is_controller_file_name(name)) return std::nullopt;
  auto& t = table();
  std::lock_guard lock(t.mutex);
  auto it = t.index.find(std::string(name));
  if (it == t.index.end()) {
    if (t.names.size() >= static_cast<size_t>(kControllerFileSlots)) return std::nullopt;
    it = t.index.emplace(std::string(name), static_cast<int>(t.names.size())).first;
    t.names.emplace_back(name);
  }
  return static_cast<FileKind>(kControllerFileFirst + it->second);
}

std::vector<std::string> known_controller_file_names() {
  auto& t = table();
  std::lock_guard lock(t.mutex);
  return t.names;
}

std::string controller_file_name(FileKind kind) {
  if (!is_controller_file(kind)) return {};
  auto& t = table();
  std::lock_guard lock(t.mutex);
  size_t i = static_cast<size_t>(static_cast<int>(kind) - kControllerFileFirst);
  return i < t.names.size() ? t.names[i] : std::string();
}

}  // namespace containerfs::model
