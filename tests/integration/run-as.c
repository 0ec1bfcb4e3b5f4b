/* SPDX-License-Identifier: Apache-2.0 OR MIT */
#include <errno.h>
#include <grp.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "macro.h"
#include "run-as.h"

static int drop_privileges(uid_t uid, gid_t gid, const gid_t *groups, size_t n_groups) {
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

int run_as(uid_t uid, gid_t gid, const gid_t *groups, size_t n_groups,
           unsigned timeout_sec, run_as_fn fn, void *userdata) {
        uint64_t deadline;
        pid_t pid;

        fflush(NULL);
        pid = fork();
        if (pid < 0)
                return negative_errno();
        if (pid == 0) {
                (void) prctl(PR_SET_PDEATHSIG, SIGKILL);
                if (drop_privileges(uid, gid, groups, n_groups) < 0) {
                        fprintf(stderr, "dropping to uid %u gid %u: %m\n", (unsigned) uid, (unsigned) gid);
                        _exit(2);
                }
                int r = fn(userdata);
                fflush(NULL);
                _exit(r == 0 ? 0 : 1);
        }

        deadline = harness_now_usec() + (uint64_t) timeout_sec * 1000000u;
        for (;;) {
                int status;
                pid_t p = waitpid(pid, &status, WNOHANG);

                if (p == pid) {
                        if (WIFEXITED(status))
                                return WEXITSTATUS(status);
                        return 128 + WTERMSIG(status);
                }
                if (p < 0)
                        return negative_errno();
                if (harness_now_usec() > deadline) {
                        (void) kill(pid, SIGKILL);
                        (void) waitpid(pid, NULL, 0);
                        return -ETIMEDOUT;
                }
                (void) usleep(10 * 1000);
        }
}
