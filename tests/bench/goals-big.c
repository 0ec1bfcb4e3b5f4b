/* SPDX-License-Identifier: Apache-2.0 OR MIT */
/*
 * The goals about big files: P1 (a cold snapshot against copying the bytes
 * yourself), P3 (a cache hit against a cold snapshot) and P4 (what many
 * holders of one snapshot cost in shared memory).
 */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"
#include "macro.h"
#include "safe-mmap.h"

#define MIB (UINT64_C(1) << 20)

/*
 * A baseline's buffer from malloc(), with the huge pages a snapshot gets:
 * none while shmem has them off, whatever transparent_hugepage/enabled says
 * for anonymous memory (with "always" the baseline would get them and the
 * snapshot not).
 */
static void *baseline_alloc(const Bench *b, uint64_t size) {
        void *d = malloc(size);
        uintptr_t start, end;

        if (!d)
                return NULL;
        start = ((uintptr_t) d + PAGE - 1) & ~(uintptr_t) (PAGE - 1);
        end = ((uintptr_t) d + size) & ~(uintptr_t) (PAGE - 1);
        if (end > start)
                (void) madvise((void *) start, end - start, b->huge.shmem_on ? MADV_HUGEPAGE : MADV_NOHUGEPAGE);
        return d;
}

static double time_memcpy(const Bench *b, const void *src, uint64_t size) {
        uint64_t t0 = now_usec();
        void *d = baseline_alloc(b, size);

        if (!d)
                return -ENOMEM;
        memcpy(d, src, size);
        clobber(d);
        free(d);
        return (double) (now_usec() - t0);
}

static double time_read(const Bench *b, int fd, uint64_t size) {
        uint64_t t0 = now_usec(), off = 0;
        char *d = baseline_alloc(b, size);

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

/* Nanoseconds on a CPU of all of @pid's threads (schedstat), or 0 where the kernel does not say. */
static uint64_t process_cpu_ns(pid_t pid) {
        char path[64 + sizeof(((struct dirent *) NULL)->d_name)];
        DIR *d;
        uint64_t sum = 0;
        struct dirent *e;

        (void) snprintf(path, sizeof(path), "/proc/%i/task", (int) pid);
        d = opendir(path);
        if (!d)
                return 0;
        while ((e = readdir(d))) {
                char line[128];
                unsigned long long ns;
                FILE *f;

                if (e->d_name[0] == '.')
                        continue;
                (void) snprintf(path, sizeof(path), "/proc/%i/task/%s/schedstat", (int) pid, e->d_name);
                f = fopen(path, "re");
                if (!f)
                        continue;
                if (fgets(line, sizeof(line), f) && sscanf(line, "%llu", &ns) == 1)
                        sum += ns;
                fclose(f);
        }
        closedir(d);
        return sum;
}

/*
 * Before a timed copy, the daemon lets go of the previous one: a small
 * request gives it the chance to find that nobody holds it any more (it
 * probes the uid's holdings when a request comes in), and a worker frees the
 * pages, off the request path; should it find out otherwise, the wait below
 * still sees it busy. The next copy is timed only once the daemon has been
 * idle for a few milliseconds, so that neither it nor a baseline runs next to
 * that free on a machine of two CPUs: what is measured is the copy, as on a
 * quiet daemon.
 */
static void daemon_settle(const Bench *b, pid_t pid) {
        uint64_t deadline = now_usec() + 2u * 1000u * 1000u, last;
        _cleanup_close_ int small = -EBADF;
        unsigned quiet = 0;

        small = open(b->small_path, O_RDONLY | O_CLOEXEC);
        if (small >= 0)
                (void) snapshot_once(small, SAFE_MMAP_NO_FALLBACK, SMALL_SIZE, false);
        last = process_cpu_ns(pid);
        while (quiet < 3 && now_usec() < deadline) {
                uint64_t t;

                (void) usleep(2000);
                t = process_cpu_ns(pid);
                quiet = t == last ? quiet + 1 : 0;
                last = t;
        }
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

/* Microseconds of safe_mmap_map_fd() of the ready snapshot @snap, every page read once, and its free. */
static double time_map_read(int snap, uint64_t size) {
        const volatile uint8_t *p;
        safe_mmap *m = NULL;
        uint64_t t0 = now_usec();
        int r;

        r = safe_mmap_map_fd(snap, 0, &m);
        if (r < 0)
                return r;
        p = safe_mmap_data(m);
        for (uint64_t off = 0; off < size; off += PAGE)
                (void) p[off];
        r = safe_mmap_size(m) == size && p[size - 1] == FILL_BYTE ? 0 : -EIO;
        safe_mmap_free(m);
        return r < 0 ? r : (double) (now_usec() - t0);
}

enum {
        BIG_MEMCPY,
        BIG_READ,
        BIG_SNAPSHOT,           /* cold, via the daemon, mapped but not read */
        BIG_SNAPSHOT_READ,      /* cold, via the daemon, every page read once */
        BIG_LOCAL_READ,         /* made here, every page read once */
        BIG_MAP_READ,           /* a ready snapshot mapped, every page read once: the client's part */
        _BIG_MAX,
};

/*
 * The fastest of BIG_TRIES tries of each method, interleaved: one copy of
 * a big file takes long enough that a neighbour's burst can double it.
 */
static int big_round(const Bench *b, pid_t daemon, const char *path, int fd, int snap, const void *src,
                     uint64_t size, double ret[_BIG_MAX]) {
        unsigned flags = server_flags(SERVER_DAEMON);

        for (int i = 0; i < _BIG_MAX; i++)
                ret[i] = INFINITY;
        for (unsigned k = 0; k < BIG_TRIES; k++) {
                double t[_BIG_MAX];

                daemon_settle(b, daemon);
                t[BIG_MEMCPY] = time_memcpy(b, src, size);
                t[BIG_READ] = time_read(b, fd, size);
                t[BIG_MAP_READ] = time_map_read(snap, size);
                t[BIG_SNAPSHOT] = time_snapshot(path, fd, flags, size, false, true);
                daemon_settle(b, daemon);
                t[BIG_SNAPSHOT_READ] = time_snapshot(path, fd, flags, size, true, true);
                daemon_settle(b, daemon);
                t[BIG_LOCAL_READ] = time_snapshot(path, fd, server_flags(SERVER_LOCAL), size, true, false);
                for (int i = 0; i < _BIG_MAX; i++) {
                        if (t[i] < 0)
                                return (int) t[i];
                        ret[i] = fmin(ret[i], t[i]);
                }
        }
        return 0;
}

/*
 * P1 has a daemon of its own, which caches nothing: every request is a cold
 * copy, and no cached version is replaced (and freed) in the middle of one.
 */
static int big_daemon_start(Harness *h) {
        int r;

        r = harness_setup(h);
        if (r < 0)
                return r;
        h->quiet = true;
        return harness_start(h, HARNESS_LISTEN, (const char *const[]) {
                        "--cache-size", "0", "--max-bytes-per-uid", "64G", NULL });
}

static void big_copy_size(Bench *b, const Harness *h, uint64_t size) {
        _cleanup_free_ char *path = NULL, *src = NULL;
        _cleanup_close_ int fd = -EBADF;
        double t[REPORT_ROUNDS_MAX][_BIG_MAX];
        safe_mmap *snap = NULL;
        ReportRow *rows[5];
        char what[5][128];
        int r;

        fprintf(stderr, "P1: %" PRIu64 " MiB\n", size / MIB);
        path = harness_path(h, "big");
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
        /* The client's part alone: a snapshot made once, then only mapped. */
        if (r >= 0)
                r = safe_mmap_snapshot_fd(fd, SAFE_MMAP_NO_DAEMON, &snap);
        for (unsigned round = 0; r >= 0 && round < b->cfg.rounds; round++)
                r = big_round(b, h->pid, path, fd, safe_mmap_fd(snap), src, size, t[round]);
        safe_mmap_free(snap);
        (void) unlink(path);
        if (r < 0) {
                bench_fail("P1", "copying", r);
                return;
        }

        (void) snprintf(what[0], sizeof(what[0]), "cold snapshot of %" PRIu64 " MiB, every page read once",
                        size / MIB);
        (void) snprintf(what[1], sizeof(what[1]), "cold snapshot of %" PRIu64 " MiB, every page read once",
                        size / MIB);
        (void) snprintf(what[2], sizeof(what[2]), "cold snapshot of %" PRIu64 " MiB, mapped, not read (the copy)",
                        size / MIB);
        (void) snprintf(what[3], sizeof(what[3]),
                        "map_fd() of a ready %" PRIu64 " MiB snapshot, every page read once (the client)", size / MIB);
        (void) snprintf(what[4], sizeof(what[4]),
                        "local snapshot of %" PRIu64 " MiB (no daemon), every page read once", size / MIB);
        rows[0] = report_add(&b->report, "P1", UNIT_USEC, RATIO_SPEED, what[0], "read() into malloc");
        rows[1] = report_add(&b->report, "P1", UNIT_USEC, RATIO_SPEED, what[1], "memcpy into fresh memory");
        rows[2] = report_add(&b->report, "P1", UNIT_USEC, RATIO_SPEED, what[2], "read() into malloc");
        rows[3] = report_add(&b->report, "P1", UNIT_USEC, RATIO_SPEED, what[3], "read() into malloc");
        rows[4] = report_add(&b->report, "P1", UNIT_USEC, RATIO_SPEED, what[4], "read() into malloc");
        for (size_t i = 0; i < ELEMENTSOF(rows); i++)
                if (!rows[i])
                        return;
        report_target(rows[0], '>', 1.0);
        for (unsigned round = 0; round < b->cfg.rounds; round++) {
                report_round(rows[0], t[round][BIG_SNAPSHOT_READ], t[round][BIG_READ]);
                report_round(rows[1], t[round][BIG_SNAPSHOT_READ], t[round][BIG_MEMCPY]);
                report_round(rows[2], t[round][BIG_SNAPSHOT], t[round][BIG_READ]);
                report_round(rows[3], t[round][BIG_MAP_READ], t[round][BIG_READ]);
                report_round(rows[4], t[round][BIG_LOCAL_READ], t[round][BIG_READ]);
        }
}

void goal_big_copy(Bench *b) {
        Harness h;
        int r;

        r = big_daemon_start(&h);
        if (r < 0) {
                bench_fail("P1", "starting safe-mmapd", r);
                harness_teardown(&h);
                return;
        }
        for (size_t s = 0; s < ELEMENTSOF(b->cfg.big_sizes); s++)
                big_copy_size(b, &h, b->cfg.big_sizes[s]);
        if (harness_stop(&h) != 0)
                bench_fail("P1", "safe-mmapd did not exit cleanly", -ECHILD);
        harness_teardown(&h);
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
