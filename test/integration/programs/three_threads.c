/* A process of three threads waiting in pause(), the second one set apart:
 *   three_threads seccomp   the second thread has a seccomp filter of its own
 *                           (no TSYNC) that answers setns with EPERM
 *   three_threads nobody    the second thread changed its own credentials to
 *                           uid and gid 65534 (raw system calls: glibc's
 *                           setresuid would change every thread)
 * Says "ready TID" (the second thread's id) once set up. */
#define _GNU_SOURCE
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

static const char *how;
static int ready[2];

static void set_apart(void) {
    if (strcmp(how, "seccomp") == 0) {
        struct sock_filter deny[] = {
            BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
            BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_setns, 0, 1),
            BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | 1),
            BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        };
        struct sock_fprog prog = {sizeof deny / sizeof deny[0], deny};
        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ||
            syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) != 0)
            exit(2);
    } else if (syscall(SYS_setresgid, 65534, 65534, 65534) != 0 ||
               syscall(SYS_setresuid, 65534, 65534, 65534) != 0) {
        exit(3);
    }
}

static void *second(void *arg) {
    set_apart();
    pid_t tid = (pid_t)syscall(SYS_gettid);
    if (write(ready[1], &tid, sizeof tid) != sizeof tid) exit(4);
    for (;;) pause();
    return arg;
}

static void *third(void *arg) {
    for (;;) pause();
    return arg;
}

int main(int argc, char **argv) {
    if (argc != 2) return 1;
    how = argv[1];
    pthread_t t;
    pid_t tid;
    if (pipe(ready) != 0 || pthread_create(&t, NULL, second, NULL) != 0) return 5;
    if (read(ready[0], &tid, sizeof tid) != sizeof tid) return 6;
    if (pthread_create(&t, NULL, third, NULL) != 0) return 7;
    printf("ready %d\n", (int)tid);
    fflush(stdout);
    for (;;) pause();
}
