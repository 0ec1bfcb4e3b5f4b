/* SPDX-License-Identifier: Apache-2.0 OR MIT */
/*
 * The goals about small files and many clients: P2 (4 KiB snapshots against
 * a bare fd-passing server and against the local snapshot), P5 (verifying
 * and mapping a descriptor against a bare fstat() + mmap()) and the scale
 * line (a burst of concurrent clients).
 */

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bare-server.h"
#include "bench.h"
#include "macro.h"
#include "safe-mmap.h"

static const char *const server_names[_SERVER_MAX] = {
        [SERVER_DAEMON] = "safe-mmapd",
        [SERVER_BARE] = "bare fd-passing server",
        [SERVER_LOCAL] = "local snapshot (no daemon)",
};

typedef struct SmallCase {
        Server server;
        bool cold;
        double seconds;
} SmallCase;

/*
 * Requests for a while, every client on its own descriptor. Cold: each
 * process changes its own file before every request, for every server
 * alike, so that the change costs all three the same.
 */
static void small_worker(const Bench *b, const void *userdata, const WorkerStart *start, WorkerResult *ret) {
        const SmallCase *c = userdata;
        const char *path = c->cold ? b->cold_paths[ret->index % COLD_FILES_MAX] : b->small_path;
        _cleanup_close_ int file = -EBADF;
        uint64_t t0, end;
        int r = 0;

        server_use(b, c->server);
        file = open(path, O_RDONLY | O_CLOEXEC);
        worker_wait_go(start);
        if (file < 0) {
                ret->error = -errno;
                return;
        }
        t0 = now_usec();
        end = t0 + (uint64_t) (c->seconds * 1e6);
        do {
                if (c->cold)
                        r = file_change(path);
                if (r >= 0)
                        r = snapshot_once(file, server_flags(c->server), SMALL_SIZE, false);
                if (r < 0)
                        break;
                ret->ops++;
        } while (now_usec() < end);
        ret->usec = now_usec() - t0;
        ret->error = r;
}

/* Requests per second of @n processes together: the sum of their own rates. */
static int small_rate(const Bench *b, const SmallCase *c, unsigned n, double *ret) {
        WorkerResult res[COLD_FILES_MAX];
        double rate = 0;
        int r;

        r = workers_run(b, n, small_worker, c, res);
        if (r < 0)
                return r;
        for (unsigned i = 0; i < n; i++) {
                if (res[i].error < 0)
                        return res[i].error;
                rate += (double) res[i].ops * 1e6 / (double) (res[i].usec ? res[i].usec : 1);
        }
        *ret = rate;
        return 0;
}

void goal_small(Bench *b) {
        static const unsigned procs[] = { 1, COLD_FILES_MAX };
        double rate[2][ELEMENTSOF(procs)][_SERVER_MAX][REPORT_ROUNDS_MAX];
        const unsigned rounds = b->cfg.rounds;

        /* Round by round, every case next to its baselines: drift moves them together. */
        for (unsigned round = 0; round < rounds; round++) {
                fprintf(stderr, "P2: round %u of %u\n", round + 1, rounds);
                for (int cold = 0; cold < 2; cold++)
                        for (size_t p = 0; p < ELEMENTSOF(procs); p++)
                                for (Server s = 0; s < _SERVER_MAX; s++) {
                                        SmallCase c = { .server = s, .cold = cold, .seconds = b->cfg.rate_seconds };
                                        int r = small_rate(b, &c, procs[p], &rate[cold][p][s][round]);

                                        if (r < 0) {
                                                char what[96];

                                                (void) snprintf(what, sizeof(what), "%s, %s, %u clients",
                                                                server_names[s], cold ? "cold" : "cached", procs[p]);
                                                bench_fail("P2", what, r);
                                                return;
                                        }
                                }
        }

        for (int cold = 0; cold < 2; cold++)
                for (size_t p = 0; p < ELEMENTSOF(procs); p++) {
                        char what[128];
                        ReportRow *vs_bare, *vs_local;

                        (void) snprintf(what, sizeof(what), "4 KiB %s, %u client%s: snapshot via safe-mmapd",
                                        cold ? "cold (changed before each request)" : "cached", procs[p],
                                        procs[p] > 1 ? " processes" : "");
                        vs_bare = report_add(&b->report, "P2", UNIT_RATE, RATIO_COST, what,
                                             "bare server passing a ready sealed memfd");
                        vs_local = report_add(&b->report, "P2", UNIT_RATE, RATIO_SPEED, what,
                                              "local snapshot (SAFE_MMAP_NO_DAEMON)");
                        if (!vs_bare || !vs_local)
                                return;
                        for (unsigned round = 0; round < rounds; round++) {
                                report_round(vs_bare, rate[cold][p][SERVER_DAEMON][round],
                                             rate[cold][p][SERVER_BARE][round]);
                                report_round(vs_local, rate[cold][p][SERVER_DAEMON][round],
                                             rate[cold][p][SERVER_LOCAL][round]);
                        }
                        if (cold)
                                report_target(vs_bare, '<', 2.0);
                        else if (procs[p] > 1) {
                                report_target(vs_bare, '<', 1.25);
                                report_target(vs_local, '>', 1.0);
                        }
                }
}

/* Microseconds per call of @map_fd (or of fstat + mmap + munmap) on @fd, over @n calls. */
static int map_block(int fd, bool library, unsigned n, double *ret_usec) {
        uint64_t t0 = now_usec();

        for (unsigned i = 0; i < n; i++) {
                if (library) {
                        safe_mmap *m = NULL;
                        int r = safe_mmap_map_fd(fd, 0, &m);

                        if (r < 0)
                                return r;
                        safe_mmap_free(m);
                } else {
                        struct stat st;
                        void *p;

                        if (fstat(fd, &st) < 0)
                                return negative_errno();
                        p = mmap(NULL, (size_t) st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
                        if (p == MAP_FAILED)
                                return negative_errno();
                        (void) munmap(p, (size_t) st.st_size);
                }
        }
        *ret_usec = (double) (now_usec() - t0) / n;
        return 0;
}

void goal_map(Bench *b) {
        /* Alternating blocks within a round: a burst of noise hits both sides. */
        const unsigned blocks = 10, per_block = b->cfg.map_ops / blocks;
        _cleanup_close_ int file = -EBADF;
        safe_mmap *snap = NULL;
        ReportRow *row;
        int r;

        fprintf(stderr, "P5\n");
        file = open(b->small_path, O_RDONLY | O_CLOEXEC);
        if (file < 0) {
                bench_fail("P5", b->small_path, negative_errno());
                return;
        }
        r = safe_mmap_snapshot_fd(file, SAFE_MMAP_NO_DAEMON, &snap);
        if (r < 0) {
                bench_fail("P5", "local snapshot", r);
                return;
        }
        row = report_add(&b->report, "P5", UNIT_USEC, RATIO_COST,
                         "safe_mmap_map_fd() + safe_mmap_free() of a sealed 4 KiB memfd",
                         "fstat() + mmap() + munmap()");
        if (!row)
                goto finish;
        report_target(row, '<', 1.2);
        for (unsigned round = 0; round < b->cfg.rounds; round++) {
                double lib = 0, bare = 0;

                for (unsigned k = 0; k < blocks; k++) {
                        double l, p;

                        r = map_block(safe_mmap_fd(snap), true, per_block, &l);
                        if (r >= 0)
                                r = map_block(safe_mmap_fd(snap), false, per_block, &p);
                        if (r < 0) {
                                bench_fail("P5", "mapping", r);
                                goto finish;
                        }
                        lib += l / blocks;
                        bare += p / blocks;
                }
                report_round(row, lib, bare);
        }
finish:
        safe_mmap_free(snap);
}

typedef struct Burst {
        const char *socket;
        int file;
} Burst;

/* One request as soon as the starting shot goes off; its latency in ret->usec. */
static void burst_worker(const Bench *b, const void *userdata, const WorkerStart *start, WorkerResult *ret) {
        const Burst *burst = userdata;
        uint64_t t0;

        (void) setenv("SAFE_MMAP_SOCKET", burst->socket, 1);
        worker_wait_go(start);
        t0 = now_usec();
        ret->error = snapshot_once(burst->file, SAFE_MMAP_NO_FALLBACK, SMALL_SIZE, false);
        ret->usec = now_usec() - t0;
        ret->ops = ret->error == 0;
}

static int compare_u64(const void *a, const void *b) {
        uint64_t x = *(const uint64_t *) a, y = *(const uint64_t *) b;

        return x < y ? -1 : x > y;
}

typedef struct BurstStats {
        double errors, p50, p99;
        int first_error;
} BurstStats;

static int burst_run(const Bench *b, const char *socket, int file, unsigned n, BurstStats *ret) {
        _cleanup_free_ WorkerResult *res = NULL;
        _cleanup_free_ uint64_t *lat = NULL;
        Burst burst = { .socket = socket, .file = file };
        unsigned ok = 0;
        int r;

        res = calloc(n, sizeof(WorkerResult));
        lat = calloc(n, sizeof(uint64_t));
        if (!res || !lat)
                return -ENOMEM;
        r = workers_run(b, n, burst_worker, &burst, res);
        if (r < 0)
                return r;
        *ret = (BurstStats) {};
        for (unsigned i = 0; i < n; i++)
                if (res[i].error == 0)
                        lat[ok++] = res[i].usec;
                else if (ret->errors++ == 0)
                        ret->first_error = res[i].error;
        qsort(lat, ok, sizeof(uint64_t), compare_u64);
        ret->p50 = ok ? (double) lat[(ok - 1) / 2] : NAN;
        ret->p99 = ok ? (double) lat[(ok - 1) * 99 / 100] : NAN;
        return 0;
}

void goal_scale(Bench *b) {
        const unsigned n = b->cfg.scale_clients;
        _cleanup_close_ int file = -EBADF;
        Harness h;
        char what[128];
        ReportRow *errors, *p50, *p99;
        int first_error = 0, r;

        fprintf(stderr, "scale\n");
        /* Its own daemon with the default limits: what a burst meets on a real system. */
        r = harness_setup(&h);
        if (r >= 0) {
                h.quiet = true;
                r = harness_start(&h, HARNESS_LISTEN, NULL);
        }
        if (r < 0) {
                bench_fail("scale", "starting safe-mmapd", r);
                harness_teardown(&h);
                return;
        }
        file = open(b->small_path, O_RDONLY | O_CLOEXEC);
        if (file < 0) {
                bench_fail("scale", b->small_path, negative_errno());
                goto finish;
        }

        (void) snprintf(what, sizeof(what), "%u concurrent client processes, 4 KiB cached: failed requests", n);
        errors = report_add(&b->report, "scale", UNIT_COUNT, RATIO_NONE, what, "bare server");
        p50 = report_add(&b->report, "scale", UNIT_USEC, RATIO_COST, "  p50 latency of those that succeeded",
                         "bare server");
        p99 = report_add(&b->report, "scale", UNIT_USEC, RATIO_COST, "  p99 latency of those that succeeded",
                         "bare server");
        if (!errors || !p50 || !p99)
                goto finish;
        for (unsigned round = 0; round < b->cfg.rounds; round++) {
                BurstStats d, bare;

                fprintf(stderr, "scale: round %u of %u\n", round + 1, b->cfg.rounds);
                r = burst_run(b, h.socket_path, file, n, &d);
                if (r >= 0)
                        r = burst_run(b, b->bare_socket, file, n, &bare);
                if (r < 0) {
                        bench_fail("scale", "burst", r);
                        goto finish;
                }
                if (d.errors > 0 && !first_error)
                        first_error = d.first_error;
                report_round(errors, d.errors, bare.errors);
                report_round(p50, d.p50, bare.p50);
                report_round(p99, d.p99, bare.p99);
        }
        if (first_error)
                (void) snprintf(errors->what, sizeof(errors->what),
                                "%u concurrent client processes, 4 KiB cached: failed requests (first: %s)", n,
                                strerrorname_np(-first_error) ?: "?");
finish:
        harness_teardown(&h);
}
