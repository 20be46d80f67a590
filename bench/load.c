/* load.c: a steady partial load on one core, for bench/uneven.sh: busy BUSY_MS of every
 * BUSY_MS + IDLE_MS milliseconds, until killed. Pin it with taskset.
 *   load BUSY_MS IDLE_MS */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

int main(int argc, char **argv)
{
    double busy = argc > 2 ? atof(argv[1]) * 1e-3 : -1, idle = argc > 2 ? atof(argv[2]) * 1e-3 : -1;
    if (busy <= 0 || idle < 0 || idle >= 1) {
        fprintf(stderr, "usage: load BUSY_MS IDLE_MS (IDLE_MS < 1000)\n");
        return 1;
    }
    volatile double x = 0;
    struct timespec rest = {0, (long)(idle * 1e9)};
    for (;;) {
        double t0 = now();
        while (now() - t0 < busy) x += 1;
        nanosleep(&rest, NULL);
    }
}
