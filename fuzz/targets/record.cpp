// containerfs::state::decode_record / encode_record: the record kept as the
// xattr trusted.containerfs of every container's cgroup.
// Properties:
//  - decode never crashes; it fails with EINVAL only;
//  - encode(decode(x)) decodes to the same record (and encodes to the same
//    text again);
//  - a record built from the input (any bytes in names and links, within
//    what the model allows) survives encode then decode unchanged.
#include <fuzzer/FuzzedDataProvider.h>

#include <cstdint>
#include <string>

#include "common.hpp"
#include "containerfs/state/record.hpp"

namespace st = containerfs::state;
namespace kn = containerfs::kernel;
using Origin = st::NsRecord::Origin;

namespace {

void check_decoded(std::string_view text) {
  auto r = st::decode_record(text);
  if (!r) {
    FUZZ_CHECK(r.error() == EINVAL);
    return;
  }
  std::string enc = st::encode_record(*r);
  auto again = st::decode_record(enc);
  FUZZ_CHECK(again.has_value());
  FUZZ_CHECK(*again == *r);
  FUZZ_CHECK(st::encode_record(*again) == enc);
}

void check_built(FuzzedDataProvider& in) {
  st::ContainerRecord r;
  r.name = in.ConsumeRandomLengthString(300);
  if (r.name.empty()) r.name = "x";
  r.init_pid = in.ConsumeIntegralInRange<pid_t>(0, 1 << 22);
  r.init_start = in.ConsumeIntegral<unsigned long long>();
  if (in.ConsumeBool()) {
    r.owner_uid = in.ConsumeIntegral<uid_t>();
    r.owner_gid = in.ConsumeIntegral<gid_t>();
  }
  if (in.ConsumeBool()) r.time_offsets = in.ConsumeRandomLengthString(100);
  for (auto kind : kn::kAllNsKinds) {
    switch (in.ConsumeIntegralInRange<int>(0, 3)) {
      case 0: break;
      case 1: r.ns[kind] = {Origin::own, ""}; break;
      case 2:
      case 3: {
        auto& slot = r.ns[kind];
        slot.origin = in.ConsumeBool() ? Origin::shared : Origin::adopted;
        slot.link = in.ConsumeRandomLengthString(200);
        if (slot.link.empty()) slot.link = "../a/uts";
        break;
      }
    }
  }
  std::string enc = st::encode_record(r);
  auto back = st::decode_record(enc);
  if (!back) {
    std::fprintf(stderr, "encoded record does not decode (errno %d):\n%s\n", back.error(),
                 enc.c_str());
    std::abort();
  }
  FUZZ_CHECK(*back == r);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  check_decoded(std::string_view(reinterpret_cast<const char*>(data), size));
  FuzzedDataProvider in(data, size);
  check_built(in);
  // cgroup names: "c17" <-> 17
  std::string_view text(reinterpret_cast<const char*>(data), size > 24 ? 24 : size);
  if (auto id = st::id_of_cgroup_name(text)) FUZZ_CHECK(st::cgroup_name_of(*id) == text);
  return 0;
}
