// containerfs::state::decode_origins / encode_origins: the xattr
// trusted.containerfs.origins of the daemon's cgroup directory.
// Properties:
//  - decode never crashes; it fails with EINVAL only;
//  - encode(decode(x)) is x itself (the format has one spelling);
//  - a list built from the input survives encode then decode, less the
//    entries encode leaves out (pid <= 0, a path not absolute or with a
//    newline or NUL).
#include <fuzzer/FuzzedDataProvider.h>

#include <cstdint>
#include <string>
#include <vector>

#include "common.hpp"
#include "containerfs/state/origins.hpp"

namespace st = containerfs::state;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  if (auto r = st::decode_origins(text)) {
    FUZZ_CHECK(st::encode_origins(*r) == text);
  } else {
    FUZZ_CHECK(r.error() == EINVAL);
  }

  FuzzedDataProvider in(data, size);
  std::vector<st::Origin> list, kept;
  while (in.remaining_bytes() > 0 && list.size() < 64) {
    st::Origin o;
    o.pid = in.ConsumeIntegral<pid_t>();
    o.start = in.ConsumeIntegral<unsigned long long>();
    o.cgroup = in.ConsumeRandomLengthString(64);
    const bool keep = o.pid > 0 && o.cgroup.starts_with('/') &&
                      o.cgroup.find('\n') == std::string::npos && o.cgroup.find('\0') == std::string::npos;
    if (keep) kept.push_back(o);
    list.push_back(std::move(o));
  }
  auto back = st::decode_origins(st::encode_origins(list));
  FUZZ_CHECK(back.has_value());
  FUZZ_CHECK(*back == kept);
  return 0;
}
