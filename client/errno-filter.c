/* SPDX-License-Identifier: Apache-2.0 OR MIT */

#include <errno.h>

#include "internal.h"

int errno_filter(int r, const int *allowed, size_t n_allowed) {
        if (r >= 0)
                return r;
        for (size_t i = 0; i < n_allowed; i++)
                if (r == -allowed[i])
                        return r;
        return -ERRNO_CATCH_ALL;
}
