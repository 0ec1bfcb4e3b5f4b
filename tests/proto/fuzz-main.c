/* SPDX-License-Identifier: Apache-2.0 OR MIT */
/*
 * Replays inputs through a fuzz target without libFuzzer, so that every build
 * (gcc too, and under the sanitizers) runs the committed corpus as a test.
 * Arguments are files or directories of files; each input is read into a
 * buffer of exactly its size, so that AddressSanitizer sees any overread.
 * Replaying nothing is a failure: a missing corpus must not pass.
 */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz.h"
#include "macro.h"

/* Seeds are small; anything bigger is a mistake, not an input. */
#define INPUT_MAX (1024 * 1024)

static int input_replay(int dir_fd, const char *name) {
        _cleanup_close_ int fd = -EBADF;
        _cleanup_free_ uint8_t *buf = NULL;
        struct stat st;
        size_t done = 0;

        fd = openat(dir_fd, name, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return negative_errno();
        if (fstat(fd, &st) < 0)
                return negative_errno();
        if (!S_ISREG(st.st_mode))
                return -EISDIR;
        if (st.st_size > INPUT_MAX)
                return -EFBIG;

        /* Exactly the input's size, so that an overread lands outside the allocation. */
        buf = malloc(st.st_size > 0 ? (size_t) st.st_size : 1);
        if (!buf)
                return -ENOMEM;
        while (done < (size_t) st.st_size) {
                ssize_t n = read(fd, buf + done, (size_t) st.st_size - done);

                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return negative_errno();
                if (n == 0)
                        return -EIO;
                done += (size_t) n;
        }

        LLVMFuzzerTestOneInput(buf, done);
        return 0;
}

static int path_replay(const char *path, unsigned *count) {
        _cleanup_close_ int fd = -EBADF;
        struct stat st;
        DIR *d;
        int r = 0;

        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return negative_errno();
        if (fstat(fd, &st) < 0)
                return negative_errno();
        if (!S_ISDIR(st.st_mode)) {
                r = input_replay(AT_FDCWD, path);
                if (r >= 0)
                        (*count)++;
                return r;
        }

        d = fdopendir(fd);
        if (!d)
                return negative_errno();
        fd = -EBADF; /* owned by d now */

        for (struct dirent *de; (errno = 0, de = readdir(d)); ) {
                if (de->d_name[0] == '.')
                        continue;
                r = input_replay(dirfd(d), de->d_name);
                if (r < 0) {
                        fprintf(stderr, "%s/%s: %s\n", path, de->d_name, strerror(-r));
                        break;
                }
                (*count)++;
        }
        if (r >= 0 && errno != 0)
                r = negative_errno();
        closedir(d);
        return r;
}

int main(int argc, char *argv[]) {
        unsigned count = 0;

        for (int i = 1; i < argc; i++) {
                int r = path_replay(argv[i], &count);

                if (r < 0) {
                        fprintf(stderr, "%s: %s\n", argv[i], strerror(-r));
                        return EXIT_FAILURE;
                }
        }
        if (count == 0) {
                fprintf(stderr, "no inputs replayed\n");
                return EXIT_FAILURE;
        }
        printf("replayed %u inputs\n", count);
        return EXIT_SUCCESS;
}
