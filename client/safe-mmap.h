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
 * Every function that can fail returns 0 (safe_mmap_verity_digest(): a
 * length) on success or a negative errno; the values each can return are
 * listed with it (see also safe-mmap(3)), and no other: any failure not
 * listed for a function, whatever its origin (the kernel, the daemon), is
 * reported as -EIO. -EBADFD always means "immutability not proven". The library never prints and never changes
 * errno-independent global state; it is safe to use from several threads as
 * long as one safe_mmap object is not freed while another thread uses it.
 */

#include <stddef.h>
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
/* snapshot (1.1): only a snapshot proven to be one whole version of the file, else -EAGAIN */
#define SAFE_MMAP_REQUIRE_CONSISTENT (1u << 3)

/*
 * What safe_mmap_flags() reports about a mapping (1.1). Exactly one of
 * MADE_BY_DAEMON, MADE_LOCALLY and AS_GIVEN says where the bytes come from.
 */
#define SAFE_MMAP_MADE_BY_DAEMON (1u << 8)  /* a snapshot safe-mmapd made (or served) */
#define SAFE_MMAP_MADE_LOCALLY   (1u << 9)  /* a snapshot this process made */
#define SAFE_MMAP_AS_GIVEN       (1u << 10) /* the caller's file itself, mapped without a copy */
#define SAFE_MMAP_CONSISTENT     (1u << 11) /* proven to be one whole version of the file */
#define SAFE_MMAP_CACHED         (1u << 12) /* served from the daemon's cache */

/* fs-verity digest algorithms (the kernel's FS_VERITY_HASH_ALG_* values) and the longest digest. */
#define SAFE_MMAP_VERITY_SHA256 1u
#define SAFE_MMAP_VERITY_SHA512 2u
#define SAFE_MMAP_VERITY_DIGEST_MAX 64u

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
 * @flags: SAFE_MMAP_POPULATE, SAFE_MMAP_NO_DAEMON, SAFE_MMAP_NO_FALLBACK,
 *         SAFE_MMAP_REQUIRE_CONSISTENT (1.1)
 * @ret: receives the mapping of the sealed snapshot
 *
 * A file that already proves immutable (a sealed memfd, an fs-verity file) is
 * mapped as it is, without a copy and without asking the daemon, through a
 * read-only open file description of its own where /proc lets it be reopened
 * (flags AS_GIVEN | CONSISTENT; since 1.1). Otherwise, unless SAFE_MMAP_NO_DAEMON is set, asks safe-mmapd
 * (at $SAFE_MMAP_SOCKET or /run/safe-mmap/socket) for a snapshot, verifies
 * what it returns as safe_mmap_map_fd() does, and maps it. When no daemon
 * answers, makes the snapshot here (a sealed memfd filled from the file)
 * unless SAFE_MMAP_NO_FALLBACK is set; so too when the daemon refuses the file
 * for its size limit (-EFBIG), for the uid's budget (-EDQUOT) or because it is
 * on a synthetic file system (-EOPNOTSUPP). Files on synthetic file systems
 * (procfs, sysfs, debugfs, tracefs, securityfs, cgroupfs, configfs, bpffs,
 * efivarfs, pstore, selinuxfs, smackfs, binfmt_misc, mqueue, FUSE), whose
 * contents may depend on who reads them, are never sent to the daemon: they
 * are copied here, with the caller's own rights. The process keeps one
 * connection to the daemon between calls (see safe-mmap(3)).
 *
 * With SAFE_MMAP_REQUIRE_CONSISTENT only a snapshot proven to be one whole
 * version of the file is returned: the daemon's word that it held a read
 * lease for the whole copy, or, made here, a read lease this process held
 * for the whole copy (which needs the caller to own the file or CAP_LEASE,
 * and nobody to have it open for writing; a writer that opens the file
 * meanwhile waits until the copy is over). Each is tried a bounded number of
 * times; when the daemon's snapshots are not proven, one made here is tried
 * unless SAFE_MMAP_NO_FALLBACK is set. Without the flag a local snapshot
 * takes no lease and is never reported consistent.
 *
 * Return: 0 on success; -EINVAL if @ret is NULL, @flags has unknown bits or
 * both NO_DAEMON and NO_FALLBACK, or the file is not a regular file (FIFO,
 * socket, device); -EISDIR for a directory; -EBADF if @fd is not open,
 * O_PATH or write-only; -EFBIG if the file is larger than the size limit
 * (that of local snapshots, or the daemon's where no local one is made);
 * -EAGAIN if the file kept changing during every copy attempt, or with
 * SAFE_MMAP_REQUIRE_CONSISTENT if no attempt proved one whole version;
 * -EBADFD if the daemon's answer could not be verified; -EPERM if the
 * daemon's socket belongs to a user other than root or the caller; -EPROTO if
 * the daemon's reply is malformed; with NO_FALLBACK, -ECONNREFUSED if no
 * daemon answers at the socket (none there, none listening, or no right to
 * connect: never the connect error itself, whose -ENOENT would blame the
 * file), -ECONNRESET or -ETIMEDOUT if it hung up or did not reply in time,
 * -EOPNOTSUPP for a file on a synthetic file system and -EDQUOT when the
 * caller's uid holds too many of the daemon's snapshot bytes; -EACCES if
 * the daemon refused to read the file for the caller; -EMFILE, -ENFILE,
 * -ENOMEM, -ENOSPC, -EIO.
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
 * -EXDEV when a path request left its policy grant on the daemon's side
 * (through "..", a symlink or a mount point), -ELOOP when the grant refuses
 * symlinks; and everything safe_mmap_snapshot_fd() returns.
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

/*
 * SAFE_MMAP_1.1
 */

/**
 * safe_mmap_flags() - what is known about a mapping (since 1.1)
 * @m: a mapping
 *
 * Return: SAFE_MMAP_MADE_BY_DAEMON, SAFE_MMAP_MADE_LOCALLY or
 * SAFE_MMAP_AS_GIVEN, combined with SAFE_MMAP_CONSISTENT when the mapping
 * is proven to be one whole version of the file (always for a verified
 * mapping of the caller's own immutable file, never for
 * safe_mmap_map_fd_unsafe()) and SAFE_MMAP_CACHED when the daemon served it
 * from its cache; 0 if @m is NULL.
 */
unsigned safe_mmap_flags(const safe_mmap *m);

/**
 * safe_mmap_map_fd_range() - verify a descriptor and map a part of it (since 1.1)
 * @fd: as for safe_mmap_map_fd(); the caller keeps it
 * @offset: the first byte to map; any value (the page alignment is the
 *          library's business)
 * @length: bytes to map; 0 means to the end of the file
 * @flags: 0 or SAFE_MMAP_POPULATE
 * @ret: receives the new mapping; safe_mmap_data() points at the byte at
 *       @offset and safe_mmap_size() is the length of the range
 *
 * Verifies @fd exactly as safe_mmap_map_fd() does, then maps only the pages
 * that hold the range. An empty range (at the end of the file) maps nothing.
 *
 * Return: 0 on success; -EINVAL if @ret is NULL, @flags has unknown bits, or
 * the range does not lie within the file (@offset or @offset + @length past
 * its end, or overflowing); -EBADF, -EBADFD as for safe_mmap_check_fd();
 * -EMFILE, -ENFILE, -ENOMEM, -EFBIG, -EIO as for safe_mmap_map_fd().
 */
int safe_mmap_map_fd_range(int fd, uint64_t offset, uint64_t length, unsigned flags, safe_mmap **ret);

/**
 * safe_mmap_verity_digest() - the fs-verity digest of a mapping's file (since 1.1)
 * @m: a mapping
 * @ret_algorithm: optional; SAFE_MMAP_VERITY_SHA256 or SAFE_MMAP_VERITY_SHA512
 * @buf: receives the digest
 * @size: the size of @buf; SAFE_MMAP_VERITY_DIGEST_MAX is always enough
 *
 * Measures the file (FS_IOC_MEASURE_VERITY): the root of its Merkle tree
 * together with its parameters, as fsverity-utils' `fsverity measure`,
 * composefs and containerd print it.
 *
 * Return: the digest's length in bytes (32 for SHA-256, 64 for SHA-512);
 * -EINVAL if @m is NULL, or @buf is NULL while @size is not 0; -ENODATA if
 * the mapping is not of kind SAFE_MMAP_FS_VERITY (a sealed memfd has no
 * digest, and an unverified mapping has none it could vouch for); -ENOBUFS
 * if @size is smaller than the digest; -ENOMEM, -EIO.
 */
int safe_mmap_verity_digest(const safe_mmap *m, unsigned *ret_algorithm, uint8_t *buf, size_t size);

/**
 * safe_mmap_map_fd_verity() - map an fs-verity file only if it has the expected digest (since 1.1)
 * @fd: as for safe_mmap_map_fd(); the caller keeps it
 * @algorithm: SAFE_MMAP_VERITY_SHA256 or SAFE_MMAP_VERITY_SHA512
 * @digest: the digest the file must have, raw bytes (not hex)
 * @digest_size: its length: 32 for SHA-256, 64 for SHA-512
 * @flags: 0 or SAFE_MMAP_POPULATE
 * @ret: receives the new mapping (kind SAFE_MMAP_FS_VERITY)
 *
 * Why an argument, not a check after mapping: composefs, containerd and
 * puzzlefs know the digest before they open the file (from the image's
 * metadata, as composefs's expected_fsverity_digest option and overlayfs's
 * verity=require do), so the digest is an input of the open there, and the
 * mapping must not exist at all when it differs. A separate comparison would
 * be one more step every caller can forget; safe_mmap_verity_digest() is for
 * callers that only want to learn the digest.
 *
 * Return: 0 on success; -EINVAL if @ret or @digest is NULL, @flags has unknown
 * bits, @algorithm is unknown or @digest_size is not its length; -EBADF,
 * -EBADFD as for safe_mmap_check_fd(); -ENODATA if the file is immutable but
 * not an fs-verity file (a sealed memfd); -EKEYREJECTED if its digest or
 * algorithm differs; -EMFILE, -ENFILE, -ENOMEM, -EFBIG, -EIO as for
 * safe_mmap_map_fd().
 */
int safe_mmap_map_fd_verity(int fd, unsigned algorithm, const uint8_t *digest, size_t digest_size,
                            unsigned flags, safe_mmap **ret);

/**
 * safe_mmap_seal_bytes() - make a sealed memfd holding some bytes (since 1.1)
 * @data: the bytes; may be NULL when @size is 0
 * @size: how many
 * @ret_fd: receives the descriptor, owned by the caller
 *
 * For handing bytes to another process that must not trust them to stay
 * put: the memfd holds exactly @size bytes of @data, is sealed with
 * F_SEAL_SEAL, F_SEAL_WRITE, F_SEAL_SHRINK, F_SEAL_GROW (and F_SEAL_EXEC
 * where the kernel has it), has mode 0444, and the descriptor is a
 * close-on-exec, read-only open file description of it, which
 * safe_mmap_check_fd() accepts as SAFE_MMAP_SEALED_MEMFD.
 *
 * Return: 0 on success; -EINVAL if @ret_fd is NULL, or @data is NULL (or not
 * readable) while @size is not 0; -EMFILE, -ENFILE if no descriptor is left;
 * -ENOMEM, -ENOSPC if memory or the memfd's space runs out; -EFBIG if @size
 * is larger than a memfd can hold; -EIO.
 */
int safe_mmap_seal_bytes(const void *data, size_t size, int *ret_fd);

#ifdef __cplusplus
}
#endif

#endif
