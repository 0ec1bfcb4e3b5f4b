/* SPDX-License-Identifier: Apache-2.0 OR MIT */
/*
 * Built with -std=c99 -pedantic -Werror: the public header must not need GNU
 * C or C11. It comes first so that it cannot lean on an earlier include.
 */
#include "safe-mmap.h"

#include <stdlib.h>

int main(void) {
        safe_mmap *m = NULL;
        uint64_t limit = SAFE_MMAP_LOCAL_SIZE_MAX;
        unsigned flags = SAFE_MMAP_POPULATE | SAFE_MMAP_NO_DAEMON | SAFE_MMAP_NO_FALLBACK;
        int kinds = SAFE_MMAP_SEALED_MEMFD + SAFE_MMAP_FS_VERITY + SAFE_MMAP_UNVERIFIED;

        if (limit == 0 || flags == 0 || kinds != 6)
                return EXIT_FAILURE;
        if (safe_mmap_size(m) != 0 || safe_mmap_free(m) != NULL)
                return EXIT_FAILURE;
        return EXIT_SUCCESS;
}
