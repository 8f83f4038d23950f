// containerfs::OptionParser: the -o options, fed one at a time as libfuse
// splits them at commas. Properties: no crash; EINVAL only; a namespaces=
// mask has CLONE_NEW* bits only.
#include <sched.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "common.hpp"
#include "containerfs/options.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  containerfs::Options options;
  containerfs::OptionParser parser(options);
  size_t pos = 0;
  while (pos <= text.size()) {
    auto comma = text.find(',', pos);
    if (comma == std::string_view::npos) comma = text.size();
    auto one = text.substr(pos, comma - pos);
    auto fed = parser.feed(one);
    if (!fed) FUZZ_CHECK(fed.error() == EINVAL);
    pos = comma + 1;
  }
  auto done = parser.finish();
  if (!done) FUZZ_CHECK(done.error() == EINVAL);
  constexpr int kAll = CLONE_NEWNET | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWPID | CLONE_NEWUSER |
                       CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWTIME;
  FUZZ_CHECK((options.namespaces & ~kAll) == 0);
  return 0;
}
