/* SPDX-License-Identifier: Apache-2.0 OR MIT */

/*
 * safe-mmap snapshot, and what it shares with cat: options, the loop over
 * PATH... and the messages for a snapshot that could not be made.
 */

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "format.h"
#include "parse-size.h"
#include "status.h"
#include "tool.h"

/*
 * With --no-fallback the library names the daemon's failures itself, and we
 * never connect again to guess what an errno meant:
 * -ECONNREFUSED when no daemon answers, -EPERM when the socket belongs to an
 * untrusted user (safe_mmap_snapshot_fd(3)). Without the option neither
 * reaches us: a local snapshot is made instead.
 */
static void snapshot_report_error(const char *path, unsigned flags, int r) {
        const char *size_max = secure_getenv("SAFE_MMAP_SIZE_MAX");
        uint64_t size;

        /* The library checks the variable before anything else; its -EINVAL is not the file's. */
        if (r == -EINVAL && size_max && *size_max && parse_size(size_max, &size) < 0) {
                fprintf(stderr, PROGRAM ": %s: SAFE_MMAP_SIZE_MAX=%s is not a size (bytes, or with K, M, G or T)\n",
                        path, size_max);
                return;
        }

        if ((flags & SAFE_MMAP_NO_FALLBACK) && r == -EPERM) {
                /* Something answers, but not a daemon we may trust with our files. */
                fprintf(stderr, PROGRAM ": %s: the daemon socket %s belongs to a user other than root "
                        "or you: not trusted\n", path, status_socket_path());
                return;
        }
        if ((flags & SAFE_MMAP_NO_FALLBACK) && r == -ECONNREFUSED) {
                fprintf(stderr, PROGRAM ": %s: no daemon answers at %s\n", path, status_socket_path());
                return;
        }
        fprintf(stderr, PROGRAM ": %s: %s\n", path, snapshot_strerror(r));
}

/* Returns 0 to go on, EXIT_USAGE after a usage error, -1 after --help. */
static int parse_snapshot_options(const char *command, int argc, char *argv[], bool allow_populate,
                                  unsigned *ret_flags) {
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "local", no_argument, NULL, ARG_LOCAL },
                { "no-fallback", no_argument, NULL, ARG_NO_FALLBACK },
                { "populate", no_argument, NULL, ARG_POPULATE },
                { "require-consistent", no_argument, NULL, ARG_REQUIRE_CONSISTENT },
                {}
        };
        unsigned flags = 0;
        int c;

        optind = 0;
        while ((c = getopt_long(argc, argv, "+:h", options, NULL)) >= 0)
                switch (c) {
                case 'h':
                        help();
                        return -1;
                case ARG_LOCAL:
                        flags |= SAFE_MMAP_NO_DAEMON;
                        break;
                case ARG_NO_FALLBACK:
                        flags |= SAFE_MMAP_NO_FALLBACK;
                        break;
                case ARG_REQUIRE_CONSISTENT:
                        flags |= SAFE_MMAP_REQUIRE_CONSISTENT;
                        break;
                case ARG_POPULATE:
                        if (!allow_populate)
                                return usage_error("%s: unrecognized option '--populate'", command);
                        flags |= SAFE_MMAP_POPULATE;
                        break;
                default:
                        return option_error(command, c, argv);
                }

        if ((flags & SAFE_MMAP_NO_DAEMON) && (flags & SAFE_MMAP_NO_FALLBACK))
                return usage_error("%s: --local and --no-fallback exclude each other", command);
        if (optind >= argc)
                return usage_error("%s: no PATH given", command);

        *ret_flags = flags;
        return 0;
}

/* open("") fails with ENOENT; the library would call an empty path invalid. Keep the shell's view. */
static int snapshot_path(const char *path, unsigned flags, safe_mmap **ret) {
        if (path[0] == '\0')
                return -ENOENT;
        return safe_mmap_snapshot(path, flags, ret);
}

/* The verbs that take PATH... share one meaning: every PATH is tried, each failure is reported,
 * and any failure makes the exit code EXIT_FAILURE. */
int snapshot_each(const char *command, int argc, char *argv[], bool allow_populate,
                  snapshot_callback_t callback) {
        unsigned flags = 0;
        int failed = 0, r;

        r = parse_snapshot_options(command, argc, argv, allow_populate, &flags);
        if (r != 0)
                return r < 0 ? EXIT_SUCCESS : r;

        for (int i = optind; i < argc; i++) {
                safe_mmap *m = NULL;

                r = snapshot_path(argv[i], flags, &m);
                if (r < 0) {
                        /* -EAGAIN means more than "kept changing" when a proof was asked for. */
                        if (r == -EAGAIN && (flags & SAFE_MMAP_REQUIRE_CONSISTENT))
                                fprintf(stderr, PROGRAM ": %s: not proven to be one whole version of the file\n",
                                        argv[i]);
                        else
                                snapshot_report_error(argv[i], flags, r);
                        failed = 1;
                        continue;
                }
                r = callback(argv[i], flags, m, i == optind);
                m = safe_mmap_free(m);
                if (r < 0)
                        return EXIT_FAILURE;
                if (r > 0)
                        break;
        }
        return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

/* FNV-1a, 64 bit: not a security digest, a short fingerprint to compare by eye. */
static uint64_t fnv1a64(const uint8_t *p, uint64_t n) {
        uint64_t h = UINT64_C(0xcbf29ce484222325);

        for (uint64_t i = 0; i < n; i++) {
                h ^= p[i];
                h *= UINT64_C(0x100000001b3);
        }
        return h;
}

/* How the kernel sees the mapping at @addr: the permission column of /proc/self/maps. */
static int mapping_get_perms(const void *addr, char ret[static 5]) {
        _cleanup_free_ char *line = NULL;
        size_t line_size = 0;
        uintptr_t a = (uintptr_t) addr;
        FILE *f;
        int r = -ENOENT;

        f = fopen("/proc/self/maps", "re");
        if (!f)
                return negative_errno();
        while (getline(&line, &line_size, f) > 0) {
                unsigned long start, end;
                char perms[5];

                if (sscanf(line, "%lx-%lx %4s", &start, &end, perms) != 3)
                        continue;
                if (a >= start && a < end) {
                        memcpy(ret, perms, 5);
                        r = 0;
                        break;
                }
        }
        fclose(f);
        return r;
}

static void show_verity_digest(const safe_mmap *m) {
        uint8_t digest[SAFE_MMAP_VERITY_DIGEST_MAX];
        unsigned algorithm;
        int n;

        n = safe_mmap_verity_digest(m, &algorithm, digest, sizeof(digest));
        if (n < 0)
                return;
        printf("  verity:      ");
        print_digest(algorithm, digest, (size_t) n);
        putchar('\n');
}

/* Where the bytes come from and what is proven about them, as the library reports it. */
static void show_provenance(const safe_mmap *m) {
        unsigned f = safe_mmap_flags(m);

        printf("  made:        %s\n",
               f & SAFE_MMAP_AS_GIVEN ? "not copied: the file itself, already immutable" :
               f & SAFE_MMAP_MADE_BY_DAEMON ? (f & SAFE_MMAP_CACHED ? "by the daemon (from its cache)" : "by the daemon") :
               f & SAFE_MMAP_MADE_LOCALLY ? "here, without the daemon" : "unknown");
        printf("  consistent:  %s\n",
               f & SAFE_MMAP_CONSISTENT ? "yes, proven one whole version of the file" :
               "not proven (a writer may have changed the file during the copy)");
}

static void snapshot_show(const char *path, unsigned flags, const safe_mmap *m) {
        char buf[PATH_MAX], perms[5];
        struct statfs sfs;
        uint64_t size = safe_mmap_size(m);
        int fd = safe_mmap_fd(m), kind = safe_mmap_kind(m), seals, accmode;

        printf("%s:\n", path);
        printf("  kind:        %s\n", kind_to_string(kind));
        printf("  size:        %" PRIu64 " bytes\n", size);

        seals = fcntl(fd, F_GET_SEALS);
        printf("  seals:       %s\n", seals >= 0 ? seals_to_string((unsigned) seals, buf, sizeof(buf)) : "none");

        accmode = fcntl(fd, F_GETFL);
        printf("  access:      %s\n",
               accmode < 0 ? "unknown" :
               (accmode & O_ACCMODE) == O_RDONLY ? "read-only" :
               (accmode & O_ACCMODE) == O_WRONLY ? "write-only" : "read-write");

        printf("  filesystem:  %s\n", fstatfs(fd, &sfs) >= 0 ? fs_type_to_string(sfs.f_type, buf, sizeof(buf)) : "unknown");

        printf("  file:        %s\n", fd_get_name(fd, buf, sizeof(buf)) >= 0 ? buf : "unknown");
        printf("  requested:   %s\n",
               flags & SAFE_MMAP_NO_DAEMON ? "made here (--local)" :
               flags & SAFE_MMAP_NO_FALLBACK ? "from the daemon only (--no-fallback)" :
               "from the daemon, else made here");
        show_provenance(m);

        if (kind == SAFE_MMAP_FS_VERITY)
                show_verity_digest(m);

        if (size == 0)
                printf("  mapping:     none (empty file)\n");
        else if (mapping_get_perms(safe_mmap_data(m), perms) >= 0)
                printf("  mapping:     %s (%s)\n", perms, strcmp(perms, "r--p") == 0 ? "read-only, private" : "unexpected");
        else
                printf("  mapping:     unknown\n");

        printf("  fnv1a-64:    %016" PRIx64 "\n", fnv1a64(safe_mmap_data(m), size));
}

static int snapshot_one(const char *path, unsigned flags, const safe_mmap *m, bool first) {
        if (!first)
                putchar('\n');
        snapshot_show(path, flags, m);
        return 0;
}

int verb_snapshot(int argc, char *argv[]) {
        return snapshot_each("snapshot", argc, argv, true, snapshot_one);
}

