/* SPDX-License-Identifier: Apache-2.0 OR MIT */

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fd-util.h"
#include "internal.h"
#include "macro.h"
#include "missing.h"

/* What safe_mmap_data() returns for an empty file: never NULL, never to be read. */
static const char empty_mapping[1];

static int map_errno(void) {
        switch (errno) {
        case ENOMEM:
        case ENODEV:
        case EACCES:
        case EBADF:
                return -errno;
        case EOVERFLOW:
                return -EFBIG;
        default:
                return -EIO;
        }
}

/*
 * Prefault. MADV_POPULATE_READ (5.14) reports failures instead of leaving
 * them to the first access; older kernels get a read of every page.
 */
static int map_populate(const void *data, size_t size) {
        long page = sysconf(_SC_PAGESIZE);

        if (madvise((void *) data, size, MADV_POPULATE_READ) >= 0)
                return 0;
        if (errno == ENOMEM)
                return -ENOMEM;
        if (errno != EINVAL)
                return -EIO;

        for (size_t i = 0; i < size; i += (size_t) page)
                (void) *(const volatile char *) ((const char *) data + i);
        return 0;
}

/* A failure of a descriptor whose access mode is not proven yet: that, the first step, comes first. */
static int map_refuse(int fd, int r) {
        return fd_check_readable(fd) < 0 ? -EBADF : r;
}

/*
 * With @access_unproven, nobody has checked yet that @fd_in is open for
 * reading (verify_file() left it out): the PROT_READ mapping proves it, as
 * mmap() refuses a description without FMODE_READ (EACCES) and an O_PATH one
 * (EBADF). Only where nothing is mapped, or the mapping failed and the reason
 * must be told apart from a security module's EACCES, is it asked for.
 */
static int map_create(int fd_in, bool access_unproven, int kind, unsigned result_flags, uint64_t offset,
                      uint64_t length, unsigned flags, safe_mmap **ret) {
        _cleanup_close_ int fd = fd_in;
        _cleanup_(safe_mmap_freep) safe_mmap *m = NULL;
        uint64_t page = (uint64_t) sysconf(_SC_PAGESIZE), delta = offset % page;
        void *p;
        int r;

        if (access_unproven && length == 0 && fd_check_readable(fd) < 0)
                return -EBADF; /* nothing is mapped to prove it */
        if (length > SIZE_MAX - delta || offset > (uint64_t) INT64_MAX)
                return access_unproven ? map_refuse(fd, -EFBIG) : -EFBIG;

        m = calloc(1, sizeof(*m));
        if (!m)
                return -ENOMEM;
        m->fd = -EBADF; /* @fd is taken only on success: until then, safe_mmap_free() unmaps alone */

        if (length == 0) {
                m->data = empty_mapping;
        } else {
                /*
                 * mmap() wants a page-aligned offset: map from the start of
                 * the page that holds @offset, and point past the head.
                 * MAP_PRIVATE: a MAP_SHARED mapping of a write-sealed memfd
                 * fails with EPERM on older kernels.
                 */
                size_t map_size = (size_t) (length + delta);

                p = mmap(NULL, map_size, PROT_READ, MAP_PRIVATE, fd, (off_t) (offset - delta));
                if (p == MAP_FAILED) {
                        r = map_errno();
                        return access_unproven ? map_refuse(fd, r) : r;
                }
                m->map_base = p;
                m->map_size = map_size;
                m->data = (const char *) p + delta;

                if (flags & SAFE_MMAP_POPULATE) {
                        r = map_populate(p, map_size);
                        if (r < 0)
                                return r;
                }
        }

        m->size = length;
        m->kind = kind;
        m->flags = result_flags;
        m->fd = TAKE_FD(fd);
        *ret = TAKE_PTR(m);
        return 0;
}

int map_new(int fd_in, int kind, unsigned result_flags, uint64_t offset, uint64_t length, unsigned flags,
            safe_mmap **ret) {
        return map_create(fd_in, false, kind, result_flags, offset, length, flags, ret);
}

/* Our own close-on-exec duplicate, so that the caller's fd number can be closed or reused at once. */
int map_dup(int fd) {
        int copy;

        if (fd < 0)
                return -EBADF;
        copy = fcntl(fd, F_DUPFD_CLOEXEC, 3);
        if (copy < 0)
                return errno == EMFILE || errno == ENFILE ? -errno : -EBADF;
        return copy;
}

/*
 * The verified part of every map_fd*() call: duplicate, then prove the
 * duplicate, not @fd (another thread may close and reuse that number
 * meanwhile). All but the access mode: map_verified() maps the duplicate
 * read-only, which proves that. When the proof fails, the access mode is
 * checked first after all, so that a descriptor wrong in several ways fails
 * at the first step of safe-mmap(3)'s VERIFICATION, as verify_fd() would.
 */
static int map_verified_dup(int fd, int *ret_fd, int *ret_kind, uint64_t *ret_size) {
        _cleanup_close_ int copy = -EBADF;
        int r;

        copy = map_dup(fd);
        if (copy < 0)
                return copy;
        r = verify_file(copy, ret_kind, ret_size);
        if (r < 0)
                return map_refuse(copy, r);
        *ret_fd = TAKE_FD(copy);
        return 0;
}

/* map_new() of a descriptor that map_verified_dup() proved, but for its access mode. */
static int map_verified(int fd, int kind, uint64_t offset, uint64_t length, unsigned flags, safe_mmap **ret) {
        /* An immutable file has only one version: whatever is mapped is all of it. */
        return map_create(fd, true, kind, SAFE_MMAP_AS_GIVEN | SAFE_MMAP_CONSISTENT, offset, length, flags, ret);
}

static int map_fd_impl(int fd, unsigned flags, safe_mmap **ret) {
        uint64_t size;
        int r, kind, copy;

        if (!ret || (flags & ~SAFE_MMAP_POPULATE))
                return -EINVAL;
        r = map_verified_dup(fd, &copy, &kind, &size);
        if (r < 0)
                return r;
        return map_verified(copy, kind, 0, size, flags, ret);
}

_public_ int safe_mmap_map_fd(int fd, unsigned flags, safe_mmap **ret) {
        static const int allowed[] = { ERRNOS_MAP_FD };

        return ERRNO_FILTER(map_fd_impl(fd, flags, ret), allowed);
}

static int map_fd_range_impl(int fd, uint64_t offset, uint64_t length, unsigned flags, safe_mmap **ret) {
        _cleanup_close_ int copy = -EBADF;
        uint64_t size;
        int r, kind;

        if (!ret || (flags & ~SAFE_MMAP_POPULATE))
                return -EINVAL;
        r = map_verified_dup(fd, &copy, &kind, &size);
        if (r < 0)
                return r;
        /* Only now is the size known for good; compare without overflowing. */
        if (offset > size || length > size - offset)
                return map_refuse(copy, -EINVAL);
        if (length == 0)
                length = size - offset;
        return map_verified(TAKE_FD(copy), kind, offset, length, flags, ret);
}

_public_ int safe_mmap_map_fd_range(int fd, uint64_t offset, uint64_t length, unsigned flags, safe_mmap **ret) {
        static const int allowed[] = { ERRNOS_MAP_FD };

        return ERRNO_FILTER(map_fd_range_impl(fd, offset, length, flags, ret), allowed);
}

static int map_fd_verity_impl(int fd, unsigned algorithm, const uint8_t *digest, size_t digest_size,
                                     unsigned flags, safe_mmap **ret) {
        _cleanup_close_ int copy = -EBADF;
        uint8_t have[SAFE_MMAP_VERITY_DIGEST_MAX];
        unsigned have_algorithm;
        uint64_t size;
        int r, kind;

        if (!ret || !digest || (flags & ~SAFE_MMAP_POPULATE))
                return -EINVAL;
        if (!((algorithm == SAFE_MMAP_VERITY_SHA256 && digest_size == 32) ||
              (algorithm == SAFE_MMAP_VERITY_SHA512 && digest_size == 64)))
                return -EINVAL;

        r = map_verified_dup(fd, &copy, &kind, &size);
        if (r < 0)
                return r;
        if (kind != SAFE_MMAP_FS_VERITY)
                return map_refuse(copy, -ENODATA);
        /* The digest of the very description that is mapped next. */
        r = verify_verity_digest(copy, &have_algorithm, have, sizeof(have));
        if (r < 0)
                return map_refuse(copy, r);
        if (have_algorithm != algorithm || (size_t) r != digest_size || memcmp(have, digest, digest_size) != 0)
                return map_refuse(copy, -EKEYREJECTED);

        return map_verified(TAKE_FD(copy), kind, 0, size, flags, ret);
}

_public_ int safe_mmap_map_fd_verity(int fd, unsigned algorithm, const uint8_t *digest, size_t digest_size,
                                     unsigned flags, safe_mmap **ret) {
        static const int allowed[] = { ERRNOS_MAP_FD_VERITY };

        return ERRNO_FILTER(map_fd_verity_impl(fd, algorithm, digest, digest_size, flags, ret), allowed);
}

static int map_fd_unsafe_impl(int fd, uint64_t offset, uint64_t length, unsigned flags, safe_mmap **ret) {
        _cleanup_close_ int copy = -EBADF;
        long page = sysconf(_SC_PAGESIZE);
        struct stat st;

        if (!ret || (flags & ~SAFE_MMAP_POPULATE))
                return -EINVAL;
        if (offset % (uint64_t) page != 0 || offset > (uint64_t) INT64_MAX || length > UINT64_MAX - offset)
                return -EINVAL;

        copy = map_dup(fd);
        if (copy < 0)
                return copy;
        if (fd_check_readable(copy) < 0)
                return -EBADF;
        if (fstat(copy, &st) < 0)
                return -EBADF;

        if (length == 0) {
                /* "To the end of the file as it is now": only a regular file has such an end. */
                if (S_ISREG(st.st_mode) || S_ISBLK(st.st_mode)) {
                        if ((uint64_t) st.st_size > offset)
                                length = (uint64_t) st.st_size - offset;
                } else
                        return -ENODEV;
        }
        if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode) && !S_ISCHR(st.st_mode))
                return -ENODEV;

        return map_new(TAKE_FD(copy), SAFE_MMAP_UNVERIFIED, SAFE_MMAP_AS_GIVEN, offset, length, flags, ret);
}

_public_ int safe_mmap_map_fd_unsafe(int fd, uint64_t offset, uint64_t length, unsigned flags, safe_mmap **ret) {
        static const int allowed[] = { ERRNOS_MAP_FD_UNSAFE };

        return ERRNO_FILTER(map_fd_unsafe_impl(fd, offset, length, flags, ret), allowed);
}

_public_ const void *safe_mmap_data(const safe_mmap *m) {
        return m ? m->data : NULL;
}

_public_ uint64_t safe_mmap_size(const safe_mmap *m) {
        return m ? m->size : 0;
}

static int kind_impl(const safe_mmap *m) {
        return m ? m->kind : -EINVAL;
}

_public_ int safe_mmap_kind(const safe_mmap *m) {
        static const int allowed[] = { ERRNOS_GETTER };

        return ERRNO_FILTER(kind_impl(m), allowed);
}

static int fd_impl(const safe_mmap *m) {
        return m ? m->fd : -EINVAL;
}

_public_ int safe_mmap_fd(const safe_mmap *m) {
        static const int allowed[] = { ERRNOS_GETTER };

        return ERRNO_FILTER(fd_impl(m), allowed);
}

_public_ unsigned safe_mmap_flags(const safe_mmap *m) {
        return m ? m->flags : 0;
}

static int verity_digest_impl(const safe_mmap *m, unsigned *ret_algorithm, uint8_t *buf, size_t size) {
        if (!m || (!buf && size > 0))
                return -EINVAL;
        /* An unverified mapping may well be of a verity file, but nothing was proven about it. */
        if (m->kind != SAFE_MMAP_FS_VERITY)
                return -ENODATA;
        return verify_verity_digest(m->fd, ret_algorithm, buf, size);
}

_public_ int safe_mmap_verity_digest(const safe_mmap *m, unsigned *ret_algorithm, uint8_t *buf, size_t size) {
        static const int allowed[] = { ERRNOS_VERITY_DIGEST };

        return ERRNO_FILTER(verity_digest_impl(m, ret_algorithm, buf, size), allowed);
}

_public_ safe_mmap *safe_mmap_free(safe_mmap *m) {
        if (!m)
                return NULL;
        if (m->map_size > 0)
                (void) munmap(m->map_base, (size_t) m->map_size);
        safe_close(m->fd);
        free(m);
        return NULL;
}
