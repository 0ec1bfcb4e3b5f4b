/* SPDX-License-Identifier: Apache-2.0 OR MIT */
#ifndef SAFE_MMAP_H
#define SAFE_MMAP_H

/*
 * libsafe-mmap: map a file only when it provably cannot change or shrink.
 *
 * Linux has two kinds of file that stay immutable while they are open: a
 * memfd sealed against writing, shrinking and growing, and a file with
 * fs-verity enabled. This library verifies that a descriptor is one of them
 * before mapping it, makes such a snapshot of any readable file (through
 * safe-mmapd, or locally), and maps without proof only through a function
 * whose name says so.
 *
 * Every function returns 0 on success or a negative errno; the values each
 * can return are listed with it (see also safe-mmap(3)). -EBADFD always means
 * "immutability not proven". The library never prints and never changes
 * errno-independent global state; it is safe to use from several threads as
 * long as one safe_mmap object is not freed while another thread uses it.
 */

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct safe_mmap safe_mmap;

/* What a mapping rests on (safe_mmap_kind(), safe_mmap_check_fd()). */
enum {
        SAFE_MMAP_SEALED_MEMFD = 1, /* memfd sealed WRITE|SHRINK|GROW */
        SAFE_MMAP_FS_VERITY = 2,    /* fs-verity file */
        SAFE_MMAP_UNVERIFIED = 3    /* mapped by safe_mmap_map_fd_unsafe(): no proof */
};

#define SAFE_MMAP_POPULATE    (1u << 0) /* prefault the mapping */
#define SAFE_MMAP_NO_DAEMON   (1u << 1) /* snapshot: make it here, never ask the daemon */
#define SAFE_MMAP_NO_FALLBACK (1u << 2) /* snapshot: fail rather than make it here */

/* Local snapshots (made without the daemon) stop with -EFBIG past this many bytes,
 * unless the environment variable SAFE_MMAP_SIZE_MAX gives another limit ("65536", "64K", "1G"). */
#define SAFE_MMAP_LOCAL_SIZE_MAX (UINT64_C(4) << 30)

/**
 * safe_mmap_check_fd() - prove that a descriptor cannot change or shrink
 * @fd: a readable descriptor; it is not closed, moved or duplicated
 * @ret_kind: optional; SAFE_MMAP_SEALED_MEMFD or SAFE_MMAP_FS_VERITY on success
 * @ret_size: optional; the file size in bytes on success
 *
 * Accepts a memfd (on tmpfs, not hugetlbfs) whose seals include F_SEAL_WRITE,
 * F_SEAL_SHRINK and F_SEAL_GROW, or a regular file with fs-verity enabled on
 * ext4, f2fs or btrfs. The size is read only after the proof.
 *
 * Return: 0 on success; -EBADF if @fd is not open, is an O_PATH descriptor or
 * is write-only; -EBADFD if immutability is not proven (not sealed or
 * insufficiently sealed, not a regular file, pipe, socket, ordinary file,
 * hugetlbfs); -ENOMEM, -EIO on kernel failures.
 */
int safe_mmap_check_fd(int fd, int *ret_kind, uint64_t *ret_size);

/**
 * safe_mmap_map_fd() - verify a descriptor and map it read-only
 * @fd: as for safe_mmap_check_fd(); the caller keeps it and may close it at once
 * @flags: 0 or SAFE_MMAP_POPULATE
 * @ret: receives the new mapping, to be released with safe_mmap_free()
 *
 * Duplicates @fd (close-on-exec), verifies the duplicate as
 * safe_mmap_check_fd() does, and maps it PROT_READ, MAP_PRIVATE. A file of
 * size 0 maps nothing and succeeds.
 *
 * Return: 0 on success; -EINVAL if @ret is NULL or @flags has unknown bits;
 * -EBADF, -EBADFD as for safe_mmap_check_fd(); -EMFILE, -ENFILE if no
 * descriptor is left for the duplicate; -ENOMEM if the mapping failed;
 * -EFBIG if the file does not fit into the address space; -EIO.
 */
int safe_mmap_map_fd(int fd, unsigned flags, safe_mmap **ret);

/**
 * safe_mmap_map_fd_unsafe() - map any descriptor WITHOUT proof of immutability
 * @fd: a readable, mappable descriptor; the caller keeps it
 * @offset: where the mapping starts; a multiple of the page size
 * @length: bytes to map; 0 means "to the end of the file as it is now"
 * @flags: 0 or SAFE_MMAP_POPULATE
 * @ret: receives the new mapping (kind SAFE_MMAP_UNVERIFIED)
 *
 * The caller vouches that nobody changes or shrinks the file while it is
 * mapped. If somebody does, the program reads changed bytes or dies with
 * SIGBUS. Use safe_mmap_map_fd() whenever you can.
 *
 * Return: 0 on success; -EINVAL if @ret is NULL, @flags has unknown bits,
 * @offset is not page-aligned or @offset + @length overflows; -EBADF if @fd is
 * not open, O_PATH or write-only; -ENODEV if the file cannot be mapped (pipe,
 * socket, ...); -EACCES if the file refuses a read mapping; -EMFILE, -ENFILE,
 * -ENOMEM, -EFBIG, -EIO.
 */
int safe_mmap_map_fd_unsafe(int fd, uint64_t offset, uint64_t length, unsigned flags, safe_mmap **ret);

/**
 * safe_mmap_snapshot_fd() - make an immutable snapshot of an open file and map it
 * @fd: a readable descriptor of a regular file; the caller keeps it and its
 *      file offset is left alone
 * @flags: SAFE_MMAP_POPULATE, SAFE_MMAP_NO_DAEMON, SAFE_MMAP_NO_FALLBACK
 * @ret: receives the mapping of the sealed snapshot
 *
 * Unless SAFE_MMAP_NO_DAEMON is set, asks safe-mmapd (at $SAFE_MMAP_SOCKET or
 * /run/safe-mmap/socket) for a snapshot, verifies what it returns as
 * safe_mmap_map_fd() does, and maps it. When no daemon answers, makes the
 * snapshot here (a sealed memfd filled from the file) unless
 * SAFE_MMAP_NO_FALLBACK is set. A file already immutable is still copied.
 *
 * Return: 0 on success; -EINVAL if @ret is NULL, @flags has unknown bits or
 * both NO_DAEMON and NO_FALLBACK, or the file is not a regular file (FIFO,
 * socket, device); -EISDIR for a directory; -EBADF if @fd is not open,
 * O_PATH or write-only; -EFBIG if the file is larger than the size limit;
 * -EAGAIN if the file kept changing during every copy attempt; -EBADFD if
 * the daemon's answer could not be verified; -EPERM if the daemon's socket
 * belongs to a user other than root or the caller; -EPROTO if the daemon's
 * reply is malformed; with NO_FALLBACK, the connect error (-ENOENT,
 * -ECONNREFUSED, -EACCES, ...); any errno the daemon returns for the file;
 * -EMFILE, -ENFILE, -ENOMEM, -ENOSPC, -EIO.
 */
int safe_mmap_snapshot_fd(int fd, unsigned flags, safe_mmap **ret);

/**
 * safe_mmap_snapshot() - make an immutable snapshot of a file by name and map it
 * @path: the file; opened by the caller's own rights first
 * @flags: as for safe_mmap_snapshot_fd()
 * @ret: receives the mapping of the sealed snapshot
 *
 * Opens @path read-only (never blocking on a FIFO) and proceeds as
 * safe_mmap_snapshot_fd(). When the daemon is used and the caller's own open
 * is denied, asks the daemon to open @path under its policy grants.
 *
 * Return: 0 on success; -EINVAL if @path or @ret is NULL or @path is empty;
 * -ENOENT, -EACCES, -ENOTDIR, -ELOOP, -ENAMETOOLONG from opening @path;
 * and everything safe_mmap_snapshot_fd() returns.
 */
int safe_mmap_snapshot(const char *path, unsigned flags, safe_mmap **ret);

/**
 * safe_mmap_data() - the first byte of a mapping
 * @m: a mapping
 *
 * Return: the read-only bytes of @m; never NULL for a valid @m, even when
 * the size is 0 (then it must not be read). NULL if @m is NULL.
 */
const void *safe_mmap_data(const safe_mmap *m);

/**
 * safe_mmap_size() - the number of bytes mapped
 * @m: a mapping
 *
 * Return: the size in bytes; 0 if @m is NULL.
 */
uint64_t safe_mmap_size(const safe_mmap *m);

/**
 * safe_mmap_kind() - what the mapping's immutability rests on
 * @m: a mapping
 *
 * Return: SAFE_MMAP_SEALED_MEMFD, SAFE_MMAP_FS_VERITY or SAFE_MMAP_UNVERIFIED;
 * -EINVAL if @m is NULL.
 */
int safe_mmap_kind(const safe_mmap *m);

/**
 * safe_mmap_fd() - the descriptor behind a mapping
 * @m: a mapping
 *
 * The descriptor is owned by @m and closed by safe_mmap_free(); it is
 * close-on-exec. For a snapshot it is a read-only open file description of
 * its own. For safe_mmap_map_fd() and safe_mmap_map_fd_unsafe() it is a
 * duplicate of the caller's descriptor and shares its open file description
 * (access mode and file offset: use pread()). dup() it to keep it (for
 * example to pass a verified snapshot to another process).
 *
 * Return: the descriptor; -EINVAL if @m is NULL.
 */
int safe_mmap_fd(const safe_mmap *m);

/**
 * safe_mmap_free() - unmap and close
 * @m: a mapping or NULL
 *
 * Return: NULL, so that callers can write m = safe_mmap_free(m).
 */
safe_mmap *safe_mmap_free(safe_mmap *m);

#ifdef __cplusplus
}
#endif

#endif
