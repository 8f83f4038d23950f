// containerfs::model::resolve_link_target: where `ln -s TARGET C/<ns>`
// points. Properties: an empty target is EINVAL, nothing else fails; a
// path outside the mount is absolute and normalized (no empty, "." or ".."
// components); a target inside names containers and a file without "." or
// ".." or empty names; resolving the outside path again gives itself.
#include <fuzzer/FuzzedDataProvider.h>

#include <cstdint>
#include <string>
#include <variant>
#include <vector>

#include "common.hpp"
#include "containerfs/model/link_target.hpp"

namespace md = containerfs::model;

namespace {

bool normal_component(const std::string& s) {
  return !s.empty() && s != "." && s != ".." && s.find('/') == std::string::npos;
}

bool normalized_absolute(const std::string& p) {
  if (p.empty() || p[0] != '/') return false;
  if (p == "/") return true;
  if (p.back() == '/') return false;
  size_t pos = 1;
  while (pos <= p.size()) {
    auto slash = p.find('/', pos);
    if (slash == std::string::npos) slash = p.size();
    if (!normal_component(p.substr(pos, slash - pos))) return false;
    pos = slash + 1;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzedDataProvider in(data, size);
  // The mount point is the daemon's canonical path: absolute, normalized.
  std::string mount;
  if (in.ConsumeBool()) {
    mount = "/containers";
  } else {
    for (int n = in.ConsumeIntegralInRange(0, 3); n > 0; --n) {
      auto part = in.ConsumeRandomLengthString(12);
      if (normal_component(part)) mount += "/" + part;
    }
    if (mount.empty()) mount = "/";
  }
  std::vector<std::string> path;
  for (int n = in.ConsumeIntegralInRange(0, 4); n > 0; --n) {
    auto name = in.ConsumeRandomLengthString(20);
    if (normal_component(name)) path.push_back(name);
  }
  std::string target = in.ConsumeRemainingBytesAsString();
  auto r = md::resolve_link_target(mount, path, target);
  if (target.empty()) {
    FUZZ_CHECK(!r && r.error() == EINVAL);
    return 0;
  }
  FUZZ_CHECK(r.has_value());
  if (auto* out = std::get_if<md::OutsideTarget>(&*r)) {
    FUZZ_CHECK(normalized_absolute(out->path));
    auto again = md::resolve_link_target(mount, path, out->path);
    FUZZ_CHECK(again && std::holds_alternative<md::OutsideTarget>(*again));
    FUZZ_CHECK(std::get<md::OutsideTarget>(*again).path == out->path);
  } else {
    const auto& t = std::get<md::TreeTarget>(*r);
    for (const auto& c : t.containers) FUZZ_CHECK(normal_component(c));
    FUZZ_CHECK(t.file.empty() ? t.containers.empty() : normal_component(t.file));
  }
  return 0;
}
