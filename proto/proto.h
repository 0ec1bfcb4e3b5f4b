/* SPDX-License-Identifier: Apache-2.0 OR MIT */
#pragma once

/*
 * The safe-mmap wire format, shared by safe-mmapd and libsafe-mmap.
 *
 * Transport: AF_UNIX SOCK_SEQPACKET, one request = one packet, one reply =
 * one packet. A snapshot-fd request carries the client's file in an
 * SCM_RIGHTS message on the request packet; a successful snapshot reply
 * carries the snapshot descriptor on the reply packet.
 *
 * Every message starts with the same 16-byte header. All fields are
 * fixed-width little-endian at fixed offsets; there is no padding, no size_t,
 * no off_t and no pointer on the wire. The structs below are the *decoded*
 * (host) form and never travel as they are: proto_*_encode() writes bytes,
 * proto_*_decode() reads them, and neither ever touches memory outside the
 * (buffer, length) pair it is given.
 *
 *   header (16 bytes)
 *     0  u32 magic      PROTO_MAGIC
 *     4  u16 version    PROTO_VERSION
 *     6  u16 type       enum proto_type
 *     8  u32 length     total length of the message, header included
 *    12  u32 flags      per type; unknown bits are rejected
 *
 *   PROTO_REQUEST_SNAPSHOT_FD   (24 bytes)  header, u64 max_size
 *   PROTO_REQUEST_SNAPSHOT_PATH (28 + n)    header, u64 max_size, u32 path_length, path[n]
 *   PROTO_REQUEST_STATUS        (16 bytes)  header
 *   PROTO_REPLY_SNAPSHOT        (40 bytes)  header, s32 status, u32 kind, u64 size,
 *                                           u64 reserved (0)
 *   PROTO_REPLY_STATUS          (56 bytes)  header, s32 status, u32 connections,
 *                                           u64 served, u64 bytes_held,
 *                                           u32 cache_entries, u32 reserved (0),
 *                                           u64 uptime_usec
 *
 * One snapshot request may be in flight per connection: another snapshot
 * request before its reply is answered -EBUSY. A status request is answered
 * at once, so its reply can arrive before the pending snapshot reply; replies
 * carry no request id and are told apart by their type.
 *
 * max_size: 0 means "the daemon's limit"; anything else can only lower it.
 * path: absolute, 1..PROTO_PATH_MAX bytes, no NUL, not NUL-terminated.
 * status: 0 or a negative errno (never below -4095).
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PROTO_MAGIC UINT32_C(0x50414d53)  /* "SMAP" as little-endian bytes */
#define PROTO_VERSION UINT16_C(1)

#define PROTO_HEADER_SIZE 16u
#define PROTO_REQUEST_SNAPSHOT_FD_SIZE 24u
#define PROTO_REQUEST_SNAPSHOT_PATH_MIN 28u /* plus the path bytes */
#define PROTO_REQUEST_STATUS_SIZE 16u
#define PROTO_REPLY_SNAPSHOT_SIZE 40u
#define PROTO_REPLY_STATUS_SIZE 56u

/* Longest path a client may send (PATH_MAX minus the terminating NUL). */
#define PROTO_PATH_MAX 4095u
/* Largest message of either direction: a receive buffer of this size + 1 detects oversize. */
#define PROTO_MESSAGE_MAX (PROTO_REQUEST_SNAPSHOT_PATH_MIN + PROTO_PATH_MAX)

enum proto_type {
        PROTO_REQUEST_SNAPSHOT_FD = 1,
        PROTO_REQUEST_SNAPSHOT_PATH = 2,
        PROTO_REQUEST_STATUS = 3,
        PROTO_REPLY_SNAPSHOT = 0x81,
        PROTO_REPLY_STATUS = 0x83,
};

/* Snapshot kinds; the same values as the public SAFE_MMAP_SEALED_MEMFD / SAFE_MMAP_FS_VERITY. */
enum proto_kind {
        PROTO_KIND_SEALED_MEMFD = 1,
        PROTO_KIND_FS_VERITY = 2,
};

/* Reply flags (header flags of PROTO_REPLY_SNAPSHOT). */
#define PROTO_REPLY_CACHED     (UINT32_C(1) << 0) /* served from the daemon's cache */
#define PROTO_REPLY_CONSISTENT (UINT32_C(1) << 1) /* no writer changed the file during the copy */
#define PROTO_REPLY_FLAGS_ALL  (PROTO_REPLY_CACHED | PROTO_REPLY_CONSISTENT)

/* Request flags: none defined yet; any bit set is rejected. */
#define PROTO_REQUEST_FLAGS_ALL UINT32_C(0)

typedef struct ProtoRequest {
        enum proto_type type;   /* one of the PROTO_REQUEST_* */
        uint32_t flags;
        uint64_t max_size;      /* snapshot requests */
        /* PROTO_REQUEST_SNAPSHOT_PATH: points into the decoded buffer, NOT NUL-terminated */
        const char *path;
        uint32_t path_length;
} ProtoRequest;

typedef struct ProtoReply {
        enum proto_type type;   /* PROTO_REPLY_SNAPSHOT or PROTO_REPLY_STATUS */
        uint32_t flags;
        int32_t status;         /* 0 or -errno */
        /* PROTO_REPLY_SNAPSHOT */
        uint32_t kind;          /* enum proto_kind when status == 0, else 0 */
        uint64_t size;
        /* PROTO_REPLY_STATUS */
        uint32_t connections;
        uint32_t cache_entries;
        uint64_t served;
        uint64_t bytes_held;
        uint64_t uptime_usec;
} ProtoReply;

/*
 * Encoders write one message into buf (of size buf_size) and return its length
 * (> 0), or -ENOBUFS when buf is too small, or -EINVAL when the message could
 * not be decoded by the other side (bad type, unknown flags, path empty,
 * relative, too long or with a NUL, status out of range, ...). An encoder
 * never produces bytes its own decoder rejects.
 */
int proto_request_encode(const ProtoRequest *req, uint8_t *buf, size_t buf_size);
int proto_reply_encode(const ProtoReply *reply, uint8_t *buf, size_t buf_size);

/*
 * Decoders parse exactly one message of exactly len bytes. They return 0 and
 * fill *ret, or a negative errno and leave *ret untouched:
 *   -EBADMSG   short buffer, bad magic, length field != len, bad type for
 *              this direction, unknown flags, non-zero reserved field,
 *              path empty/relative/with NUL, status or kind out of range
 *   -EMSGSIZE  len larger than any valid message (or path longer than PROTO_PATH_MAX)
 *   -EPROTONOSUPPORT  version other than PROTO_VERSION
 * For path requests, ret->path points into buf: buf must outlive the use.
 */
int proto_request_decode(const uint8_t *buf, size_t len, ProtoRequest *ret);
int proto_reply_decode(const uint8_t *buf, size_t len, ProtoReply *ret);

/* Name of a type for log lines ("snapshot-fd", ...), "unknown" otherwise. */
const char *proto_type_to_string(uint32_t type);
