/* SPDX-License-Identifier: Apache-2.0 OR MIT */
/*
 * A file rewritten while it is snapshotted. Another process writes whole
 * versions of 64 KiB, each a single write() of one repeated byte; every
 * snapshot the daemon serves is either one whole version or comes without
 * PROTO_REPLY_CONSISTENT. The writer keeps the file open (no read lease can
 * ever be taken), or opens it for every version, or truncates it to 0 before
 * each version (the file shrinks under the copy: the daemon never maps the
 * source, so this must not kill it, and the size it reports is the size of
 * what it sends).
 */

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "macro.h"
#include "raw-client.h"

#define VERSION_SIZE (64u * 1024u)
#define SNAPSHOTS 200

static Harness h;
static char *file_path;

static void setup(void) {
        ck_assert_int_eq(harness_setup(&h), 0);
        file_path = harness_path(&h, "data");
        ck_assert_int_eq(harness_fill_file(file_path, 0644, 1, VERSION_SIZE), 0);
        ck_assert_int_eq(harness_start(&h, HARNESS_LISTEN, NULL), 0);
}

static void teardown(void) {
        ck_assert_int_eq(harness_finish(&h), 0);
        free(file_path);
}

typedef enum WriterMode {
        WRITER_KEEP_OPEN,
        WRITER_REOPEN,
        WRITER_TRUNCATE,
        _WRITER_MAX,
} WriterMode;

static const char *const writer_names[_WRITER_MAX] = {
        [WRITER_KEEP_OPEN] = "keeping the file open",
        [WRITER_REOPEN] = "reopening",
        [WRITER_TRUNCATE] = "truncating",
};

static _noreturn_ void writer(WriterMode mode, volatile uint64_t *versions) {
        static uint8_t buf[VERSION_SIZE];
        int fd = -EBADF;

        (void) prctl(PR_SET_PDEATHSIG, SIGKILL);
        for (uint8_t v = 2;; v = (uint8_t) (v % 250 + 1)) {
                memset(buf, v, sizeof(buf));
                if (fd < 0) {
                        fd = open(file_path, O_WRONLY | O_CLOEXEC);
                        if (fd < 0)
                                _exit(2);
                }
                if (mode == WRITER_TRUNCATE && ftruncate(fd, 0) < 0)
                        _exit(3);
                if (pwrite(fd, buf, sizeof(buf), 0) != (ssize_t) sizeof(buf))
                        _exit(3);
                if (mode == WRITER_REOPEN)
                        fd = safe_close(fd);
                __atomic_add_fetch(versions, 1, __ATOMIC_RELAXED);
        }
}

static bool whole_version(const uint8_t *p, size_t n) {
        for (size_t i = 1; i < n; i++)
                if (p[i] != p[0])
                        return false;
        return true;
}

START_TEST(test_rewritten_file) {
        WriterMode mode = (WriterMode) _i;
        volatile uint64_t *versions;
        unsigned consistent = 0, unproven = 0, torn_unproven = 0, again = 0;
        uint64_t before;
        pid_t pid;
        int status;

        versions = mmap(NULL, sizeof(*versions), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        ck_assert(versions != MAP_FAILED);
        pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0)
                writer(mode, versions);
        while (*versions < 10)
                usleep(1000);
        before = *versions;

        for (int i = 0; i < SNAPSHOTS; i++) {
                _cleanup_close_ int file = -EBADF, fd = -EBADF;
                static uint8_t buf[VERSION_SIZE + 1];
                ProtoReply reply;
                struct stat st;
                ssize_t n;

                file = open(file_path, O_RDONLY | O_CLOEXEC);
                ck_assert_int_ge(file, 0);
                ck_assert_int_eq(raw_oneshot_fd(h.socket_path, file, 0, &reply, &fd), 0);
                if (reply.status == -EAGAIN) {
                        again++;
                        continue;
                }
                ck_assert_msg(reply.status == 0, "snapshot %d: %s", i, strerror(-reply.status));
                if (mode != WRITER_TRUNCATE)
                        ck_assert_uint_eq(reply.size, VERSION_SIZE);
                ck_assert_int_eq(fstat(fd, &st), 0);
                ck_assert_uint_eq((uint64_t) st.st_size, reply.size);
                n = pread(fd, buf, sizeof(buf), 0);
                ck_assert_int_eq(n, (ssize_t) reply.size);
                if (reply.flags & PROTO_REPLY_CONSISTENT) {
                        /* An empty file between truncate and write is a version too. */
                        ck_assert_msg(n == 0 || n == VERSION_SIZE,
                                      "snapshot %d claims consistency but holds %zd bytes", i, n);
                        ck_assert_msg(n == 0 || whole_version(buf, VERSION_SIZE),
                                      "snapshot %d claims consistency but mixes versions %u and %u",
                                      i, buf[0], buf[VERSION_SIZE - 1]);
                        consistent++;
                } else {
                        unproven++;
                        if (n != VERSION_SIZE || !whole_version(buf, VERSION_SIZE))
                                torn_unproven++;
                }
        }

        ck_assert_int_eq(kill(pid, SIGKILL), 0);
        ck_assert_int_eq(waitpid(pid, &status, 0), pid);
        ck_assert(WIFSIGNALED(status));
        fprintf(stderr, "writer %s: %llu versions written during %d snapshots: "
                "%u consistent, %u unproven (%u of them torn), %u -EAGAIN\n",
                writer_names[mode],
                (unsigned long long) (*versions - before), SNAPSHOTS, consistent, unproven,
                torn_unproven, again);
        /* The writer really ran alongside (on a loaded machine it may be slower than the daemon). */
        ck_assert_uint_ge(*versions - before, 10);
        munmap((void *) versions, sizeof(*versions));
}
END_TEST

int main(void) {
        TCase *tc;
        Suite *s;

        s = harness_suite("torn", 300, setup, teardown, &tc);
        tcase_add_loop_test(tc, test_rewritten_file, 0, _WRITER_MAX);

        return harness_run_suite(s);
}
