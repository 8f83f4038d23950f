// A container's console, reached through its init (console_layout.hpp): the
// daemon borrows the init's descriptors with pidfd_getfd(2) for the length
// of one operation and keeps none, so it needs no descriptor per container
// and a restarted daemon finds the console, and its output, as it was.
//
// Every function takes a pidfd of the init. ESRCH: the init is gone.
#pragma once

#include <chrono>
#include <cstdint>
#include <string_view>

#include "containerfs/kernel/console_ring.hpp"
#include "containerfs/util/fd.hpp"
#include "containerfs/util/result.hpp"

namespace containerfs::kernel {

// Has the init make its console unless it has one: signals it and waits
// (at most `bound`) for the answer. The init's errno if it could not make
// one (no /dev/ptmx in its root: ENOENT, a device filter: EPERM, ...),
// ETIMEDOUT if it did not answer (a frozen init does not).
Status request_console(int init_pidfd, std::chrono::milliseconds bound);

// Whether the init has a console now.
Result<bool> has_console(int init_pidfd);

// What the console has kept; empty (first 0) if it has none.
Result<ConsoleOutput> read_console(int init_pidfd);

// The count of bytes written to the console so far (0 if it has none).
Result<std::uint64_t> console_written(int init_pidfd);

// Types `input` on the console (as a keyboard would: the terminal echoes it
// and hands it to the reading program). Waits at most `bound` for the
// terminal to take it; returns how much it took (EAGAIN if nothing).
// ENXIO if there is no console.
Result<std::size_t> type_on_console(int init_pidfd, std::string_view input, std::chrono::milliseconds bound);

// A new descriptor of the console's terminal (the slave side, opened
// through the master, whatever devpts it lives in), for a program's stdio.
// ENXIO if there is no console.
Result<UniqueFd> open_console_terminal(int init_pidfd);

// The console's eventfd (the init adds 1 after each append), emptied, for
// a poller to wait on. ENXIO if there is no console.
Result<UniqueFd> console_event_fd(int init_pidfd);

}  // namespace containerfs::kernel
