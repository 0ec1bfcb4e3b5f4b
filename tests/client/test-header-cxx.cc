// SPDX-License-Identifier: Apache-2.0 OR MIT
//
// The public header compiles as C++ (-pedantic -Werror) and its functions
// link with C linkage.
#include "safe-mmap.h"

#include <cstdlib>

int main() {
        safe_mmap *m = nullptr;
        uint64_t limit = SAFE_MMAP_LOCAL_SIZE_MAX;
        unsigned flags = SAFE_MMAP_POPULATE | SAFE_MMAP_NO_DAEMON | SAFE_MMAP_NO_FALLBACK;
        int kinds = SAFE_MMAP_SEALED_MEMFD + SAFE_MMAP_FS_VERITY + SAFE_MMAP_UNVERIFIED;
        int (*check)(int, int *, uint64_t *) = safe_mmap_check_fd;

        if (limit == 0 || flags == 0 || kinds != 6 || !check)
                return EXIT_FAILURE;
        if (safe_mmap_size(m) != 0 || safe_mmap_free(m) != nullptr)
                return EXIT_FAILURE;
        return EXIT_SUCCESS;
}
