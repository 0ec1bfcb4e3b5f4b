/* SPDX-License-Identifier: Apache-2.0 OR MIT */
/* log_escape(): what a client chose reaches the log as one harmless line. */

#include <check.h>
#include <string.h>

#include "log-escape.h"
#include "test-util.h"

static void check_escape(const char *in, const char *expected) {
        char buf[LOG_ESCAPE_BUFFER_SIZE];

        ck_assert_str_eq(log_escape(in, buf, sizeof(buf)), expected);
}

START_TEST(test_plain_text_unchanged) {
        check_escape("", "");
        check_escape("/srv/app/config/data.bin", "/srv/app/config/data.bin");
        check_escape("a b=c>d", "a b=c>d");
        check_escape(NULL, "(null)");
}
END_TEST

START_TEST(test_line_and_prefix_escaped) {
        /* The forgery: a second journald entry at priority 2. */
        check_escape("/x\n<2>root login", "/x\\x0a\\x3c2>root login");
        check_escape("<3>", "\\x3c3>");
        check_escape("a\rb\tc\x1b[31m\x7f", "a\\x0db\\x09c\\x1b[31m\\x7f");
        check_escape("back\\slash", "back\\x5cslash");
}
END_TEST

START_TEST(test_utf8) {
        /* Valid UTF-8 stays readable. */
        check_escape("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");
        /* C1 controls (U+0085 is a line break to some readers) are escaped whole. */
        check_escape("a\xc2\x85z", "a\\xc2\\x85z");
        /* Invalid: stray continuation, truncated sequence, overlong '/', surrogate, past U+10FFFF, 0xff. */
        check_escape("\x80", "\\x80");
        check_escape("\xc3", "\\xc3");
        check_escape("\xe2\x82", "\\xe2\\x82");
        check_escape("\xc0\xaf", "\\xc0\\xaf");
        check_escape("\xe0\x80\xaf", "\\xe0\\x80\\xaf");
        check_escape("\xed\xa0\x80", "\\xed\\xa0\\x80");
        check_escape("\xf4\x90\x80\x80", "\\xf4\\x90\\x80\\x80");
        check_escape("\xff/", "\\xff/");
        /* An invalid lead byte does not swallow the valid text after it. */
        check_escape("\xe2/ok", "\\xe2/ok");
}
END_TEST

START_TEST(test_truncated_with_marker) {
        char in[5000], buf[LOG_ESCAPE_BUFFER_SIZE];
        size_t len;

        memset(in, 'a', sizeof(in) - 1);
        in[sizeof(in) - 1] = '\0';
        log_escape(in, buf, sizeof(buf));
        len = strlen(buf);
        ck_assert_uint_lt(len, sizeof(buf));
        ck_assert_uint_gt(len, sizeof(buf) / 2);
        ck_assert_str_eq(buf + len - strlen(LOG_ESCAPE_TRUNCATED), LOG_ESCAPE_TRUNCATED);

        /* All escapes: still bounded, cut between two escapes, never inside one. */
        memset(in, '\n', sizeof(in) - 1);
        log_escape(in, buf, sizeof(buf));
        len = strlen(buf);
        ck_assert_uint_lt(len, sizeof(buf));
        ck_assert_str_eq(buf + len - strlen(LOG_ESCAPE_TRUNCATED), LOG_ESCAPE_TRUNCATED);
        ck_assert_uint_eq((len - strlen(LOG_ESCAPE_TRUNCATED)) % 4, 0);

        /* Multi-byte characters are never split. */
        for (size_t i = 0; i + 2 < sizeof(in); i += 2)
                memcpy(in + i, "\xc3\xa9", 2);
        in[sizeof(in) - 2] = '\0';
        log_escape(in, buf, sizeof(buf));
        len = strlen(buf) - strlen(LOG_ESCAPE_TRUNCATED);
        ck_assert_uint_eq(len % 2, 0);

        /* A small buffer works the same way. */
        ck_assert_str_eq(log_escape("abcdefghijklmnopqrstuvwxyz", buf, sizeof(LOG_ESCAPE_TRUNCATED) + 4),
                         "abcd" LOG_ESCAPE_TRUNCATED);
}
END_TEST

START_TEST(test_macro) {
        ck_assert_str_eq(LOG_ESCAPE("a\nb"), "a\\x0ab");
}
END_TEST

int main(void) {
        TCase *tc;
        Suite *s = test_suite("log-escape", 0, NULL, NULL, &tc);

        tcase_add_test(tc, test_plain_text_unchanged);
        tcase_add_test(tc, test_line_and_prefix_escaped);
        tcase_add_test(tc, test_utf8);
        tcase_add_test(tc, test_truncated_with_marker);
        tcase_add_test(tc, test_macro);
        return suite_run(s, NULL);
}
