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

#include "macro.h"

#ifndef F_SEAL_FUTURE_WRITE
#define F_SEAL_FUTURE_WRITE 0x0010
#endif
#ifndef F_SEAL_EXEC
#define F_SEAL_EXEC 0x0020
#endif

static int seals_parse(const char *s, int *ret) {
        static const struct {
                const char *name;
                int bit;
        } table[] = {
                { "seal", F_SEAL_SEAL },
                { "shrink", F_SEAL_SHRINK },
                { "grow", F_SEAL_GROW },
                { "write", F_SEAL_WRITE },
                { "future-write", F_SEAL_FUTURE_WRITE },
                { "exec", F_SEAL_EXEC },
        };
        int seals = 0;

        if (strcmp(s, "none") == 0) {
                *ret = 0;
                return 0;
        }
        while (*s) {
                size_t n = strcspn(s, ",");
                size_t i;

                for (i = 0; i < ELEMENTSOF(table); i++)
                        if (strlen(table[i].name) == n && strncmp(s, table[i].name, n) == 0)
                                break;
                if (i == ELEMENTSOF(table))
                        return -EINVAL;
                seals |= table[i].bit;
                s += n;
                if (*s == ',')
                        s++;
        }
        *ret = seals;
        return 0;
}

int main(int argc, char *argv[]) {
        _cleanup_close_ int memfd = -EBADF, ro = -EBADF;
        char proc[64];
        size_t len;
        int seals, target;

        if (argc < 5 || seals_parse(argv[1], &seals) < 0 || (target = atoi(argv[3])) < 3) {
                fprintf(stderr, "usage: memfd-exec SEALS CONTENT FD(>=3) PROGRAM [ARGUMENT]...\n");
                return EXIT_FAILURE;
        }

        memfd = memfd_create("memfd-exec", MFD_CLOEXEC | MFD_ALLOW_SEALING);
        if (memfd < 0) {
                perror("memfd_create");
                return EXIT_FAILURE;
        }
        len = strlen(argv[2]);
        if (write(memfd, argv[2], len) != (ssize_t) len) {
                perror("write");
                return EXIT_FAILURE;
        }
        if (seals != 0 && fcntl(memfd, F_ADD_SEALS, seals) < 0) {
                perror("F_ADD_SEALS");
                return EXIT_FAILURE;
        }

        /* Hand down a read-only open file description, as safe-mmapd does. */
        snprintf(proc, sizeof(proc), "/proc/self/fd/%i", memfd);
        ro = open(proc, O_RDONLY | O_CLOEXEC);
        if (ro < 0) {
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
