/* Counts the expirations of a POSIX timer the way a program does: its
 * signal's handler adds 1 + si_overrun (the expirations merged into a
 * signal that was still pending).
 *   timer_counter SIGNAL PERIOD_NS
 * Says "ticking" once the timer runs; at a line on stdin, says "COUNTED
 * EXPIRED": the count, and the expirations the timer itself has had (the
 * index of its next one, read with the signal blocked right after one was
 * taken). Without a move losing any, the two are equal. */
#define _GNU_SOURCE
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static volatile long counted;

static void on_expiry(int sig, siginfo_t *si, void *ctx) {
    (void)sig;
    (void)ctx;
    counted += 1 + si->si_overrun;
}

static long long ns_of(struct timespec t) { return t.tv_sec * 1000000000LL + t.tv_nsec; }

int main(int argc, char **argv) {
    if (argc != 3) return 2;
    int sig = atoi(argv[1]);
    long long period = atoll(argv[2]);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_expiry;
    sa.sa_flags = SA_SIGINFO | SA_RESTART;
    if (sigaction(sig, &sa, NULL) != 0) return 3;
    struct sigevent ev;
    memset(&ev, 0, sizeof ev);
    ev.sigev_notify = SIGEV_SIGNAL;
    ev.sigev_signo = sig;
    timer_t timer;
    if (timer_create(CLOCK_MONOTONIC, &ev, &timer) != 0) return 4;
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    long long first = ns_of(now) + 5 * period;
    struct itimerspec every = {{period / 1000000000, period % 1000000000},
                               {first / 1000000000, first % 1000000000}};
    if (timer_settime(timer, TIMER_ABSTIME, &every, NULL) != 0) return 5;
    printf("ticking\n");
    fflush(stdout);
    char line[16];
    while (!fgets(line, sizeof line, stdin)) {
        if (feof(stdin)) return 6;
        clearerr(stdin);
    }
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, sig);
    sigprocmask(SIG_BLOCK, &set, NULL);
    siginfo_t si;
    struct timespec bound = {2, 0};
    if (sigtimedwait(&set, &si, &bound) != sig) return 7;
    long total = counted + 1 + si.si_overrun;
    struct itimerspec left;
    timer_gettime(timer, &left);
    clock_gettime(CLOCK_MONOTONIC, &now);
    printf("%ld %lld\n", total, llround((double)(ns_of(now) + ns_of(left.it_value) - first) / (double)period));
    fflush(stdout);
    for (;;) pause();
}
