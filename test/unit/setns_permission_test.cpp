// predict_setns: the kernel's setns capability and pid-namespace rules,
// applied to credentials and namespace trees built by hand.
#include <catch2/catch.hpp>

#include <linux/capability.h>
#include <sched.h>

#include "../../src/kernel/inject/setns_permission.hpp"

using namespace containerfs::kernel::inject_detail;

namespace {

constexpr ino_t kInitUser = 1, kUserU = 2, kUserV = 3, kOtherUser = 4;
constexpr ino_t kInitPid = 10, kChildPid = 11, kGrandchildPid = 12, kSiblingPid = 13;
constexpr std::uint64_t kAll = ~std::uint64_t{0};
constexpr std::uint64_t bit(int cap) { return std::uint64_t{1} << cap; }

// init <- U (owned by 1000) <- V (owned by 0 inside U); init <- other (owned by 2000)
NsTree users() {
  NsTree t;
  t.add(kInitUser, 0, 0);
  t.add(kUserU, kInitUser, 1000);
  t.add(kUserV, kUserU, 0);
  t.add(kOtherUser, kInitUser, 2000);
  return t;
}

NsTree pids() {
  NsTree t;
  t.add(kInitPid, 0);
  t.add(kChildPid, kInitPid);
  t.add(kGrandchildPid, kChildPid);
  t.add(kSiblingPid, kInitPid);
  return t;
}

Joining net(ino_t owner) { return Joining{CLONE_NEWNET, 0, owner}; }
Joining mnt(ino_t owner) { return Joining{CLONE_NEWNS, 0, owner}; }
Joining user(ino_t ns) { return Joining{CLONE_NEWUSER, ns, ns}; }
Joining pid(ino_t ns, ino_t owner = kInitUser) { return Joining{CLONE_NEWPID, ns, owner}; }

ThreadCreds root() { return ThreadCreds{kInitUser, 0, kAll, kInitPid}; }
ThreadCreds user1000() { return ThreadCreds{kInitUser, 1000, 0, kInitPid}; }

}  // namespace

TEST_CASE("root of the initial user namespace may join any namespace") {
  CHECK(predict_setns(users(), pids(), root(), {net(kInitUser), mnt(kUserU)}) == 0);
  CHECK(predict_setns(users(), pids(), root(), {user(kOtherUser), net(kOtherUser)}) == 0);
  // The user namespace is joined first: root of it has no capability over
  // namespaces owned above it.
  CHECK(predict_setns(users(), pids(), root(), {user(kOtherUser), net(kInitUser)}) == EPERM);
}

TEST_CASE("a process without CAP_SYS_ADMIN may not join root's namespaces") {
  CHECK(predict_setns(users(), pids(), user1000(), {net(kInitUser)}) == EPERM);
  // A setuid-stripped root (uid 0, no capabilities) neither.
  CHECK(predict_setns(users(), pids(), ThreadCreds{kInitUser, 0, 0, kInitPid}, {net(kInitUser)}) == EPERM);
}

TEST_CASE("the owner of a user namespace joins it first, then what it owns") {
  CHECK(predict_setns(users(), pids(), user1000(), {user(kUserU), net(kUserU), mnt(kUserU)}) == 0);
  // ... and what lies below it.
  CHECK(predict_setns(users(), pids(), user1000(), {user(kUserU), net(kUserV)}) == 0);
  // Without joining the user namespace, its capabilities over its own
  // user namespace (the initial one) are missing.
  CHECK(predict_setns(users(), pids(), user1000(), {net(kUserU)}) == EPERM);
  // Another user's user namespace: no.
  CHECK(predict_setns(users(), pids(), user1000(), {user(kOtherUser)}) == EPERM);
  // A namespace owned above the joined user namespace: no capability there.
  CHECK(predict_setns(users(), pids(), user1000(), {user(kUserU), net(kInitUser)}) == EPERM);
}

TEST_CASE("re-entering one's own user namespace is EINVAL") {
  CHECK(predict_setns(users(), pids(), root(), {user(kInitUser)}) == EINVAL);
  ThreadCreds inside{kUserU, 0, kAll, kChildPid};
  CHECK(predict_setns(users(), pids(), inside, {user(kUserU)}) == EINVAL);
}

TEST_CASE("joining a mount namespace also needs CAP_SYS_CHROOT") {
  ThreadCreds admin_only{kInitUser, 0, bit(CAP_SYS_ADMIN), kInitPid};
  CHECK(predict_setns(users(), pids(), admin_only, {net(kInitUser)}) == 0);
  CHECK(predict_setns(users(), pids(), admin_only, {mnt(kInitUser)}) == EPERM);
  ThreadCreds both{kInitUser, 0, bit(CAP_SYS_ADMIN) | bit(CAP_SYS_CHROOT), kInitPid};
  CHECK(predict_setns(users(), pids(), both, {mnt(kInitUser)}) == 0);
}

TEST_CASE("a pid namespace must be the active one or below it") {
  CHECK(predict_setns(users(), pids(), root(), {pid(kChildPid)}) == 0);
  CHECK(predict_setns(users(), pids(), root(), {pid(kGrandchildPid)}) == 0);
  CHECK(predict_setns(users(), pids(), root(), {pid(kInitPid)}) == 0);
  ThreadCreds born_inside{kInitUser, 0, kAll, kChildPid};
  CHECK(predict_setns(users(), pids(), born_inside, {pid(kGrandchildPid)}) == 0);
  CHECK(predict_setns(users(), pids(), born_inside, {pid(kInitPid)}) == EINVAL);
  CHECK(predict_setns(users(), pids(), born_inside, {pid(kSiblingPid)}) == EINVAL);
}

TEST_CASE("capabilities in a user namespace reach every namespace below it") {
  ThreadCreds in_u{kUserU, 0, kAll, kChildPid};
  CHECK(ns_capable(users(), in_u, kUserV, CAP_SYS_ADMIN));
  CHECK(ns_capable(users(), in_u, kUserU, CAP_SYS_ADMIN));
  CHECK_FALSE(ns_capable(users(), in_u, kInitUser, CAP_SYS_ADMIN));
  CHECK_FALSE(ns_capable(users(), in_u, kOtherUser, CAP_SYS_ADMIN));
  ThreadCreds no_caps_in_u{kUserU, 5, 0, kChildPid};
  CHECK_FALSE(ns_capable(users(), no_caps_in_u, kUserV, CAP_SYS_ADMIN));
  // V's owner (uid 0 of U's) gets all capabilities in V from its parent U.
  ThreadCreds owner_of_v{kUserU, 0, 0, kChildPid};
  CHECK(ns_capable(users(), owner_of_v, kUserV, CAP_SYS_ADMIN));
}
