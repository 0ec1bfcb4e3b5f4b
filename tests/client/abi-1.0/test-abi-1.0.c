/* SPDX-License-Identifier: Apache-2.0 OR MIT */
/*
 * A program built against libsafe-mmap 1.0 (its header, its version node),
 * run against the current library: every 1.0 function is found at
 * SAFE_MMAP_1 and still does what 1.0 documented. No Check here: the
 * program is as plain as the ones built against 1.0 out there.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "safe-mmap.h"

#if defined(SAFE_MMAP_REQUIRE_CONSISTENT) || defined(SAFE_MMAP_CONSISTENT)
#error "built against the current header, not the 1.0 one"
#endif

static int failures;

#define CHECK(cond)                                                                  \
        do {                                                                         \
                if (!(cond)) {                                                       \
                        fprintf(stderr, "%s:%d: failed: %s\n", __FILE__, __LINE__, #cond); \
                        failures++;                                                  \
                }                                                                    \
        } while (0)

static int sealed_memfd(const char *data, size_t size) {
        int fd = memfd_create("abi-1.0", MFD_CLOEXEC | MFD_ALLOW_SEALING);

        if (fd < 0 || write(fd, data, size) != (ssize_t) size ||
            fcntl(fd, F_ADD_SEALS, F_SEAL_SEAL | F_SEAL_WRITE | F_SEAL_SHRINK | F_SEAL_GROW) < 0) {
                perror("sealed memfd");
                exit(EXIT_FAILURE);
        }
        return fd;
}

int main(void) {
        static const char text[] = "built against 1.0";
        char path[] = "/var/tmp/safe-mmap-abi.XXXXXX";
        safe_mmap *m = NULL;
        uint64_t size = 0;
        int fd, file, kind = 0;
        Dl_info info;

        /* Resolved at the 1.0 node, in the real library (the stub would say -ENOSYS below). */
        CHECK(dlvsym(RTLD_DEFAULT, "safe_mmap_map_fd", "SAFE_MMAP_1") == (void *) safe_mmap_map_fd);
        CHECK(dladdr((void *) safe_mmap_map_fd, &info) != 0 && info.dli_fname &&
              strstr(info.dli_fname, "/client/libsafe-mmap.so"));
        CHECK(dlsym(RTLD_DEFAULT, "safe_mmap_flags") != NULL);

        fd = sealed_memfd(text, sizeof(text));
        CHECK(safe_mmap_check_fd(fd, &kind, &size) == 0);
        CHECK(kind == SAFE_MMAP_SEALED_MEMFD && size == sizeof(text));

        CHECK(safe_mmap_map_fd(fd, SAFE_MMAP_POPULATE, &m) == 0);
        CHECK(m && safe_mmap_size(m) == sizeof(text) && memcmp(safe_mmap_data(m), text, sizeof(text)) == 0);
        CHECK(safe_mmap_kind(m) == SAFE_MMAP_SEALED_MEMFD && safe_mmap_fd(m) >= 0);
        CHECK(safe_mmap_free(m) == NULL);

        /* 1.0 documented a copy here; 1.1 maps as given. Either way: the bytes, sealed, own fd. */
        m = NULL;
        CHECK(safe_mmap_snapshot_fd(fd, SAFE_MMAP_NO_DAEMON, &m) == 0);
        CHECK(m && safe_mmap_size(m) == sizeof(text) && memcmp(safe_mmap_data(m), text, sizeof(text)) == 0);
        CHECK(m && safe_mmap_check_fd(safe_mmap_fd(m), NULL, NULL) == 0);
        CHECK(m && (fcntl(safe_mmap_fd(m), F_GETFL) & O_ACCMODE) == O_RDONLY);
        safe_mmap_free(m);

        m = NULL;
        CHECK(safe_mmap_map_fd_unsafe(fd, 0, 0, 0, &m) == 0);
        CHECK(m && safe_mmap_kind(m) == SAFE_MMAP_UNVERIFIED && safe_mmap_size(m) == sizeof(text));
        safe_mmap_free(m);

        file = mkostemp(path, O_CLOEXEC);
        CHECK(file >= 0 && write(file, text, sizeof(text)) == (ssize_t) sizeof(text));
        m = NULL;
        CHECK(safe_mmap_snapshot(path, SAFE_MMAP_NO_DAEMON, &m) == 0);
        CHECK(m && safe_mmap_kind(m) == SAFE_MMAP_SEALED_MEMFD &&
              memcmp(safe_mmap_data(m), text, sizeof(text)) == 0);
        safe_mmap_free(m);
        CHECK(safe_mmap_map_fd(file, 0, &m) == -EBADFD);
        CHECK(safe_mmap_snapshot(path, 1u << 30, &m) == -EINVAL);
        unlink(path);
        close(file);
        close(fd);

        if (failures)
                return EXIT_FAILURE;
        printf("ok: a 1.0 program runs against the current library\n");
        return EXIT_SUCCESS;
}
