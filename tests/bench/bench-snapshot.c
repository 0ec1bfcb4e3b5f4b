/* SPDX-License-Identifier: Apache-2.0 OR MIT */
/*
 * Every performance goal of safe-mmap in one run, each as a ratio against a
 * baseline measured in the same run (the machine is shared and noisy: only
 * ratios of neighbours mean anything), with the medians of at least three
 * rounds:
 *   P1  cold snapshot of a big file vs memcpy into fresh memory and read() into malloc
 *   P2  4 KiB snapshots, cached and cold, 1 and 8 client processes, vs a bare
 *       server passing a ready sealed memfd, and vs the local snapshot
 *   P3  cache hit vs cold on a big file
 *   P4  shmem growth with 16 holders of one snapshot vs one holder
 *   P5  safe_mmap_map_fd() vs fstat() + mmap()
 *   scale  1,000 concurrent clients under the daemon's default limits
 *
 * Usage: bench-snapshot [--quick] [--rounds N] [--json PATH] [--only P1,P5,...]
 * (or SAFE_MMAP_BENCH_QUICK=1, SAFE_MMAP_BENCH_JSON=PATH, SAFE_MMAP_BENCH_ONLY=P1,P5).
 * Needs SAFE_MMAPD
 * or SAFE_MMAP_BUILD_ROOT, as set by `meson test --benchmark`.
 */

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <malloc.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bare-server.h"
#include "bench.h"
#include "macro.h"
#include "safe-mmap.h"

#define MIB (UINT64_C(1) << 20)

void bench_fail(const char *goal, const char *what, int r) {
        fprintf(stderr, "bench-snapshot: %s: %s: %s\n", goal, what, strerror(-r));
}

const char *server_socket(const Bench *b, Server s) {
        return s == SERVER_BARE ? b->bare_socket : b->daemon.socket_path;
}

void server_use(const Bench *b, Server s) {
        if (s != SERVER_LOCAL)
                (void) setenv("SAFE_MMAP_SOCKET", server_socket(b, s), 1);
}

unsigned server_flags(Server s) {
        return s == SERVER_LOCAL ? SAFE_MMAP_NO_DAEMON : SAFE_MMAP_NO_FALLBACK;
}

int file_make(const char *path, uint64_t size) {
        return harness_fill_file(path, 0644, FILL_BYTE, (size_t) size);
}

int file_change(const char *path) {
        _cleanup_close_ int fd = -EBADF;
        struct timespec ts[2];
        uint64_t stamp = now_usec();

        /* Closed again before the request: a writer holding it open would deny the daemon its lease. */
        fd = open(path, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0)
                return negative_errno();
        if (pwrite(fd, &stamp, sizeof(stamp), 0) != (ssize_t) sizeof(stamp))
                return -EIO;
        /* The clock's nanoseconds, not the file system's coarse tick: two changes never share an mtime. */
        if (clock_gettime(CLOCK_REALTIME, &ts[0]) < 0)
                return negative_errno();
        ts[1] = ts[0];
        if (futimens(fd, ts) < 0)
                return negative_errno();
        return 0;
}

int snapshot_once(int file, unsigned flags, uint64_t size, bool read_pages) {
        safe_mmap *m = NULL;
        const volatile uint8_t *p;
        int r;

        r = safe_mmap_snapshot_fd(file, flags, &m);
        if (r < 0)
                return r;
        p = safe_mmap_data(m);
        if (read_pages)
                for (uint64_t off = 0; off < size; off += PAGE)
                        (void) p[off];
        if (safe_mmap_size(m) != size || p[size - 1] != FILL_BYTE)
                r = -EIO;
        safe_mmap_free(m);
        return r;
}

void worker_wait_go(const WorkerStart *start) {
        char c = 0;

        (void) write(start->ready, &c, 1);
        (void) read(start->go, &c, 1);
}

/* Waits until @n processes said they are ready, or for at most 60 s (one may have died). */
static void workers_wait_ready(int ready, unsigned n) {
        uint64_t deadline = now_usec() + 60u * 1000u * 1000u;
        char buf[256];

        while (n > 0 && now_usec() < deadline) {
                struct pollfd p = { .fd = ready, .events = POLLIN };
                ssize_t k;

                if (poll(&p, 1, 1000) <= 0)
                        continue;
                k = read(ready, buf, n < sizeof(buf) ? n : sizeof(buf));
                if (k <= 0)
                        return;
                n -= (unsigned) k;
        }
}

int workers_run(const Bench *b, unsigned n, WorkerFn fn, const void *userdata, WorkerResult *ret) {
        _cleanup_close_ int go_r = -EBADF, go_w = -EBADF, res_r = -EBADF, res_w = -EBADF, ready_r = -EBADF,
                            ready_w = -EBADF;
        _cleanup_free_ pid_t *pids = NULL;
        unsigned forked = 0, got = 0;
        int p[2], r = 0;

        pids = calloc(n, sizeof(pid_t));
        if (!pids)
                return -ENOMEM;
        if (pipe2(p, O_CLOEXEC) < 0)
                return negative_errno();
        go_r = p[0];
        go_w = p[1];
        if (pipe2(p, O_CLOEXEC) < 0)
                return negative_errno();
        res_r = p[0];
        res_w = p[1];
        if (pipe2(p, O_CLOEXEC) < 0)
                return negative_errno();
        ready_r = p[0];
        ready_w = p[1];

        for (; forked < n; forked++) {
                pid_t pid = fork();

                if (pid < 0) {
                        r = negative_errno();
                        break;
                }
                if (pid == 0) {
                        WorkerResult res = { .index = forked };
                        WorkerStart start = { .ready = ready_w, .go = go_r };

                        safe_close(go_w);
                        safe_close(res_r);
                        safe_close(ready_r);
                        fn(b, userdata, &start, &res);
                        /* One write below PIPE_BUF: results of many processes never interleave. */
                        _exit(write(res_w, &res, sizeof(res)) == (ssize_t) sizeof(res) ? 0 : 1);
                }
                pids[forked] = pid;
        }
        go_r = safe_close(go_r);
        res_w = safe_close(res_w);
        ready_w = safe_close(ready_w);
        if (r < 0)
                for (unsigned i = 0; i < forked; i++)
                        (void) kill(pids[i], SIGKILL);
        else
                workers_wait_ready(ready_r, forked);
        go_w = safe_close(go_w);

        for (;;) {
                WorkerResult res;
                ssize_t k = read(res_r, &res, sizeof(res));

                if (k < 0 && errno == EINTR)
                        continue;
                if (k != (ssize_t) sizeof(res))
                        break;
                if (res.index < n) {
                        ret[res.index] = res;
                        got++;
                }
        }
        for (unsigned i = 0; i < forked; i++) {
                int status;

                if (waitpid(pids[i], &status, 0) != pids[i] || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
                        r = r < 0 ? r : -ECHILD;
        }
        if (r == 0 && got != n)
                r = -ECHILD;
        return r;
}

static int bench_setup(Bench *b) {
        _cleanup_close_ int small = -EBADF;
        safe_mmap *m = NULL;
        int memfd, r;

        r = harness_setup(&b->daemon);
        if (r < 0)
                return r;
        b->daemon.quiet = true;
        b->small_path = harness_path(&b->daemon, "small");
        r = file_make(b->small_path, SMALL_SIZE);
        if (r < 0)
                return r;
        for (unsigned i = 0; i < COLD_FILES_MAX; i++) {
                char name[32];

                (void) snprintf(name, sizeof(name), "cold-%u", i);
                b->cold_paths[i] = harness_path(&b->daemon, name);
                r = file_make(b->cold_paths[i], SMALL_SIZE);
                if (r < 0)
                        return r;
        }

        /*
         * Throughput and memory, not the limits, are measured here: 8 clients
         * that reconnect for every request may briefly hold more than the
         * default 16 connections, and big snapshots are released only when
         * the daemon notices. The scale goal runs its own daemon with the
         * default limits.
         */
        r = harness_start(&b->daemon, HARNESS_LISTEN, (const char *const[]) {
                        "--max-connections-per-uid", "64", "--max-bytes-per-uid", "64G", NULL });
        if (r < 0)
                return r;

        /* The bare server's answer: a sealed memfd made the way the library makes its own. */
        small = open(b->small_path, O_RDONLY | O_CLOEXEC);
        if (small < 0)
                return negative_errno();
        r = safe_mmap_snapshot_fd(small, SAFE_MMAP_NO_DAEMON, &m);
        if (r < 0)
                return r;
        memfd = safe_mmap_fd(m);
        b->bare_socket = harness_path(&b->daemon, "bare");
        r = bare_server_start(b->bare_socket, memfd, &b->bare_pid);
        safe_mmap_free(m);
        return r;
}

static void bench_teardown(Bench *b) {
        bare_server_stop(b->bare_pid);
        harness_teardown(&b->daemon);
        free(b->bare_socket);
        free(b->small_path);
        for (unsigned i = 0; i < COLD_FILES_MAX; i++)
                free(b->cold_paths[i]);
        report_free(&b->report);
}

static void read_first_line(const char *path, char *buf, size_t size) {
        FILE *f = fopen(path, "re");

        buf[0] = 0;
        if (f) {
                if (fgets(buf, (int) size, f))
                        buf[strcspn(buf, "\n")] = 0;
                fclose(f);
        }
}

/* "0.12 0.34 0.56" */
static void loadavg(char *buf, size_t size) {
        char line[128];
        int a = 0, n = 0;

        read_first_line("/proc/loadavg", line, sizeof(line));
        for (char *p = line; *p && n < 3; p++)
                if (*p == ' ' && ++n == 3)
                        a = (int) (p - line);
        (void) snprintf(buf, size, "%.*s", a > 0 ? a : (int) strlen(line), line);
}

/* The active choice of a sysfs setting: "always [madvise] never" -> "madvise". */
static void sysfs_choice(const char *path, char *buf, size_t size) {
        char line[256], *s, *e;

        read_first_line(path, line, sizeof(line));
        s = strchr(line, '[');
        e = s ? strchr(s, ']') : NULL;
        if (s && e)
                (void) snprintf(buf, size, "%.*s", (int) (e - s - 1), s + 1);
        else
                (void) snprintf(buf, size, "unknown");
}

void huge_pages_read(HugePages *ret) {
        *ret = (HugePages) {};
        sysfs_choice("/sys/kernel/mm/transparent_hugepage/enabled", ret->anon, sizeof(ret->anon));
        sysfs_choice("/sys/kernel/mm/transparent_hugepage/shmem_enabled", ret->shmem, sizeof(ret->shmem));
        /* "advise" counts: the daemon may well madvise its copies one day. */
        ret->shmem_on = strcmp(ret->shmem, "never") != 0 && strcmp(ret->shmem, "deny") != 0 &&
                strcmp(ret->shmem, "unknown") != 0;
}

typedef struct Machine {
        long cpus;
        char kernel[256];
        char load_start[64];
        char load_end[64];
        double mem_gib;
} Machine;

static void machine_describe(Machine *m) {
        struct utsname u;

        m->cpus = sysconf(_SC_NPROCESSORS_ONLN);
        if (uname(&u) == 0)
                (void) snprintf(m->kernel, sizeof(m->kernel), "%s %s %s", u.sysname, u.release, u.machine);
        loadavg(m->load_start, sizeof(m->load_start));
        m->mem_gib = (double) sysconf(_SC_PHYS_PAGES) * (double) sysconf(_SC_PAGESIZE) / (double) (1u << 30);
}

static char *machine_json(const Machine *m, const HugePages *huge, const Config *c) {
        char *s;

        if (asprintf(&s,
                     "{\"cpus\": %ld, \"kernel\": \"%s\", \"memory_gib\": %.1f, \"shmem_enabled\": \"%s\", "
                     "\"thp_enabled\": \"%s\", "
                     "\"loadavg_start\": \"%s\", \"loadavg_end\": \"%s\", \"quick\": %s, \"rounds\": %u, "
                     "\"rate_seconds\": %g}",
                     m->cpus, m->kernel, m->mem_gib, huge->shmem, huge->anon, m->load_start, m->load_end,
                     c->quick ? "true" : "false", c->rounds, c->rate_seconds) < 0)
                return NULL;
        return s;
}

static void config_init(Config *c, bool quick) {
        *c = (Config) {
                .quick = quick,
                .rounds = quick ? 3 : 5,
                .rate_seconds = quick ? 0.25 : 1.0,
                .big_sizes = { (quick ? 16 : 64) * MIB, (quick ? 64 : 256) * MIB },
                .hit_size = (quick ? 16 : 64) * MIB,
                .shared_size = (quick ? 64 : 256) * MIB,
                .holders = 16,
                .map_ops = quick ? 5000 : 20000,
                .scale_clients = quick ? 200 : 1000,
        };
}

static void help(const char *argv0) {
        printf("%s [--quick] [--rounds N] [--json PATH]\n\n"
               "Measures safe-mmap's performance goals as ratios against baselines of the same run.\n"
               "  --quick        Smaller files, shorter rates, 200 clients instead of 1,000\n"
               "                 (also SAFE_MMAP_BENCH_QUICK=1)\n"
               "  --rounds N     Rounds per measurement, 3..%d (default 5, quick 3); medians are reported\n"
               "  --json PATH    Also write the numbers as JSON (also SAFE_MMAP_BENCH_JSON=PATH)\n"
               "  --only LIST    Only these goals, e.g. P1,P5 or scale (also SAFE_MMAP_BENCH_ONLY=LIST)\n",
               argv0, REPORT_ROUNDS_MAX);
}

/* Whether @goal is in the comma-separated @list (NULL: every goal). */
static bool goal_selected(const char *list, const char *goal) {
        size_t n = strlen(goal);

        if (!list)
                return true;
        for (const char *p = list; *p;) {
                size_t k = strcspn(p, ",");

                if (k == n && strncasecmp(p, goal, n) == 0)
                        return true;
                p += k;
                if (*p == ',')
                        p++;
        }
        return false;
}

static int parse_args(int argc, char *argv[], Config *c, const char **ret_json, const char **ret_only) {
        static const struct option options[] = {
                { "help",   no_argument,       NULL, 'h' },
                { "quick",  no_argument,       NULL, 'q' },
                { "rounds", required_argument, NULL, 'r' },
                { "json",   required_argument, NULL, 'j' },
                { "only",   required_argument, NULL, 'o' },
                {}
        };
        const char *e = getenv("SAFE_MMAP_BENCH_QUICK");
        const char *json = getenv("SAFE_MMAP_BENCH_JSON");
        const char *only = getenv("SAFE_MMAP_BENCH_ONLY");
        bool quick = e && *e && strcmp(e, "0") != 0;
        long rounds = 0;
        int opt;

        while ((opt = getopt_long(argc, argv, "hqr:j:o:", options, NULL)) >= 0)
                switch (opt) {
                case 'h':
                        help(argv[0]);
                        return 0;
                case 'q':
                        quick = true;
                        break;
                case 'r':
                        rounds = strtol(optarg, NULL, 10);
                        if (rounds < 3 || rounds > REPORT_ROUNDS_MAX) {
                                fprintf(stderr, "--rounds: 3..%d\n", REPORT_ROUNDS_MAX);
                                return -EINVAL;
                        }
                        break;
                case 'j':
                        json = optarg;
                        break;
                case 'o':
                        only = optarg;
                        break;
                default:
                        return -EINVAL;
                }
        if (optind < argc)
                return -EINVAL;
        config_init(c, quick);
        if (rounds > 0)
                c->rounds = (unsigned) rounds;
        *ret_json = json && *json ? json : NULL;
        *ret_only = only && *only ? only : NULL;
        return 1;
}

int main(int argc, char *argv[]) {
        Bench b = { .bare_pid = -1 };
        Machine m = {};
        const char *json = NULL, *only = NULL;
        _cleanup_free_ char *mj = NULL;
        uint64_t t0 = now_usec();
        int r;

        r = parse_args(argc, argv, &b.cfg, &json, &only);
        if (r <= 0)
                return r < 0 ? 2 : 0;
        (void) signal(SIGPIPE, SIG_IGN);
        /* Big buffers always come fresh from mmap(), never recycled from the heap. */
        (void) mallopt(M_MMAP_THRESHOLD, 128 * 1024);
        machine_describe(&m);
        huge_pages_read(&b.huge);

        r = bench_setup(&b);
        if (r < 0) {
                fprintf(stderr, "bench-snapshot: setup: %s\n", strerror(-r));
                if (r == -ENOENT)
                        fprintf(stderr, "set SAFE_MMAPD to the daemon, or run `meson test --benchmark`\n");
                bench_teardown(&b);
                return r == -ENOENT ? 77 : 1;
        }

        if (goal_selected(only, "P1"))
                goal_big_copy(&b);
        if (goal_selected(only, "P2"))
                goal_small(&b);
        if (goal_selected(only, "P3"))
                goal_cache_hit(&b);
        if (goal_selected(only, "P4"))
                goal_shared(&b);
        if (goal_selected(only, "P5"))
                goal_map(&b);
        if (goal_selected(only, "scale"))
                goal_scale(&b);

        loadavg(m.load_end, sizeof(m.load_end));
        printf("\nsafe-mmap benchmark%s: %ld CPUs online, %s, %.1f GiB RAM, shmem huge pages: %s\n",
               b.cfg.quick ? " (quick)" : "", m.cpus, m.kernel, m.mem_gib, b.huge.shmem);
        printf("transparent huge pages: anonymous %s, shmem %s; P1's baseline buffers are madvised %s,\n"
               "so that %s\n",
               b.huge.anon, b.huge.shmem, b.huge.shmem_on ? "MADV_HUGEPAGE" : "MADV_NOHUGEPAGE",
               b.huge.shmem_on ? "both sides may use huge pages" : "neither side uses huge pages (like for like)");
        printf("load average (1, 5, 15 min) at start: %s; at end: %s; took %.0f s\n", m.load_start, m.load_end,
               (double) (now_usec() - t0) / 1e6);
        printf("medians of %u rounds (P1: the fastest of %u tries in each); a ratio is the median of the\n"
               "rounds' ratios; P2 rates over %.2f s each\n\n",
               b.cfg.rounds, BIG_TRIES, b.cfg.rate_seconds);
        report_print(&b.report, stdout);
        fflush(stdout);

        r = 0;
        if (json) {
                mj = machine_json(&m, &b.huge, &b.cfg);
                r = mj ? report_write_json(&b.report, mj, json) : -ENOMEM;
                if (r < 0)
                        fprintf(stderr, "bench-snapshot: %s: %s\n", json, strerror(-r));
        }
        r = harness_stop(&b.daemon) == 0 && r == 0 ? 0 : 1;
        bench_teardown(&b);
        return r;
}
