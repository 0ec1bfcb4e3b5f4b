/* SPDX-License-Identifier: Apache-2.0 OR MIT */

/*
 * safe-mmap check: the verdict always comes from the library; the reason a
 * descriptor was refused is found here, by looking at it again (seals, file
 * system, /proc name), since the library answers only "proven" or not.
 */

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/fsverity.h>
#include <linux/magic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "format.h"
#include "tool.h"

static bool fd_is_memfd(int fd) {
        char name[PATH_MAX];

        return fd_get_name(fd, name, sizeof(name)) >= 0 && strncmp(name, "/memfd:", 7) == 0;
}

static bool fd_has_verity(int fd) {
        struct statx stx;

        if (statx(fd, "", AT_EMPTY_PATH | AT_STATX_SYNC_AS_STAT, 0, &stx) < 0)
                return false;
        return (stx.stx_attributes_mask & STATX_ATTR_VERITY) && (stx.stx_attributes & STATX_ATTR_VERITY);
}

/*
 * The library answers only "proven" or "not proven" (-EBADFD); a person
 * wants to know why. Look at the descriptor again and name the first reason
 * found, in the order the library checks.
 */
static const char *check_explain(int fd, int r, char *buf, size_t size) {
        char tmp[128];
        struct stat st;
        struct statfs sfs;
        int flags, seals;

        if (r == -EBADF) {
                flags = fcntl(fd, F_GETFL);
                if (flags < 0)
                        return "bad file descriptor";
                if (flags & O_PATH)
                        return "O_PATH descriptor, not readable";
                if ((flags & O_ACCMODE) == O_WRONLY)
                        return "write-only descriptor";
                return "bad file descriptor";
        }
        if (r != -EBADFD)
                return strerror_lower(-r, buf, size);

        if (fstat(fd, &st) < 0)
                return strerror_lower(errno, buf, size);
        if (!S_ISREG(st.st_mode)) {
                snprintf(buf, size, "not a regular file but a %s", file_type_to_string(st.st_mode));
                return buf;
        }

        seals = fcntl(fd, F_GET_SEALS);
        if (seals >= 0 && fd_is_memfd(fd)) {
                unsigned missing = SEALS_IMMUTABLE & ~(unsigned) seals;

                if (missing != 0) {
                        snprintf(buf, size, "memfd lacks seals: %s", seals_to_string(missing, tmp, sizeof(tmp)));
                        return buf;
                }
                if (fstatfs(fd, &sfs) >= 0 && (unsigned long) sfs.f_type == HUGETLBFS_MAGIC)
                        return "sealed memfd on hugetlbfs";
                return "sealed memfd not accepted";
        }
        if (fd_has_verity(fd)) {
                if (fstatfs(fd, &sfs) >= 0) {
                        snprintf(buf, size, "fs-verity file on an unsupported file system (%s)",
                                 fs_type_to_string(sfs.f_type, tmp, sizeof(tmp)));
                        return buf;
                }
                return "fs-verity file not accepted";
        }
        return "not a sealed memfd or fs-verity file";
}

/* check --digest: the library compares; a refusal it names is explained here, others as without. */
static int check_one_digest(int fd, const char *label, const Digest *digest) {
        safe_mmap *m = NULL;
        int r;

        r = safe_mmap_map_fd_verity(fd, digest->algorithm, digest->bytes, digest->size, 0, &m);
        if (r == -EKEYREJECTED || r == -ENODATA) {
                fprintf(stderr, PROGRAM ": %s: %s\n", label,
                        r == -ENODATA ? "not an fs-verity file, it has no digest" : "fs-verity digest differs");
                return r;
        }
        if (r < 0)
                return r;
        printf("%s: %s, %" PRIu64 " bytes, digest ", label, kind_to_string(safe_mmap_kind(m)), safe_mmap_size(m));
        print_digest(digest->algorithm, digest->bytes, digest->size);
        putchar('\n');
        safe_mmap_free(m);
        return 0;
}

static int check_one(int fd, const char *label, bool verbose, const Digest *digest) {
        char reason[256], seals_buf[128];
        uint64_t size;
        int kind, r, seals;

        if (digest->algorithm != 0) {
                r = check_one_digest(fd, label, digest);
                if (r < 0 && r != -EKEYREJECTED && r != -ENODATA)
                        fprintf(stderr, PROGRAM ": %s: not proven immutable (%s)\n", label,
                                check_explain(fd, r, reason, sizeof(reason)));
                return r;
        }

        r = safe_mmap_check_fd(fd, &kind, &size);
        if (r < 0) {
                fprintf(stderr, PROGRAM ": %s: not proven immutable (%s)\n", label,
                        check_explain(fd, r, reason, sizeof(reason)));
                if (verbose && (seals = fcntl(fd, F_GET_SEALS)) >= 0 && fd_is_memfd(fd))
                        fprintf(stderr, PROGRAM ": %s: seals found: %s\n", label,
                                seals_to_string((unsigned) seals, seals_buf, sizeof(seals_buf)));
                return r;
        }

        printf("%s: %s, %" PRIu64 " bytes", label, kind_to_string(kind), size);
        if (verbose && kind == SAFE_MMAP_SEALED_MEMFD) {
                seals = fcntl(fd, F_GET_SEALS);
                if (seals >= 0)
                        printf(", seals: %s", seals_to_string((unsigned) seals, seals_buf, sizeof(seals_buf)));
        }
        putchar('\n');
        return 0;
}

static int parse_fd(const char *s, int *ret) {
        char *end;
        long v;

        if (*s < '0' || *s > '9')
                return -EINVAL;
        errno = 0;
        v = strtol(s, &end, 10);
        if (errno != 0 || *end != '\0' || v < 0 || v > INT_MAX)
                return -EINVAL;
        *ret = (int) v;
        return 0;
}

typedef struct CheckTarget {
        const char *path; /* NULL: an inherited descriptor */
        int fd;
} CheckTarget;

int verb_check(int argc, char *argv[]) {
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "verbose", no_argument, NULL, 'v' },
                { "fd", required_argument, NULL, ARG_FD },
                { "digest", required_argument, NULL, ARG_DIGEST },
                {}
        };
        _cleanup_free_ CheckTarget *targets = NULL;
        size_t n_targets = 0;
        bool verbose = false;
        Digest digest = {};
        int c, failed = 0;

        /* One slot per argument is always enough. */
        targets = calloc((size_t) argc, sizeof(*targets));
        if (!targets) {
                fprintf(stderr, PROGRAM ": out of memory\n");
                return EXIT_FAILURE;
        }

        /* '-' keeps the order in which paths and --fd were given; results come in that order. */
        optind = 0;
        while ((c = getopt_long(argc, argv, "-:hv", options, NULL)) >= 0)
                switch (c) {
                case 'h':
                        help();
                        return EXIT_SUCCESS;
                case 'v':
                        verbose = true;
                        break;
                case ARG_FD:
                        if (parse_fd(optarg, &targets[n_targets].fd) < 0)
                                return usage_error("check: invalid descriptor number '%s'", optarg);
                        targets[n_targets++].path = NULL;
                        break;
                case ARG_DIGEST:
                        if (parse_digest(optarg, &digest) < 0)
                                return usage_error("check: invalid digest '%s' (expected [sha256:]64 or "
                                                   "[sha512:]128 hex digits)", optarg);
                        break;
                case 1:
                        targets[n_targets++].path = optarg;
                        break;
                default:
                        return option_error("check", c, argv);
                }
        for (; optind < argc; optind++)
                targets[n_targets++].path = argv[optind];

        if (n_targets == 0)
                return usage_error("check: no PATH or --fd N given");

        for (size_t i = 0; i < n_targets; i++) {
                char label[sizeof("fd ") + 3 * sizeof(int)], reason[256];
                _cleanup_close_ int fd = -EBADF;

                if (!targets[i].path) {
                        snprintf(label, sizeof(label), "fd %i", targets[i].fd);
                        if (check_one(targets[i].fd, label, verbose, &digest) < 0)
                                failed = 1;
                        continue;
                }

                /* O_NONBLOCK: a FIFO must be refused, not waited on. */
                fd = open(targets[i].path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
                if (fd < 0) {
                        struct stat st;

                        /* A socket cannot be opened at all (ENXIO); name it rather than the errno. */
                        if (errno == ENXIO && stat(targets[i].path, &st) >= 0 && S_ISSOCK(st.st_mode))
                                snprintf(reason, sizeof(reason), "not a regular file but a socket");
                        else
                                strerror_lower(errno, reason, sizeof(reason));
                        fprintf(stderr, PROGRAM ": %s: not proven immutable (%s)\n", targets[i].path, reason);
                        failed = 1;
                        continue;
                }
                if (check_one(fd, targets[i].path, verbose, &digest) < 0)
                        failed = 1;
        }
        return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

