/* SPDX-License-Identifier: Apache-2.0 OR MIT */

/*
 * Which way of filling a memfd from a file is fastest here? Each method
 * copies the same file into a fresh memfd; the ratios are against
 * pread()+write() measured in the same run, interleaved, so that a noisy
 * machine moves all of them together. Methods that fail (copy_file_range
 * from ext4 into tmpfs: EXDEV) say so. Measured here (Linux 6.18, shmem
 * huge pages off): every method that writes through the memfd's file ends
 * near 2.9 GB/s at 64 MiB, whatever its call size; allocating the pages
 * first with fallocate() is ~9% slower, filling through a mapping 2x slower.
 * The time is the kernel's per page (allocating and inserting shmem pages,
 * the copy), not the method's.
 *
 * Usage: bench-copy [DIR]   (DIR: where the source files go; default /var/tmp)
 */

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <time.h>
#include <unistd.h>

#include "macro.h"

typedef int (*copy_fn)(int src, int dst, size_t size);

static int copy_rw(int src, int dst, size_t size) {
        static char buf[128 * 1024];
        size_t off = 0;

        while (off < size) {
                ssize_t n = pread(src, buf, sizeof(buf), (off_t) off);
                if (n <= 0)
                        return n < 0 ? -errno : -EIO;
                if (write(dst, buf, (size_t) n) != n)
                        return -errno;
                off += (size_t) n;
        }
        return 0;
}

static int sendfile_chunks(int src, int dst, size_t size, size_t chunk) {
        off_t off = 0;

        while ((size_t) off < size) {
                size_t left = size - (size_t) off;
                ssize_t n = sendfile(dst, src, &off, left < chunk ? left : chunk);
                if (n <= 0)
                        return n < 0 ? -errno : -EIO;
        }
        return 0;
}

static int copy_sendfile(int src, int dst, size_t size) {
        return sendfile_chunks(src, dst, size, SIZE_MAX);
}

/* What daemon/snapshot.c does: a chunk per progress call (SNAPSHOT_CHUNK). */
static int copy_sendfile_1m(int src, int dst, size_t size) {
        return sendfile_chunks(src, dst, size, 1u << 20);
}

/* The memfd's pages allocated in one call first, then filled. */
static int copy_fallocate_sendfile(int src, int dst, size_t size) {
        if (size > 0 && fallocate(dst, 0, 0, (off_t) size) < 0)
                return -errno;
        return sendfile_chunks(src, dst, size, 1u << 20);
}

static int copy_splice(int src, int dst, size_t size) {
        _cleanup_close_ int p0 = -EBADF, p1 = -EBADF;
        int p[2];
        loff_t off = 0;

        if (pipe2(p, O_CLOEXEC) < 0)
                return -errno;
        p0 = p[0];
        p1 = p[1];
        (void) fcntl(p1, F_SETPIPE_SZ, 1024 * 1024);
        while ((size_t) off < size) {
                ssize_t n = splice(src, &off, p1, NULL, size - (size_t) off, SPLICE_F_MOVE);
                if (n <= 0)
                        return n < 0 ? -errno : -EIO;
                while (n > 0) {
                        ssize_t m = splice(p0, NULL, dst, NULL, (size_t) n, SPLICE_F_MOVE);
                        if (m <= 0)
                                return m < 0 ? -errno : -EIO;
                        n -= m;
                }
        }
        return 0;
}

static int copy_cfr(int src, int dst, size_t size) {
        loff_t off = 0;

        while ((size_t) off < size) {
                ssize_t n = copy_file_range(src, &off, dst, NULL, size - (size_t) off, 0);
                if (n <= 0)
                        return n < 0 ? -errno : -EIO;
        }
        return 0;
}

/* The fill common/memfd-util.h forbids (SIGBUS on ENOSPC), measured only for comparison. */
static int copy_mmap(int src, int dst, size_t size) {
        void *p;
        int r = 0;

        if (ftruncate(dst, (off_t) size) < 0)
                return -errno;
        if (size == 0)
                return 0;
        p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, dst, 0);
        if (p == MAP_FAILED)
                return -errno;
        for (size_t off = 0; off < size;) {
                ssize_t n = pread(src, (char *) p + off, size - off, (off_t) off);
                if (n <= 0) {
                        r = n < 0 ? -errno : -EIO;
                        break;
                }
                off += (size_t) n;
        }
        (void) munmap(p, size);
        return r;
}

static double now(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

static const struct method {
        const char *name;
        copy_fn fn;
} methods[] = {
        { "pread+write (baseline)", copy_rw },
        { "sendfile", copy_sendfile },
        { "sendfile, 1 MiB calls", copy_sendfile_1m },
        { "fallocate+sendfile 1 MiB", copy_fallocate_sendfile },
        { "splice via pipe", copy_splice },
        { "copy_file_range", copy_cfr },
        { "mmap+pread fill", copy_mmap },
};

int main(int argc, char **argv) {
        const char *dir = argc > 1 ? argv[1] : "/var/tmp";
        static const size_t sizes[] = { 4096, 1 << 20, 64 << 20 };

        printf("%-24s %10s %12s %8s\n", "method", "size", "MiB/s", "ratio");
        for (size_t s = 0; s < ELEMENTSOF(sizes); s++) {
                size_t size = sizes[s];
                char path[4096];
                double total[ELEMENTSOF(methods)] = {};
                int err[ELEMENTSOF(methods)] = {};
                unsigned rounds = size < (1u << 20) ? 2000 : size < (16u << 20) ? 100 : 6;
                _cleanup_close_ int src = -EBADF;
                char *buf;

                (void) snprintf(path, sizeof(path), "%s/bench-copy.XXXXXX", dir);
                src = mkostemp(path, O_CLOEXEC);
                if (src < 0) {
                        fprintf(stderr, "bench-copy: %s: %m\n", path);
                        return 1;
                }
                (void) unlink(path);
                buf = malloc(size);
                if (!buf)
                        return 1;
                for (size_t i = 0; i < size; i++)
                        buf[i] = (char) (i * 131);
                if (write(src, buf, size) != (ssize_t) size)
                        return 1;
                free(buf);
                (void) fsync(src);

                /* Interleave the methods, round by round: drift hits all of them alike. */
                for (unsigned r = 0; r < rounds; r++)
                        for (size_t m = 0; m < ELEMENTSOF(methods); m++) {
                                int dst = memfd_create("bench", MFD_CLOEXEC);
                                double t0;

                                if (dst < 0)
                                        return 1;
                                t0 = now();
                                if (!err[m])
                                        err[m] = methods[m].fn(src, dst, size);
                                total[m] += now() - t0;
                                close(dst);
                        }

                for (size_t m = 0; m < ELEMENTSOF(methods); m++) {
                        if (err[m]) {
                                printf("%-24s %10zu %12s %8s  (%s)\n", methods[m].name, size, "-", "-",
                                       strerror(-err[m]));
                                continue;
                        }
                        printf("%-24s %10zu %12.0f %8.2f\n", methods[m].name, size,
                               (double) size * rounds / total[m] / (1 << 20), total[0] / total[m]);
                }
        }
        return 0;
}
