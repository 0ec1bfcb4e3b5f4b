/* SPDX-License-Identifier: Apache-2.0 OR MIT */
#pragma once

/*
 * Runs the real safe-mmapd for one test: a private directory (mode 0755, so
 * that an unprivileged child can reach the socket) holding the socket, the
 * policy directory and the daemon's log. The daemon dies with the test
 * process (PR_SET_PDEATHSIG), so a failed assertion never leaves it behind.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "test-util.h"

typedef enum HarnessMode {
        HARNESS_LISTEN,         /* safe-mmapd --listen PATH */
        HARNESS_ACTIVATION,     /* systemd-socket-activate --seqpacket -l PATH safe-mmapd */
} HarnessMode;

typedef struct Harness {
        pid_t pid;              /* the daemon, or 0 */
        char *dir;
        char *socket_path;
        char *policy_dir;
        char *log_path;
        bool quiet;             /* teardown does not print the log */
        uid_t daemon_uid;       /* 0: run the daemon as we are; else as this uid (and its gid = uid) */
} Harness;

/* Creates the private directory and its empty policy directory; sets SAFE_MMAP_SOCKET. */
int harness_setup(Harness *h);
/* Writes policy_dir/NAME (e.g. "grant.conf") before the daemon starts. */
int harness_write_policy(Harness *h, const char *name, const char *text);
/*
 * Starts the daemon with --policy-dir and the NULL-terminated @args (may be
 * NULL) and waits until it accepts connections (activation: until it has
 * answered a status request, which makes systemd-socket-activate exec it).
 * Returns 0, -ENOENT if a needed program is missing, -ECHILD if the daemon
 * died, -ETIMEDOUT.
 */
int harness_start(Harness *h, HarnessMode mode, const char *const *args);
/* SIGTERM and wait: returns the exit status (128 + signal if killed), or -ETIMEDOUT (then SIGKILLed). */
int harness_stop(Harness *h);
/* SIGKILL and reap. */
int harness_kill(Harness *h);
/* Waits up to @timeout_ms for the daemon to exit by itself: its exit status (128 + signal), or -ETIMEDOUT. */
int harness_wait_exit(Harness *h, unsigned timeout_ms);
/* Kills a running daemon, prints the tail of its log to stderr, removes the directory. */
void harness_teardown(Harness *h);
/*
 * The end of every test: stops a running daemon with SIGTERM, then tears
 * down. Returns the daemon's exit status (0 if none was running), so that a
 * daemon that crashed, hung or leaked (LeakSanitizer exits non-zero) fails
 * the test that did it.
 */
int harness_finish(Harness *h);

/* Descriptors the daemon holds (/proc/PID/fd), or -errno. */
int harness_fd_count(const Harness *h);
/* Waits up to @timeout_ms for the count to drop to @max or below; returns the last count. */
int harness_wait_fd_count(const Harness *h, int max, int timeout_ms);
/* VmRSS in KiB (/proc/PID/status), or -errno. */
long harness_rss_kib(const Harness *h);

/* DIR/NAME, malloc'ed (aborts on OOM: tests only). */
char *harness_path(const Harness *h, const char *name);
/* Creates @path of @size bytes all equal to @byte. */
int harness_fill_file(const char *path, unsigned mode, uint8_t byte, size_t size);
/* Whether an executable named @name is on $PATH. */
bool harness_have_program(const char *name);
/*
 * For the main() of a test that mounts a FUSE file system as root: 77 (and
 * the reason on stderr, with @needs saying what else root is needed for)
 * when this is not root or there is no /dev/fuse; else 0.
 */
int harness_skip_without_fuse(const char *needs);

/*
 * The names the integration tests know the shared helpers of test-util.h by.
 */
static inline uint64_t harness_now_usec(void) {
        return now_usec();
}
static inline int harness_write_file(const char *path, unsigned mode, const void *data, size_t size) {
        return write_file(path, mode, data, size);
}
static inline Suite *harness_suite(const char *name, double timeout, void (*setup)(void), void (*teardown)(void),
                                   TCase **ret_tc) {
        return test_suite(name, timeout, setup, teardown, ret_tc);
}
static inline int harness_run_suite(Suite *s) {
        return suite_run(s, NULL);
}
