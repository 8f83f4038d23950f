// The daemon <-> injector process messages (src/kernel/inject/wire.hpp):
// fds travel with a message, end of file and foreign messages are told apart.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../src/kernel/inject/wire.hpp"

using namespace containerfs;
using namespace containerfs::kernel::inject_wire;

namespace {

struct Pair {
  UniqueFd a, b;
  Pair() {
    int sv[2];
    REQUIRE(::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) == 0);
    a.reset(sv[0]);
    b.reset(sv[1]);
  }
};

ino_t inode_of(int fd) {
  struct stat st {};
  REQUIRE(::fstat(fd, &st) == 0);
  return st.st_ino;
}

}  // namespace

TEST_CASE("wire: a job and its descriptors arrive together", "[wire]") {
  Pair p;
  UniqueFd dir(::open("/", O_PATH | O_DIRECTORY | O_CLOEXEC));
  UniqueFd tmp(::open("/tmp", O_PATH | O_DIRECTORY | O_CLOEXEC));
  Job job;
  job.pid = 1234;
  job.ns_source_pid = 99;
  job.nstypes = 0x20000000;
  job.has_join = 1;
  REQUIRE(send_message(p.a.get(), &job, sizeof job, {dir.get(), tmp.get()}));

  Job got{};
  std::vector<UniqueFd> fds;
  auto r = receive_message(p.b.get(), &got, sizeof got, 1000, &fds);
  REQUIRE(r);
  CHECK(*r);
  CHECK(got.magic == kMagic);
  CHECK(got.pid == 1234);
  CHECK(got.ns_source_pid == 99);
  CHECK(got.nstypes == 0x20000000);
  REQUIRE(fds.size() == 2);
  CHECK(inode_of(fds[0].get()) == inode_of(dir.get()));
  CHECK(inode_of(fds[1].get()) == inode_of(tmp.get()));
  CHECK((::fcntl(fds[0].get(), F_GETFD) & FD_CLOEXEC) != 0);
}

TEST_CASE("wire: end of file, timeout and foreign messages", "[wire]") {
  Note note{};
  SECTION("nothing sent: ETIMEDOUT within the bound") {
    Pair p;
    auto r = receive_message(p.b.get(), &note, sizeof note, 20);
    REQUIRE(!r);
    CHECK(r.error() == ETIMEDOUT);
  }
  SECTION("the other end closed: false, not an error") {
    Pair p;
    p.a.reset();
    auto r = receive_message(p.b.get(), &note, sizeof note, 1000);
    REQUIRE(r);
    CHECK(!*r);
  }
  SECTION("a message of another size: EPROTO, and its descriptors are closed") {
    Pair p;
    char big[sizeof(Note) + 8] = {};
    UniqueFd dir(::open("/", O_PATH | O_DIRECTORY | O_CLOEXEC));
    REQUIRE(send_message(p.a.get(), big, sizeof big, {dir.get()}));
    std::vector<UniqueFd> fds;
    auto r = receive_message(p.b.get(), &note, sizeof note, 1000, &fds);
    REQUIRE(!r);
    CHECK(r.error() == EPROTO);
    CHECK(fds.empty());
    char small = 1;
    REQUIRE(send_message(p.a.get(), &small, 1));
    r = receive_message(p.b.get(), &note, sizeof note, 1000);
    REQUIRE(!r);
    CHECK(r.error() == EPROTO);
  }
  SECTION("sending to a closed peer: EPIPE, no SIGPIPE") {
    Pair p;
    p.b.reset();
    Note n{Kind::proceed, 0};
    auto r = send_message(p.a.get(), &n, sizeof n);
    REQUIRE(!r);
    CHECK(r.error() == EPIPE);
  }
  SECTION("more descriptors than a message carries: EINVAL") {
    Pair p;
    Note n{Kind::proceed, 0};
    auto r = send_message(p.a.get(), &n, sizeof n, {0, 0, 0, 0, 0});
    REQUIRE(!r);
    CHECK(r.error() == EINVAL);
  }
}
