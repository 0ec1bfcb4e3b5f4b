/* SPDX-License-Identifier: Apache-2.0 OR MIT */
/*
 * Encoder and decoder of the wire format described in proto.h.
 *
 * Every field is read and written a byte at a time at its fixed offset: the
 * buffer that comes off the socket has no alignment guarantee, and casting it
 * to a struct would make the layout depend on the compiler's padding and the
 * host's byte order. The decoders are the daemon's first contact with
 * untrusted bytes, so each one checks the length before it reads, and accepts
 * exactly the messages the encoders can produce: a decoded message re-encodes
 * to the same bytes (the fuzz targets hold this).
 */

#include <errno.h>
#include <string.h>

#include "proto.h"

/* Byte offsets of the fields; see the layout in proto.h. */
#define OFF_MAGIC       0
#define OFF_VERSION     4
#define OFF_TYPE        6
#define OFF_LENGTH      8
#define OFF_FLAGS      12
/* requests */
#define OFF_MAX_SIZE   16
#define OFF_PATH_LEN   24
#define OFF_PATH       28
/* replies */
#define OFF_STATUS     16
#define OFF_KIND       20
#define OFF_SIZE       24
#define OFF_RESERVED   32
#define OFF_CONNS      20
#define OFF_SERVED     24
#define OFF_HELD       32
#define OFF_ENTRIES    40
#define OFF_RESERVED32 44
#define OFF_UPTIME     48

_Static_assert(OFF_FLAGS + 4 == PROTO_HEADER_SIZE, "header layout");
_Static_assert(OFF_MAX_SIZE + 8 == PROTO_REQUEST_SNAPSHOT_FD_SIZE, "snapshot-fd layout");
_Static_assert(OFF_PATH_LEN + 4 == PROTO_REQUEST_SNAPSHOT_PATH_MIN, "snapshot-path layout");
_Static_assert(OFF_PATH == PROTO_REQUEST_SNAPSHOT_PATH_MIN, "snapshot-path layout");
_Static_assert(PROTO_REQUEST_STATUS_SIZE == PROTO_HEADER_SIZE, "status layout");
_Static_assert(OFF_RESERVED + 8 == PROTO_REPLY_SNAPSHOT_SIZE, "snapshot reply layout");
_Static_assert(OFF_UPTIME + 8 == PROTO_REPLY_STATUS_SIZE, "status reply layout");
_Static_assert(PROTO_MESSAGE_MAX == PROTO_REQUEST_SNAPSHOT_PATH_MIN + PROTO_PATH_MAX, "max message");
_Static_assert(PROTO_MESSAGE_MAX <= INT32_MAX, "encoders return the length as int");

/* Status is 0 or -errno; the kernel never uses errno values above 4095. */
#define STATUS_MIN (-4095)

static uint16_t get16(const uint8_t *p) {
        return (uint16_t) (p[0] | (uint16_t) p[1] << 8);
}

static uint32_t get32(const uint8_t *p) {
        return (uint32_t) p[0] | (uint32_t) p[1] << 8 | (uint32_t) p[2] << 16 | (uint32_t) p[3] << 24;
}

static uint64_t get64(const uint8_t *p) {
        return (uint64_t) get32(p) | (uint64_t) get32(p + 4) << 32;
}

/* Two's complement on the wire, without relying on the implementation-defined
 * conversion of an out-of-range uint32_t to int32_t. */
static int32_t get32s(const uint8_t *p) {
        uint32_t u = get32(p);

        return u <= INT32_MAX ? (int32_t) u : -(int32_t) ~u - 1;
}

static void put16(uint8_t *p, uint16_t v) {
        p[0] = (uint8_t) v;
        p[1] = (uint8_t) (v >> 8);
}

static void put32(uint8_t *p, uint32_t v) {
        for (unsigned i = 0; i < 4; i++)
                p[i] = (uint8_t) (v >> (8 * i));
}

static void put64(uint8_t *p, uint64_t v) {
        put32(p, (uint32_t) v);
        put32(p + 4, (uint32_t) (v >> 32));
}

static bool status_valid(int32_t status) {
        return status <= 0 && status >= STATUS_MIN;
}

static bool kind_valid(int32_t status, uint32_t kind) {
        /* A failed snapshot has no kind; a successful one always has one. */
        if (status != 0)
                return kind == 0;
        return kind == PROTO_KIND_SEALED_MEMFD || kind == PROTO_KIND_FS_VERITY;
}

static bool path_valid(const char *path, uint32_t path_length) {
        /* Absolute only: the daemon resolves beneath a grant root and must never
         * be handed something relative to its own working directory. A NUL would
         * make the path the daemon checks differ from the one a C API sees. */
        return path && path_length > 0 && path_length <= PROTO_PATH_MAX &&
                path[0] == '/' && !memchr(path, 0, path_length);
}

/*
 * Checks the common header against the direction's largest message and
 * returns its type, or a negative errno.
 */
static int header_decode(const uint8_t *buf, size_t len, size_t max, uint32_t *ret_type) {
        if (len > max)
                return -EMSGSIZE;
        if (!buf || len < PROTO_HEADER_SIZE)
                return -EBADMSG;
        if (get32(buf + OFF_MAGIC) != PROTO_MAGIC)
                return -EBADMSG;
        /* Checked before anything else in the message: a later version may lay it out differently. */
        if (get16(buf + OFF_VERSION) != PROTO_VERSION)
                return -EPROTONOSUPPORT;
        if (get32(buf + OFF_LENGTH) != len)
                return -EBADMSG;
        *ret_type = get16(buf + OFF_TYPE);
        return 0;
}

static void header_encode(uint8_t *buf, uint32_t type, uint32_t length, uint32_t flags) {
        put32(buf + OFF_MAGIC, PROTO_MAGIC);
        put16(buf + OFF_VERSION, PROTO_VERSION);
        put16(buf + OFF_TYPE, (uint16_t) type);
        put32(buf + OFF_LENGTH, length);
        put32(buf + OFF_FLAGS, flags);
}

int proto_request_encode(const ProtoRequest *req, uint8_t *buf, size_t buf_size) {
        uint32_t length;

        if (!req || (req->flags & ~PROTO_REQUEST_FLAGS_ALL))
                return -EINVAL;

        switch (req->type) {
        case PROTO_REQUEST_SNAPSHOT_FD:
                length = PROTO_REQUEST_SNAPSHOT_FD_SIZE;
                break;
        case PROTO_REQUEST_SNAPSHOT_PATH:
                if (!path_valid(req->path, req->path_length))
                        return -EINVAL;
                length = PROTO_REQUEST_SNAPSHOT_PATH_MIN + req->path_length;
                break;
        case PROTO_REQUEST_STATUS:
                length = PROTO_REQUEST_STATUS_SIZE;
                break;
        default:
                return -EINVAL;
        }

        if (!buf || buf_size < length)
                return -ENOBUFS;

        header_encode(buf, req->type, length, req->flags);
        if (req->type != PROTO_REQUEST_STATUS)
                put64(buf + OFF_MAX_SIZE, req->max_size);
        if (req->type == PROTO_REQUEST_SNAPSHOT_PATH) {
                put32(buf + OFF_PATH_LEN, req->path_length);
                memcpy(buf + OFF_PATH, req->path, req->path_length);
        }
        return (int) length;
}

int proto_request_decode(const uint8_t *buf, size_t len, ProtoRequest *ret) {
        ProtoRequest req = {};
        uint32_t type;
        int r;

        r = header_decode(buf, len, PROTO_MESSAGE_MAX, &type);
        if (r < 0)
                return r;

        switch (type) {
        case PROTO_REQUEST_SNAPSHOT_FD:
                if (len != PROTO_REQUEST_SNAPSHOT_FD_SIZE)
                        return -EBADMSG;
                break;
        case PROTO_REQUEST_SNAPSHOT_PATH:
                if (len < PROTO_REQUEST_SNAPSHOT_PATH_MIN)
                        return -EBADMSG;
                req.path_length = get32(buf + OFF_PATH_LEN);
                if (req.path_length > PROTO_PATH_MAX)
                        return -EMSGSIZE;
                if (req.path_length != len - PROTO_REQUEST_SNAPSHOT_PATH_MIN)
                        return -EBADMSG;
                req.path = (const char *) buf + OFF_PATH;
                if (!path_valid(req.path, req.path_length))
                        return -EBADMSG;
                break;
        case PROTO_REQUEST_STATUS:
                if (len != PROTO_REQUEST_STATUS_SIZE)
                        return -EBADMSG;
                break;
        default:
                return -EBADMSG;
        }

        req.type = (enum proto_type) type;
        req.flags = get32(buf + OFF_FLAGS);
        if (req.flags & ~PROTO_REQUEST_FLAGS_ALL)
                return -EBADMSG;
        if (type != PROTO_REQUEST_STATUS)
                req.max_size = get64(buf + OFF_MAX_SIZE);

        *ret = req;
        return 0;
}

int proto_reply_encode(const ProtoReply *reply, uint8_t *buf, size_t buf_size) {
        uint32_t length;

        if (!reply || !status_valid(reply->status))
                return -EINVAL;

        switch (reply->type) {
        case PROTO_REPLY_SNAPSHOT:
                if ((reply->flags & ~PROTO_REPLY_FLAGS_ALL) || !kind_valid(reply->status, reply->kind))
                        return -EINVAL;
                length = PROTO_REPLY_SNAPSHOT_SIZE;
                break;
        case PROTO_REPLY_STATUS:
                if (reply->flags != 0)
                        return -EINVAL;
                length = PROTO_REPLY_STATUS_SIZE;
                break;
        default:
                return -EINVAL;
        }

        if (!buf || buf_size < length)
                return -ENOBUFS;

        memset(buf, 0, length);
        header_encode(buf, reply->type, length, reply->flags);
        put32(buf + OFF_STATUS, (uint32_t) reply->status);
        if (reply->type == PROTO_REPLY_SNAPSHOT) {
                put32(buf + OFF_KIND, reply->kind);
                put64(buf + OFF_SIZE, reply->size);
        } else {
                put32(buf + OFF_CONNS, reply->connections);
                put64(buf + OFF_SERVED, reply->served);
                put64(buf + OFF_HELD, reply->bytes_held);
                put32(buf + OFF_ENTRIES, reply->cache_entries);
                put64(buf + OFF_UPTIME, reply->uptime_usec);
        }
        return (int) length;
}

int proto_reply_decode(const uint8_t *buf, size_t len, ProtoReply *ret) {
        ProtoReply reply = {};
        uint32_t type;
        int r;

        r = header_decode(buf, len, PROTO_REPLY_STATUS_SIZE, &type);
        if (r < 0)
                return r;

        reply.flags = get32(buf + OFF_FLAGS);
        switch (type) {
        case PROTO_REPLY_SNAPSHOT:
                if (len != PROTO_REPLY_SNAPSHOT_SIZE)
                        return -EBADMSG;
                if (reply.flags & ~PROTO_REPLY_FLAGS_ALL)
                        return -EBADMSG;
                if (get64(buf + OFF_RESERVED) != 0)
                        return -EBADMSG;
                reply.kind = get32(buf + OFF_KIND);
                reply.size = get64(buf + OFF_SIZE);
                break;
        case PROTO_REPLY_STATUS:
                if (len != PROTO_REPLY_STATUS_SIZE)
                        return -EBADMSG;
                if (reply.flags != 0)
                        return -EBADMSG;
                if (get32(buf + OFF_RESERVED32) != 0)
                        return -EBADMSG;
                reply.connections = get32(buf + OFF_CONNS);
                reply.served = get64(buf + OFF_SERVED);
                reply.bytes_held = get64(buf + OFF_HELD);
                reply.cache_entries = get32(buf + OFF_ENTRIES);
                reply.uptime_usec = get64(buf + OFF_UPTIME);
                break;
        default:
                return -EBADMSG;
        }

        reply.type = (enum proto_type) type;
        reply.status = get32s(buf + OFF_STATUS);
        if (!status_valid(reply.status))
                return -EBADMSG;
        if (type == PROTO_REPLY_SNAPSHOT && !kind_valid(reply.status, reply.kind))
                return -EBADMSG;

        *ret = reply;
        return 0;
}

const char *proto_type_to_string(uint32_t type) {
        switch (type) {
        case PROTO_REQUEST_SNAPSHOT_FD:
                return "snapshot-fd";
        case PROTO_REQUEST_SNAPSHOT_PATH:
                return "snapshot-path";
        case PROTO_REQUEST_STATUS:
                return "status";
        case PROTO_REPLY_SNAPSHOT:
                return "snapshot-reply";
        case PROTO_REPLY_STATUS:
                return "status-reply";
        default:
                return "unknown";
        }
}
