/* SPDX-License-Identifier: Apache-2.0 OR MIT */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "macro.h"
#include "raw-client.h"

/* A slow, shared machine running a sanitizer build: give start-up time. */
#define START_TIMEOUT_MSEC (30u * 1000u)
#define STOP_TIMEOUT_MSEC (10u * 1000u)
#define LOG_TAIL_BYTES 8192

static char *xasprintf(const char *fmt, ...) _printf_(1, 2);
static char *xasprintf(const char *fmt, ...) {
        va_list ap;
        char *s;
        int r;

        va_start(ap, fmt);
        r = vasprintf(&s, fmt, ap);
        va_end(ap);
        if (r < 0)
                abort();
        return s;
}

char *harness_path(const Harness *h, const char *name) {
        return xasprintf("%s/%s", h->dir, name);
}

int harness_setup(Harness *h) {
        const char *tmp = getenv("TMPDIR");
        int r;

        *h = (Harness) {};
        /* Short: the socket path must fit into sun_path (108 bytes). Mode 0755: the socket
         * must be reachable by the unprivileged clients of the root suite. */
        r = scratch_dir_make(tmp && *tmp == '/' ? tmp : "/tmp", "safe-mmap-itest", &h->dir);
        if (r < 0)
                return r;
        h->socket_path = harness_path(h, "socket");
        h->policy_dir = harness_path(h, "policy.d");
        h->log_path = harness_path(h, "daemon.log");
        if (mkdir(h->policy_dir, 0755) < 0)
                return negative_errno();
        if (setenv("SAFE_MMAP_SOCKET", h->socket_path, 1) < 0)
                return negative_errno();
        return 0;
}

int harness_fill_file(const char *path, unsigned mode, uint8_t byte, size_t size) {
        _cleanup_free_ void *buf = NULL;

        buf = malloc(size ? size : 1);
        if (!buf)
                return -ENOMEM;
        memset(buf, byte, size);
        return write_file(path, mode, buf, size);
}

int harness_write_policy(Harness *h, const char *name, const char *text) {
        _cleanup_free_ char *p = NULL;

        p = xasprintf("%s/%s", h->policy_dir, name);
        return write_file(p, 0644, text, strlen(text));
}

int harness_skip_without_fuse(const char *needs) {
        if (geteuid() != 0) {
                fprintf(stderr, "SKIP: needs root (mounts a FUSE file system%s%s)\n", needs ? ", " : "", needs ?: "");
                return 77;
        }
        if (access("/dev/fuse", R_OK | W_OK) < 0) {
                fprintf(stderr, "SKIP: /dev/fuse not available\n");
                return 77;
        }
        return 0;
}

bool harness_have_program(const char *name) {
        const char *path = getenv("PATH");
        _cleanup_free_ char *copy = NULL;
        char *saveptr = NULL;

        if (!path)
                path = "/usr/local/bin:/usr/bin:/bin";
        copy = strdup(path);
        if (!copy)
                return false;
        for (char *d = strtok_r(copy, ":", &saveptr); d; d = strtok_r(NULL, ":", &saveptr)) {
                _cleanup_free_ char *p = xasprintf("%s/%s", d, name);
                if (access(p, X_OK) == 0)
                        return true;
        }
        return false;
}

static const char *daemon_binary(void) {
        static char buf[PATH_MAX];
        const char *e = getenv("SAFE_MMAPD");

        if (e && *e)
                return e;
        e = getenv("SAFE_MMAP_BUILD_ROOT");
        if (!e)
                return NULL;
        snprintf(buf, sizeof(buf), "%s/daemon/safe-mmapd", e);
        return buf;
}

/*
 * A daemon of another uid cannot execute a binary beneath a private home (a
 * clone in a 0700 /root, as on any Debian): it runs a copy placed in the
 * harness's own traversable directory, which teardown removes.
 */
static int stage_binary(const Harness *h, const char *binary, char **ret_path) {
        _cleanup_close_ int in = -EBADF;
        _cleanup_free_ char *path = NULL;
        _cleanup_free_ void *buf = NULL;
        struct stat st;
        int r;

        in = open(binary, O_RDONLY | O_CLOEXEC);
        if (in < 0)
                return negative_errno();
        if (fstat(in, &st) < 0)
                return negative_errno();
        buf = malloc((size_t) st.st_size + 1);
        if (!buf)
                return -ENOMEM;
        for (size_t done = 0; done < (size_t) st.st_size;) {
                ssize_t n = read(in, (uint8_t *) buf + done, (size_t) st.st_size - done);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        return n < 0 ? negative_errno() : -EIO;
                done += (size_t) n;
        }
        path = harness_path(h, "safe-mmapd");
        r = write_file(path, 0755, buf, (size_t) st.st_size);
        if (r < 0)
                return r;
        *ret_path = TAKE_PTR(path);
        return 0;
}

static _noreturn_ void child_exec(const Harness *h, pid_t parent, const char *const *argv) {
        int fd;

        /* The daemon must not outlive a test that failed half-way. */
        if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
                _exit(127);

        fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (fd < 0 || dup2(fd, STDIN_FILENO) < 0)
                _exit(127);
        fd = open(h->log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (fd < 0 || dup2(fd, STDOUT_FILENO) < 0 || dup2(fd, STDERR_FILENO) < 0)
                _exit(127);
        if (h->daemon_uid != 0) {
                gid_t gid = (gid_t) h->daemon_uid;
                if (setgroups(0, NULL) < 0 || setresgid(gid, gid, gid) < 0 ||
                    setresuid(h->daemon_uid, h->daemon_uid, h->daemon_uid) < 0)
                        _exit(127);
        }
        /* Nothing of the test process (Check's pipes, open test files) leaks into the daemon. */
        if (close_range(3, ~0u, 0) < 0)
                _exit(127);

        sigset_t all;
        sigemptyset(&all);
        (void) sigprocmask(SIG_SETMASK, &all, NULL);
        (void) signal(SIGPIPE, SIG_DFL);

        execvp(argv[0], (char *const *) argv);
        fprintf(stderr, "exec %s: %m\n", argv[0]);
        _exit(127);
}

typedef struct Ready {
        Harness *h;
        HarnessMode mode;
        int r;          /* -ECHILD once the daemon died, 0 once it answers */
} Ready;

static bool daemon_ready(void *userdata) {
        Ready *ready = userdata;
        Harness *h = ready->h;
        _cleanup_close_ int sock = -EBADF;
        ProtoReply reply;
        int status;

        if (waitpid(h->pid, &status, WNOHANG) == h->pid) {
                h->pid = 0;
                ready->r = -ECHILD;
                return true;
        }
        if (raw_connect(h->socket_path, &sock) < 0)
                return false;
        /* The first connection makes systemd-socket-activate exec the daemon. */
        if (ready->mode == HARNESS_ACTIVATION && (raw_status(sock, 30000, &reply) < 0 || reply.status != 0))
                return false;
        ready->r = 0;
        return true;
}

static int wait_ready(Harness *h, HarnessMode mode) {
        Ready ready = { .h = h, .mode = mode };
        int r;

        r = wait_until(daemon_ready, &ready, START_TIMEOUT_MSEC, 20);
        return r < 0 ? r : ready.r;
}

/* systemd-socket-activate hands the daemon a fresh environment: these are passed on. */
static const char *const passed_env[] = {
        "NOTIFY_SOCKET", "ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS", "MALLOC_PERTURB_",
};

int harness_start(Harness *h, HarnessMode mode, const char *const *args) {
        const char *argv[64];
        size_t n = 0;
        const char *daemon = daemon_binary();
        _cleanup_free_ char *staged = NULL;
        pid_t parent = getpid(), pid;
        int r;

        if (!daemon || access(daemon, X_OK) < 0) {
                fprintf(stderr, "safe-mmapd not found: set SAFE_MMAPD or SAFE_MMAP_BUILD_ROOT\n");
                return -ENOENT;
        }
        if (h->daemon_uid != 0) {
                r = stage_binary(h, daemon, &staged);
                if (r < 0)
                        return r;
                daemon = staged;
        }
        if (mode == HARNESS_ACTIVATION) {
                if (!harness_have_program("systemd-socket-activate"))
                        return -ENOENT;
                argv[n++] = "systemd-socket-activate";
                argv[n++] = "--seqpacket";
                for (size_t i = 0; i < ELEMENTSOF(passed_env); i++)
                        if (getenv(passed_env[i])) {
                                argv[n++] = "-E";
                                argv[n++] = passed_env[i];
                        }
                argv[n++] = "-l";
                argv[n++] = h->socket_path;
                argv[n++] = daemon;
        } else {
                argv[n++] = daemon;
                argv[n++] = "--listen";
                argv[n++] = h->socket_path;
        }
        argv[n++] = "--policy-dir";
        argv[n++] = h->policy_dir;
        for (size_t i = 0; args && args[i]; i++) {
                if (n + 2 > ELEMENTSOF(argv))
                        return -E2BIG;
                argv[n++] = args[i];
        }
        argv[n] = NULL;

        /* A daemon of another user must be able to bind its socket here. */
        if (h->daemon_uid != 0 && chown(h->dir, h->daemon_uid, (gid_t) h->daemon_uid) < 0)
                return negative_errno();

        pid = fork();
        if (pid < 0)
                return negative_errno();
        if (pid == 0)
                child_exec(h, parent, argv);
        h->pid = pid;

        r = wait_ready(h, mode);
        if (r < 0)
                (void) harness_kill(h);
        return r;
}

typedef struct Reap {
        Harness *h;
        int r;          /* the exit status (128 + signal), or -errno */
} Reap;

static bool daemon_exited(void *userdata) {
        Reap *reap = userdata;
        int status;
        pid_t p = waitpid(reap->h->pid, &status, WNOHANG);

        if (p == 0)
                return false;
        if (p < 0)
                reap->r = negative_errno();
        else {
                reap->h->pid = 0;
                reap->r = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        }
        return true;
}

/* Reaps the daemon within @timeout_ms; returns its exit status (128 + signal) or -ETIMEDOUT. */
static int reap(Harness *h, unsigned timeout_ms) {
        Reap reap = { .h = h };
        int r;

        r = wait_until(daemon_exited, &reap, timeout_ms, 10);
        return r < 0 ? r : reap.r;
}

int harness_stop(Harness *h) {
        int r;

        if (h->pid <= 0)
                return -ESRCH;
        if (kill(h->pid, SIGTERM) < 0)
                return negative_errno();
        r = reap(h, STOP_TIMEOUT_MSEC);
        if (r == -ETIMEDOUT) {
                (void) harness_kill(h);
                return -ETIMEDOUT;
        }
        return r;
}

int harness_wait_exit(Harness *h, unsigned timeout_ms) {
        if (h->pid <= 0)
                return -ESRCH;
        return reap(h, timeout_ms);
}

int harness_kill(Harness *h) {
        if (h->pid <= 0)
                return -ESRCH;
        if (kill(h->pid, SIGKILL) < 0)
                return negative_errno();
        return reap(h, STOP_TIMEOUT_MSEC);
}

static void dump_log_tail(const Harness *h) {
        _cleanup_close_ int fd = -EBADF;
        char buf[LOG_TAIL_BYTES];
        struct stat st;
        ssize_t n;

        fd = open(h->log_path, O_RDONLY | O_CLOEXEC);
        if (fd < 0 || fstat(fd, &st) < 0 || st.st_size == 0)
                return;
        if (st.st_size > LOG_TAIL_BYTES)
                (void) lseek(fd, st.st_size - LOG_TAIL_BYTES, SEEK_SET);
        n = read(fd, buf, sizeof(buf));
        if (n <= 0)
                return;
        const char *start = buf;
        if (st.st_size > LOG_TAIL_BYTES) {
                /* Start at a whole line. */
                const char *nl = memchr(buf, '\n', (size_t) n);
                if (nl)
                        start = nl + 1;
        }
        fprintf(stderr, "---- safe-mmapd log%s ----\n%.*s---- end of log ----\n",
                st.st_size > LOG_TAIL_BYTES ? " (tail)" : "", (int) (buf + n - start), start);
}

void harness_teardown(Harness *h) {
        if (h->pid > 0)
                (void) harness_kill(h);
        if (h->dir) {
                if (!h->quiet)
                        dump_log_tail(h);
                (void) tree_remove(h->dir);
        }
        free(h->dir);
        free(h->socket_path);
        free(h->policy_dir);
        free(h->log_path);
        *h = (Harness) {};
}

int harness_finish(Harness *h) {
        int r = 0;

        if (h->pid > 0)
                r = harness_stop(h);
        harness_teardown(h);
        return r;
}

int harness_fd_count(const Harness *h) {
        char path[64];
        DIR *d;
        struct dirent *de;
        int n = 0;

        snprintf(path, sizeof(path), "/proc/%d/fd", (int) h->pid);
        d = opendir(path);
        if (!d)
                return negative_errno();
        while ((de = readdir(d)))
                if (de->d_name[0] != '.')
                        n++;
        closedir(d);
        return n;
}

typedef struct FdCount {
        const Harness *h;
        int max;
        int n;
} FdCount;

static bool fd_count_low(void *userdata) {
        FdCount *c = userdata;

        c->n = harness_fd_count(c->h);
        return c->n <= c->max;
}

int harness_wait_fd_count(const Harness *h, int max, int timeout_ms) {
        FdCount c = { .h = h, .max = max };

        (void) wait_until(fd_count_low, &c, (unsigned) timeout_ms, 20);
        return c.n;
}

long harness_rss_kib(const Harness *h) {
        char path[64], line[256];
        FILE *f;
        long kib = -ENODATA;

        snprintf(path, sizeof(path), "/proc/%d/status", (int) h->pid);
        f = fopen(path, "re");
        if (!f)
                return negative_errno();
        while (fgets(line, sizeof(line), f))
                if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
                        break;
        fclose(f);
        return kib;
}
