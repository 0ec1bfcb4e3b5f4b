/* SPDX-License-Identifier: Apache-2.0 OR MIT */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "macro.h"
#include "run-as.h"
#include "test-util.h"

static int drop_privileges(uid_t uid, gid_t gid, const gid_t *groups, size_t n_groups) {
        /* Not root: the child stays who it is, and can only be asked to. */
        if (geteuid() != 0)
                return uid == geteuid() && gid == getegid() ? 0 : -EPERM;
        if (setgroups(n_groups, groups) < 0)
                return negative_errno();
        if (setresgid(gid, gid, gid) < 0)
                return negative_errno();
        if (setresuid(uid, uid, uid) < 0)
                return negative_errno();
        /* Prove the drop stuck: regaining root must be impossible. */
        if (uid != 0 && (setuid(0) == 0 || geteuid() != uid || getegid() != gid))
                return -EPERM;
        return 0;
}

typedef struct Child {
        pid_t pid;
        int status;
        int error;      /* waitpid() failed with this -errno */
} Child;

static bool child_exited(void *userdata) {
        Child *c = userdata;
        pid_t p = waitpid(c->pid, &c->status, WNOHANG);

        if (p < 0)
                c->error = negative_errno();
        return p != 0;
}

int run_as_result(uid_t uid, gid_t gid, const gid_t *groups, size_t n_groups,
                  unsigned timeout_sec, run_as_fn fn, void *userdata, int *ret_result) {
        _cleanup_close_ int rd = -EBADF;
        int p[2], result;
        Child c = {};

        if (pipe2(p, O_CLOEXEC) < 0)
                return negative_errno();
        fflush(NULL);
        c.pid = fork();
        if (c.pid < 0) {
                int r = negative_errno();
                (void) close(p[0]);
                (void) close(p[1]);
                return r;
        }
        if (c.pid == 0) {
                (void) close(p[0]);
                (void) prctl(PR_SET_PDEATHSIG, SIGKILL);
                if (drop_privileges(uid, gid, groups, n_groups) < 0) {
                        fprintf(stderr, "dropping to uid %u gid %u: %m\n", (unsigned) uid, (unsigned) gid);
                        _exit(2);
                }
                result = fn(userdata);
                fflush(NULL);
                _exit(write(p[1], &result, sizeof(result)) == sizeof(result) ? 0 : 1);
        }
        (void) close(p[1]);
        rd = p[0];

        if (wait_until(child_exited, &c, timeout_sec * 1000u, 10) < 0) {
                (void) kill(c.pid, SIGKILL);
                (void) waitpid(c.pid, NULL, 0);
                return -ETIMEDOUT;
        }
        if (c.error < 0)
                return c.error;
        if (WIFSIGNALED(c.status))
                return 128 + WTERMSIG(c.status);
        if (WEXITSTATUS(c.status) != 0)
                return WEXITSTATUS(c.status);
        if (read(rd, &result, sizeof(result)) != sizeof(result))
                return -EIO;
        *ret_result = result;
        return 0;
}

int run_as(uid_t uid, gid_t gid, const gid_t *groups, size_t n_groups,
           unsigned timeout_sec, run_as_fn fn, void *userdata) {
        int result, r;

        r = run_as_result(uid, gid, groups, n_groups, timeout_sec, fn, userdata, &result);
        if (r != 0)
                return r;
        return result == 0 ? 0 : 1;
}
