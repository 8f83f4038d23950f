// A container's console as its init holds it: the fixed descriptor numbers
// and the layout of the output ring, shared by the init (which makes and
// fills them) and the daemon (which borrows them with pidfd_getfd(2) for one
// operation at a time, keeping none).
//
// The init makes the console when asked with kConsoleRequestSignal:
//   kConsoleMasterFd  the pseudo-terminal's master (O_NONBLOCK)
//   kConsoleSlaveFd   one slave descriptor the init keeps open, so that the
//                     master never reads a hangup and programs on the
//                     console never get SIGHUP, whoever comes and goes
//   kConsoleEventFd   an eventfd the init adds 1 to after each append
//   kConsoleRingFd    a memfd: a RingHeader, then the data (installed last:
//                     once it is there, so are the others, or `error` says
//                     why not)
// and from then on drains the master into the ring, overwriting the oldest
// bytes, so that writers on the console never block.
//
// Only constants and a plain struct: the init is built without a C library.
#pragma once

#include <csignal>

namespace containerfs::kernel {

inline constexpr int kConsoleMasterFd = 10;
inline constexpr int kConsoleSlaveFd = 11;
inline constexpr int kConsoleEventFd = 12;
inline constexpr int kConsoleRingFd = 13;

// Asks the init for its console (again, if making it failed before).
inline constexpr int kConsoleRequestSignal = SIGUSR1;

inline constexpr unsigned long long kConsoleRingMagic = 0x31676e6972736663ULL;  // "cfsring1"
// The init moves output into the ring this much at a time at most.
inline constexpr unsigned long kConsoleDrainChunk = 4096;
// Bytes of output kept: the last 64 KiB at least, also while a chunk is
// being written over the oldest bytes.
inline constexpr unsigned long kConsoleRingCapacity = 64 * 1024 + kConsoleDrainChunk;
// The data starts a page after the header.
inline constexpr unsigned long kConsoleRingDataOffset = 4096;
inline constexpr unsigned long kConsoleRingFileSize = kConsoleRingDataOffset + kConsoleRingCapacity;

// Byte N of the output (N counted from the console's start) lies at data
// offset N % capacity while N >= written - capacity. The init raises
// `reserved` before it writes into the data and `written` after, so a
// reader that copies [written - capacity, written) and then reads
// `reserved` knows which of the copied bytes may have been overwritten
// meanwhile: those below reserved - capacity.
struct ConsoleRingHeader {
  unsigned long long magic;
  unsigned long long capacity;
  unsigned long long written;   // bytes of output so far
  unsigned long long reserved;  // >= written: how far the init may be writing
  unsigned int ready;           // 1 once the terminal exists
  int error;                    // errno of the last failed attempt to make it (0: none)
  unsigned int attempts;        // requests the init has handled
  unsigned int pty_number;      // N of /dev/pts/N (in the init's devpts)
};

}  // namespace containerfs::kernel
