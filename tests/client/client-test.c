/* SPDX-License-Identifier: Apache-2.0 OR MIT */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "client-test.h"

/* For helpers that also run outside of a test (from main()), where Check
 * assertions cannot report: Check's ck_assert marks progress even on success. */
static void must(int ok, const char *what) {
        if (ok)
                return;
        fprintf(stderr, "%s: %s\n", what, strerror(errno));
        abort();
}

size_t page_size(void) {
        long p = sysconf(_SC_PAGESIZE);

        ck_assert_int_gt(p, 0);
        return (size_t) p;
}

void pattern_fill(void *buf, size_t size, unsigned seed) {
        uint64_t x = (uint64_t) seed * UINT64_C(0x9e3779b97f4a7c15) + 1;
        unsigned char *p = buf;

        for (size_t i = 0; i < size; i++) {
                /* xorshift64: cheap, never stuck at 0 since x starts odd-ish and nonzero */
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                p[i] = (unsigned char) (x >> 32);
        }
}

void *pattern_new(size_t size, unsigned seed) {
        void *p = malloc(size > 0 ? size : 1);

        must(p != NULL, "malloc");
        pattern_fill(p, size, seed);
        return p;
}

void assert_bytes_eq_at(const char *file, int line, const void *got, const void *want, size_t size) {
        const unsigned char *g = got, *w = want;

        if (size == 0 || memcmp(g, w, size) == 0)
                return;
        for (size_t i = 0; i < size; i++)
                if (g[i] != w[i])
                        ck_abort_msg("%s:%d: bytes differ at offset %zu of %zu: got 0x%02x, want 0x%02x",
                                     file, line, i, size, g[i], w[i]);
}

int fd_count(void) {
        /* Kept open, so that counting works even when every other slot is taken. */
        static int dir = -EBADF;
        static pid_t dir_pid;
        char buf[4096];
        int n = 0;

        /* "self" is resolved at open: a forked test needs its own. */
        if (dir < 0 || dir_pid != getpid()) {
                struct rlimit rl;
                int fd = open("/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

                ck_assert_msg(fd >= 0, "open /proc/self/fd: %s", strerror(errno));
                /* Far above the numbers tests get, so that it never takes the slot of a
                 * descriptor a test has just closed on purpose. */
                if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur > 256) {
                        dir = fcntl(fd, F_DUPFD_CLOEXEC, (int) (rl.rlim_cur > 1024 ? 1000 : rl.rlim_cur - 24));
                        ck_assert_int_ge(dir, 0);
                        close(fd);
                } else
                        dir = fd;
                dir_pid = getpid();
        }
        ck_assert_int_eq(lseek(dir, 0, SEEK_SET), 0);
        for (;;) {
                long k = syscall(SYS_getdents64, dir, buf, sizeof(buf));

                ck_assert_msg(k >= 0, "getdents64(/proc/self/fd): %s", strerror(errno));
                if (k == 0)
                        return n;
                for (long off = 0; off < k;) {
                        /* struct linux_dirent64: ino, off, reclen, type, name */
                        unsigned short reclen;
                        const char *name = buf + off + 19;

                        memcpy(&reclen, buf + off + 16, sizeof(reclen));
                        if (name[0] != '.' && atoi(name) != dir)
                                n++;
                        off += reclen;
                }
        }
}

int memfd_new(unsigned mfd_flags, const void *data, size_t size, unsigned seals) {
        int fd = memfd_create("safe-mmap-test", MFD_CLOEXEC | mfd_flags);

        ck_assert_msg(fd >= 0, "memfd_create(%#x): %s", mfd_flags, strerror(errno));
        if (data)
                ck_assert_int_eq(loop_write(fd, data, size), 0);
        else
                ck_assert_msg(ftruncate(fd, (off_t) size) == 0, "ftruncate: %s", strerror(errno));
        if (seals != 0)
                ck_assert_msg(fcntl(fd, F_ADD_SEALS, seals) == 0, "F_ADD_SEALS %#x: %s", seals, strerror(errno));
        return fd;
}

unsigned fd_seals(int fd) {
        int r = fcntl(fd, F_GET_SEALS);

        ck_assert_msg(r >= 0, "F_GET_SEALS: %s", strerror(errno));
        return (unsigned) r;
}

char *scratch_file(const void *data, size_t size, unsigned mode) {
        char *p = scratch_path("file");
        int r = write_file(p, mode, data, size);

        ck_assert_msg(r == 0, "writing %s: %s", p, strerror(-r));
        return p;
}

int disk_file_new(const void *data, size_t size, int oflags) {
        char *p = scratch_file(data, size, 0600);
        int fd = open(p, oflags | O_CLOEXEC);

        ck_assert_msg(fd >= 0, "open %s: %s", p, strerror(errno));
        ck_assert_int_eq(unlink(p), 0);
        free(p);
        return fd;
}

/* Mappings alive in this test, with the descriptor count from before the call that made them. */
static struct {
        safe_mmap *m;
        int fds;
} tracked[64];

static void track(safe_mmap *m, int fds) {
        for (size_t i = 0; i < sizeof(tracked) / sizeof(tracked[0]); i++)
                if (!tracked[i].m) {
                        tracked[i].m = m;
                        tracked[i].fds = fds;
                        return;
                }
        ck_abort_msg("too many live mappings in one test");
}

static int *tracked_fds(safe_mmap *m) {
        for (size_t i = 0; i < sizeof(tracked) / sizeof(tracked[0]); i++)
                if (tracked[i].m == m)
                        return &tracked[i].fds;
        ck_abort_msg("mapping %p was not made through an expect_*() wrapper", (void *) m);
        return NULL;
}

void mapping_adjust(safe_mmap *m, int delta) {
        *tracked_fds(m) += delta;
}

void mapping_release_at(const char *file, int line, safe_mmap *m) {
        int *fds = tracked_fds(m), want = *fds;

        ck_assert_msg(safe_mmap_free(m) == NULL, "%s:%d: safe_mmap_free() did not return NULL", file, line);
        for (size_t i = 0; i < sizeof(tracked) / sizeof(tracked[0]); i++)
                if (tracked[i].m == m)
                        tracked[i].m = NULL;
        ck_assert_msg(fd_count() == want, "%s:%d: %d descriptors open after safe_mmap_free(), %d before the call",
                      file, line, fd_count(), want);
}

static const char *err(int r) {
        return r == 0 ? "success" : strerror(r < 0 ? -r : r);
}

/* Common tail of the wrappers that return a mapping. */
static safe_mmap *finish(const char *file, int line, const char *call, int r, int expected, safe_mmap *m,
                         int before) {
        if (r != expected) {
                if (r == 0 && m != SENTINEL_MAP)
                        (void) safe_mmap_free(m);
                ck_abort_msg("%s:%d: %s = %d (%s), expected %d (%s)", file, line, call, r, err(r), expected,
                             err(expected));
        }
        if (r < 0) {
                ck_assert_msg(m == SENTINEL_MAP, "%s:%d: %s failed but overwrote *ret", file, line, call);
                ck_assert_msg(fd_count() == before, "%s:%d: %s failed and leaked %d descriptor(s)", file, line,
                              call, fd_count() - before);
                return NULL;
        }
        ck_assert_msg(m && m != SENTINEL_MAP, "%s:%d: %s succeeded but left *ret unset", file, line, call);
        ck_assert_msg(safe_mmap_data(m) != NULL, "%s:%d: %s: safe_mmap_data() is NULL", file, line, call);
        track(m, before);
        return m;
}

void expect_check_fd_at(const char *file, int line, int fd, int expected, int *ret_kind, uint64_t *ret_size) {
        int kind = SENTINEL_KIND, before = fd_count(), r;
        uint64_t size = SENTINEL_SIZE;

        r = safe_mmap_check_fd(fd, &kind, &size);
        ck_assert_msg(r == expected, "%s:%d: safe_mmap_check_fd(%d) = %d (%s), expected %d (%s)", file, line, fd,
                      r, err(r), expected, err(expected));
        ck_assert_msg(fd_count() == before, "%s:%d: safe_mmap_check_fd(%d) changed the descriptor count by %d",
                      file, line, fd, fd_count() - before);
        if (r < 0) {
                ck_assert_msg(kind == SENTINEL_KIND && size == SENTINEL_SIZE,
                              "%s:%d: safe_mmap_check_fd(%d) failed but wrote ret_kind/ret_size", file, line, fd);
                return;
        }
        ck_assert_msg(kind == SAFE_MMAP_SEALED_MEMFD || kind == SAFE_MMAP_FS_VERITY,
                      "%s:%d: safe_mmap_check_fd(%d) returned kind %d", file, line, fd, kind);
        ck_assert_msg(size != SENTINEL_SIZE, "%s:%d: safe_mmap_check_fd(%d) left ret_size unset", file, line, fd);
        if (ret_kind)
                *ret_kind = kind;
        if (ret_size)
                *ret_size = size;
}

safe_mmap *expect_map_fd_at(const char *file, int line, int fd, unsigned flags, int expected) {
        safe_mmap *m = SENTINEL_MAP;
        int before = fd_count(), r;
        char call[96];

        r = safe_mmap_map_fd(fd, flags, &m);
        snprintf(call, sizeof(call), "safe_mmap_map_fd(%d, %#x)", fd, flags);
        return finish(file, line, call, r, expected, m, before);
}

safe_mmap *expect_map_fd_unsafe_at(const char *file, int line, int fd, uint64_t offset, uint64_t length,
                                   unsigned flags, int expected) {
        safe_mmap *m = SENTINEL_MAP;
        int before = fd_count(), r;
        char call[128];

        r = safe_mmap_map_fd_unsafe(fd, offset, length, flags, &m);
        snprintf(call, sizeof(call), "safe_mmap_map_fd_unsafe(%d, %llu, %llu, %#x)", fd, (unsigned long long) offset,
                 (unsigned long long) length, flags);
        return finish(file, line, call, r, expected, m, before);
}

safe_mmap *expect_snapshot_fd_at(const char *file, int line, int fd, unsigned flags, int expected) {
        safe_mmap *m = SENTINEL_MAP;
        int before = fd_count(), r;
        char call[96];

        r = safe_mmap_snapshot_fd(fd, flags, &m);
        snprintf(call, sizeof(call), "safe_mmap_snapshot_fd(%d, %#x)", fd, flags);
        return finish(file, line, call, r, expected, m, before);
}

safe_mmap *expect_snapshot_at(const char *file, int line, const char *path, unsigned flags, int expected) {
        safe_mmap *m = SENTINEL_MAP;
        int before = fd_count(), r;
        char call[PATH_MAX + 64];

        r = safe_mmap_snapshot(path, flags, &m);
        snprintf(call, sizeof(call), "safe_mmap_snapshot(\"%s\", %#x)", path ? path : "(null)", flags);
        return finish(file, line, call, r, expected, m, before);
}

safe_mmap *expect_map_fd_range_at(const char *file, int line, int fd, uint64_t offset, uint64_t length,
                                  unsigned flags, int expected) {
        safe_mmap *m = SENTINEL_MAP;
        int before = fd_count(), r;
        char call[128];

        r = safe_mmap_map_fd_range(fd, offset, length, flags, &m);
        snprintf(call, sizeof(call), "safe_mmap_map_fd_range(%d, %llu, %llu, %#x)", fd, (unsigned long long) offset,
                 (unsigned long long) length, flags);
        return finish(file, line, call, r, expected, m, before);
}

safe_mmap *expect_map_fd_verity_at(const char *file, int line, int fd, unsigned algorithm, const uint8_t *digest,
                                   size_t digest_size, unsigned flags, int expected) {
        safe_mmap *m = SENTINEL_MAP;
        int before = fd_count(), r;
        char call[128];

        r = safe_mmap_map_fd_verity(fd, algorithm, digest, digest_size, flags, &m);
        snprintf(call, sizeof(call), "safe_mmap_map_fd_verity(%d, %u, %p, %zu, %#x)", fd, algorithm,
                 (const void *) digest, digest_size, flags);
        return finish(file, line, call, r, expected, m, before);
}

int expect_seal_bytes_at(const char *file, int line, const void *data, size_t size, int expected) {
        int before = fd_count(), fd = -4242, r;

        r = safe_mmap_seal_bytes(data, size, &fd);
        ck_assert_msg(r == expected, "%s:%d: safe_mmap_seal_bytes(%p, %zu) = %d (%s), expected %d (%s)", file, line,
                      data, size, r, err(r), expected, err(expected));
        if (r < 0) {
                ck_assert_msg(fd == -4242, "%s:%d: safe_mmap_seal_bytes() failed but wrote *ret_fd", file, line);
                ck_assert_msg(fd_count() == before, "%s:%d: safe_mmap_seal_bytes() failed and leaked %d descriptor(s)",
                              file, line, fd_count() - before);
                return -1;
        }
        ck_assert_msg(fd >= 3, "%s:%d: safe_mmap_seal_bytes() returned descriptor %d", file, line, fd);
        ck_assert_msg(fd_count() == before + 1, "%s:%d: safe_mmap_seal_bytes() opened %d descriptors, not one",
                      file, line, fd_count() - before);
        return fd;
}

unsigned expect_verity_digest_at(const char *file, int line, const safe_mmap *m, uint8_t *buf, size_t size,
                                 int expected) {
        uint8_t saved[SAFE_MMAP_VERITY_DIGEST_MAX];
        unsigned algorithm = 4242;
        int before = fd_count(), r;

        if (buf)
                memcpy(saved, buf, size < sizeof(saved) ? size : sizeof(saved));
        r = safe_mmap_verity_digest(m, &algorithm, buf, size);
        ck_assert_msg(r == expected, "%s:%d: safe_mmap_verity_digest(%p, %zu) = %d (%s), expected %d (%s)", file, line,
                      (const void *) m, size, r, err(r), expected, err(expected));
        ck_assert_msg(fd_count() == before, "%s:%d: safe_mmap_verity_digest() changed the descriptor count by %d",
                      file, line, fd_count() - before);
        if (r < 0) {
                ck_assert_msg(algorithm == 4242, "%s:%d: safe_mmap_verity_digest() failed but wrote the algorithm",
                              file, line);
                if (buf)
                        ck_assert_msg(memcmp(saved, buf, size < sizeof(saved) ? size : sizeof(saved)) == 0,
                                      "%s:%d: safe_mmap_verity_digest() failed but wrote the buffer", file, line);
                return 0;
        }
        ck_assert_msg(algorithm == SAFE_MMAP_VERITY_SHA256 || algorithm == SAFE_MMAP_VERITY_SHA512,
                      "%s:%d: safe_mmap_verity_digest() reported algorithm %u", file, line, algorithm);
        return algorithm;
}

void assert_fd_shares_description(int mine, int theirs) {
        off_t saved = lseek(mine, 0, SEEK_CUR);
        int fdfl = fcntl(theirs, F_GETFD);

        ck_assert_msg(theirs != mine, "the mapping holds the caller's own descriptor number %d", mine);
        ck_assert_msg(fdfl >= 0 && (fdfl & FD_CLOEXEC), "fd %d is not close-on-exec", theirs);
        ck_assert_int_eq(fcntl(theirs, F_GETFL), fcntl(mine, F_GETFL));
        /* The file offset lives in the description: moving one moves the other. */
        ck_assert_int_ge(saved, 0);
        ck_assert_int_eq(lseek(mine, 7, SEEK_SET), 7);
        ck_assert_int_eq(lseek(theirs, 0, SEEK_CUR), 7);
        ck_assert_int_eq(lseek(mine, saved, SEEK_SET), saved);
}

/* Everything a snapshot promises, for a file that held @want. */
void assert_snapshot(safe_mmap *m, const void *want, size_t size) {
        int fd = safe_mmap_fd(m), kind = 0;
        uint64_t checked = 0;
        struct stat st;

        ck_assert_int_eq(safe_mmap_kind(m), SAFE_MMAP_SEALED_MEMFD);
        ck_assert_uint_eq(safe_mmap_size(m), size);
        ck_assert_ptr_nonnull(safe_mmap_data(m));
        if (want)
                assert_bytes_eq(safe_mmap_data(m), want, size);

        ck_assert_int_ge(fd, 0);
        ck_assert_msg((fd_seals(fd) & SEALS_SNAPSHOT) == SEALS_SNAPSHOT, "snapshot seals %#x lack %#x",
                      fd_seals(fd), SEALS_SNAPSHOT);
        ck_assert_int_eq(fstat(fd, &st), 0);
        ck_assert(S_ISREG(st.st_mode));
        ck_assert_int_eq(st.st_size, (off_t) size);
        /* A read-only open file description of its own (safe_mmap_fd()). */
        ck_assert_int_eq(fcntl(fd, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
        ck_assert_msg((fcntl(fd, F_GETFL) & (O_ACCMODE | O_PATH)) == O_RDONLY, "snapshot fd has F_GETFL %#x",
                      (unsigned) fcntl(fd, F_GETFL));
        expect_check_fd(fd, 0, &kind, &checked);
        ck_assert_int_eq(kind, SAFE_MMAP_SEALED_MEMFD);
        ck_assert_uint_eq(checked, size);
}

int run_as_nobody(int (*fn)(void *arg), void *arg) {
        struct passwd *pw = geteuid() == 0 ? getpwnam("nobody") : NULL;
        uid_t uid = geteuid() != 0 ? geteuid() : pw ? pw->pw_uid : NOBODY_UID;
        gid_t gid = geteuid() != 0 ? getegid() : pw ? pw->pw_gid : NOBODY_GID;
        int result = INT_MIN, r;

        r = run_as_result(uid, gid, NULL, 0, 300, fn, arg, &result);
        ck_assert_msg(r == 0, "child running as nobody failed (%d: 2 = could not drop privileges)", r);
        return result;
}

static struct {
        int fds[64];
        int n;
        int lowered;
        struct rlimit saved;
} exhausted;

void fds_exhaust(void) {
        struct rlimit rl;

        ck_assert_int_eq(exhausted.lowered, 0);
        ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &exhausted.saved), 0);
        rl = exhausted.saved;
        rl.rlim_cur = (rlim_t) fd_count() + 8;
        ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &rl), 0);
        exhausted.lowered = 1;
        for (;;) {
                int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);

                if (fd < 0) {
                        ck_assert_int_eq(errno, EMFILE);
                        return;
                }
                ck_assert_int_lt(exhausted.n, 64);
                exhausted.fds[exhausted.n++] = fd;
        }
}

void fds_release(int k) {
        ck_assert_int_le(k, exhausted.n);
        while (k-- > 0)
                close(exhausted.fds[--exhausted.n]);
}

void fds_restore(void) {
        while (exhausted.n > 0)
                close(exhausted.fds[--exhausted.n]);
        if (exhausted.lowered)
                (void) setrlimit(RLIMIT_NOFILE, &exhausted.saved);
        exhausted.lowered = 0;
}
