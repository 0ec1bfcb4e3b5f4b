/* SPDX-License-Identifier: Apache-2.0 OR MIT */
/*
 * What a client receives from a running safe-mmapd: the bytes of the file,
 * in a memfd it cannot write, grow, shrink or reseal, through an open file
 * description of its own. Runs against `--listen` and, with the argument
 * "activation", under systemd-socket-activate --seqpacket.
 */

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "macro.h"
#include "raw-client.h"
#include "safe-mmap.h"

#define REQUIRED_SEALS (F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE)
#define FILE_SIZE (100u * 1024u + 123u)

static HarnessMode mode = HARNESS_LISTEN;
static Harness h;
static char *file_path;
static uint8_t *file_data;

static void setup(void) {
        ck_assert_int_eq(harness_setup(&h), 0);
        file_path = harness_path(&h, "data");
        file_data = malloc(FILE_SIZE);
        ck_assert_ptr_nonnull(file_data);
        for (size_t i = 0; i < FILE_SIZE; i++)
                file_data[i] = (uint8_t) (i * 7 + i / 251);
        ck_assert_int_eq(harness_write_file(file_path, 0644, file_data, FILE_SIZE), 0);
        ck_assert_int_eq(harness_start(&h, mode, NULL), 0);
}

static void teardown(void) {
        harness_teardown(&h);
        free(file_path);
        free(file_data);
}

/* Requests a snapshot of file_path over a fresh connection; checks the reply and returns the fd. */
static int snapshot(uint32_t *ret_flags) {
        _cleanup_close_ int file = -EBADF;
        ProtoReply reply;
        int fd = -EBADF;

        file = open(file_path, O_RDONLY | O_CLOEXEC);
        ck_assert_int_ge(file, 0);
        ck_assert_int_eq(raw_oneshot_fd(h.socket_path, file, 0, &reply, &fd), 0);
        ck_assert_int_eq(reply.type, PROTO_REPLY_SNAPSHOT);
        ck_assert_int_eq(reply.status, 0);
        ck_assert_int_eq(reply.kind, PROTO_KIND_SEALED_MEMFD);
        ck_assert_uint_eq(reply.size, FILE_SIZE);
        ck_assert_int_ge(fd, 0);
        /* The client's own file offset is not the daemon's to move. */
        ck_assert_int_eq(lseek(file, 0, SEEK_CUR), 0);
        if (ret_flags)
                *ret_flags = reply.flags;
        return fd;
}

START_TEST(test_snapshot_equals_file) {
        _cleanup_free_ uint8_t *buf = malloc(FILE_SIZE + 1);
        _cleanup_close_ int fd = snapshot(NULL);
        struct stat st;

        ck_assert_int_eq(fstat(fd, &st), 0);
        ck_assert(S_ISREG(st.st_mode));
        ck_assert_int_eq(st.st_size, FILE_SIZE);
        ck_assert_int_eq(pread(fd, buf, FILE_SIZE + 1, 0), FILE_SIZE);
        ck_assert_mem_eq(buf, file_data, FILE_SIZE);
}
END_TEST

START_TEST(test_sealed_read_only) {
        _cleanup_close_ int fd = snapshot(NULL);
        int seals, fl;
        void *p;

        seals = fcntl(fd, F_GET_SEALS);
        ck_assert_int_ge(seals, 0);
        ck_assert_int_eq(seals & REQUIRED_SEALS, REQUIRED_SEALS);

        fl = fcntl(fd, F_GETFL);
        ck_assert_int_ge(fl, 0);
        ck_assert_int_eq(fl & O_ACCMODE, O_RDONLY);

        /* Every way of changing the bytes the client received is closed. */
        ck_assert_int_eq(pwrite(fd, "x", 1, 0), -1);
        ck_assert_int_eq(ftruncate(fd, 1), -1);
        ck_assert_int_eq(fcntl(fd, F_ADD_SEALS, F_SEAL_FUTURE_WRITE), -1);
        p = mmap(NULL, FILE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        ck_assert(p == MAP_FAILED);
        p = mmap(NULL, FILE_SIZE, PROT_READ, MAP_PRIVATE, fd, 0);
        ck_assert(p != MAP_FAILED);
        ck_assert_mem_eq(p, file_data, FILE_SIZE);
        ck_assert_int_eq(munmap(p, FILE_SIZE), 0);

        /* Reopening through /proc for writing must not get around the read-only description. */
        char proc[64];
        snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
        _cleanup_close_ int rw = open(proc, O_RDWR | O_CLOEXEC);
        if (rw >= 0)
                ck_assert_int_eq(pwrite(rw, "x", 1, 0), -1);
}
END_TEST

START_TEST(test_independent_offsets) {
        _cleanup_close_ int a = snapshot(NULL), b = snapshot(NULL);
        uint8_t buf[1000];

        ck_assert_int_eq(read(a, buf, sizeof(buf)), sizeof(buf));
        ck_assert_mem_eq(buf, file_data, sizeof(buf));
        ck_assert_int_eq(lseek(a, 0, SEEK_CUR), sizeof(buf));
        ck_assert_int_eq(lseek(b, 0, SEEK_CUR), 0);
        ck_assert_int_eq(read(b, buf, 10), 10);
        ck_assert_mem_eq(buf, file_data, 10);
        ck_assert_int_eq(lseek(a, 0, SEEK_CUR), sizeof(buf));
}
END_TEST

START_TEST(test_empty_file) {
        _cleanup_free_ char *path = harness_path(&h, "empty");
        _cleanup_close_ int file = -EBADF, fd = -EBADF;
        ProtoReply reply;

        ck_assert_int_eq(harness_write_file(path, 0644, "", 0), 0);
        file = open(path, O_RDONLY | O_CLOEXEC);
        ck_assert_int_ge(file, 0);
        ck_assert_int_eq(raw_oneshot_fd(h.socket_path, file, 0, &reply, &fd), 0);
        ck_assert_int_eq(reply.status, 0);
        ck_assert_uint_eq(reply.size, 0);
        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(fcntl(fd, F_GET_SEALS) & REQUIRED_SEALS, REQUIRED_SEALS);
}
END_TEST

START_TEST(test_library) {
        safe_mmap *m = NULL;
        int fd;

        ck_assert_int_eq(safe_mmap_snapshot(file_path, SAFE_MMAP_NO_FALLBACK, &m), 0);
        ck_assert_int_eq(safe_mmap_kind(m), SAFE_MMAP_SEALED_MEMFD);
        ck_assert_uint_eq(safe_mmap_size(m), FILE_SIZE);
        ck_assert_mem_eq(safe_mmap_data(m), file_data, FILE_SIZE);
        fd = safe_mmap_fd(m);
        ck_assert_int_eq(fcntl(fd, F_GET_SEALS) & REQUIRED_SEALS, REQUIRED_SEALS);
        ck_assert_int_eq(fcntl(fd, F_GETFL) & O_ACCMODE, O_RDONLY);
        m = safe_mmap_free(m);
}
END_TEST

START_TEST(test_status) {
        _cleanup_close_ int sock = -EBADF, fd = -EBADF;
        ProtoReply before, after;

        ck_assert_int_eq(raw_connect(h.socket_path, &sock), 0);
        ck_assert_int_eq(raw_status(sock, 30000, &before), 0);
        ck_assert_int_eq(before.type, PROTO_REPLY_STATUS);
        ck_assert_int_eq(before.status, 0);
        ck_assert_uint_ge(before.connections, 1);
        fd = snapshot(NULL);
        ck_assert_int_eq(raw_status(sock, 30000, &after), 0);
        ck_assert_int_eq(after.status, 0);
        ck_assert_uint_gt(after.served, before.served);
        ck_assert_uint_ge(after.bytes_held, FILE_SIZE);
        ck_assert_uint_ge(after.uptime_usec, before.uptime_usec);
}
END_TEST

START_TEST(test_sigterm_exits_cleanly) {
        _cleanup_close_ int fd = snapshot(NULL);

        ck_assert_int_eq(harness_stop(&h), 0);
        /* The snapshot outlives the daemon: it is the client's own descriptor. */
        ck_assert_int_eq(fcntl(fd, F_GET_SEALS) & REQUIRED_SEALS, REQUIRED_SEALS);
}
END_TEST

int main(int argc, char *argv[]) {
        Suite *s = suite_create("serve");
        TCase *tc = tcase_create("serve");
        SRunner *sr;
        int failed;

        if (argc > 1 && strcmp(argv[1], "activation") == 0) {
                if (!harness_have_program("systemd-socket-activate")) {
                        fprintf(stderr, "SKIP: systemd-socket-activate not installed\n");
                        return 77;
                }
                mode = HARNESS_ACTIVATION;
        }

        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_set_timeout(tc, 120);
        tcase_add_test(tc, test_snapshot_equals_file);
        tcase_add_test(tc, test_sealed_read_only);
        tcase_add_test(tc, test_independent_offsets);
        tcase_add_test(tc, test_empty_file);
        tcase_add_test(tc, test_library);
        tcase_add_test(tc, test_status);
        tcase_add_test(tc, test_sigterm_exits_cleanly);
        suite_add_tcase(s, tc);

        sr = srunner_create(s);
        srunner_run_all(sr, CK_NORMAL);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed == 0 ? 0 : 1;
}
