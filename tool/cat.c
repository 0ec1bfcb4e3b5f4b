/* SPDX-License-Identifier: Apache-2.0 OR MIT */

/*
 * safe-mmap cat: every byte written comes from the verified mapping, never
 * from a second read of the file: reading the file again would hand the
 * reader whatever a concurrent writer put there, which is exactly what the
 * snapshot exists to prevent.
 */

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "fd-util.h"
#include "tool.h"

static int cat_one(_unused_ const char *path, _unused_ unsigned flags, const safe_mmap *m,
                   _unused_ bool first) {
        int r;

        r = loop_write(STDOUT_FILENO, safe_mmap_data(m), (size_t) safe_mmap_size(m));
        if (r == -EPIPE)
                /* The reader has what it wanted (e.g. `| head`); that is no failure. */
                return 1;
        if (r < 0) {
                fprintf(stderr, PROGRAM ": write error: %s\n", strerror(-r));
                return r;
        }
        return 0;
}

int verb_cat(int argc, char *argv[]) {
        return snapshot_each("cat", argc, argv, false, cat_one);
}

