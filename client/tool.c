/* SPDX-License-Identifier: Apache-2.0 OR MIT */

/*
 * safe-mmap: the command-line face of libsafe-mmap.
 *
 * Every byte `cat` writes comes from the verified mapping, never from a
 * second read of the file: reading the file again would hand the reader
 * whatever a concurrent writer put there, which is exactly what the snapshot
 * exists to prevent. `check` and `snapshot` explain their verdicts by looking
 * at the descriptor themselves (seals, file system, /proc name); the verdict
 * itself always comes from the library.
 */

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/fsverity.h>
#include <linux/magic.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "config.h"
#include "macro.h"
#include "parse-size.h"
#include "safe-mmap.h"
#include "transport.h"

/* glibc 2.36 knows F_SEAL_FUTURE_WRITE but not yet F_SEAL_EXEC (Linux 6.3). */
#ifndef F_SEAL_FUTURE_WRITE
#define F_SEAL_FUTURE_WRITE 0x0010
#endif
#ifndef F_SEAL_EXEC
#define F_SEAL_EXEC 0x0020
#endif

#define PROGRAM "safe-mmap"
#define SEALS_REQUIRED (F_SEAL_WRITE | F_SEAL_SHRINK | F_SEAL_GROW)

enum {
        EXIT_USAGE = 2,
};

/* Long-only options get values outside the char range. */
enum {
        ARG_FD = 0x100,
        ARG_LOCAL,
        ARG_NO_FALLBACK,
        ARG_POPULATE,
        ARG_REQUIRE_CONSISTENT,
        ARG_DIGEST,
};

static void help(void) {
        printf("Usage: " PROGRAM " COMMAND [OPTIONS] [ARGUMENTS]\n"
               "       " PROGRAM " --help | --version\n"
               "\n"
               "Map files only when they provably cannot change or shrink: check descriptors,\n"
               "and make and show immutable snapshots (sealed memfds) of files.\n"
               "\n"
               "Commands:\n"
               "  check [--verbose] [--digest HEX] [--fd N]... [PATH]...\n"
               "                   Prove that each file or inherited descriptor is a sealed\n"
               "                   memfd or an fs-verity file\n"
               "  cat [--local | --no-fallback] [--require-consistent] [--] PATH...\n"
               "                   Write an immutable snapshot of each file to standard output\n"
               "  snapshot [--local | --no-fallback] [--require-consistent] [--populate] [--] PATH...\n"
               "                   Make a snapshot of each file and show what was verified\n"
               "  status           Show the state of the safe-mmapd daemon\n"
               "\n"
               "Options:\n"
               "  -h, --help       Show this help and exit\n"
               "  -V, --version    Show the version and exit\n"
               "  -v, --verbose    check: also show the seals found on each memfd\n"
               "      --fd N       check: check the inherited descriptor N (repeatable)\n"
               "      --digest [sha256:|sha512:]HEX\n"
               "                   check: require fs-verity files with exactly this digest\n"
               "      --local      cat, snapshot: make the snapshot here, never ask the daemon\n"
               "      --no-fallback\n"
               "                   cat, snapshot: fail rather than make the snapshot here when\n"
               "                   no daemon answers\n"
               "      --require-consistent\n"
               "                   cat, snapshot: only a snapshot proven to be one whole\n"
               "                   version of the file\n"
               "      --populate   snapshot: prefault the whole mapping\n"
               "\n"
               "Environment:\n"
               "  SAFE_MMAP_SOCKET    the daemon's socket (default " SAFE_MMAP_SOCKET_DEFAULT ")\n"
               "  SAFE_MMAP_SIZE_MAX  size limit in bytes of snapshots made without the daemon\n"
               "\n"
               "Exit status: 0 if every file succeeded, 1 if any failed or no daemon answered,\n"
               "2 on a usage error.\n"
               "See safe-mmap(1).\n");
}

_printf_(1, 2)
static int usage_error(const char *fmt, ...) {
        va_list ap;

        fputs(PROGRAM ": ", stderr);
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputs("\nTry '" PROGRAM " --help' for more information.\n", stderr);
        return EXIT_USAGE;
}

/*
 * getopt is told to stay quiet (leading ':') so that its messages do not
 * carry the command name as if it were the program's; this speaks instead.
 */
static int option_error(const char *command, int c, char *const argv[]) {
        const char *arg = argv[optind - 1];

        if (c == ':')
                return usage_error("%s: option '%s' requires an argument", command, arg);
        if (optopt > 0 && optopt < 0x100 && strncmp(arg, "--", 2) != 0)
                return usage_error("%s: invalid option '-%c'", command, optopt);
        return usage_error("%s: unrecognized option '%s'", command, arg);
}

/* strerror() starts with a capital; inside a parenthesis it reads better without. */
static const char *strerror_lower(int error, char *buf, size_t size) {
        snprintf(buf, size, "%s", strerror(error));
        if (buf[0] >= 'A' && buf[0] <= 'Z' && buf[1] >= 'a' && buf[1] <= 'z')
                buf[0] = (char) (buf[0] - 'A' + 'a');
        return buf;
}

static const char *kind_to_string(int kind) {
        switch (kind) {
        case SAFE_MMAP_SEALED_MEMFD:
                return "sealed-memfd";
        case SAFE_MMAP_FS_VERITY:
                return "fs-verity";
        case SAFE_MMAP_UNVERIFIED:
                return "unverified";
        default:
                return "unknown";
        }
}

static const char *seals_to_string(unsigned seals, char *buf, size_t size) {
        static const struct {
                unsigned bit;
                const char *name;
        } table[] = {
                { F_SEAL_SEAL, "seal" },
                { F_SEAL_SHRINK, "shrink" },
                { F_SEAL_GROW, "grow" },
                { F_SEAL_WRITE, "write" },
                { F_SEAL_FUTURE_WRITE, "future-write" },
                { F_SEAL_EXEC, "exec" },
        };
        size_t n = 0;

        buf[0] = '\0';
        for (size_t i = 0; i < ELEMENTSOF(table); i++) {
                if (!(seals & table[i].bit))
                        continue;
                n += (size_t) snprintf(buf + n, n < size ? size - n : 0, "%s%s", n > 0 ? "," : "", table[i].name);
                seals &= ~table[i].bit;
        }
        if (seals != 0)
                n += (size_t) snprintf(buf + n, n < size ? size - n : 0, "%s0x%x", n > 0 ? "," : "", seals);
        if (n == 0)
                snprintf(buf, size, "none");
        return buf;
}

static const char *file_type_to_string(mode_t mode) {
        switch (mode & S_IFMT) {
        case S_IFDIR:
                return "directory";
        case S_IFIFO:
                return "FIFO";
        case S_IFSOCK:
                return "socket";
        case S_IFCHR:
                return "character device";
        case S_IFBLK:
                return "block device";
        case S_IFLNK:
                return "symbolic link";
        default:
                return "unknown type";
        }
}

static const char *fs_type_to_string(long type, char *buf, size_t size) {
        /* f_type is a signed long holding a 32-bit magic; compare the low bits. */
        switch ((unsigned long) type & 0xffffffffUL) {
        case TMPFS_MAGIC:
                return "tmpfs";
        case HUGETLBFS_MAGIC:
                return "hugetlbfs";
        case EXT4_SUPER_MAGIC:
                return "ext4";
        case F2FS_SUPER_MAGIC:
                return "f2fs";
        case BTRFS_SUPER_MAGIC:
                return "btrfs";
        case XFS_SUPER_MAGIC:
                return "xfs";
        case OVERLAYFS_SUPER_MAGIC:
                return "overlayfs";
        case PROC_SUPER_MAGIC:
                return "proc";
        case PIPEFS_MAGIC:
                return "pipefs";
        case SOCKFS_MAGIC:
                return "sockfs";
        default:
                snprintf(buf, size, "0x%lx", (unsigned long) type & 0xffffffffUL);
                return buf;
        }
}

/* The name /proc shows for a descriptor, e.g. "/memfd:safe-mmap (deleted)". */
static int fd_get_name(int fd, char *buf, size_t size) {
        char proc[sizeof("/proc/self/fd/") + 3 * sizeof(int)];
        ssize_t n;

        snprintf(proc, sizeof(proc), "/proc/self/fd/%i", fd);
        n = readlink(proc, buf, size - 1);
        if (n < 0)
                return negative_errno();
        buf[n] = '\0';
        return 0;
}

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
                unsigned missing = SEALS_REQUIRED & ~(unsigned) seals;

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

/* A digest the caller requires (check --digest); algorithm 0 when none. */
typedef struct Digest {
        unsigned algorithm;
        size_t size;
        uint8_t bytes[SAFE_MMAP_VERITY_DIGEST_MAX];
} Digest;

static const char *verity_algorithm_to_string(unsigned algorithm) {
        return algorithm == SAFE_MMAP_VERITY_SHA256 ? "sha256" :
               algorithm == SAFE_MMAP_VERITY_SHA512 ? "sha512" : "unknown";
}

/* "sha256:HEX", "sha512:HEX" (as `fsverity measure` prints it) or bare HEX, whose length names the algorithm. */
static int parse_digest(const char *s, Digest *ret) {
        Digest d = {};
        size_t n;

        if (strncmp(s, "sha256:", 7) == 0) {
                d.algorithm = SAFE_MMAP_VERITY_SHA256;
                s += 7;
        } else if (strncmp(s, "sha512:", 7) == 0) {
                d.algorithm = SAFE_MMAP_VERITY_SHA512;
                s += 7;
        }
        n = strlen(s);
        if (n != 64 && n != 128)
                return -EINVAL;
        if (d.algorithm == 0)
                d.algorithm = n == 64 ? SAFE_MMAP_VERITY_SHA256 : SAFE_MMAP_VERITY_SHA512;
        if ((d.algorithm == SAFE_MMAP_VERITY_SHA256) != (n == 64))
                return -EINVAL;
        d.size = n / 2;
        for (size_t i = 0; i < d.size; i++) {
                unsigned v;

                if (!isxdigit((unsigned char) s[2 * i]) || !isxdigit((unsigned char) s[2 * i + 1]) ||
                    sscanf(s + 2 * i, "%2x", &v) != 1)
                        return -EINVAL;
                d.bytes[i] = (uint8_t) v;
        }
        *ret = d;
        return 0;
}

static void print_digest(unsigned algorithm, const uint8_t *bytes, size_t size) {
        printf("%s:", verity_algorithm_to_string(algorithm));
        for (size_t i = 0; i < size; i++)
                printf("%02x", bytes[i]);
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

static int verb_check(int argc, char *argv[]) {
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

static const char *snapshot_strerror(int r) {
        switch (r) {
        case -EBADFD:
                return "immutability not proven";
        case -EFBIG:
                return "file larger than the snapshot size limit";
        case -EINVAL:
                return "not a regular file";
        case -EAGAIN:
                return "file kept changing while it was copied";
        case -EDQUOT:
                return "your snapshot memory at the daemon is used up (release snapshots you hold, or ask for a "
                       "larger --max-bytes-per-uid)";
        case -EXDEV:
                return "path leaves the policy grant that covers it (through \"..\", a symlink or a mount point)";
        default:
                return strerror(-r);
        }
}

/*
 * With --no-fallback the library names the daemon's failures itself:
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
                        "or you: not trusted\n", path, transport_socket_path());
                return;
        }
        if ((flags & SAFE_MMAP_NO_FALLBACK) && r == -ECONNREFUSED) {
                fprintf(stderr, PROGRAM ": %s: no daemon answers at %s\n", path, transport_socket_path());
                return;
        }
        fprintf(stderr, PROGRAM ": %s: %s\n", path, snapshot_strerror(r));
}

/* Returns 0, -EPIPE when the reader went away, or another negative errno. */
static int write_all(int fd, const uint8_t *p, uint64_t n) {
        while (n > 0) {
                /* Linux writes at most 0x7ffff000 bytes per call anyway. */
                size_t chunk = n > (UINT64_C(1) << 30) ? (size_t) 1 << 30 : (size_t) n;
                ssize_t k = write(fd, p, chunk);

                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno == EAGAIN) {
                                /* stdout may be a non-blocking descriptor we inherited. */
                                struct pollfd pfd = { .fd = fd, .events = POLLOUT };

                                if (poll(&pfd, 1, -1) < 0 && errno != EINTR)
                                        return negative_errno();
                                continue;
                        }
                        return negative_errno();
                }
                if (k == 0)
                        return -EIO;
                p += k;
                n -= (uint64_t) k;
        }
        return 0;
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

/* Called for each PATH that could be snapshotted: 0 to go on, 1 to stop early with the outcome so
 * far, a negative value to stop with EXIT_FAILURE (the callback has reported why). */
typedef int (*snapshot_callback_t)(const char *path, unsigned flags, const safe_mmap *m, bool first);

/* The verbs that take PATH... share one meaning: every PATH is tried, each failure is reported,
 * and any failure makes the exit code EXIT_FAILURE. */
static int snapshot_each(const char *command, int argc, char *argv[], bool allow_populate,
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

static int cat_one(_unused_ const char *path, _unused_ unsigned flags, const safe_mmap *m,
                   _unused_ bool first) {
        int r;

        r = write_all(STDOUT_FILENO, safe_mmap_data(m), safe_mmap_size(m));
        if (r == -EPIPE)
                /* The reader has what it wanted (e.g. `| head`); that is no failure. */
                return 1;
        if (r < 0) {
                fprintf(stderr, PROGRAM ": write error: %s\n", strerror(-r));
                return r;
        }
        return 0;
}

static int verb_cat(int argc, char *argv[]) {
        return snapshot_each("cat", argc, argv, false, cat_one);
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

static int verb_snapshot(int argc, char *argv[]) {
        return snapshot_each("snapshot", argc, argv, true, snapshot_one);
}

static void print_bytes(const char *label, uint64_t bytes) {
        static const char *const units[] = { "KiB", "MiB", "GiB", "TiB" };
        double v = (double) bytes;
        size_t u;

        printf("%s%" PRIu64 " bytes", label, bytes);
        if (bytes >= 1024) {
                for (u = 0, v /= 1024; v >= 1024 && u + 1 < ELEMENTSOF(units); u++)
                        v /= 1024;
                printf(" (%.1f %s)", v, units[u]);
        }
        putchar('\n');
}

static int verb_status(int argc, char *argv[]) {
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                {}
        };
        _cleanup_close_ int sock = -EBADF, fd = -EBADF;
        ProtoRequest req = { .type = PROTO_REQUEST_STATUS };
        ProtoReply reply;
        uint64_t s;
        int c, r;

        optind = 0;
        while ((c = getopt_long(argc, argv, "+:h", options, NULL)) >= 0)
                switch (c) {
                case 'h':
                        help();
                        return EXIT_SUCCESS;
                default:
                        return option_error("status", c, argv);
                }
        if (optind < argc)
                return usage_error("status: unexpected argument '%s'", argv[optind]);

        r = transport_connect(NULL, &sock);
        if (r < 0) {
                fprintf(stderr, PROGRAM ": no daemon answers at %s: %s\n", transport_socket_path(), strerror(-r));
                return EXIT_FAILURE;
        }
        r = transport_call(sock, &req, -EBADF, &reply, &fd);
        if (r < 0) {
                fprintf(stderr, PROGRAM ": daemon at %s did not answer: %s\n", transport_socket_path(), strerror(-r));
                return EXIT_FAILURE;
        }
        if (reply.status < 0) {
                fprintf(stderr, PROGRAM ": daemon at %s refused the status request: %s\n", transport_socket_path(),
                        strerror(-reply.status));
                return EXIT_FAILURE;
        }

        s = reply.uptime_usec / 1000000;
        printf("socket:        %s\n", transport_socket_path());
        printf("connections:   %" PRIu32 "\n", reply.connections);
        printf("served:        %" PRIu64 "\n", reply.served);
        print_bytes("bytes held:    ", reply.bytes_held);
        printf("cache entries: %" PRIu32 "\n", reply.cache_entries);
        printf("uptime:        ");
        if (s >= 86400)
                printf("%" PRIu64 "d ", s / 86400);
        if (s >= 3600)
                printf("%" PRIu64 "h ", s / 3600 % 24);
        if (s >= 60)
                printf("%" PRIu64 "min ", s / 60 % 60);
        printf("%" PRIu64 "s\n", s % 60);
        return EXIT_SUCCESS;
}

static int run(int argc, char *argv[]) {
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, 'V' },
                {}
        };
        static const struct {
                const char *name;
                int (*verb)(int argc, char *argv[]);
        } verbs[] = {
                { "check", verb_check },
                { "cat", verb_cat },
                { "snapshot", verb_snapshot },
                { "status", verb_status },
        };
        int c;

        /* '+': stop at the command; the options after it are the command's. */
        while ((c = getopt_long(argc, argv, "+:hV", options, NULL)) >= 0)
                switch (c) {
                case 'h':
                        help();
                        return EXIT_SUCCESS;
                case 'V':
                        printf(PROGRAM " " PACKAGE_VERSION "\n");
                        return EXIT_SUCCESS;
                default:
                        if (c == ':')
                                return usage_error("option '%s' requires an argument", argv[optind - 1]);
                        if (optopt > 0 && optopt < 0x100 && strncmp(argv[optind - 1], "--", 2) != 0)
                                return usage_error("invalid option '-%c'", optopt);
                        return usage_error("unrecognized option '%s'", argv[optind - 1]);
                }

        if (optind >= argc)
                return usage_error("no command given");

        for (size_t i = 0; i < ELEMENTSOF(verbs); i++)
                if (strcmp(argv[optind], verbs[i].name) == 0)
                        return verbs[i].verb(argc - optind, argv + optind);

        return usage_error("unknown command '%s'", argv[optind]);
}

int main(int argc, char *argv[]) {
        int r;

        /* A closed pipe must surface as EPIPE from write(), not kill us mid-file. */
        signal(SIGPIPE, SIG_IGN);

        r = run(argc, argv);

        /* Reports go through stdio; a full disk or closed stdout must not pass silently. */
        if (fflush(stdout) != 0 || ferror(stdout)) {
                if (errno != EPIPE)
                        fprintf(stderr, PROGRAM ": write error: %s\n", strerror(errno));
                if (r == EXIT_SUCCESS && errno != EPIPE)
                        r = EXIT_FAILURE;
        }
        return r;
}
