/* SPDX-License-Identifier: Apache-2.0 OR MIT */
/*
 * Linked against the installed form of the library (the shared object, through
 * its version script): fails to link if any public function is not exported,
 * and calls each one through its exported address.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "client-test.h"

typedef void (*any_fn)(void);

static const struct {
        const char *name;
        any_fn fn;
} api[] = {
        { "safe_mmap_check_fd", (any_fn) safe_mmap_check_fd },
        { "safe_mmap_map_fd", (any_fn) safe_mmap_map_fd },
        { "safe_mmap_map_fd_unsafe", (any_fn) safe_mmap_map_fd_unsafe },
        { "safe_mmap_snapshot_fd", (any_fn) safe_mmap_snapshot_fd },
        { "safe_mmap_snapshot", (any_fn) safe_mmap_snapshot },
        { "safe_mmap_data", (any_fn) safe_mmap_data },
        { "safe_mmap_size", (any_fn) safe_mmap_size },
        { "safe_mmap_kind", (any_fn) safe_mmap_kind },
        { "safe_mmap_fd", (any_fn) safe_mmap_fd },
        { "safe_mmap_free", (any_fn) safe_mmap_free },
        /* SAFE_MMAP_1.1 */
        { "safe_mmap_flags", (any_fn) safe_mmap_flags },
        { "safe_mmap_map_fd_range", (any_fn) safe_mmap_map_fd_range },
        { "safe_mmap_map_fd_verity", (any_fn) safe_mmap_map_fd_verity },
        { "safe_mmap_verity_digest", (any_fn) safe_mmap_verity_digest },
        { "safe_mmap_seal_bytes", (any_fn) safe_mmap_seal_bytes },
};

START_TEST(test_exported_from_shared_object) {
        for (size_t i = 0; i < sizeof(api) / sizeof(api[0]); i++) {
                Dl_info info;

                ck_assert_ptr_nonnull((void *) api[i].fn);
                ck_assert_msg(dladdr((void *) api[i].fn, &info) != 0, "dladdr(%s) failed", api[i].name);
                ck_assert_msg(info.dli_fname && strstr(info.dli_fname, "libsafe-mmap.so"),
                              "%s comes from %s, not from libsafe-mmap.so", api[i].name,
                              info.dli_fname ? info.dli_fname : "(unknown)");
                ck_assert_msg(info.dli_sname && strcmp(info.dli_sname, api[i].name) == 0,
                              "%s resolves to symbol %s", api[i].name, info.dli_sname ? info.dli_sname : "(none)");
        }
}
END_TEST

START_TEST(test_call_each) {
        int (*check_fd)(int, int *, uint64_t *) = safe_mmap_check_fd;
        int (*map_fd)(int, unsigned, safe_mmap **) = safe_mmap_map_fd;
        int (*map_fd_unsafe)(int, uint64_t, uint64_t, unsigned, safe_mmap **) = safe_mmap_map_fd_unsafe;
        int (*snapshot_fd)(int, unsigned, safe_mmap **) = safe_mmap_snapshot_fd;
        int (*snapshot)(const char *, unsigned, safe_mmap **) = safe_mmap_snapshot;
        const void *(*data)(const safe_mmap *) = safe_mmap_data;
        uint64_t (*size)(const safe_mmap *) = safe_mmap_size;
        int (*kind)(const safe_mmap *) = safe_mmap_kind;
        int (*fd_of)(const safe_mmap *) = safe_mmap_fd;
        safe_mmap *(*free_map)(safe_mmap *) = safe_mmap_free;
        int fd = memfd_new(MFD_ALLOW_SEALING, "api", 3, SEALS_IMMUTABLE);
        char *path = scratch_file("file", 4, 0644);
        safe_mmap *m = NULL;
        uint64_t sz = 0;
        int k = 0;

        /* Every call leaves the descriptor count as it found it (after the free). */
        int before = fd_count();

        ck_assert_int_eq(check_fd(fd, &k, &sz), 0);
        ck_assert_int_eq(k, SAFE_MMAP_SEALED_MEMFD);
        ck_assert_uint_eq(sz, 3);
        ck_assert_int_eq(check_fd(-1, &k, &sz), -EBADF);
        ck_assert_int_eq(fd_count(), before);

        ck_assert_int_eq(map_fd(fd, 0, &m), 0);
        ck_assert_mem_eq(data(m), "api", 3);
        ck_assert_uint_eq(size(m), 3);
        ck_assert_int_eq(kind(m), SAFE_MMAP_SEALED_MEMFD);
        ck_assert_int_ge(fd_of(m), 0);
        ck_assert_ptr_null(free_map(m));
        ck_assert_int_eq(map_fd(-1, 0, &m), -EBADF);
        ck_assert_int_eq(fd_count(), before);

        ck_assert_int_eq(map_fd_unsafe(fd, 0, 0, 0, &m), 0);
        ck_assert_int_eq(kind(m), SAFE_MMAP_UNVERIFIED);
        ck_assert_ptr_null(free_map(m));
        ck_assert_int_eq(map_fd_unsafe(fd, 1, 0, 0, &m), -EINVAL);
        ck_assert_int_eq(fd_count(), before);

        ck_assert_int_eq(snapshot_fd(fd, SAFE_MMAP_NO_DAEMON, &m), 0);
        ck_assert_mem_eq(data(m), "api", 3);
        ck_assert_ptr_null(free_map(m));
        ck_assert_int_eq(snapshot_fd(-1, SAFE_MMAP_NO_DAEMON, &m), -EBADF);
        ck_assert_int_eq(fd_count(), before);

        ck_assert_int_eq(snapshot(path, SAFE_MMAP_NO_DAEMON, &m), 0);
        ck_assert_mem_eq(data(m), "file", 4);
        ck_assert_ptr_null(free_map(m));
        ck_assert_int_eq(snapshot("", SAFE_MMAP_NO_DAEMON, &m), -EINVAL);
        ck_assert_int_eq(fd_count(), before);

        {
                unsigned (*flags_of)(const safe_mmap *) = safe_mmap_flags;
                int (*map_fd_range)(int, uint64_t, uint64_t, unsigned, safe_mmap **) = safe_mmap_map_fd_range;
                int (*map_fd_verity)(int, unsigned, const uint8_t *, size_t, unsigned, safe_mmap **) =
                        safe_mmap_map_fd_verity;
                int (*verity_digest)(const safe_mmap *, unsigned *, uint8_t *, size_t) = safe_mmap_verity_digest;
                int (*seal_bytes)(const void *, size_t, int *) = safe_mmap_seal_bytes;
                uint8_t digest[32] = { 0 };
                int sealed = -1;

                ck_assert_int_eq(map_fd_range(fd, 1, 2, 0, &m), 0);
                ck_assert_mem_eq(data(m), "pi", 2);
                ck_assert_uint_eq(flags_of(m), SAFE_MMAP_AS_GIVEN | SAFE_MMAP_CONSISTENT);
                ck_assert_int_eq(verity_digest(m, NULL, digest, sizeof(digest)), -ENODATA);
                ck_assert_ptr_null(free_map(m));
                ck_assert_int_eq(map_fd_verity(fd, SAFE_MMAP_VERITY_SHA256, digest, 32, 0, &m), -ENODATA);
                ck_assert_int_eq(seal_bytes("api", 3, &sealed), 0);
                ck_assert_int_eq(check_fd(sealed, &k, &sz), 0);
                close(sealed);
                ck_assert_int_eq(fd_count(), before);
        }

        ck_assert_ptr_null(data(NULL));
        ck_assert_uint_eq(size(NULL), 0);
        ck_assert_int_eq(kind(NULL), -EINVAL);
        ck_assert_int_eq(fd_of(NULL), -EINVAL);
        ck_assert_ptr_null(free_map(NULL));
        free(path);
        close(fd);
}
END_TEST

int main(void) {
        Suite *s = suite_create("unit");
        TCase *tc = tcase_create("api");

        tcase_add_test(tc, test_exported_from_shared_object);
        tcase_add_test(tc, test_call_each);
        suite_add_tcase(s, tc);
        return run_suite(s, NULL);
}
