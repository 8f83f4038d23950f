// Mutexes the compiler can reason about: Clang's thread-safety analysis
// (-Wthread-safety) checks that what a mutex guards (GUARDED_BY) is only
// touched with it held, and that functions which need it (REQUIRES) are
// only called so. test/run-all runs that analysis over src/; with g++ the
// annotations compile to nothing.
#pragma once

#include <mutex>
#include <shared_mutex>

#if defined(__clang__)
#define CFS_TSA(x) __attribute__((x))
#else
#define CFS_TSA(x)
#endif

#define CAPABILITY(x) CFS_TSA(capability(x))
#define SCOPED_CAPABILITY CFS_TSA(scoped_lockable)
#define GUARDED_BY(x) CFS_TSA(guarded_by(x))
#define PT_GUARDED_BY(x) CFS_TSA(pt_guarded_by(x))
#define REQUIRES(...) CFS_TSA(requires_capability(__VA_ARGS__))
#define REQUIRES_SHARED(...) CFS_TSA(requires_shared_capability(__VA_ARGS__))
#define ACQUIRE(...) CFS_TSA(acquire_capability(__VA_ARGS__))
#define ACQUIRE_SHARED(...) CFS_TSA(acquire_shared_capability(__VA_ARGS__))
#define RELEASE(...) CFS_TSA(release_capability(__VA_ARGS__))
#define RELEASE_SHARED(...) CFS_TSA(release_shared_capability(__VA_ARGS__))
#define RELEASE_GENERIC(...) CFS_TSA(release_generic_capability(__VA_ARGS__))
#define EXCLUDES(...) CFS_TSA(locks_excluded(__VA_ARGS__))
#define NO_THREAD_SAFETY_ANALYSIS CFS_TSA(no_thread_safety_analysis)

namespace containerfs {

class CAPABILITY("mutex") Mutex {
 public:
  void lock() ACQUIRE() { m_.lock(); }
  void unlock() RELEASE() { m_.unlock(); }

 private:
  std::mutex m_;
};

class CAPABILITY("mutex") SharedMutex {
 public:
  void lock() ACQUIRE() { m_.lock(); }
  void unlock() RELEASE() { m_.unlock(); }
  void lock_shared() ACQUIRE_SHARED() { m_.lock_shared(); }
  void unlock_shared() RELEASE_SHARED() { m_.unlock_shared(); }

 private:
  std::shared_mutex m_;
};

// Exclusive hold of a Mutex or SharedMutex for a scope; unlock()/lock()
// let a function drop it across a wait and take it again.
template <typename M>
class SCOPED_CAPABILITY Lock {
 public:
  explicit Lock(M& m) ACQUIRE(m) : m_(m) { m_.lock(); }
  ~Lock() RELEASE() {
    if (held_) m_.unlock();
  }
  void unlock() RELEASE() {
    m_.unlock();
    held_ = false;
  }
  void lock() ACQUIRE() {
    m_.lock();
    held_ = true;
  }
  Lock(const Lock&) = delete;
  Lock& operator=(const Lock&) = delete;

 private:
  M& m_;
  bool held_ = true;
};

// Shared hold of a SharedMutex for a scope.
class SCOPED_CAPABILITY SharedLock {
 public:
  explicit SharedLock(SharedMutex& m) ACQUIRE_SHARED(m) : m_(m) { m_.lock_shared(); }
  ~SharedLock() RELEASE_GENERIC() { m_.unlock_shared(); }
  SharedLock(const SharedLock&) = delete;
  SharedLock& operator=(const SharedLock&) = delete;

 private:
  SharedMutex& m_;
};

}  // namespace containerfs
