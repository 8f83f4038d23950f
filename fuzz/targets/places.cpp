// containerfs::state::decode_places / encode_places: the file `places` of
// the daemon's state directory.
// Properties:
//  - decode never crashes; it fails with EINVAL only;
//  - encode(decode(x)) is x itself (the format has one spelling);
//  - a list built from the input (any bytes in its paths) survives encode
//    then decode, less the entries encode leaves out (pid <= 0, a path not
//    absolute or with a NUL).
#include <fuzzer/FuzzedDataProvider.h>

#include <cstdint>
#include <string>
#include <vector>

#include "common.hpp"
#include "containerfs/state/places.hpp"

namespace st = containerfs::state;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  if (auto r = st::decode_places(text)) {
    FUZZ_CHECK(st::encode_places(*r) == text);
  } else {
    FUZZ_CHECK(r.error() == EINVAL);
  }

  FuzzedDataProvider in(data, size);
  std::vector<st::KeptPlace> list, kept;
  auto keepable = [](const std::string& path) { return path.starts_with('/') && path.find('\0') == std::string::npos; };
  while (in.remaining_bytes() > 0 && list.size() < 32) {
    st::KeptPlace k;
    k.pid = in.ConsumeIntegral<pid_t>();
    k.start = in.ConsumeIntegral<unsigned long long>();
    for (auto* dir : {&k.place.cwd, &k.place.root}) {
      dir->dev = in.ConsumeIntegral<dev_t>();
      dir->ino = in.ConsumeIntegral<ino_t>();
      dir->path = in.ConsumeRandomLengthString(48);
    }
    if (k.pid > 0 && keepable(k.place.cwd.path) && keepable(k.place.root.path)) kept.push_back(k);
    list.push_back(std::move(k));
  }
  auto back = st::decode_places(st::encode_places(list));
  FUZZ_CHECK(back.has_value());
  FUZZ_CHECK(*back == kept);
  return 0;
}
