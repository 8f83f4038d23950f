// containerfs::kernel::parse_ns_list: namespaces=LIST. Properties: no
// crash; EINVAL only; the mask has one CLONE_NEW* bit per listed name and
// writing it back as names parses to the same mask.
#include <sched.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "common.hpp"
#include "containerfs/kernel/namespaces.hpp"

namespace kn = containerfs::kernel;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto mask = kn::parse_ns_list(text);
  if (!mask) {
    FUZZ_CHECK(mask.error() == EINVAL);
    return 0;
  }
  std::string names;
  int rebuilt = 0;
  for (auto kind : kn::kAllNsKinds) {
    if (*mask & kn::ns_clone_flag(kind)) {
      rebuilt |= kn::ns_clone_flag(kind);
      if (!names.empty()) names += ",";
      names += kn::ns_file_name(kind);
    }
  }
  FUZZ_CHECK(rebuilt == *mask);
  if (!names.empty()) {
    auto again = kn::parse_ns_list(names);
    FUZZ_CHECK(again && *again == *mask);
  }
  for (auto kind : kn::kAllNsKinds) {
    auto back = kn::ns_kind_from_file_name(kn::ns_file_name(kind));
    FUZZ_CHECK(back && *back == kind);
  }
  return 0;
}
