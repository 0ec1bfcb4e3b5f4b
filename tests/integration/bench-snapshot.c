/* SPDX-License-Identifier: Apache-2.0 OR MIT */
/*
 * Requests per second against a real safe-mmapd, with 1 and with 8 client
 * processes:
 *   ping          status request round trip over a kept connection
 *   ping+connect  connect, status round trip, close
 *   snapshot      safe_mmap_snapshot_fd() of a 4 KiB file over the library's
 *                 kept connection: request, receive, verify, map; then read
 *                 it and unmap
 *   snapshot/conn the same with SAFE_MMAP_KEEP_CONNECTION=0: a connection
 *                 per call, as the library did before it kept one
 *   snapshot/kept the same over a kept connection (raw request +
 *                 safe_mmap_map_fd())
 *   local         safe_mmap_snapshot_fd(SAFE_MMAP_NO_DAEMON), for reference
 * and the ratios of the snapshot rates to the ping rates, which say what a
 * snapshot costs beyond the round trip.
 *
 * Usage: bench-snapshot [SECONDS-PER-MEASUREMENT]  (default 3)
 * Needs SAFE_MMAPD or SAFE_MMAP_BUILD_ROOT (set by `meson test --benchmark`).
 */

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "macro.h"
#include "raw-client.h"
#include "safe-mmap.h"

#define FILE_SIZE 4096u

typedef enum Mode {
        MODE_PING,
        MODE_PING_CONNECT,
        MODE_SNAPSHOT,
        MODE_SNAPSHOT_PER_CALL,
        MODE_SNAPSHOT_KEPT,
        MODE_LOCAL,
        _MODE_MAX,
} Mode;

static const char *const mode_names[_MODE_MAX] = {
        [MODE_PING] = "ping (status, kept connection)",
        [MODE_PING_CONNECT] = "ping + connect",
        [MODE_SNAPSHOT] = "snapshot via library",
        [MODE_SNAPSHOT_PER_CALL] = "snapshot via library, conn/call",
        [MODE_SNAPSHOT_KEPT] = "snapshot, raw kept connection",
        [MODE_LOCAL] = "local snapshot (no daemon)",
};

/* Alternating rounds of library snapshots with and without the kept connection. */
#define KEPT_ROUNDS 5

static Harness h;

static int double_cmp(const void *a, const void *b) {
        double x = *(const double *) a, y = *(const double *) b;

        return x < y ? -1 : x > y;
}
static char *file_path;

/* One operation; 0 or -errno. */
static int run_one(Mode mode, int sock, int file) {
        ProtoReply reply;
        safe_mmap *m = NULL;
        int r;

        switch (mode) {
        case MODE_PING:
                r = raw_status(sock, 30000, &reply);
                return r < 0 ? r : reply.status;
        case MODE_PING_CONNECT: {
                _cleanup_close_ int s = -EBADF;
                r = raw_connect(h.socket_path, &s);
                if (r < 0)
                        return r;
                r = raw_status(s, 30000, &reply);
                return r < 0 ? r : reply.status;
        }
        case MODE_SNAPSHOT:
        case MODE_SNAPSHOT_PER_CALL:
        case MODE_LOCAL:
                r = safe_mmap_snapshot_fd(file, mode == MODE_LOCAL ? SAFE_MMAP_NO_DAEMON : SAFE_MMAP_NO_FALLBACK, &m);
                break;
        case MODE_SNAPSHOT_KEPT: {
                _cleanup_close_ int fd = -EBADF;
                r = raw_snapshot_fd(sock, file, 0, 30000, &reply, &fd);
                if (r < 0)
                        return r;
                if (reply.status < 0)
                        return reply.status;
                r = safe_mmap_map_fd(fd, 0, &m);
                break;
        }
        default:
                return -EINVAL;
        }
        if (r < 0)
                return r;
        if (safe_mmap_size(m) != FILE_SIZE || ((const uint8_t *) safe_mmap_data(m))[FILE_SIZE - 1] != 's')
                r = -EIO;
        safe_mmap_free(m);
        return r;
}

static _noreturn_ void worker(Mode mode, int go, int result, double seconds) {
        _cleanup_close_ int sock = -EBADF, file = -EBADF;
        uint64_t ops = 0, end;
        char c;
        int r;

        file = open(file_path, O_RDONLY | O_CLOEXEC);
        if (file < 0)
                _exit(1);
        if ((mode == MODE_PING || mode == MODE_SNAPSHOT_KEPT) && raw_connect(h.socket_path, &sock) < 0)
                _exit(1);
        if (mode == MODE_SNAPSHOT_PER_CALL && setenv("SAFE_MMAP_KEEP_CONNECTION", "0", 1) < 0)
                _exit(1);
        /* Everybody starts when the parent closes the go pipe. */
        (void) read(go, &c, 1);
        end = harness_now_usec() + (uint64_t) (seconds * 1e6);
        do {
                r = run_one(mode, sock, file);
                if (r < 0) {
                        fprintf(stderr, "%s: %s\n", mode_names[mode], strerror(-r));
                        _exit(1);
                }
                ops++;
        } while (harness_now_usec() < end);
        if (write(result, &ops, sizeof(ops)) != sizeof(ops))
                _exit(1);
        _exit(0);
}

/* Requests per second of @n_procs processes running @mode together; negative on failure. */
static double measure(Mode mode, int n_procs, double seconds) {
        int go[2], result[2];
        pid_t pids[64];
        uint64_t total = 0, t0;
        bool failed = false;

        if (pipe2(go, O_CLOEXEC) < 0 || pipe2(result, O_CLOEXEC) < 0)
                return -1;
        for (int i = 0; i < n_procs; i++) {
                pids[i] = fork();
                if (pids[i] < 0)
                        return -1;
                if (pids[i] == 0) {
                        safe_close(go[1]);
                        safe_close(result[0]);
                        worker(mode, go[0], result[1], seconds);
                }
        }
        safe_close(go[0]);
        safe_close(result[1]);
        usleep(100 * 1000);
        t0 = harness_now_usec();
        safe_close(go[1]);
        for (int i = 0; i < n_procs; i++) {
                uint64_t ops;
                if (read(result[0], &ops, sizeof(ops)) == sizeof(ops))
                        total += ops;
        }
        for (int i = 0; i < n_procs; i++) {
                int status;
                if (waitpid(pids[i], &status, 0) != pids[i] || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
                        failed = true;
        }
        double elapsed = (double) (harness_now_usec() - t0) / 1e6;
        safe_close(result[0]);
        return failed ? -1 : (double) total / elapsed;
}

int main(int argc, char *argv[]) {
        static const int procs[] = { 1, 8 };
        double seconds = argc > 1 ? strtod(argv[1], NULL) : 3.0;
        double rate[_MODE_MAX][ELEMENTSOF(procs)];
        int r;

        if (seconds <= 0) {
                fprintf(stderr, "usage: %s [SECONDS-PER-MEASUREMENT]\n", argv[0]);
                return 2;
        }
        (void) signal(SIGPIPE, SIG_IGN);
        r = harness_setup(&h);
        if (r < 0) {
                fprintf(stderr, "setup: %s\n", strerror(-r));
                return 1;
        }
        h.quiet = true;
        file_path = harness_path(&h, "data");
        r = harness_fill_file(file_path, 0644, 's', FILE_SIZE);
        if (r >= 0)
                /* Measure throughput, not the per-uid limit (8 clients that reconnect). */
                r = harness_start(&h, HARNESS_LISTEN, (const char *const[]) {
                                "--max-connections-per-uid", "64", NULL });
        if (r < 0) {
                fprintf(stderr, "starting safe-mmapd: %s\n", strerror(-r));
                if (r == -ENOENT)
                        fprintf(stderr, "set SAFE_MMAPD to the daemon, or run `meson test --benchmark`\n");
                harness_teardown(&h);
                return r == -ENOENT ? 77 : 1;
        }

        for (Mode m = 0; m < _MODE_MAX; m++)
                for (size_t p = 0; p < ELEMENTSOF(procs); p++) {
                        rate[m][p] = measure(m, procs[p], seconds);
                        if (rate[m][p] < 0) {
                                fprintf(stderr, "%s with %d processes failed\n", mode_names[m], procs[p]);
                                harness_teardown(&h);
                                return 1;
                        }
                }

        printf("safe-mmapd: %u-byte file, %.1f s per measurement, %ld CPUs online\n",
               FILE_SIZE, seconds, sysconf(_SC_NPROCESSORS_ONLN));
        printf("%-34s %14s %14s\n", "requests/s", "1 process", "8 processes");
        for (Mode m = 0; m < _MODE_MAX; m++)
                printf("%-34s %14.0f %14.0f\n", mode_names[m], rate[m][0], rate[m][1]);
        printf("%-34s %14s %14s\n", "ratios", "1 process", "8 processes");
        printf("%-34s %14.3f %14.3f\n", "snapshot via library / ping",
               rate[MODE_SNAPSHOT][0] / rate[MODE_PING][0], rate[MODE_SNAPSHOT][1] / rate[MODE_PING][1]);
        printf("%-34s %14.3f %14.3f\n", "snapshot via library / ping+conn",
               rate[MODE_SNAPSHOT][0] / rate[MODE_PING_CONNECT][0],
               rate[MODE_SNAPSHOT][1] / rate[MODE_PING_CONNECT][1]);
        printf("%-34s %14.3f %14.3f\n", "library: kept conn / conn per call",
               rate[MODE_SNAPSHOT][0] / rate[MODE_SNAPSHOT_PER_CALL][0],
               rate[MODE_SNAPSHOT][1] / rate[MODE_SNAPSHOT_PER_CALL][1]);
        printf("%-34s %14.3f %14.3f\n", "snapshot raw kept conn / ping",
               rate[MODE_SNAPSHOT_KEPT][0] / rate[MODE_PING][0],
               rate[MODE_SNAPSHOT_KEPT][1] / rate[MODE_PING][1]);

        /* On a shared machine one pair of measurements is noise: alternate, take the median. */
        for (size_t p = 0; p < ELEMENTSOF(procs); p++) {
                double ratios[KEPT_ROUNDS];

                for (int i = 0; i < KEPT_ROUNDS; i++) {
                        double kept = measure(MODE_SNAPSHOT, procs[p], seconds / 2);
                        double per_call = measure(MODE_SNAPSHOT_PER_CALL, procs[p], seconds / 2);

                        ratios[i] = kept > 0 && per_call > 0 ? kept / per_call : 0;
                }
                qsort(ratios, KEPT_ROUNDS, sizeof(double), double_cmp);
                printf("kept conn / conn per call, %d process(es): median %.3f of %d rounds (%.3f .. %.3f)\n",
                       procs[p], ratios[KEPT_ROUNDS / 2], KEPT_ROUNDS, ratios[0], ratios[KEPT_ROUNDS - 1]);
        }
        {
                double load[3];

                if (getloadavg(load, 3) == 3)
                        printf("load average: %.2f %.2f %.2f\n", load[0], load[1], load[2]);
        }

        r = harness_stop(&h);
        harness_teardown(&h);
        free(file_path);
        return r == 0 ? 0 : 1;
}
