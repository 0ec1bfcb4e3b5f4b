/* SPDX-License-Identifier: Apache-2.0 OR MIT */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fd-util.h"
#include "macro.h"
#include "test-util.h"

uint64_t now_usec(void) {
        struct timespec ts;

        (void) clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000u + (uint64_t) ts.tv_nsec / 1000u;
}

int wait_until(bool (*cond)(void *userdata), void *userdata, unsigned timeout_ms, unsigned interval_ms) {
        uint64_t deadline = now_usec() + (uint64_t) timeout_ms * 1000u;

        for (;;) {
                bool late = now_usec() > deadline;

                if (cond(userdata))
                        return 0;
                if (late)
                        return -ETIMEDOUT;
                (void) usleep(interval_ms * 1000u);
        }
}

int write_file(const char *path, unsigned mode, const void *data, size_t size) {
        _cleanup_close_ int fd = -EBADF;

        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode);
        if (fd < 0)
                return negative_errno();
        if (fchmod(fd, mode) < 0)
                return negative_errno();
        if (!data)
                return ftruncate(fd, (off_t) size) < 0 ? negative_errno() : 0;
        return loop_write(fd, data, size);
}

int scratch_dir_make(const char *parent, const char *prefix, char **ret_path) {
        _cleanup_free_ char *t = NULL;

        if (asprintf(&t, "%s/%s.XXXXXX", parent, prefix) < 0)
                return -ENOMEM;
        if (!mkdtemp(t))
                return negative_errno();
        if (chmod(t, 0755) < 0) {
                int r = negative_errno();
                (void) rmdir(t);
                return r;
        }
        *ret_path = TAKE_PTR(t);
        return 0;
}

static int remove_one(const char *path, const struct stat *st, int type, struct FTW *ftw) {
        (void) remove(path);
        return 0;
}

int tree_remove(const char *path) {
        return nftw(path, remove_one, 16, FTW_DEPTH | FTW_PHYS) < 0 ? negative_errno() : 0;
}

static char *scratch;
static pid_t scratch_owner;

static void must(int r, const char *what) {
        if (r >= 0)
                return;
        fprintf(stderr, "%s: %s\n", what, strerror(-r));
        abort();
}

const char *scratch_dir(void) {
        if (scratch)
                return scratch;
        must(scratch_dir_make("/var/tmp", "safe-mmap-test", &scratch), "scratch directory");
        scratch_owner = getpid();
        return scratch;
}

void scratch_dir_remove(void) {
        /* Check runs tests in forked children: only the process that made it removes it. */
        if (!scratch || scratch_owner != getpid())
                return;
        (void) tree_remove(scratch);
        free(scratch);
        scratch = NULL;
}

char *scratch_path(const char *name) {
        static unsigned counter;
        char *p;

        must(asprintf(&p, "%s/%s.%d.%u", scratch_dir(), name, (int) getpid(), counter++) < 0 ? -ENOMEM : 0,
             "asprintf");
        return p;
}

Suite *test_suite(const char *name, double timeout, void (*setup)(void), void (*teardown)(void), TCase **ret_tc) {
        Suite *s = suite_create(name);
        TCase *tc = tcase_create(name);

        if (setup || teardown)
                tcase_add_checked_fixture(tc, setup, teardown);
        if (timeout > 0)
                tcase_set_timeout(tc, timeout);
        suite_add_tcase(s, tc);
        *ret_tc = tc;
        return s;
}

int suite_run(Suite *s, const char *tcase) {
        SRunner *sr = srunner_create(s);
        int failed;

        /* Made here, in the parent, so that every forked test shares it and it is removed once. */
        (void) scratch_dir();
        srunner_run(sr, NULL, tcase, CK_ENV);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        scratch_dir_remove();
        return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
