// SPDX-License-Identifier: Apache-2.0
/*
 * burner.c - the workload of test_cgroup_burn.sh, compiled by that script with `cc` into a temp
 * dir (it is not part of the CMake build).
 *
 * Usage: burner CPU_MS MIB OUT_FILE
 * Waits for one line on stdin (the go-signal: the script first moves this process into the test
 * cgroups), then burns CPU until its own CPU time reaches CPU_MS (bounded by 30 s of wall time),
 * mallocs MIB mebibytes and writes every page so they stay resident, then writes
 * getrusage(RUSAGE_SELF) user+system seconds to OUT_FILE (atomically, through OUT_FILE.tmp), and
 * sleeps holding the memory until a signal ends it. Single-threaded.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

static double cpu_seconds(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: burner CPU_MS MIB OUT_FILE\n");
        return 2;
    }
    double cpu_s = strtod(argv[1], NULL) / 1000.0;
    size_t mib = strtoul(argv[2], NULL, 10);
    const char *out = argv[3];

    char line[64];
    if (fgets(line, sizeof(line), stdin) == NULL) {
        fprintf(stderr, "burner: no go-signal on stdin\n");
        return 1;
    }

    /* Burn: the volatile sink keeps the loop from being optimised away. */
    volatile unsigned long sink = 0;
    double wall0 = cpu_seconds(CLOCK_MONOTONIC);
    while (cpu_seconds(CLOCK_PROCESS_CPUTIME_ID) < cpu_s &&
           cpu_seconds(CLOCK_MONOTONIC) - wall0 < 30.0) {
        for (unsigned i = 0; i < 100000; i++) {
            sink += i * 2654435761UL;
        }
    }

    size_t n = mib << 20;
    unsigned char *mem = malloc(n);
    if (mem == NULL) {
        fprintf(stderr, "burner: malloc(%zu) failed\n", n);
        return 1;
    }
    memset(mem, 0xa5, n);

    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double used = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
                  (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;

    char tmp[4096];
    snprintf(tmp, sizeof(tmp), "%s.tmp", out);
    FILE *f = fopen(tmp, "w");
    if (f == NULL || fprintf(f, "%.6f\n", used) < 0 || fclose(f) != 0 || rename(tmp, out) != 0) {
        perror("burner: writing the result");
        return 1;
    }

    for (;;) {
        pause();
        /* Touch the memory again so it cannot be reclaimed as unused while we wait. */
        mem[sink % n] ^= 1;
    }
}
