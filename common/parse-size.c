/* SPDX-License-Identifier: Apache-2.0 OR MIT */
#include <errno.h>

#include "parse-size.h"

int parse_size(const char *s, uint64_t *ret) {
        uint64_t v = 0;
        unsigned shift = 0;
        const char *p = s;

        if (!s || *s < '0' || *s > '9')
                return -EINVAL;
        /* By hand rather than strtoull(): it would accept blanks, a sign and wrap "-1" around. */
        for (; *p >= '0' && *p <= '9'; p++) {
                unsigned d = (unsigned) (*p - '0');

                if (v > (UINT64_MAX - d) / 10)
                        return -ERANGE;
                v = v * 10 + d;
        }
        switch (*p) {
        case '\0': break;
        case 'K': case 'k': shift = 10; p++; break;
        case 'M': case 'm': shift = 20; p++; break;
        case 'G': case 'g': shift = 30; p++; break;
        case 'T': case 't': shift = 40; p++; break;
        default: return -EINVAL;
        }
        if (*p != '\0')
                return -EINVAL;
        if (shift && v > (UINT64_MAX >> shift))
                return -ERANGE;
        *ret = v << shift;
        return 0;
}
