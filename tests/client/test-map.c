/* SPDX-License-Identifier: Apache-2.0 OR MIT */
/*
 * What a mapping is once made: read-only and private, independent of the
 * caller's descriptor, with a close-on-exec read-only descriptor behind it;
 * the accessors; SAFE_MMAP_POPULATE; and safe_mmap_map_fd_unsafe(), which
 * maps without proof but still checks its arguments.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "client-test.h"

/* The /proc/self/smaps block of the mapping that starts at @addr: perms and Rss. */
static int mapping_info(const void *addr, char perms[static 5], uint64_t *ret_rss_kb) {
        FILE *f = fopen("/proc/self/smaps", "re");
        char line[512];
        int found = 0;

        ck_assert_ptr_nonnull(f);
        while (fgets(line, sizeof(line), f)) {
                uintptr_t start, end;
                char p[5];

                if (sscanf(line, "%" SCNxPTR "-%" SCNxPTR " %4s", &start, &end, p) == 3) {
                        if (found)
                                break;
                        if (start == (uintptr_t) addr) {
                                memcpy(perms, p, 5);
                                found = 1;
                        }
                        continue;
                }
                if (found && sscanf(line, "Rss: %" SCNu64 " kB", ret_rss_kb) == 1)
                        break;
        }
        fclose(f);
        return found ? 0 : -ENOENT;
}

/* Writes to the mapping in a child; returns its wait status. */
static int write_in_child(const void *data) {
        int status;
        pid_t pid = fork();

        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
                /* Sanitizers catch SIGSEGV to print a report; the kernel's verdict is wanted. */
                signal(SIGSEGV, SIG_DFL);
                signal(SIGBUS, SIG_DFL);
                *(volatile char *) (uintptr_t) data = 'X';
                _exit(0);
        }
        ck_assert_int_eq(waitpid(pid, &status, 0), pid);
        return status;
}

static void assert_read_only_private(safe_mmap *m, const void *want) {
        uint64_t rss = 0;
        char perms[5];
        int status;

        ck_assert_int_eq(mapping_info(safe_mmap_data(m), perms, &rss), 0);
        ck_assert_msg(strcmp(perms, "r--p") == 0, "mapping has permissions %s, expected r--p", perms);

        status = write_in_child(safe_mmap_data(m));
        ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGSEGV,
                      "writing to the mapping did not die with SIGSEGV (wait status %#x)", status);
        /* And nothing changed here either. */
        assert_bytes_eq(safe_mmap_data(m), want, 1);
}

START_TEST(test_read_only) {
        size_t size = 2 * page_size();
        void *data = pattern_new(size, 1);
        int memfd = memfd_new(MFD_ALLOW_SEALING, data, size, SEALS_IMMUTABLE | F_SEAL_SEAL);
        int disk = disk_file_new(data, size, O_RDWR);
        safe_mmap *m;

        m = expect_map_fd(memfd, 0, 0);
        assert_read_only_private(m, data);
        mapping_release(m);

        m = expect_map_fd(memfd, SAFE_MMAP_POPULATE, 0);
        assert_read_only_private(m, data);
        mapping_release(m);

        /* Even from a writable descriptor of a writable file. */
        m = expect_map_fd_unsafe(disk, 0, 0, 0, 0);
        assert_read_only_private(m, data);
        mapping_release(m);

        close(disk);
        close(memfd);
        free(data);
}
END_TEST

START_TEST(test_survives_close) {
        size_t size = 5 * page_size() + 1;
        void *data = pattern_new(size, 2);
        int fd = memfd_new(MFD_ALLOW_SEALING, data, size, SEALS_IMMUTABLE);
        safe_mmap *m = expect_map_fd(fd, 0, 0);
        struct stat a, b;

        ck_assert_int_ne(safe_mmap_fd(m), fd);
        ck_assert_int_eq(fstat(fd, &a), 0);
        ck_assert_int_eq(fstat(safe_mmap_fd(m), &b), 0);
        ck_assert(a.st_dev == b.st_dev && a.st_ino == b.st_ino);

        close(fd);
        mapping_adjust(m, -1);
        assert_bytes_eq(safe_mmap_data(m), data, size);
        expect_check_fd(safe_mmap_fd(m), 0, NULL, NULL);
        mapping_release(m);
        free(data);
}
END_TEST

START_TEST(test_fd_flags) {
        int fd = memfd_new(MFD_ALLOW_SEALING, "abcdef", 6, SEALS_IMMUTABLE);
        int ro = fd_reopen(fd, O_RDONLY);
        safe_mmap *m;

        /* The caller's descriptors are inheritable; the library's must not be. */
        ck_assert_int_eq(fcntl(fd, F_SETFD, 0), 0);
        ck_assert_int_eq(fcntl(ro, F_SETFD, 0), 0);

        /* A duplicate: the caller's description (O_RDWR here, harmless once sealed). */
        m = expect_map_fd(fd, 0, 0);
        assert_fd_shares_description(fd, safe_mmap_fd(m));
        ck_assert_int_eq(fcntl(fd, F_GETFD), 0);
        mapping_release(m);

        m = expect_map_fd(ro, 0, 0);
        assert_fd_shares_description(ro, safe_mmap_fd(m));
        ck_assert_int_eq(fcntl(safe_mmap_fd(m), F_GETFL) & O_ACCMODE, O_RDONLY);
        ck_assert_int_eq(fcntl(ro, F_GETFD), 0);
        mapping_release(m);

        close(ro);
        close(fd);
}
END_TEST

START_TEST(test_accessors_null) {
        int before = fd_count();

        ck_assert_ptr_null(safe_mmap_data(NULL));
        ck_assert_uint_eq(safe_mmap_size(NULL), 0);
        ck_assert_int_eq(safe_mmap_kind(NULL), -EINVAL);
        ck_assert_int_eq(safe_mmap_fd(NULL), -EINVAL);
        ck_assert_ptr_null(safe_mmap_free(NULL));
        ck_assert_int_eq(fd_count(), before);
}
END_TEST

START_TEST(test_accessors) {
        size_t size = 3 * page_size();
        void *data = pattern_new(size, 3);
        int fd = memfd_new(MFD_ALLOW_SEALING, data, size, SEALS_IMMUTABLE);
        safe_mmap *m = expect_map_fd(fd, 0, 0);
        const void *p = safe_mmap_data(m);

        /* Stable across calls; the data is page-aligned as mmap() returns it. */
        ck_assert_ptr_eq(safe_mmap_data(m), p);
        ck_assert_uint_eq((uintptr_t) p % page_size(), 0);
        ck_assert_uint_eq(safe_mmap_size(m), size);
        ck_assert_int_eq(safe_mmap_kind(m), SAFE_MMAP_SEALED_MEMFD);
        ck_assert_int_ge(safe_mmap_fd(m), 3);
        ck_assert_int_eq(safe_mmap_fd(m), safe_mmap_fd(m));
        mapping_release(m);
        close(fd);
        free(data);
}
END_TEST

START_TEST(test_size_zero) {
        int fd = memfd_new(MFD_ALLOW_SEALING, NULL, 0, SEALS_IMMUTABLE);
        int disk = disk_file_new(NULL, 0, O_RDONLY);
        safe_mmap *m;

        m = expect_map_fd(fd, 0, 0);
        ck_assert_ptr_nonnull(safe_mmap_data(m));
        ck_assert_uint_eq(safe_mmap_size(m), 0);
        ck_assert_int_eq(safe_mmap_kind(m), SAFE_MMAP_SEALED_MEMFD);
        assert_fd_shares_description(fd, safe_mmap_fd(m));
        mapping_release(m);

        m = expect_map_fd(fd, SAFE_MMAP_POPULATE, 0);
        ck_assert_ptr_nonnull(safe_mmap_data(m));
        ck_assert_uint_eq(safe_mmap_size(m), 0);
        mapping_release(m);

        m = expect_map_fd_unsafe(disk, 0, 0, 0, 0);
        ck_assert_ptr_nonnull(safe_mmap_data(m));
        ck_assert_uint_eq(safe_mmap_size(m), 0);
        ck_assert_int_eq(safe_mmap_kind(m), SAFE_MMAP_UNVERIFIED);
        mapping_release(m);

        close(disk);
        close(fd);
}
END_TEST

START_TEST(test_populate) {
        size_t p = page_size(), size = 64 * p + 1, pages = 65;
        void *data = pattern_new(size, 4);
        int fd = memfd_new(MFD_ALLOW_SEALING, data, size, SEALS_IMMUTABLE);
        int disk = disk_file_new(data, size, O_RDONLY);
        uint64_t rss = 0;
        char perms[5];
        safe_mmap *m;

        m = expect_map_fd(fd, SAFE_MMAP_POPULATE, 0);
        /* Prefaulted: every page is in the page tables before anyone reads. */
        ck_assert_int_eq(mapping_info(safe_mmap_data(m), perms, &rss), 0);
        ck_assert_msg(rss * 1024 >= pages * p, "Rss after POPULATE is %" PRIu64 " kB, want %zu kB", rss,
                      pages * p / 1024);
        assert_bytes_eq(safe_mmap_data(m), data, size);
        mapping_release(m);

        m = expect_map_fd_unsafe(disk, 0, 0, SAFE_MMAP_POPULATE, 0);
        ck_assert_int_eq(mapping_info(safe_mmap_data(m), perms, &rss), 0);
        ck_assert_msg(rss * 1024 >= pages * p, "Rss after POPULATE is %" PRIu64 " kB, want %zu kB", rss,
                      pages * p / 1024);
        assert_bytes_eq(safe_mmap_data(m), data, size);
        mapping_release(m);

        close(disk);
        close(fd);
        free(data);
}
END_TEST

START_TEST(test_unsafe_disk) {
        size_t p = page_size(), size = 5 * p + 100;
        void *data = pattern_new(size, 5);
        int fd = disk_file_new(data, size, O_RDONLY);
        safe_mmap *m;

        m = expect_map_fd_unsafe(fd, 0, 0, 0, 0);
        ck_assert_int_eq(safe_mmap_kind(m), SAFE_MMAP_UNVERIFIED);
        ck_assert_uint_eq(safe_mmap_size(m), size);
        assert_bytes_eq(safe_mmap_data(m), data, size);
        assert_fd_shares_description(fd, safe_mmap_fd(m));
        mapping_release(m);

        /* Offset page-aligned, length 0: to the end of the file. */
        m = expect_map_fd_unsafe(fd, p, 0, 0, 0);
        ck_assert_uint_eq(safe_mmap_size(m), size - p);
        assert_bytes_eq(safe_mmap_data(m), (char *) data + p, size - p);
        mapping_release(m);

        m = expect_map_fd_unsafe(fd, 2 * p, p, 0, 0);
        ck_assert_uint_eq(safe_mmap_size(m), p);
        assert_bytes_eq(safe_mmap_data(m), (char *) data + 2 * p, p);
        mapping_release(m);

        m = expect_map_fd_unsafe(fd, 0, 100, SAFE_MMAP_POPULATE, 0);
        ck_assert_uint_eq(safe_mmap_size(m), 100);
        assert_bytes_eq(safe_mmap_data(m), data, 100);
        mapping_release(m);

        /* The whole file as an explicit length, up to the last byte. */
        m = expect_map_fd_unsafe(fd, 5 * p, 100, 0, 0);
        ck_assert_uint_eq(safe_mmap_size(m), 100);
        assert_bytes_eq(safe_mmap_data(m), (char *) data + 5 * p, 100);
        mapping_release(m);

        /* Independent of the caller's descriptor. */
        m = expect_map_fd_unsafe(fd, 0, 0, 0, 0);
        ck_assert_int_ne(safe_mmap_fd(m), fd);
        close(fd);
        mapping_adjust(m, -1);
        assert_bytes_eq(safe_mmap_data(m), data, size);
        mapping_release(m);
        free(data);
}
END_TEST

START_TEST(test_unsafe_sealed_memfd) {
        int fd = memfd_new(MFD_ALLOW_SEALING, "sealed", 6, SEALS_IMMUTABLE);
        safe_mmap *m = expect_map_fd_unsafe(fd, 0, 0, 0, 0);

        /* No proof was asked for, so none is claimed. */
        ck_assert_int_eq(safe_mmap_kind(m), SAFE_MMAP_UNVERIFIED);
        assert_bytes_eq(safe_mmap_data(m), "sealed", 6);
        mapping_release(m);
        close(fd);
}
END_TEST

START_TEST(test_unsafe_fd_shared) {
        int fd = disk_file_new("writable", 8, O_RDWR);
        safe_mmap *m = expect_map_fd_unsafe(fd, 0, 0, 0, 0);

        /* No proof, no reopening: the caller's description, writable as the caller's is. */
        assert_fd_shares_description(fd, safe_mmap_fd(m));
        ck_assert_int_eq(fcntl(safe_mmap_fd(m), F_GETFL) & O_ACCMODE, O_RDWR);
        mapping_release(m);
        close(fd);
}
END_TEST

START_TEST(test_unsafe_bad_args) {
        size_t p = page_size();
        int fd = disk_file_new(NULL, 4 * p, O_RDONLY);
        int before = fd_count();

        expect_map_fd_unsafe(fd, 1, 0, 0, -EINVAL);
        expect_map_fd_unsafe(fd, p - 1, 0, 0, -EINVAL);
        expect_map_fd_unsafe(fd, p + 1, 10, 0, -EINVAL);
        expect_map_fd_unsafe(fd, p / 2, p, 0, -EINVAL);
        expect_map_fd_unsafe(fd, p, UINT64_MAX, 0, -EINVAL);
        expect_map_fd_unsafe(fd, p, UINT64_MAX - p + 1, 0, -EINVAL);
        expect_map_fd_unsafe(fd, UINT64_MAX - p + 1, p, 0, -EINVAL);
        expect_map_fd_unsafe(fd, 0, 10, 1u << 5, -EINVAL);
        expect_map_fd_unsafe(fd, 0, 10, ~0u, -EINVAL);
        ck_assert_int_eq(safe_mmap_map_fd_unsafe(fd, 0, 0, 0, NULL), -EINVAL);
        ck_assert_int_eq(fd_count(), before);
        close(fd);
}
END_TEST

/* Any offset, any length within the file: data points at the byte asked for, size is the range. */
START_TEST(test_range) {
        size_t p = page_size(), size = 3 * p + 123;
        void *data = pattern_new(size, 21);
        int fd = memfd_new(MFD_ALLOW_SEALING, data, size, SEALS_SNAPSHOT);
        const uint64_t offsets[] = { 0, 1, p - 1, p, p + 1, 2 * p + 7, size - 1, size };

        for (size_t i = 0; i < sizeof(offsets) / sizeof(offsets[0]); i++) {
                uint64_t off = offsets[i], lengths[] = { 0, 1, size - off };

                for (size_t j = 0; j < sizeof(lengths) / sizeof(lengths[0]); j++) {
                        uint64_t len = lengths[j] > size - off ? size - off : lengths[j];
                        uint64_t want = lengths[j] == 0 ? size - off : len;
                        safe_mmap *m = expect_map_fd_range(fd, off, lengths[j] > size - off ? 0 : lengths[j],
                                                           j == 1 ? SAFE_MMAP_POPULATE : 0, 0);

                        ck_assert_uint_eq(safe_mmap_size(m), want);
                        ck_assert_int_eq(safe_mmap_kind(m), SAFE_MMAP_SEALED_MEMFD);
                        ck_assert_uint_eq(safe_mmap_flags(m), SAFE_MMAP_AS_GIVEN | SAFE_MMAP_CONSISTENT);
                        assert_bytes_eq(safe_mmap_data(m), (const char *) data + off, want);
                        assert_fd_shares_description(fd, safe_mmap_fd(m));
                        mapping_release(m);
                }
        }
        close(fd);
        free(data);
}
END_TEST

/* Only the pages of the range are mapped: the rest of a large file costs no address space. */
START_TEST(test_range_maps_only_the_range) {
        size_t p = page_size();
        int fd = memfd_new(MFD_ALLOW_SEALING, NULL, 64 * p, SEALS_SNAPSHOT);
        char perms[5];
        uint64_t rss;
        safe_mmap *m = expect_map_fd_range(fd, 10 * p + 5, 10, 0, 0);
        const char *base = (const char *) safe_mmap_data(m) - 5;

        ck_assert_int_eq(mapping_info(base, perms, &rss), 0);
        ck_assert_str_eq(perms, "r--p");
        /* The mapping starts at the page holding the range and is that one page long. */
        {
                FILE *f = fopen("/proc/self/maps", "re");
                char line[512];
                uintptr_t start, end, len = 0;

                ck_assert_ptr_nonnull(f);
                while (fgets(line, sizeof(line), f))
                        if (sscanf(line, "%" SCNxPTR "-%" SCNxPTR, &start, &end) == 2 && start == (uintptr_t) base)
                                len = end - start;
                fclose(f);
                ck_assert_uint_eq(len, p);
        }
        mapping_release(m);
        close(fd);
}
END_TEST

START_TEST(test_range_bad_args) {
        size_t p = page_size();
        int fd = memfd_new(MFD_ALLOW_SEALING, NULL, 2 * p, SEALS_SNAPSHOT);
        int before = fd_count();

        expect_map_fd_range(fd, 2 * p + 1, 0, 0, -EINVAL);
        expect_map_fd_range(fd, 0, 2 * p + 1, 0, -EINVAL);
        expect_map_fd_range(fd, p, p + 1, 0, -EINVAL);
        expect_map_fd_range(fd, 1, UINT64_MAX, 0, -EINVAL);
        expect_map_fd_range(fd, UINT64_MAX, 1, 0, -EINVAL);
        expect_map_fd_range(fd, UINT64_MAX, 0, 0, -EINVAL);
        expect_map_fd_range(fd, 0, 1, 1u << 1, -EINVAL);
        expect_map_fd_range(fd, 0, 1, ~0u, -EINVAL);
        ck_assert_int_eq(safe_mmap_map_fd_range(fd, 0, 1, 0, NULL), -EINVAL);
        ck_assert_int_eq(fd_count(), before);
        close(fd);
}
END_TEST

START_TEST(test_range_bad_fds) {
        int sealed = memfd_new(MFD_ALLOW_SEALING, "abc", 3, SEALS_IMMUTABLE);
        int unsealed = memfd_new(MFD_ALLOW_SEALING, "abc", 3, F_SEAL_WRITE | F_SEAL_SHRINK);
        int path = fd_reopen(sealed, O_PATH), wronly = fd_reopen(sealed, O_WRONLY);
        int disk = disk_file_new("abc", 3, O_RDONLY), p[2];

        ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
        expect_map_fd_range(-1, 0, 1, 0, -EBADF);
        expect_map_fd_range(path, 0, 1, 0, -EBADF);
        expect_map_fd_range(wronly, 0, 1, 0, -EBADF);
        expect_map_fd_range(unsealed, 0, 1, 0, -EBADFD);
        expect_map_fd_range(disk, 0, 1, 0, -EBADFD);
        expect_map_fd_range(p[0], 0, 1, 0, -EBADFD);
        /* Unproven files are refused before their size is looked at. */
        expect_map_fd_range(disk, 100, 1, 0, -EBADFD);
        close(p[0]);
        close(p[1]);
        close(disk);
        close(wronly);
        close(path);
        close(unsealed);
        close(sealed);
}
END_TEST

/*
 * map_fd*() let the read-only mapping itself prove that the descriptor is
 * readable. Where nothing is mapped (an empty file), or another step fails
 * first, the access mode must still be checked, and still come first: a
 * descriptor wrong in several ways fails with -EBADF, as with check_fd().
 */
START_TEST(test_access_mode_first) {
        int sealed = memfd_new(MFD_ALLOW_SEALING, "abc", 3, SEALS_IMMUTABLE);
        int empty = memfd_new(MFD_ALLOW_SEALING, NULL, 0, SEALS_IMMUTABLE);
        int unsealed = memfd_new(MFD_ALLOW_SEALING, "abc", 3, F_SEAL_WRITE | F_SEAL_SHRINK);
        /* Access mode 3: the kernel checked read and write permission, yet nothing can be read. */
        int ioctl_only = fd_reopen(sealed, O_ACCMODE);
        int empty_wronly = fd_reopen(empty, O_WRONLY), empty_path = fd_reopen(empty, O_PATH);
        int unsealed_wronly = fd_reopen(unsealed, O_WRONLY), sealed_wronly = fd_reopen(sealed, O_WRONLY);
        uint8_t digest[32] = { 0 };

        ck_assert_int_ge(ioctl_only, 0);
        ck_assert_int_ge(empty_wronly, 0);
        ck_assert_int_ge(empty_path, 0);
        ck_assert_int_ge(unsealed_wronly, 0);
        ck_assert_int_ge(sealed_wronly, 0);

        expect_map_fd(ioctl_only, 0, -EBADF);
        expect_map_fd_range(ioctl_only, 0, 1, 0, -EBADF);
        expect_map_fd(empty_wronly, 0, -EBADF);
        expect_map_fd(empty_wronly, SAFE_MMAP_POPULATE, -EBADF);
        expect_map_fd(empty_path, 0, -EBADF);
        expect_map_fd_range(empty_wronly, 0, 0, 0, -EBADF);
        /* Unsealed and write-only: the access mode is the first step that fails. */
        expect_map_fd(unsealed_wronly, 0, -EBADF);
        expect_map_fd_range(unsealed_wronly, 0, 1, 0, -EBADF);
        /* Past the end and write-only; no verity and write-only. */
        expect_map_fd_range(sealed_wronly, 100, 1, 0, -EBADF);
        expect_map_fd_verity(sealed_wronly, SAFE_MMAP_VERITY_SHA256, digest, 32, 0, -EBADF);
        expect_map_fd_verity(ioctl_only, SAFE_MMAP_VERITY_SHA256, digest, 32, 0, -EBADF);
        /* The same files through readable descriptors pass (or fail for their own reason). */
        mapping_release(expect_map_fd(sealed, 0, 0));
        mapping_release(expect_map_fd(empty, 0, 0));
        expect_map_fd(unsealed, 0, -EBADFD);
        expect_map_fd_range(sealed, 100, 1, 0, -EINVAL);
        expect_map_fd_verity(sealed, SAFE_MMAP_VERITY_SHA256, digest, 32, 0, -ENODATA);

        close(sealed_wronly);
        close(unsealed_wronly);
        close(empty_path);
        close(empty_wronly);
        close(ioctl_only);
        close(unsealed);
        close(empty);
        close(sealed);
}
END_TEST

/* Host-side fs-verity API: what is not an fs-verity mapping has no digest. */
START_TEST(test_verity_api_without_verity) {
        int sealed = memfd_new(MFD_ALLOW_SEALING, "abc", 3, SEALS_SNAPSHOT);
        int disk = disk_file_new("abc", 3, O_RDONLY);
        uint8_t buf[SAFE_MMAP_VERITY_DIGEST_MAX] = { 0 }, digest[64] = { 0 };
        safe_mmap *m;

        ck_assert_int_eq(safe_mmap_verity_digest(NULL, NULL, buf, sizeof(buf)), -EINVAL);
        m = expect_map_fd(sealed, 0, 0);
        expect_verity_digest(m, buf, sizeof(buf), -ENODATA);
        expect_verity_digest(m, NULL, 0, -ENODATA);
        expect_verity_digest(m, NULL, 1, -EINVAL);
        mapping_release(m);
        m = expect_map_fd_unsafe(disk, 0, 0, 0, 0);
        /* Mapped as given, and nothing proven about it. */
        ck_assert_uint_eq(safe_mmap_flags(m), SAFE_MMAP_AS_GIVEN);
        expect_verity_digest(m, buf, sizeof(buf), -ENODATA);
        mapping_release(m);

        expect_map_fd_verity(sealed, SAFE_MMAP_VERITY_SHA256, digest, 32, 0, -ENODATA);
        expect_map_fd_verity(sealed, SAFE_MMAP_VERITY_SHA512, digest, 64, 0, -ENODATA);
        expect_map_fd_verity(disk, SAFE_MMAP_VERITY_SHA256, digest, 32, 0, -EBADFD);
        expect_map_fd_verity(-1, SAFE_MMAP_VERITY_SHA256, digest, 32, 0, -EBADF);
        expect_map_fd_verity(sealed, SAFE_MMAP_VERITY_SHA256, NULL, 32, 0, -EINVAL);
        expect_map_fd_verity(sealed, SAFE_MMAP_VERITY_SHA256, digest, 64, 0, -EINVAL);
        expect_map_fd_verity(sealed, SAFE_MMAP_VERITY_SHA512, digest, 32, 0, -EINVAL);
        expect_map_fd_verity(sealed, 3, digest, 32, 0, -EINVAL);
        expect_map_fd_verity(sealed, SAFE_MMAP_VERITY_SHA256, digest, 32, 1u << 1, -EINVAL);
        ck_assert_int_eq(safe_mmap_map_fd_verity(sealed, SAFE_MMAP_VERITY_SHA256, digest, 32, 0, NULL), -EINVAL);
        ck_assert_uint_eq(safe_mmap_flags(NULL), 0);
        close(disk);
        close(sealed);
}
END_TEST

START_TEST(test_unsafe_bad_fds) {
        int sealed = memfd_new(MFD_ALLOW_SEALING, "abc", 3, SEALS_IMMUTABLE);
        int path = fd_reopen(sealed, O_PATH);
        int wronly = fd_reopen(sealed, O_WRONLY);
        int closed = fd_reopen(sealed, O_RDONLY);
        int p[2], s[2];

        ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
        ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, s), 0);
        /* Closed last, so that nothing above reuses its number. */
        close(closed);

        expect_map_fd_unsafe(p[0], 0, 0, 0, -ENODEV);
        expect_map_fd_unsafe(p[0], 0, 4096, 0, -ENODEV);
        expect_map_fd_unsafe(s[0], 0, 0, 0, -ENODEV);
        expect_map_fd_unsafe(path, 0, 0, 0, -EBADF);
        expect_map_fd_unsafe(wronly, 0, 0, 0, -EBADF);
        expect_map_fd_unsafe(closed, 0, 0, 0, -EBADF);
        expect_map_fd_unsafe(-1, 0, 0, 0, -EBADF);

        close(s[0]);
        close(s[1]);
        close(p[0]);
        close(p[1]);
        close(wronly);
        close(path);
        close(sealed);
}
END_TEST

START_TEST(test_emfile) {
        int memfd = memfd_new(MFD_ALLOW_SEALING, "limits", 6, SEALS_IMMUTABLE);
        int kind = 0;
        uint64_t size = 0;
        safe_mmap *m;

        fds_exhaust();
        /* A check needs no descriptor of its own. */
        expect_check_fd(memfd, 0, &kind, &size);
        ck_assert_uint_eq(size, 6);
        /* A mapping keeps one: without a free slot, a clean -EMFILE. */
        expect_map_fd(memfd, 0, -EMFILE);
        expect_map_fd_unsafe(memfd, 0, 0, 0, -EMFILE);
        expect_map_fd_range(memfd, 1, 2, 0, -EMFILE);
        {
                uint8_t digest[32] = { 0 };

                expect_map_fd_verity(memfd, SAFE_MMAP_VERITY_SHA256, digest, 32, 0, -EMFILE);
        }

        /* Exactly one free slot is enough. */
        fds_release(1);
        m = expect_map_fd(memfd, 0, 0);
        assert_bytes_eq(safe_mmap_data(m), "limits", 6);
        mapping_release(m);
        m = expect_map_fd_unsafe(memfd, 0, 0, 0, 0);
        mapping_release(m);
        m = expect_map_fd_range(memfd, 1, 2, 0, 0);
        assert_bytes_eq(safe_mmap_data(m), "im", 2);
        mapping_release(m);

        fds_restore();
        close(memfd);
}
END_TEST

struct worker {
        int memfd, disk;
        const void *data;
        size_t size;
        int failures;
};

static void *worker_run(void *arg) {
        struct worker *w = arg;

        for (int i = 0; i < 200; i++) {
                safe_mmap *m = NULL, *u = NULL;

                if (safe_mmap_map_fd(w->memfd, i % 2 ? SAFE_MMAP_POPULATE : 0, &m) < 0 ||
                    safe_mmap_size(m) != w->size || memcmp(safe_mmap_data(m), w->data, w->size) != 0)
                        w->failures++;
                if (safe_mmap_map_fd_unsafe(w->disk, 0, 0, 0, &u) < 0 || safe_mmap_size(u) != w->size ||
                    memcmp(safe_mmap_data(u), w->data, w->size) != 0)
                        w->failures++;
                if (safe_mmap_check_fd(w->disk, NULL, NULL) != -EBADFD)
                        w->failures++;
                m = safe_mmap_free(m);
                u = safe_mmap_free(u);
        }
        return NULL;
}

START_TEST(test_threads) {
        size_t size = 3 * page_size() + 1;
        void *data = pattern_new(size, 9);
        struct worker w[4];
        pthread_t t[4];
        int before;

        w[0] = (struct worker) {
                .memfd = memfd_new(MFD_ALLOW_SEALING, data, size, SEALS_IMMUTABLE),
                .disk = disk_file_new(data, size, O_RDONLY),
                .data = data,
                .size = size,
        };
        for (size_t i = 1; i < 4; i++)
                w[i] = w[0];
        before = fd_count();
        for (size_t i = 0; i < 4; i++)
                ck_assert_int_eq(pthread_create(&t[i], NULL, worker_run, &w[i]), 0);
        for (size_t i = 0; i < 4; i++) {
                ck_assert_int_eq(pthread_join(t[i], NULL), 0);
                ck_assert_int_eq(w[i].failures, 0);
        }
        ck_assert_int_eq(fd_count(), before);
        close(w[0].disk);
        close(w[0].memfd);
        free(data);
}
END_TEST

START_TEST(test_never_prints) {
        int memfd = memfd_new(MFD_ALLOW_SEALING, "quiet", 5, SEALS_IMMUTABLE);
        int unsealed = memfd_new(MFD_ALLOW_SEALING, "loud", 4, 0);
        int p[2], saved_out, saved_err;
        char buf[256];
        ssize_t n;
        safe_mmap *m;

        ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
        fflush(stdout);
        fflush(stderr);
        saved_out = dup(STDOUT_FILENO);
        saved_err = dup(STDERR_FILENO);
        ck_assert(saved_out >= 0 && saved_err >= 0);
        ck_assert_int_eq(dup2(p[1], STDOUT_FILENO), STDOUT_FILENO);
        ck_assert_int_eq(dup2(p[1], STDERR_FILENO), STDERR_FILENO);

        (void) safe_mmap_check_fd(unsealed, NULL, NULL);
        (void) safe_mmap_check_fd(-1, NULL, NULL);
        (void) safe_mmap_map_fd(unsealed, 0, &m);
        (void) safe_mmap_map_fd(memfd, ~0u, &m);
        (void) safe_mmap_map_fd_unsafe(memfd, 1, 0, 0, &m);
        (void) safe_mmap_snapshot("/nonexistent/safe-mmap", SAFE_MMAP_NO_DAEMON, &m);
        (void) safe_mmap_snapshot_fd(-1, 0, &m);
        if (safe_mmap_map_fd(memfd, 0, &m) == 0)
                m = safe_mmap_free(m);
        (void) safe_mmap_kind(NULL);
        fflush(stdout);
        fflush(stderr);

        ck_assert_int_eq(dup2(saved_out, STDOUT_FILENO), STDOUT_FILENO);
        ck_assert_int_eq(dup2(saved_err, STDERR_FILENO), STDERR_FILENO);
        close(saved_out);
        close(saved_err);
        close(p[1]);
        n = read(p[0], buf, sizeof(buf) - 1);
        if (n > 0)
                buf[n] = '\0';
        /* Every write end is closed again: an empty pipe reads as end of file. */
        ck_assert_msg(n == 0, "the library wrote to stdout or stderr: \"%s\"", n > 0 ? buf : "");
        close(p[0]);
        close(unsealed);
        close(memfd);
}
END_TEST

/* Virtual memory in use now, in bytes. */
static uint64_t vm_size(void) {
        FILE *f = fopen("/proc/self/status", "re");
        char line[256];
        uint64_t kb = 0;

        ck_assert_ptr_nonnull(f);
        while (fgets(line, sizeof(line), f))
                if (sscanf(line, "VmSize: %" SCNu64 " kB", &kb) == 1)
                        break;
        fclose(f);
        ck_assert_uint_gt(kb, 0);
        return kb * 1024;
}

START_TEST(test_enomem) {
        uint64_t big = UINT64_C(1) << 30;
        int memfd = memfd_new(MFD_ALLOW_SEALING, NULL, (size_t) big, SEALS_IMMUTABLE);
        int disk = disk_file_new(NULL, (size_t) big, O_RDONLY);
        struct rlimit saved, rl;
        safe_mmap *m;

        /* Room for the test's own allocations, not for a 1 GiB mapping: mmap() fails with
         * ENOMEM after the proof, and that path must give back the duplicate too. */
        ck_assert_int_eq(getrlimit(RLIMIT_AS, &saved), 0);
        rl = saved;
        rl.rlim_cur = (rlim_t) (vm_size() + (UINT64_C(64) << 20));
        ck_assert_int_eq(setrlimit(RLIMIT_AS, &rl), 0);
        expect_map_fd(memfd, 0, -ENOMEM);
        expect_map_fd(memfd, SAFE_MMAP_POPULATE, -ENOMEM);
        expect_map_fd_unsafe(disk, 0, 0, 0, -ENOMEM);
        expect_map_fd_range(memfd, 5, big - 10, 0, -ENOMEM);
        m = expect_map_fd_range(memfd, big - 5000, 100, 0, 0);
        mapping_release(m);
        ck_assert_int_eq(setrlimit(RLIMIT_AS, &saved), 0);

        m = expect_map_fd(memfd, 0, 0);
        ck_assert_uint_eq(safe_mmap_size(m), big);
        mapping_release(m);
        close(disk);
        close(memfd);
}
END_TEST

START_TEST(test_huge_sparse) {
        /* 4 EiB: a memfd may be that large (sparse), no address space is. */
        int fd = memfd_new(MFD_ALLOW_SEALING, NULL, 0, 0), before, r;
        uint64_t size = 0;
        safe_mmap *m = SENTINEL_MAP;

        ck_assert_int_eq(ftruncate(fd, (off_t) (UINT64_C(1) << 62)), 0);
        ck_assert_int_eq(fcntl(fd, F_ADD_SEALS, SEALS_SNAPSHOT), 0);
        expect_check_fd(fd, 0, NULL, &size);
        ck_assert_uint_eq(size, UINT64_C(1) << 62);

        /* The header names both: -ENOMEM (the mapping failed) and -EFBIG (does not fit). */
        before = fd_count();
        r = safe_mmap_map_fd(fd, 0, &m);
        ck_assert_msg(r == -ENOMEM || r == -EFBIG, "safe_mmap_map_fd() of 4 EiB = %d", r);
        ck_assert_ptr_eq(m, SENTINEL_MAP);
        r = safe_mmap_map_fd_unsafe(fd, 0, 0, 0, &m);
        ck_assert_msg(r == -ENOMEM || r == -EFBIG, "safe_mmap_map_fd_unsafe() of 4 EiB = %d", r);
        ck_assert_ptr_eq(m, SENTINEL_MAP);
        r = safe_mmap_map_fd_range(fd, 1, (UINT64_C(1) << 62) - 1, 0, &m);
        ck_assert_msg(r == -ENOMEM || r == -EFBIG, "safe_mmap_map_fd_range() of 4 EiB = %d", r);
        ck_assert_ptr_eq(m, SENTINEL_MAP);
        ck_assert_int_eq(fd_count(), before);

        /* A range maps only its pages: the last bytes of 4 EiB fit anywhere. */
        m = expect_map_fd_range(fd, (UINT64_C(1) << 62) - 10, 0, SAFE_MMAP_POPULATE, 0);
        ck_assert_uint_eq(safe_mmap_size(m), 10);
        assert_bytes_eq(safe_mmap_data(m), "\0\0\0\0\0\0\0\0\0\0", 10);
        mapping_release(m);
        close(fd);
}
END_TEST

START_TEST(test_dup_outlives_free) {
        size_t size = 2 * page_size() + 3;
        void *data = pattern_new(size, 11);
        int fd = memfd_new(MFD_ALLOW_SEALING, data, size, SEALS_SNAPSHOT), kept;
        safe_mmap *m = expect_map_fd(fd, 0, 0);

        /* One closed, one kept: the count at the release is the one before the call. */
        close(fd);
        kept = fcntl(safe_mmap_fd(m), F_DUPFD_CLOEXEC, 3);
        ck_assert_int_ge(kept, 0);
        mapping_release(m);

        /* The duplicate still proves itself and maps the same bytes. */
        expect_check_fd(kept, 0, NULL, NULL);
        m = expect_map_fd(kept, 0, 0);
        assert_bytes_eq(safe_mmap_data(m), data, size);
        mapping_release(m);
        close(kept);
        free(data);
}
END_TEST

/* Sends @fd over @sock. */
static void send_fd(int sock, int fd) {
        ck_assert_int_eq(fd_send(sock, "F", 1, &fd, 1), 0);
}

/* In the child: receive, verify, map, compare. Exit status 0 only if all of it held. */
static _Noreturn void receive_and_map(int sock, const void *want, size_t size) {
        safe_mmap *m = NULL;
        size_t n_fds = 0;
        char byte;
        int fd;

        if (fd_receive(sock, &byte, 1, &fd, 1, &n_fds, NULL, NULL) != 1 || n_fds != 1)
                _exit(10);
        if (safe_mmap_map_fd(fd, 0, &m) < 0)
                _exit(11);
        close(fd);
        if (safe_mmap_kind(m) != SAFE_MMAP_SEALED_MEMFD || safe_mmap_size(m) != size ||
            memcmp(safe_mmap_data(m), want, size) != 0)
                _exit(12);
        (void) safe_mmap_free(m);
        _exit(0);
}

START_TEST(test_pass_to_other_process) {
        size_t size = 5 * page_size() + 9;
        void *data = pattern_new(size, 12);
        char *path = scratch_file(data, size, 0644);
        int sv[2], status;
        safe_mmap *m;
        pid_t pid;

        /* The use safe_mmap_fd() is documented for: hand a verified snapshot on. */
        m = expect_snapshot(path, SAFE_MMAP_NO_DAEMON, 0);
        ck_assert_int_eq(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
        pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
                /* Only the parent's end left open: its death reads as end of file. */
                close(sv[0]);
                receive_and_map(sv[1], data, size);
        }
        send_fd(sv[0], safe_mmap_fd(m));
        ck_assert_int_eq(waitpid(pid, &status, 0), pid);
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the receiver failed (status %#x)", status);
        close(sv[0]);
        close(sv[1]);
        mapping_release(m);
        free(path);
        free(data);
}
END_TEST

int main(int argc, char **argv) {
        Suite *s = suite_create("unit");
        TCase *tc;

        tc = tcase_create("mapping");
        tcase_add_test(tc, test_read_only);
        tcase_add_test(tc, test_survives_close);
        tcase_add_test(tc, test_fd_flags);
        tcase_add_test(tc, test_accessors_null);
        tcase_add_test(tc, test_accessors);
        tcase_add_test(tc, test_size_zero);
        tcase_add_test(tc, test_populate);
        tcase_add_test(tc, test_huge_sparse);
        tcase_add_test(tc, test_dup_outlives_free);
        tcase_add_test(tc, test_pass_to_other_process);
        suite_add_tcase(s, tc);

        tc = tcase_create("unsafe");
        tcase_add_test(tc, test_unsafe_disk);
        tcase_add_test(tc, test_unsafe_sealed_memfd);
        tcase_add_test(tc, test_unsafe_fd_shared);
        tcase_add_test(tc, test_unsafe_bad_args);
        tcase_add_test(tc, test_unsafe_bad_fds);
        tcase_add_test(tc, test_range);
        tcase_add_test(tc, test_range_maps_only_the_range);
        tcase_add_test(tc, test_range_bad_args);
        tcase_add_test(tc, test_range_bad_fds);
        tcase_add_test(tc, test_access_mode_first);
        tcase_add_test(tc, test_verity_api_without_verity);
        suite_add_tcase(s, tc);

        tc = tcase_create("environment");
        tcase_add_checked_fixture(tc, NULL, fds_restore);
        tcase_add_test(tc, test_emfile);
        tcase_add_test(tc, test_enomem);
        tcase_add_test(tc, test_threads);
        tcase_add_test(tc, test_never_prints);
        suite_add_tcase(s, tc);

        return run_suite(s, argc > 1 ? argv[1] : NULL);
}
