/* SPDX-License-Identifier: Apache-2.0 OR MIT */
#pragma once

/*
 * Cleanup helpers shared by every part of safe-mmap. They let error paths
 * return early without hand-written unwinding: a variable declared with
 * _cleanup_close_ is closed when it goes out of scope unless its value was
 * taken with TAKE_FD(). Descriptors start at -EBADF, pointers at NULL.
 */

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#define _cleanup_(f) __attribute__((cleanup(f)))
#define _unused_ __attribute__((unused))
#define _public_ __attribute__((visibility("default")))
#define _printf_(a, b) __attribute__((format(printf, a, b)))
#define _noreturn_ __attribute__((noreturn))

#define ELEMENTSOF(x) (sizeof(x) / sizeof((x)[0]))

#define TAKE_GENERIC(var, null) \
        ({                              \
                __typeof__(var) *_pv = &(var); \
                __typeof__(var) _v = *_pv;     \
                *_pv = (null);                 \
                _v;                            \
        })
#define TAKE_PTR(p) TAKE_GENERIC(p, NULL)
#define TAKE_FD(fd) TAKE_GENERIC(fd, -EBADF)

/* close() that keeps errno and accepts any negative value. Always returns -EBADF. */
static inline int safe_close(int fd) {
        if (fd >= 0) {
                int saved = errno;
                (void) close(fd);
                errno = saved;
        }
        return -EBADF;
}

static inline void closep(int *fd) {
        safe_close(*fd);
}

static inline void freep(void *p) {
        free(*(void **) p);
}

#define _cleanup_close_ _cleanup_(closep)
#define _cleanup_free_ _cleanup_(freep)

/*
 * DEFINE_CLEANUP(Type, type_free) defines type_freep(), so that
 * `_cleanup_(type_freep) Type *x = NULL;` frees x on every return path.
 * type_free() must accept NULL.
 */
#define DEFINE_CLEANUP(type, func)                      \
        static inline void func##p(type **p) {          \
                if (*p)                                 \
                        (void) func(*p);                \
        }

/* errno as a negative value; never 0, so that a caller cannot mistake a failure for success. */
static inline int negative_errno(void) {
        return errno > 0 ? -errno : -EIO;
}
