/* SPDX-License-Identifier: Apache-2.0 OR MIT */
/*
 * What a client sends reaches the daemon's log escaped: a path holding a
 * newline and "<2>" must not become a second journald entry at crit, and
 * invalid UTF-8 or an endless path must not either. Refusal lines name the
 * uid, the pid and the (escaped) path.
 */

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "log-escape.h"
#include "macro.h"
#include "raw-client.h"

static Harness h;

static void setup(void) {
        ck_assert_int_eq(harness_setup(&h), 0);
}

static void teardown(void) {
        ck_assert_int_eq(harness_finish(&h), 0);
}

/* The daemon's whole log, malloc'ed. */
static char *read_log(void) {
        size_t size = 1 << 20, n = 0;
        char *buf = malloc(size);
        int fd;
        ssize_t l;

        ck_assert_ptr_nonnull(buf);
        fd = open(h.log_path, O_RDONLY | O_CLOEXEC);
        ck_assert_int_ge(fd, 0);
        while (n < size - 1 && (l = read(fd, buf + n, size - 1 - n)) > 0)
                n += (size_t) l;
        safe_close(fd);
        buf[n] = '\0';
        return buf;
}

/* Every line starts with the daemon's own "<N>" and has no byte a terminal or journald would act on. */
static void check_lines(const char *log) {
        for (const char *line = log; *line; ) {
                const char *end = strchr(line, '\n');
                size_t len = end ? (size_t) (end - line) : strlen(line);

                ck_assert_msg(len >= 3 && line[0] == '<' && line[2] == '>' && line[1] >= '0' && line[1] <= '7',
                              "line without the daemon's prefix: %.*s", (int) len, line);
                ck_assert_msg(line[1] != '2', "forged entry at crit: %.*s", (int) len, line);
                for (size_t i = 3; i < len; i++)
                        ck_assert_msg((unsigned char) line[i] >= 0x20 && line[i] != 0x7f && line[i] != '<',
                                      "raw byte 0x%02x in: %.*s", (unsigned char) line[i], (int) len, line);
                ck_assert_uint_lt(len, 1024);
                line += len + (end ? 1 : 0);
        }
}

static void request(const char *path) {
        ProtoReply reply;
        int fd = -EBADF;

        ck_assert_int_eq(raw_oneshot_path(h.socket_path, path, 0, &reply, &fd), 0);
        ck_assert_int_lt(reply.status, 0);
        safe_close(fd);
}

START_TEST(test_forged_entry_escaped) {
        _cleanup_free_ char *log = NULL, *expected = NULL;

        ck_assert_int_eq(harness_start(&h, HARNESS_LISTEN, NULL), 0);
        request("/nonexistent\n<2>safe-mmapd: root password reset");
        log = read_log();
        check_lines(log);
        ck_assert_int_ge(asprintf(&expected, "uid=%u pid=%i: no grant covers "
                                  "/nonexistent\\x0a\\x3c2>safe-mmapd: root password reset.",
                                  (unsigned) getuid(), (int) getpid()), 0);
        ck_assert_msg(strstr(log, expected), "no \"%s\" in:\n%s", expected, log);
}
END_TEST

START_TEST(test_invalid_utf8_and_long_paths) {
        _cleanup_free_ char *log = NULL;
        char longpath[4000];

        ck_assert_int_eq(harness_start(&h, HARNESS_LISTEN, NULL), 0);
        request("/bad\xff\xfe\xc0\xaf\x1b[2J\r");
        memset(longpath, 'a', sizeof(longpath) - 1);
        longpath[0] = '/';
        longpath[sizeof(longpath) - 1] = '\0';
        request(longpath);
        log = read_log();
        check_lines(log);
        ck_assert_ptr_nonnull(strstr(log, "covers /bad\\xff\\xfe\\xc0\\xaf\\x1b[2J\\x0d."));
        ck_assert_ptr_nonnull(strstr(log, "covers /aaaa"));
        ck_assert_ptr_nonnull(strstr(log, "aaa" LOG_ESCAPE_TRUNCATED "."));
}
END_TEST

START_TEST(test_refusal_names_the_path) {
        _cleanup_free_ char *tree = harness_path(&h, "tree"), *text = NULL, *path = NULL, *log = NULL,
                *expected = NULL;

        ck_assert_int_eq(mkdir(tree, 0755), 0);
        ck_assert_int_ge(asprintf(&text, "[Grant]\nPath=%s\nUsers=%u\n", tree, (unsigned) getuid()), 0);
        ck_assert_int_eq(harness_write_policy(&h, "tree.conf", text), 0);
        ck_assert_int_eq(harness_start(&h, HARNESS_LISTEN, NULL), 0);

        ck_assert_int_ge(asprintf(&path, "%s/missing\n<3>x", tree), 0);
        request(path);
        log = read_log();
        check_lines(log);
        ck_assert_int_ge(asprintf(&expected, "uid=%u pid=%i: snapshot of missing\\x0a\\x3c3>x refused: ",
                                  (unsigned) getuid(), (int) getpid()), 0);
        ck_assert_msg(strstr(log, expected), "no \"%s\" in:\n%s", expected, log);
}
END_TEST

/* Huge pages for shmem off: said once, at notice, with what it costs. */
START_TEST(test_shmem_huge_pages_notice) {
        char line[128] = {}, *log;
        FILE *f = fopen("/sys/kernel/mm/transparent_hugepage/shmem_enabled", "re");
        bool off;

        if (!f) {
                fprintf(stderr, "SKIP: no shmem_enabled in this kernel\n");
                return;
        }
        ck_assert_ptr_nonnull(fgets(line, sizeof(line), f));
        fclose(f);
        off = strstr(line, "[never]") || strstr(line, "[deny]") || strstr(line, "[advise]");
        ck_assert_int_eq(harness_start(&h, HARNESS_LISTEN, NULL), 0);
        ck_assert_int_eq(harness_stop(&h), 0);
        log = read_log();
        if (off) {
                const char *at = strstr(log, "<5>Shmem huge pages are off");

                ck_assert_msg(at, "no notice in: %s", log);
                ck_assert_ptr_nonnull(strstr(at, "2.5-3x slower"));
                ck_assert_ptr_null(strstr(at + strlen("<5>Shmem"), "Shmem huge pages are off"));
        } else
                ck_assert_ptr_null(strstr(log, "Shmem huge pages are off"));
        free(log);
}
END_TEST

int main(void) {
        TCase *tc;
        Suite *s = harness_suite("log", 120, setup, teardown, &tc);

        tcase_add_test(tc, test_forged_entry_escaped);
        tcase_add_test(tc, test_invalid_utf8_and_long_paths);
        tcase_add_test(tc, test_refusal_names_the_path);
        tcase_add_test(tc, test_shmem_huge_pages_notice);
        return harness_run_suite(s);
}
