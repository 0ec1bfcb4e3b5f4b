/* SPDX-License-Identifier: Apache-2.0 OR MIT */

/*
 * vm-client: a small program linked against the installed libsafe-mmap, run
 * by the vm suite inside the guest. It is built on the host against the
 * installed header and library, so it also proves that a program outside
 * the source tree can use what `meson install` ships.
 *
 *   vm-client map-fd PATH        open PATH, safe_mmap_map_fd() it
 *   vm-client snapshot PATH      safe_mmap_snapshot(PATH, NO_FALLBACK)
 *   vm-client snapshot-fd PATH   open PATH, safe_mmap_snapshot_fd(NO_FALLBACK)
 *   vm-client memfd SEALS        make a 64 KiB memfd with SEALS (a comma list of
 *                                seal,shrink,grow,write,future-write, or "none")
 *                                and safe_mmap_map_fd() it
 *   vm-client digest PATH        open PATH, safe_mmap_map_fd() it, print its fs-verity
 *                                digest ("sha256:HEX") on standard output (after
 *                                checking -ENOBUFS for a buffer too small)
 *   vm-client memfd-digest SIZE  seal SIZE bytes with safe_mmap_seal_bytes(), map
 *                                them, and ask for a digest (a sealed memfd has none)
 *   vm-client map-verity PATH ALGO:HEX
 *                                open PATH, safe_mmap_map_fd_verity() it
 *   vm-client hold SOCKET SECS   keep a connection to the daemon open
 *   vm-client junk SOCKET        send a packet that is no request
 *
 * The mapped bytes go to standard output, so that the caller can compare
 * them with the file; one line on standard error tells what the mapping
 * rests on: "vm-client: kind=fs-verity size=N fs=ext4 ino=N", a second one
 * what the library says about it: "vm-client: flags=as-given,consistent". A refusal prints
 * "vm-client: error=EBADFD" and exits 1; a usage error exits 2.
 */

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/un.h>
#include <unistd.h>

#include <safe-mmap.h>

#include "macro.h"

#define TMPFS_MAGIC 0x01021994
#define EXT4_SUPER_MAGIC 0xEF53

static void mappingp(safe_mmap **m) {
        safe_mmap_free(*m);
}

static const char *kind_name(int kind) {
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

static int fail(int r) {
        const char *name = strerrorname_np(-r);

        if (name)
                fprintf(stderr, "vm-client: error=%s\n", name);
        else
                fprintf(stderr, "vm-client: error=%d\n", r);
        return 1;
}

static int write_all(int fd, const uint8_t *p, uint64_t n) {
        while (n > 0) {
                ssize_t k = write(fd, p, n > (1u << 20) ? (1u << 20) : (size_t) n);

                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return negative_errno();
                }
                p += k;
                n -= (uint64_t) k;
        }
        return 0;
}

static int report(const safe_mmap *m) {
        struct statfs sfs;
        struct stat st;
        char fs[32];
        int r;

        if (fstatfs(safe_mmap_fd(m), &sfs) < 0 || fstat(safe_mmap_fd(m), &st) < 0)
                return fail(negative_errno());
        if (sfs.f_type == TMPFS_MAGIC)
                snprintf(fs, sizeof(fs), "tmpfs");
        else if (sfs.f_type == EXT4_SUPER_MAGIC)
                snprintf(fs, sizeof(fs), "ext4");
        else
                snprintf(fs, sizeof(fs), "0x%llx", (unsigned long long) sfs.f_type);

        r = write_all(STDOUT_FILENO, safe_mmap_data(m), safe_mmap_size(m));
        if (r < 0)
                return fail(r);

        /* The inode tells whether a daemon handed back the file itself. */
        fprintf(stderr, "vm-client: kind=%s size=%" PRIu64 " fs=%s ino=%llu\n",
                kind_name(safe_mmap_kind(m)), safe_mmap_size(m), fs, (unsigned long long) st.st_ino);
        {
                static const struct {
                        unsigned flag;
                        const char *name;
                } names[] = {
                        { SAFE_MMAP_MADE_BY_DAEMON, "made-by-daemon" },
                        { SAFE_MMAP_MADE_LOCALLY, "made-locally" },
                        { SAFE_MMAP_AS_GIVEN, "as-given" },
                        { SAFE_MMAP_CONSISTENT, "consistent" },
                        { SAFE_MMAP_CACHED, "cached" },
                };
                unsigned f = safe_mmap_flags(m);
                const char *sep = "";

                fprintf(stderr, "vm-client: flags=");
                for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
                        if (f & names[i].flag) {
                                fprintf(stderr, "%s%s", sep, names[i].name);
                                sep = ",";
                        }
                fprintf(stderr, "\n");
        }
        return 0;
}

static int map_path(const char *verb, const char *path) {
        _cleanup_(mappingp) safe_mmap *m = NULL;
        _cleanup_close_ int fd = -EBADF;
        int r;

        if (strcmp(verb, "snapshot") == 0) {
                r = safe_mmap_snapshot(path, SAFE_MMAP_NO_FALLBACK, &m);
                return r < 0 ? fail(r) : report(m);
        }

        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        if (fd < 0)
                return fail(negative_errno());

        if (strcmp(verb, "map-fd") == 0)
                r = safe_mmap_map_fd(fd, 0, &m);
        else
                r = safe_mmap_snapshot_fd(fd, SAFE_MMAP_NO_FALLBACK, &m);
        if (r < 0)
                return fail(r);

        /* The proof is about the descriptor: what was mapped must be as
         * large as the file the caller opened. */
        if (strcmp(verb, "map-fd") == 0) {
                struct stat st;

                if (fstat(fd, &st) < 0)
                        return fail(negative_errno());
                if ((uint64_t) st.st_size != safe_mmap_size(m)) {
                        fprintf(stderr, "vm-client: mapped %" PRIu64 " bytes of a %lld byte file\n",
                                safe_mmap_size(m), (long long) st.st_size);
                        return 1;
                }
        }

        return report(m);
}

/* The installed library must refuse what is not sealed against every change. */
static int map_memfd(const char *seal_list) {
        static const struct {
                const char *name;
                int seal;
        } names[] = {
                { "seal", F_SEAL_SEAL },
                { "shrink", F_SEAL_SHRINK },
                { "grow", F_SEAL_GROW },
                { "write", F_SEAL_WRITE },
                { "future-write", 0x0010 /* F_SEAL_FUTURE_WRITE */ },
        };
        _cleanup_(mappingp) safe_mmap *m = NULL;
        _cleanup_close_ int fd = -EBADF;
        char list[256], *save = NULL;
        static char page[65536];
        int seals = 0, r;

        if (strcmp(seal_list, "none") != 0) {
                if (strlen(seal_list) >= sizeof(list))
                        return 2;
                strcpy(list, seal_list);
                for (char *w = strtok_r(list, ",", &save); w; w = strtok_r(NULL, ",", &save)) {
                        size_t i;

                        for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
                                if (strcmp(w, names[i].name) == 0)
                                        break;
                        if (i == sizeof(names) / sizeof(names[0]))
                                return 2;
                        seals |= names[i].seal;
                }
        }

        fd = memfd_create("vm-client", MFD_CLOEXEC | MFD_ALLOW_SEALING);
        if (fd < 0)
                return fail(negative_errno());
        memset(page, 'x', sizeof(page));
        if (write(fd, page, sizeof(page)) != (ssize_t) sizeof(page))
                return fail(-EIO);
        if (seals != 0 && fcntl(fd, F_ADD_SEALS, seals) < 0)
                return fail(negative_errno());

        r = safe_mmap_map_fd(fd, 0, &m);
        if (r < 0)
                return fail(r);
        return report(m);
}

static int print_digest(const safe_mmap *m) {
        uint8_t digest[SAFE_MMAP_VERITY_DIGEST_MAX];
        unsigned algorithm;
        int n;

        n = safe_mmap_verity_digest(m, &algorithm, digest, sizeof(digest));
        if (n < 0)
                return fail(n);
        /* One byte short, or no buffer at all: -ENOBUFS, as documented. */
        if (safe_mmap_verity_digest(m, NULL, digest, (size_t) n - 1) != -ENOBUFS ||
            safe_mmap_verity_digest(m, NULL, NULL, 0) != -ENOBUFS) {
                fprintf(stderr, "vm-client: a buffer too small for the digest was not -ENOBUFS\n");
                return 1;
        }
        printf("%s:", algorithm == SAFE_MMAP_VERITY_SHA256 ? "sha256" :
                      algorithm == SAFE_MMAP_VERITY_SHA512 ? "sha512" : "unknown");
        for (int i = 0; i < n; i++)
                printf("%02x", digest[i]);
        printf("\n");
        return 0;
}

static int digest_path(const char *path) {
        _cleanup_(mappingp) safe_mmap *m = NULL;
        _cleanup_close_ int fd = -EBADF;
        int r;

        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        if (fd < 0)
                return fail(negative_errno());
        r = safe_mmap_map_fd(fd, 0, &m);
        if (r < 0)
                return fail(r);
        return print_digest(m);
}

static int digest_memfd(const char *size_arg) {
        _cleanup_(mappingp) safe_mmap *m = NULL;
        _cleanup_close_ int fd = -EBADF;
        static char bytes[65536];
        unsigned size;
        int r;

        if (sscanf(size_arg, "%u", &size) != 1 || size > sizeof(bytes))
                return 2;
        memset(bytes, 'x', size);
        r = safe_mmap_seal_bytes(bytes, size, &fd);
        if (r < 0)
                return fail(r);
        r = safe_mmap_map_fd(fd, 0, &m);
        if (r < 0)
                return fail(r);
        return print_digest(m);
}

static int map_verity(const char *path, const char *spec) {
        _cleanup_(mappingp) safe_mmap *m = NULL;
        _cleanup_close_ int fd = -EBADF;
        uint8_t digest[SAFE_MMAP_VERITY_DIGEST_MAX];
        unsigned algorithm;
        size_t n = 0;
        int r;

        if (strncmp(spec, "sha256:", 7) == 0)
                algorithm = SAFE_MMAP_VERITY_SHA256;
        else if (strncmp(spec, "sha512:", 7) == 0)
                algorithm = SAFE_MMAP_VERITY_SHA512;
        else
                return 2;
        for (const char *p = spec + 7; p[0] && p[1] && n < sizeof(digest); p += 2) {
                unsigned v;

                if (sscanf(p, "%2x", &v) != 1)
                        return 2;
                digest[n++] = (uint8_t) v;
        }

        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        if (fd < 0)
                return fail(negative_errno());
        r = safe_mmap_map_fd_verity(fd, algorithm, digest, n, 0, &m);
        if (r < 0)
                return fail(r);
        return report(m);
}

static int connect_daemon(const char *socket_path) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        _cleanup_close_ int fd = -EBADF;

        if (strlen(socket_path) >= sizeof(sa.sun_path))
                return -ENAMETOOLONG;
        memcpy(sa.sun_path, socket_path, strlen(socket_path));

        fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return negative_errno();
        if (connect(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0)
                return negative_errno();
        return TAKE_FD(fd);
}

/* Holds a connection open without speaking, so that a daemon started with
 * --exit-idle stays up while the caller looks at it. */
static int hold(const char *socket_path, const char *seconds) {
        _cleanup_close_ int fd = -EBADF;
        unsigned n;

        if (sscanf(seconds, "%u", &n) != 1)
                return 2;
        fd = connect_daemon(socket_path);
        if (fd < 0)
                return fail(fd);

        fprintf(stderr, "vm-client: connected\n");
        sleep(n);
        return 0;
}

/* Something no decoder accepts, so that the daemon logs a warning: the
 * journal check looks for it at its priority. */
static int junk(const char *socket_path) {
        static const char packet[] = "no request at all";
        _cleanup_close_ int fd = -EBADF;
        char reply[4096];
        ssize_t n;

        fd = connect_daemon(socket_path);
        if (fd < 0)
                return fail(fd);
        if (send(fd, packet, sizeof(packet), MSG_NOSIGNAL) < 0)
                return fail(negative_errno());
        /* The answer, then the end of the connection. */
        do
                n = recv(fd, reply, sizeof(reply), 0);
        while (n > 0 || (n < 0 && errno == EINTR));
        fprintf(stderr, "vm-client: dropped\n");
        return 0;
}

int main(int argc, char **argv) {
        if (argc == 3 && (strcmp(argv[1], "map-fd") == 0 ||
                          strcmp(argv[1], "snapshot") == 0 ||
                          strcmp(argv[1], "snapshot-fd") == 0))
                return map_path(argv[1], argv[2]);
        if (argc == 3 && strcmp(argv[1], "memfd") == 0)
                return map_memfd(argv[2]);
        if (argc == 3 && strcmp(argv[1], "digest") == 0)
                return digest_path(argv[2]);
        if (argc == 3 && strcmp(argv[1], "memfd-digest") == 0)
                return digest_memfd(argv[2]);
        if (argc == 4 && strcmp(argv[1], "map-verity") == 0)
                return map_verity(argv[2], argv[3]);
        if (argc == 4 && strcmp(argv[1], "hold") == 0)
                return hold(argv[2], argv[3]);
        if (argc == 3 && strcmp(argv[1], "junk") == 0)
                return junk(argv[2]);

        fprintf(stderr, "usage: vm-client map-fd|snapshot|snapshot-fd PATH\n"
                        "       vm-client memfd SEALS|none\n"
                        "       vm-client digest PATH\n"
                        "       vm-client memfd-digest SIZE\n"
                        "       vm-client map-verity PATH sha256:HEX|sha512:HEX\n"
                        "       vm-client hold SOCKET SECONDS\n"
                        "       vm-client junk SOCKET\n");
        return 2;
}
