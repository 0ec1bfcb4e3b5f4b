/* SPDX-License-Identifier: Apache-2.0 OR MIT */
/*
 * What a request costs when its uid holds many snapshots: p50/p99 of a
 * burst of cached 4 KiB snapshots on the library's kept connection, while
 * the process holds 1 and then 1,000 other snapshots, against a real
 * safe-mmapd. Prints the ratio; asserts nothing (the exact bound, probes per
 * request, is a unit test: daemon-account).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "macro.h"
#include "safe-mmap.h"

#define HELD_MAX 1000u
#define BURST 2000u

static int cmp_u64(const void *a, const void *b) {
        uint64_t x = *(const uint64_t *) a, y = *(const uint64_t *) b;

        return x < y ? -1 : x > y;
}

static int snapshot_path(const char *path, safe_mmap **ret) {
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);

        if (fd < 0)
                return -errno;
        return safe_mmap_snapshot_fd(fd, SAFE_MMAP_NO_FALLBACK, ret);
}

/* p50 and p99 of BURST cached requests for @hot. */
static int burst(const char *hot, uint64_t *ret_p50, uint64_t *ret_p99) {
        static uint64_t lat[BURST];

        for (unsigned i = 0; i < BURST; i++) {
                safe_mmap *m = NULL;
                uint64_t t = now_usec();
                int r = snapshot_path(hot, &m);

                if (r < 0)
                        return r;
                lat[i] = now_usec() - t;
                safe_mmap_free(m);
        }
        qsort(lat, BURST, sizeof(lat[0]), cmp_u64);
        *ret_p50 = lat[BURST / 2];
        *ret_p99 = lat[BURST * 99 / 100];
        return 0;
}

int main(void) {
        static safe_mmap *held[HELD_MAX];
        const unsigned steps[] = { 1, HELD_MAX };
        uint64_t p50[2], p99[2];
        unsigned n_held = 0;
        struct rlimit rl;
        char *hot;
        Harness h;
        int r;

        if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
                rl.rlim_cur = rl.rlim_max;
                (void) setrlimit(RLIMIT_NOFILE, &rl);
        }
        if (harness_setup(&h) < 0 || harness_start(&h, HARNESS_LISTEN, NULL) < 0) {
                fprintf(stderr, "cannot start safe-mmapd\n");
                return 1;
        }
        hot = harness_path(&h, "hot");
        if (harness_fill_file(hot, 0644, 'h', 4096) < 0)
                return 1;
        for (unsigned s = 0; s < ELEMENTSOF(steps); s++) {
                while (n_held < steps[s]) {
                        char name[32];
                        _cleanup_free_ char *path = NULL;

                        snprintf(name, sizeof(name), "held-%u", n_held);
                        path = harness_path(&h, name);
                        if (harness_fill_file(path, 0644, (uint8_t) n_held, 4096) < 0 ||
                            (r = snapshot_path(path, &held[n_held])) < 0) {
                                fprintf(stderr, "cannot hold snapshot %u\n", n_held);
                                return 1;
                        }
                        n_held++;
                }
                r = burst(hot, &p50[s], &p99[s]);
                if (r < 0) {
                        fprintf(stderr, "burst: %s\n", strerror(-r));
                        return 1;
                }
                printf("%4u snapshots held: %u cached 4 KiB requests, p50 %llu us, p99 %llu us\n", n_held, BURST,
                       (unsigned long long) p50[s], (unsigned long long) p99[s]);
        }
        printf("p99 with %u held / p99 with 1 held: %.2fx (goal: <= 2x)\n", HELD_MAX,
               p99[0] ? (double) p99[1] / (double) p99[0] : 0.0);
        for (unsigned i = 0; i < n_held; i++)
                safe_mmap_free(held[i]);
        free(hot);
        (void) harness_finish(&h);
        return 0;
}
