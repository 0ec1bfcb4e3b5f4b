/* SPDX-License-Identifier: Apache-2.0 OR MIT */
/* parse_size(): one size syntax for the daemon's options, MaxSize= and SAFE_MMAP_SIZE_MAX. */

#include <check.h>
#include <errno.h>
#include <stdint.h>

#include "parse-size.h"
#include "test-util.h"

static void check_size(const char *s, uint64_t expected) {
        uint64_t v = 42;

        ck_assert_msg(parse_size(s, &v) == 0, "\"%s\" refused", s);
        ck_assert_msg(v == expected, "\"%s\": %llu, not %llu", s, (unsigned long long) v,
                      (unsigned long long) expected);
}

static void check_refused(const char *s, int error) {
        uint64_t v = 42;

        ck_assert_msg(parse_size(s, &v) == error, "\"%s\" not refused with %d", s ? s : "(null)", error);
        ck_assert_msg(v == 42, "\"%s\" wrote the result on failure", s ? s : "(null)");
}

START_TEST(test_valid) {
        check_size("0", 0);
        check_size("1", 1);
        check_size("007", 7);
        check_size("1K", 1024);
        check_size("1k", 1024);
        check_size("64K", UINT64_C(64) << 10);
        check_size("256M", UINT64_C(256) << 20);
        check_size("1G", UINT64_C(1) << 30);
        check_size("1t", UINT64_C(1) << 40);
        check_size("18446744073709551615", UINT64_MAX);
        check_size("16777215T", UINT64_C(16777215) << 40);
}
END_TEST

START_TEST(test_invalid) {
        check_refused(NULL, -EINVAL);
        check_refused("", -EINVAL);
        check_refused("bogus", -EINVAL);
        check_refused("K", -EINVAL);
        check_refused("1X", -EINVAL);
        check_refused("1KB", -EINVAL);
        check_refused("1KK", -EINVAL);
        check_refused("1 K", -EINVAL);
        check_refused(" 1", -EINVAL);
        check_refused("1 ", -EINVAL);
        check_refused("+1", -EINVAL);
        check_refused("-1", -EINVAL);
        check_refused("0x10", -EINVAL);
        check_refused("1.5G", -EINVAL);
        check_refused("1e3", -EINVAL);
}
END_TEST

START_TEST(test_range) {
        check_refused("18446744073709551616", -ERANGE);
        check_refused("99999999999999999999999", -ERANGE);
        check_refused("16777216T", -ERANGE);
        check_refused("17179869184G", -ERANGE);
}
END_TEST

int main(void) {
        TCase *tc;
        Suite *s = test_suite("parse-size", 0, NULL, NULL, &tc);

        tcase_add_test(tc, test_valid);
        tcase_add_test(tc, test_invalid);
        tcase_add_test(tc, test_range);
        return suite_run(s, NULL);
}
