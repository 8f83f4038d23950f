/* A process with an io_uring thread besides its main one, then waiting:
 *   io_uring_worker wrk   one request run asynchronously (IORING_OP_NOP with
 *                         IOSQE_ASYNC): its io-wq worker, iou-wrk-PID, stays
 *   io_uring_worker sqp   a ring with IORING_SETUP_SQPOLL: its poller,
 *                         iou-sqp-PID
 * Says "ready" once the ring works, "none ERRNO" (and waits) where io_uring
 * is not available. */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/io_uring.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(int argc, char **argv) {
    int sqpoll = argc > 1 && strcmp(argv[1], "sqp") == 0;
    struct io_uring_params p;
    memset(&p, 0, sizeof p);
    if (sqpoll) {
        p.flags = IORING_SETUP_SQPOLL;
        p.sq_thread_idle = 60000;
    }
    int fd = (int)syscall(__NR_io_uring_setup, 4, &p);
    if (fd < 0) {
        printf("none %d\n", errno);
        fflush(stdout);
        for (;;) pause();
    }
    if (!sqpoll) {
        size_t ring_size = p.sq_off.array + p.sq_entries * sizeof(unsigned);
        char *ring = mmap(NULL, ring_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd,
                          IORING_OFF_SQ_RING);
        struct io_uring_sqe *sqes = mmap(NULL, p.sq_entries * sizeof *sqes, PROT_READ | PROT_WRITE,
                                         MAP_SHARED | MAP_POPULATE, fd, IORING_OFF_SQES);
        if (ring == MAP_FAILED || sqes == MAP_FAILED) return 2;
        unsigned *tail = (unsigned *)(ring + p.sq_off.tail), *array = (unsigned *)(ring + p.sq_off.array);
        memset(&sqes[0], 0, sizeof sqes[0]);
        sqes[0].opcode = IORING_OP_NOP;
        sqes[0].flags = IOSQE_ASYNC;
        array[0] = 0;
        __atomic_store_n(tail, *tail + 1, __ATOMIC_RELEASE);
        if (syscall(__NR_io_uring_enter, fd, 1, 1, IORING_ENTER_GETEVENTS, NULL, 0) < 0) return 3;
    }
    printf("ready\n");
    fflush(stdout);
    for (;;) pause();
}
