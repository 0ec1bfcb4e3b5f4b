/* SPDX-License-Identifier: Apache-2.0 OR MIT */

/*
 * memfd-exec SEALS CONTENT FD PROGRAM [ARGUMENT]...
 *
 * Runs PROGRAM with a memfd holding CONTENT on descriptor FD, sealed with
 * SEALS (a comma-separated list of seal, shrink, grow, write, future-write,
 * exec, or "none"). This is how a parent hands a snapshot to a child, and
 * lets the tool's `check --fd` be tested against real kernel seals.
 */

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fd-util.h"
#include "macro.h"
#include "seal-util.h"

int main(int argc, char *argv[]) {
        _cleanup_close_ int memfd = -EBADF, ro = -EBADF;
        size_t len;
        unsigned seals;
        int target;

        if (argc < 5 || seals_from_string(argv[1], &seals) < 0 || (target = atoi(argv[3])) < 3) {
                fprintf(stderr, "usage: memfd-exec SEALS CONTENT FD(>=3) PROGRAM [ARGUMENT]...\n");
                return EXIT_FAILURE;
        }

        memfd = memfd_create("memfd-exec", MFD_CLOEXEC | MFD_ALLOW_SEALING);
        if (memfd < 0) {
                perror("memfd_create");
                return EXIT_FAILURE;
        }
        len = strlen(argv[2]);
        if (loop_write(memfd, argv[2], len) < 0) {
                perror("write");
                return EXIT_FAILURE;
        }
        if (seals != 0 && fcntl(memfd, F_ADD_SEALS, (int) seals) < 0) {
                perror("F_ADD_SEALS");
                return EXIT_FAILURE;
        }

        /* Hand down a read-only open file description, as safe-mmapd does. */
        ro = fd_reopen_rdonly(memfd);
        if (ro < 0) {
                errno = -ro;
                perror("open");
                return EXIT_FAILURE;
        }
        /* The one descriptor meant to be inherited: dup3() without O_CLOEXEC, on
         * purpose. dup3() refuses to copy a descriptor onto itself, hence F_SETFD. */
        if (ro == target ? fcntl(ro, F_SETFD, 0) < 0 : dup3(ro, target, 0) < 0) {
                perror("dup3");
                return EXIT_FAILURE;
        }

        execv(argv[4], argv + 4);
        perror("execv");
        return EXIT_FAILURE;
}
