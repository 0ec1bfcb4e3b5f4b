/* SPDX-License-Identifier: Apache-2.0 OR MIT */
/*
 * Seal and kind names: every seal the kernel reports on a real memfd is
 * named, and what is written can be read back.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "macro.h"
#include "seal-util.h"
#include "test-util.h"

START_TEST(test_round_trip) {
        static const unsigned sets[] = {
                0, F_SEAL_SEAL, SEALS_IMMUTABLE, SEALS_SNAPSHOT, SEALS_SNAPSHOT | F_SEAL_EXEC,
                F_SEAL_FUTURE_WRITE | F_SEAL_SHRINK,
        };
        char buf[128];
        unsigned back;

        for (size_t i = 0; i < ELEMENTSOF(sets); i++) {
                seals_to_string(sets[i], buf, sizeof(buf));
                ck_assert_int_eq(seals_from_string(buf, &back), 0);
                ck_assert_uint_eq(back, sets[i]);
        }
        ck_assert_str_eq(seals_to_string(0, buf, sizeof(buf)), "none");
        ck_assert_str_eq(seals_to_string(SEALS_SNAPSHOT, buf, sizeof(buf)), "seal,shrink,grow,write");
        ck_assert_str_eq(seals_to_string(F_SEAL_WRITE | 0x400, buf, sizeof(buf)), "write,0x400");
        ck_assert_str_eq(seals_to_string(0x400, buf, sizeof(buf)), "0x400");
        /* A buffer too small is cut, never overrun. */
        ck_assert_str_eq(seals_to_string(SEALS_SNAPSHOT | 0x400, buf, 6), "seal,");
        ck_assert_int_eq(seals_from_string("write,bogus", &back), -EINVAL);
        ck_assert_int_eq(seals_from_string("", &back), -EINVAL);
        ck_assert_int_eq(seals_from_string("write,", &back), -EINVAL);
        ck_assert_int_eq(seal_from_string("exec", 4), F_SEAL_EXEC);
        ck_assert_int_eq(seal_from_string("execute", 7), -EINVAL);
}
END_TEST

START_TEST(test_kernel_seals) {
        int fd = memfd_create("seal-util", MFD_CLOEXEC | MFD_ALLOW_SEALING);
        char buf[128];
        unsigned want;

        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(fcntl(fd, F_ADD_SEALS, SEALS_SNAPSHOT), 0);
        seals_to_string((unsigned) fcntl(fd, F_GET_SEALS), buf, sizeof(buf));
        ck_assert_int_eq(seals_from_string(buf, &want), 0);
        ck_assert_uint_eq(want & SEALS_SNAPSHOT, SEALS_SNAPSHOT);
        ck_assert_ptr_null(strstr(buf, "0x"));
        close(fd);
}
END_TEST

START_TEST(test_kinds) {
        ck_assert_str_eq(kind_to_string(KIND_SEALED_MEMFD), "sealed-memfd");
        ck_assert_str_eq(kind_to_string(KIND_FS_VERITY), "fs-verity");
        ck_assert_str_eq(kind_to_string(KIND_UNVERIFIED), "unverified");
        ck_assert_str_eq(kind_to_string(0), "unknown");
        ck_assert_str_eq(kind_to_string(-EINVAL), "unknown");
}
END_TEST

int main(void) {
        TCase *tc;
        Suite *s = test_suite("seal-util", 0, NULL, NULL, &tc);

        tcase_add_test(tc, test_round_trip);
        tcase_add_test(tc, test_kernel_seals);
        tcase_add_test(tc, test_kinds);
        return suite_run(s, NULL);
}
