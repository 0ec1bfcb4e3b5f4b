/* SPDX-License-Identifier: Apache-2.0 OR MIT */

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "macro.h"
#include "seal-util.h"

static const struct {
        unsigned bit;
        const char *name;
} seal_table[] = {
        { F_SEAL_SEAL, "seal" },
        { F_SEAL_SHRINK, "shrink" },
        { F_SEAL_GROW, "grow" },
        { F_SEAL_WRITE, "write" },
        { F_SEAL_FUTURE_WRITE, "future-write" },
        { F_SEAL_EXEC, "exec" },
};

const char *kind_to_string(int kind) {
        switch (kind) {
        case KIND_SEALED_MEMFD:
                return "sealed-memfd";
        case KIND_FS_VERITY:
                return "fs-verity";
        case KIND_UNVERIFIED:
                return "unverified";
        default:
                return "unknown";
        }
}

int seal_from_string(const char *name, size_t length) {
        for (size_t i = 0; i < ELEMENTSOF(seal_table); i++)
                if (strlen(seal_table[i].name) == length && strncmp(name, seal_table[i].name, length) == 0)
                        return (int) seal_table[i].bit;
        return -EINVAL;
}

const char *seals_to_string(unsigned seals, char *buf, size_t size) {
        size_t n = 0;

        if (size > 0)
                buf[0] = '\0';
        for (size_t i = 0; i < ELEMENTSOF(seal_table); i++) {
                if (!(seals & seal_table[i].bit))
                        continue;
                n += (size_t) snprintf(buf + (n < size ? n : size), n < size ? size - n : 0, "%s%s", n > 0 ? "," : "",
                                       seal_table[i].name);
                seals &= ~seal_table[i].bit;
        }
        if (seals != 0)
                n += (size_t) snprintf(buf + (n < size ? n : size), n < size ? size - n : 0, "%s0x%x",
                                       n > 0 ? "," : "", seals);
        if (n == 0)
                (void) snprintf(buf, size, "none");
        return buf;
}

int seals_from_string(const char *s, unsigned *ret) {
        unsigned seals = 0;

        if (strcmp(s, "none") == 0) {
                *ret = 0;
                return 0;
        }
        for (;;) {
                size_t n = strcspn(s, ",");
                int bit = seal_from_string(s, n);

                if (bit < 0)
                        return bit;
                seals |= (unsigned) bit;
                if (s[n] == '\0')
                        break;
                s += n + 1;
        }
        *ret = seals;
        return 0;
}
