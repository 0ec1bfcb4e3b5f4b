/* SPDX-License-Identifier: Apache-2.0 OR MIT */
/*
 * 10,000 requests, mixed: status and 4 KiB snapshots, over one long
 * connection, over a connection each, and through the library. Whatever a
 * request allocates must be given back: the daemon's descriptor count
 * returns to its warmed-up baseline and its resident memory stays bounded.
 */

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "macro.h"
#include "raw-client.h"
#include "safe-mmap.h"

#define REQUESTS 10000
#define WARMUP 1000
#define FILES 8
#define FILE_SIZE 4096u

#if defined(__SANITIZE_ADDRESS__)
#  define ASAN 1
#elif defined(__has_feature)
#  if __has_feature(address_sanitizer)
#    define ASAN 1
#  endif
#endif

/*
 * AddressSanitizer keeps freed memory in a quarantine (256 MiB by default),
 * which grows the daemon by tens of MiB over this run without any leak. The
 * daemon of a sanitizer build gets a 1 MiB quarantine and a little more room
 * for the allocator's own bookkeeping.
 */
#ifdef ASAN
#  define RSS_GROWTH_MAX_KIB (8 * 1024L)
#else
#  define RSS_GROWTH_MAX_KIB (4 * 1024L)
#endif

static Harness h;

static void setup(void) {
#ifdef ASAN
        const char *o = getenv("ASAN_OPTIONS");
        _cleanup_free_ char *options = NULL;

        ck_assert_int_ge(asprintf(&options, "%s%squarantine_size_mb=1", o ?: "", o && *o ? ":" : ""), 0);
        ck_assert_int_eq(setenv("ASAN_OPTIONS", options, 1), 0);
#endif
        ck_assert_int_eq(harness_setup(&h), 0);
        ck_assert_int_eq(harness_start(&h, HARNESS_LISTEN, NULL), 0);
}

static void teardown(void) {
        ck_assert_int_eq(harness_finish(&h), 0);
}

static void check_snapshot(int fd, uint8_t byte) {
        uint8_t buf[FILE_SIZE + 1];

        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(pread(fd, buf, sizeof(buf), 0), FILE_SIZE);
        ck_assert_int_eq(buf[0], byte);
        ck_assert_int_eq(buf[FILE_SIZE - 1], byte);
}

START_TEST(test_ten_thousand_requests) {
        _cleanup_close_ int sock = -EBADF;
        int files[FILES];
        int baseline_fds = -1, fds;
        long baseline_rss = -1, rss;
        uint64_t t0 = harness_now_usec();

        for (int i = 0; i < FILES; i++) {
                char name[16];
                _cleanup_free_ char *p = NULL;

                snprintf(name, sizeof(name), "file%d", i);
                p = harness_path(&h, name);
                ck_assert_int_eq(harness_fill_file(p, 0644, (uint8_t) ('a' + i), FILE_SIZE), 0);
                files[i] = open(p, O_RDONLY | O_CLOEXEC);
                ck_assert_int_ge(files[i], 0);
        }
        ck_assert_int_eq(raw_connect(h.socket_path, &sock), 0);

        for (int i = 0; i < REQUESTS; i++) {
                int k = i % FILES;
                ProtoReply reply;

                if (i == WARMUP) {
                        usleep(300 * 1000);
                        baseline_fds = harness_fd_count(&h);
                        baseline_rss = harness_rss_kib(&h);
                        ck_assert_int_gt(baseline_fds, 0);
                        ck_assert_int_gt(baseline_rss, 0);
                }

                switch (i % 4) {
                case 0:
                        ck_assert_int_eq(raw_status(sock, 30000, &reply), 0);
                        ck_assert_int_eq(reply.status, 0);
                        break;
                case 1: {
                        _cleanup_close_ int fd = -EBADF;

                        ck_assert_int_eq(raw_snapshot_fd(sock, files[k], 0, 30000, &reply, &fd), 0);
                        ck_assert_msg(reply.status == 0, "request %d: %s", i, strerror(-reply.status));
                        ck_assert_uint_eq(reply.size, FILE_SIZE);
                        check_snapshot(fd, (uint8_t) ('a' + k));
                        break;
                }
                case 2: {
                        safe_mmap *m = NULL;
                        int r = safe_mmap_snapshot_fd(files[k], SAFE_MMAP_NO_FALLBACK, &m);

                        ck_assert_msg(r == 0, "request %d: %s", i, strerror(-r));
                        ck_assert_uint_eq(safe_mmap_size(m), FILE_SIZE);
                        ck_assert_int_eq(((const uint8_t *) safe_mmap_data(m))[FILE_SIZE - 1], 'a' + k);
                        safe_mmap_free(m);
                        break;
                }
                case 3: {
                        _cleanup_close_ int s = -EBADF;

                        ck_assert_int_eq(raw_connect(h.socket_path, &s), 0);
                        ck_assert_int_eq(raw_status(s, 30000, &reply), 0);
                        ck_assert_int_eq(reply.status, 0);
                        break;
                }
                }
        }

        fds = harness_wait_fd_count(&h, baseline_fds, 10000);
        rss = harness_rss_kib(&h);
        fprintf(stderr, "%d requests in %.1f s; daemon: %d descriptors (%d after warm-up), "
                "VmRSS %ld KiB (%ld KiB after warm-up)\n", REQUESTS,
                (double) (harness_now_usec() - t0) / 1e6, fds, baseline_fds, rss, baseline_rss);
        ck_assert_msg(fds <= baseline_fds, "descriptors grew from %d to %d", baseline_fds, fds);
        ck_assert_msg(rss - baseline_rss < RSS_GROWTH_MAX_KIB, "VmRSS grew from %ld to %ld KiB",
                      baseline_rss, rss);

        /* The long connection's own descriptor goes too. */
        sock = safe_close(sock);
        fds = harness_wait_fd_count(&h, baseline_fds - 1, 10000);
        ck_assert_int_le(fds, baseline_fds - 1);
        for (int i = 0; i < FILES; i++)
                safe_close(files[i]);
}
END_TEST

int main(void) {
        TCase *tc;
        Suite *s;

        s = harness_suite("soak", 1000, setup, teardown, &tc);
        tcase_add_test(tc, test_ten_thousand_requests);

        return harness_run_suite(s);
}
