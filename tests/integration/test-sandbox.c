/* SPDX-License-Identifier: Apache-2.0 OR MIT */
/*
 * After start-up a root safe-mmapd can neither create nor connect a socket:
 * code injected into it must not reach a root-only local service, which
 * would take it for root (SO_PEERCRED). The injection is inject-connect.so
 * (LD_PRELOAD); the service is a listening socket of this test, mode 0600.
 */

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "macro.h"

static Harness h;
static int service = -EBADF;
static char *service_path;

static void setup(void) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };

        ck_assert_int_eq(harness_setup(&h), 0);
        service_path = harness_path(&h, "root-only");
        ck_assert_uint_lt(strlen(service_path), sizeof(sa.sun_path));
        strcpy(sa.sun_path, service_path);
        service = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        ck_assert_int_ge(service, 0);
        ck_assert_int_eq(bind(service, (struct sockaddr *) &sa, sizeof(sa)), 0);
        ck_assert_int_eq(chmod(service_path, 0600), 0);
        ck_assert_int_eq(listen(service, 4), 0);
}

static void teardown(void) {
        service = safe_close(service);
        free(service_path);
        harness_teardown(&h);
}

/* Starts the daemon with the injection; its stderr goes to the harness log. */
static pid_t start_injected(const char *mode) {
        const char *daemon = getenv("SAFE_MMAPD"), *module = getenv("INJECT_MODULE");
        pid_t pid;

        ck_assert_msg(daemon && module, "SAFE_MMAPD and INJECT_MODULE must be set");
        pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
                int log = open(h.log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);

                if (log < 0 || dup2(log, STDERR_FILENO) < 0)
                        _exit(127);
                setenv("LD_PRELOAD", module, 1);
                setenv("INJECT_MODE", mode, 1);
                setenv("INJECT_CONNECT", service_path, 1);
                /* gcc's dynamic ASan runtime wants to come first; the injection is for the test. */
                setenv("ASAN_OPTIONS", "verify_asan_link_order=0", 0);
                execl(daemon, daemon, "--listen", h.socket_path, "--policy-dir", h.policy_dir, (char *) NULL);
                _exit(127);
        }
        return pid;
}

static bool log_has(const char *needle) {
        char buf[65536];
        ssize_t n;
        int fd = open(h.log_path, O_RDONLY | O_CLOEXEC);

        if (fd < 0)
                return false;
        n = read(fd, buf, sizeof(buf) - 1);
        safe_close(fd);
        if (n <= 0)
                return false;
        buf[n] = '\0';
        return strstr(buf, needle) != NULL;
}

typedef struct Exit {
        pid_t pid;
        int status;
} Exit;

static bool exited(void *userdata) {
        Exit *e = userdata;

        return waitpid(e->pid, &e->status, WNOHANG) == e->pid;
}

/* Waits up to 20 s for the daemon to exit; its wait status, or -1 (then it is killed). */
static int wait_exit(pid_t pid) {
        Exit e = { .pid = pid };

        if (wait_until(exited, &e, 20000, 20) == 0)
                return e.status;
        (void) kill(pid, SIGKILL);
        (void) waitpid(pid, NULL, 0);
        return -1;
}

static void check_no_connection(void) {
        int fd = accept4(service, NULL, NULL, SOCK_CLOEXEC);

        ck_assert_msg(fd < 0, "the daemon connected to a root-only socket after start-up");
        ck_assert_int_eq(errno, EAGAIN);
}

static bool injected_ran(void *userdata) {
        return log_has("inject: ") || waitpid(*(pid_t *) userdata, NULL, WNOHANG) != 0;
}

START_TEST(test_new_socket_refused) {
        pid_t pid = start_injected("socket");
        int status;

        ck_assert_msg(wait_until(injected_ran, &pid, 20000, 20) == 0, "the injected code never ran");
        ck_assert_msg(log_has("inject: "), "the daemon exited before the injected code ran");
        usleep(100 * 1000);
        ck_assert_msg(log_has("inject: socket() refused: Permission denied"), "socket() was not refused");
        check_no_connection();
        /* Refused, not killed: the daemon still serves and exits cleanly. */
        ck_assert_int_eq(kill(pid, SIGTERM), 0);
        status = wait_exit(pid);
        ck_assert_msg(status >= 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0, "status 0x%x", status);
}
END_TEST

START_TEST(test_connect_kills) {
        pid_t pid = start_injected("connect");
        int status = wait_exit(pid);

        check_no_connection();
        ck_assert_msg(status >= 0 && WIFSIGNALED(status) && WTERMSIG(status) == SIGSYS,
                      "the daemon was not killed by seccomp (status 0x%x)", status);
        ck_assert(!log_has("inject: connected"));
}
END_TEST

/* Error lines ("<3>") in the daemon's log. */
static unsigned log_errors(void) {
        char buf[65536];
        unsigned n = 0;
        ssize_t k;
        int fd = open(h.log_path, O_RDONLY | O_CLOEXEC);

        if (fd < 0)
                return 0;
        k = read(fd, buf, sizeof(buf) - 1);
        safe_close(fd);
        if (k <= 0)
                return 0;
        buf[k] = '\0';
        for (const char *p = buf; (p = strstr(p, "<3>")); p++)
                if (p == buf || p[-1] == '\n')
                        n++;
        return n;
}

/* A sandbox that cannot be raised ends start-up, and says why once. */
START_TEST(test_sandbox_failure_logged_once) {
        int status = wait_exit(start_injected("seccomp-load"));

        ck_assert_msg(status >= 0 && WIFEXITED(status) && WEXITSTATUS(status) == 1, "status 0x%x", status);
        ck_assert(log_has("<3>Cannot install the seccomp filter: Invalid argument\n"));
        ck_assert_uint_eq(log_errors(), 1);
}
END_TEST

int main(void) {
        TCase *tc;
        Suite *s;

        if (geteuid() != 0) {
                fprintf(stderr, "SKIP: needs root (the daemon must be root for the attack to matter)\n");
                return 77;
        }
        s = harness_suite("sandbox", 120, setup, teardown, &tc);
        tcase_add_test(tc, test_new_socket_refused);
        tcase_add_test(tc, test_connect_kills);
        tcase_add_test(tc, test_sandbox_failure_logged_once);
        return harness_run_suite(s);
}
