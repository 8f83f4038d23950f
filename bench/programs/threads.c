/* A C program of N threads (the main one included) that only wait:
 *   threads N
 * Says "ready" once all exist. Section 6 of bench/run moves it. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static void *wait_forever(void *arg) {
    for (;;) pause();
    return arg;
}

int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 1;
    for (int i = 1; i < n; i++) {
        pthread_t t;
        if (pthread_create(&t, NULL, wait_forever, NULL) != 0) return 1;
    }
    printf("ready\n");
    fflush(stdout);
    for (;;) pause();
}
