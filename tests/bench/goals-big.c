/* SPDX-License-Identifier: Apache-2.0 OR MIT */
/*
 * The goals about big files: P1 (a cold snapshot against copying the bytes
 * yourself), P3 (a cache hit against a cold snapshot) and P4 (what many
 * holders of one snapshot cost in shared memory).
 */

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"
#include "macro.h"
#include "safe-mmap.h"

#define MIB (UINT64_C(1) << 20)

static double time_memcpy(const void *src, uint64_t size) {
        uint64_t t0 = now_usec();
        void *d = malloc(size);

        if (!d)
                return -ENOMEM;
        memcpy(d, src, size);
        clobber(d);
        free(d);
        return (double) (now_usec() - t0);
}

static double time_read(int fd, uint64_t size) {
        uint64_t t0 = now_usec(), off = 0;
        char *d = malloc(size);

        if (!d)
                return -ENOMEM;
        while (off < size) {
                ssize_t n = pread(fd, d + off, size - off, (off_t) off);

                if (n <= 0) {
                        free(d);
                        return n < 0 ? negative_errno() : -EIO;
                }
                off += (uint64_t) n;
        }
        clobber(d);
        free(d);
        return (double) (now_usec() - t0);
}

/* Microseconds of one snapshot of @path (changed first, untimed, when @change), or -errno. */
static double time_snapshot(const char *path, int fd, unsigned flags, uint64_t size, bool read_pages,
                            bool change) {
        uint64_t t0;
        int r;

        if (change) {
                r = file_change(path);
                if (r < 0)
                        return r;
        }
        t0 = now_usec();
        r = snapshot_once(fd, flags, size, read_pages);
        if (r < 0)
                return r;
        return (double) (now_usec() - t0);
}

enum {
        BIG_MEMCPY,
        BIG_READ,
        BIG_SNAPSHOT,           /* cold, via the daemon, mapped but not read */
        BIG_SNAPSHOT_READ,      /* cold, via the daemon, every page read once */
        BIG_LOCAL_READ,         /* made here, every page read once */
        _BIG_MAX,
};

/*
 * The fastest of BIG_TRIES tries of each method, interleaved: one copy of
 * a big file takes long enough that a neighbour's burst can double it.
 */
static int big_round(const char *path, int fd, const void *src, uint64_t size, double ret[_BIG_MAX]) {
        unsigned flags = server_flags(SERVER_DAEMON);

        for (int i = 0; i < _BIG_MAX; i++)
                ret[i] = INFINITY;
        for (unsigned k = 0; k < BIG_TRIES; k++) {
                double t[_BIG_MAX];

                t[BIG_MEMCPY] = time_memcpy(src, size);
                t[BIG_READ] = time_read(fd, size);
                t[BIG_SNAPSHOT] = time_snapshot(path, fd, flags, size, false, true);
                t[BIG_SNAPSHOT_READ] = time_snapshot(path, fd, flags, size, true, true);
                t[BIG_LOCAL_READ] = time_snapshot(path, fd, server_flags(SERVER_LOCAL), size, true, false);
                for (int i = 0; i < _BIG_MAX; i++) {
                        if (t[i] < 0)
                                return (int) t[i];
                        ret[i] = fmin(ret[i], t[i]);
                }
        }
        return 0;
}

void goal_big_copy(Bench *b) {
        server_use(b, SERVER_DAEMON);
        for (size_t s = 0; s < ELEMENTSOF(b->cfg.big_sizes); s++) {
                const uint64_t size = b->cfg.big_sizes[s];
                _cleanup_free_ char *path = NULL, *src = NULL;
                _cleanup_close_ int fd = -EBADF;
                double t[REPORT_ROUNDS_MAX][_BIG_MAX];
                ReportRow *rows[4];
                char what[4][128];
                int r;

                fprintf(stderr, "P1: %" PRIu64 " MiB\n", size / MIB);
                path = harness_path(&b->daemon, "big");
                src = malloc(size);
                if (!src) {
                        bench_fail("P1", "source buffer", -ENOMEM);
                        return;
                }
                memset(src, FILL_BYTE, size);
                r = file_make(path, size);
                if (r >= 0) {
                        fd = open(path, O_RDONLY | O_CLOEXEC);
                        if (fd < 0)
                                r = negative_errno();
                }
                for (unsigned round = 0; r >= 0 && round < b->cfg.rounds; round++)
                        r = big_round(path, fd, src, size, t[round]);
                (void) unlink(path);
                if (r < 0) {
                        bench_fail("P1", "copying", r);
                        return;
                }

                (void) snprintf(what[0], sizeof(what[0]), "cold snapshot of %" PRIu64 " MiB, every page read once",
                                size / MIB);
                (void) snprintf(what[1], sizeof(what[1]), "cold snapshot of %" PRIu64 " MiB, every page read once",
                                size / MIB);
                (void) snprintf(what[2], sizeof(what[2]), "cold snapshot of %" PRIu64 " MiB, mapped, not read",
                                size / MIB);
                (void) snprintf(what[3], sizeof(what[3]),
                                "local snapshot of %" PRIu64 " MiB (no daemon), every page read once", size / MIB);
                rows[0] = report_add(&b->report, "P1", UNIT_USEC, RATIO_SPEED, what[0], "read() into malloc");
                rows[1] = report_add(&b->report, "P1", UNIT_USEC, RATIO_SPEED, what[1],
                                     "memcpy into fresh memory");
                rows[2] = report_add(&b->report, "P1", UNIT_USEC, RATIO_SPEED, what[2], "read() into malloc");
                rows[3] = report_add(&b->report, "P1", UNIT_USEC, RATIO_SPEED, what[3], "read() into malloc");
                if (!rows[0] || !rows[1] || !rows[2] || !rows[3])
                        return;
                report_target(rows[0], '>', 1.0);
                for (unsigned round = 0; round < b->cfg.rounds; round++) {
                        report_round(rows[0], t[round][BIG_SNAPSHOT_READ], t[round][BIG_READ]);
                        report_round(rows[1], t[round][BIG_SNAPSHOT_READ], t[round][BIG_MEMCPY]);
                        report_round(rows[2], t[round][BIG_SNAPSHOT], t[round][BIG_READ]);
                        report_round(rows[3], t[round][BIG_LOCAL_READ], t[round][BIG_READ]);
                }
        }
}

void goal_cache_hit(Bench *b) {
        /* Enough hits that the clock's resolution does not matter. */
        const unsigned colds = 2, hits = 32;
        const uint64_t size = b->cfg.hit_size;
        _cleanup_free_ char *path = NULL;
        _cleanup_close_ int fd = -EBADF;
        char what[128];
        ReportRow *row;
        int r;

        fprintf(stderr, "P3\n");
        server_use(b, SERVER_DAEMON);
        path = harness_path(&b->daemon, "hit");
        r = file_make(path, size);
        if (r >= 0) {
                fd = open(path, O_RDONLY | O_CLOEXEC);
                if (fd < 0)
                        r = negative_errno();
        }
        if (r < 0) {
                bench_fail("P3", path, r);
                return;
        }
        (void) snprintf(what, sizeof(what), "snapshot of %" PRIu64 " MiB, cache hit", size / MIB);
        row = report_add(&b->report, "P3", UNIT_USEC, RATIO_SPEED, what, "the same, file changed (cold)");
        if (!row)
                return;
        report_target(row, '>', 100);
        for (unsigned round = 0; round < b->cfg.rounds; round++) {
                double cold = 0, hit = 0;

                /* The last cold snapshot is the version the hits find. */
                for (unsigned i = 0; i < colds; i++) {
                        double t = time_snapshot(path, fd, server_flags(SERVER_DAEMON), size, false, true);

                        if (t < 0) {
                                bench_fail("P3", "cold snapshot", (int) t);
                                goto finish;
                        }
                        cold += t / colds;
                }
                for (unsigned i = 0; i < hits; i++) {
                        double t = time_snapshot(path, fd, server_flags(SERVER_DAEMON), size, false, false);

                        if (t < 0) {
                                bench_fail("P3", "cached snapshot", (int) t);
                                goto finish;
                        }
                        hit += t / hits;
                }
                report_round(row, hit, cold);
        }
finish:
        (void) unlink(path);
}

/* Shmem of /proc/meminfo in MiB: every memfd page of the machine. */
static double shmem_mib(void) {
        char line[256];
        FILE *f = fopen("/proc/meminfo", "re");
        long kib = -1;

        if (!f)
                return -1;
        while (fgets(line, sizeof(line), f))
                if (sscanf(line, "Shmem: %ld kB", &kib) == 1)
                        break;
        fclose(f);
        return kib < 0 ? -1 : (double) kib / 1024;
}

/*
 * A process that takes a snapshot of @path from the daemon at @socket, reads
 * every page, says so (its status) on @ready and holds the mapping until
 * @release reaches EOF; @release_w is the other end, which it must not keep.
 */
static int holder_start(const char *socket, const char *path, uint64_t size, int ready, int release,
                        int release_w, pid_t *ret_pid) {
        pid_t pid = fork();

        if (pid < 0)
                return negative_errno();
        if (pid == 0) {
                safe_mmap *m = NULL;
                int fd, r;
                char c;

                safe_close(release_w);
                (void) setenv("SAFE_MMAP_SOCKET", socket, 1);
                fd = open(path, O_RDONLY | O_CLOEXEC);
                r = fd < 0 ? -errno : safe_mmap_snapshot_fd(fd, SAFE_MMAP_NO_FALLBACK, &m);
                if (r >= 0)
                        for (uint64_t off = 0; off < size; off += PAGE)
                                clobber((const uint8_t *) safe_mmap_data(m) + off);
                if (write(ready, &r, sizeof(r)) != (ssize_t) sizeof(r))
                        _exit(1);
                (void) read(release, &c, 1);
                _exit(0);
        }
        *ret_pid = pid;
        return 0;
}

/* Shmem growth with 1 and with @holders holders of one snapshot, from a daemon that holds nothing yet. */
static int shared_round(Harness *h, const char *path, uint64_t size, unsigned holders, double *ret_one,
                        double *ret_all) {
        _cleanup_close_ int ready_r = -EBADF, ready_w = -EBADF, release_r = -EBADF, release_w = -EBADF;
        _cleanup_free_ pid_t *pids = NULL;
        unsigned started = 0;
        double s0, s1 = -1;
        int p[2], r;

        pids = calloc(holders, sizeof(pid_t));
        if (!pids)
                return -ENOMEM;
        if (pipe2(p, O_CLOEXEC) < 0)
                return negative_errno();
        ready_r = p[0];
        ready_w = p[1];
        if (pipe2(p, O_CLOEXEC) < 0)
                return negative_errno();
        release_r = p[0];
        release_w = p[1];

        /* A fresh daemon: no cached version of an earlier round is there to be freed meanwhile. */
        r = harness_start(h, HARNESS_LISTEN, (const char *const[]) { "--max-bytes-per-uid", "64G", NULL });
        if (r < 0)
                return r;
        s0 = shmem_mib();
        for (; started < holders; started++) {
                int status;

                r = holder_start(h->socket_path, path, size, ready_w, release_r, release_w, &pids[started]);
                if (r < 0)
                        break;
                /* One at a time: the first makes the copy, the others find it. */
                if (read(ready_r, &status, sizeof(status)) != (ssize_t) sizeof(status)) {
                        started++;
                        r = -ECHILD;
                        break;
                }
                if (status < 0) {
                        started++;
                        r = status;
                        break;
                }
                if (started == 0)
                        s1 = shmem_mib();
        }
        if (r >= 0) {
                *ret_one = s1 - s0;
                *ret_all = shmem_mib() - s0;
        }
        release_w = safe_close(release_w);
        for (unsigned i = 0; i < started; i++)
                (void) waitpid(pids[i], NULL, 0);
        if (harness_stop(h) != 0 && r >= 0)
                r = -ECHILD;
        return r;
}

void goal_shared(Bench *b) {
        const uint64_t size = b->cfg.shared_size;
        const unsigned holders = b->cfg.holders;
        _cleanup_free_ char *path = NULL;
        char what[128], base[64];
        ReportRow *row;
        Harness h;
        int r;

        fprintf(stderr, "P4\n");
        path = harness_path(&b->daemon, "shared");
        r = file_make(path, size);
        if (r >= 0) {
                r = harness_setup(&h);
                h.quiet = true;
        }
        if (r < 0) {
                bench_fail("P4", "setup", r);
                (void) unlink(path);
                return;
        }
        (void) snprintf(what, sizeof(what), "shmem growth, %u processes holding one %" PRIu64 " MiB snapshot",
                        holders, size / MIB);
        (void) snprintf(base, sizeof(base), "one process holding it");
        row = report_add(&b->report, "P4", UNIT_MIB, RATIO_PLAIN, what, base);
        if (row) {
                report_target(row, '<', 1.02);
                for (unsigned round = 0; round < b->cfg.rounds; round++) {
                        double one = 0, all = 0;

                        r = shared_round(&h, path, size, holders, &one, &all);
                        if (r < 0) {
                                bench_fail("P4", "holders", r);
                                break;
                        }
                        report_round(row, all, one);
                }
        }
        harness_teardown(&h);
        (void) unlink(path);
}
