/* SPDX-License-Identifier: Apache-2.0 OR MIT */
/*
 * Unit tests of the wire codec. Messages are built here byte by byte, not with
 * the encoder, so that a bug shared by encoder and decoder cannot hide. Every
 * decode of a hand-made message goes through a heap copy of exactly len bytes:
 * under AddressSanitizer any read past the end is caught.
 */

#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"
#include "test-util.h"

/* Bigger than any message, so that tests can build oversized ones. */
#define BUF_MAX (PROTO_MESSAGE_MAX + 64)

typedef struct Msg {
        uint8_t b[BUF_MAX];
        size_t len;
} Msg;

static void put16(uint8_t *p, uint16_t v) {
        p[0] = (uint8_t) v;
        p[1] = (uint8_t) (v >> 8);
}

static void put32(uint8_t *p, uint32_t v) {
        put16(p, (uint16_t) v);
        put16(p + 2, (uint16_t) (v >> 16));
}

static void put64(uint8_t *p, uint64_t v) {
        put32(p, (uint32_t) v);
        put32(p + 4, (uint32_t) (v >> 32));
}

static void msg_header(Msg *m, uint16_t type, size_t len) {
        memset(m, 0, sizeof(*m));
        m->len = len;
        memcpy(m->b, "SMAP", 4);
        put16(m->b + 4, 1);
        put16(m->b + 6, type);
        put32(m->b + 8, (uint32_t) len);
}

static void msg_set_length(Msg *m, size_t len) {
        m->len = len;
        put32(m->b + 8, (uint32_t) len);
}

static Msg msg_snapshot_fd(uint64_t max_size) {
        Msg m;

        msg_header(&m, PROTO_REQUEST_SNAPSHOT_FD, 24);
        put64(m.b + 16, max_size);
        return m;
}

static Msg msg_snapshot_path(const char *path, size_t n) {
        Msg m;

        msg_header(&m, PROTO_REQUEST_SNAPSHOT_PATH, 28 + n);
        put64(m.b + 16, 4096);
        put32(m.b + 24, (uint32_t) n);
        memcpy(m.b + 28, path, n);
        return m;
}

static Msg msg_status_request(void) {
        Msg m;

        msg_header(&m, PROTO_REQUEST_STATUS, 16);
        return m;
}

static Msg msg_snapshot_reply(int32_t status, uint32_t kind, uint64_t size, uint32_t flags) {
        Msg m;

        msg_header(&m, PROTO_REPLY_SNAPSHOT, 40);
        put32(m.b + 12, flags);
        put32(m.b + 16, (uint32_t) status);
        put32(m.b + 20, kind);
        put64(m.b + 24, size);
        return m;
}

static Msg msg_status_reply(int32_t status) {
        Msg m;

        msg_header(&m, PROTO_REPLY_STATUS, 56);
        put32(m.b + 16, (uint32_t) status);
        put32(m.b + 20, 7);             /* connections */
        put64(m.b + 24, 1000);          /* served */
        put64(m.b + 32, 1 << 20);       /* bytes_held */
        put32(m.b + 40, 3);             /* cache_entries */
        put64(m.b + 48, 123456789);     /* uptime_usec */
        return m;
}

/* A path of n bytes: "/" followed by 'a's. */
static char *path_make(size_t n) {
        char *p = malloc(n ? n : 1);

        ck_assert_ptr_nonnull(p);
        memset(p, 'a', n);
        if (n > 0)
                p[0] = '/';
        return p;
}

/*
 * Decodes the first len bytes of m from an exact-size heap copy and checks
 * that a failure leaves *ret untouched.
 */
static int request_decode_exact(const Msg *m, size_t len, ProtoRequest *ret) {
        static const uint8_t poison[sizeof(ProtoRequest)] = { [0 ... sizeof(ProtoRequest) - 1] = 0xa5 };
        uint8_t *copy = malloc(len ? len : 1);
        ProtoRequest req;
        int r;

        ck_assert_ptr_nonnull(copy);
        memcpy(copy, m->b, len);
        memcpy(&req, poison, sizeof(req));
        r = proto_request_decode(copy, len, &req);
        if (r < 0)
                ck_assert_mem_eq(&req, poison, sizeof(req));
        else if (req.path)
                /* path points into the buffer just decoded: repoint into m for the caller */
                req.path = (const char *) m->b + (req.path - (const char *) copy);
        free(copy);
        if (r >= 0 && ret)
                *ret = req;
        return r;
}

static int reply_decode_exact(const Msg *m, size_t len, ProtoReply *ret) {
        static const uint8_t poison[sizeof(ProtoReply)] = { [0 ... sizeof(ProtoReply) - 1] = 0xa5 };
        uint8_t *copy = malloc(len ? len : 1);
        ProtoReply reply;
        int r;

        ck_assert_ptr_nonnull(copy);
        memcpy(copy, m->b, len);
        memcpy(&reply, poison, sizeof(reply));
        r = proto_reply_decode(copy, len, &reply);
        if (r < 0)
                ck_assert_mem_eq(&reply, poison, sizeof(reply));
        free(copy);
        if (r >= 0 && ret)
                *ret = reply;
        return r;
}

static int request_decode(const Msg *m) {
        return request_decode_exact(m, m->len, NULL);
}

static int reply_decode(const Msg *m) {
        return reply_decode_exact(m, m->len, NULL);
}

/* Encodes into a buffer with a guard zone and checks the encoder stays inside buf_size. */
static int request_encode_guarded(const ProtoRequest *req, size_t buf_size, uint8_t *ret_buf) {
        uint8_t buf[BUF_MAX + 16];
        int r;

        ck_assert_uint_le(buf_size, BUF_MAX);
        memset(buf, 0xee, sizeof(buf));
        r = proto_request_encode(req, buf, buf_size);
        for (size_t i = r < 0 ? 0 : buf_size; i < sizeof(buf); i++)
                ck_assert_uint_eq(buf[i], 0xee);
        if (r > 0 && ret_buf)
                memcpy(ret_buf, buf, (size_t) r);
        return r;
}

static int reply_encode_guarded(const ProtoReply *reply, size_t buf_size, uint8_t *ret_buf) {
        uint8_t buf[BUF_MAX + 16];
        int r;

        ck_assert_uint_le(buf_size, BUF_MAX);
        memset(buf, 0xee, sizeof(buf));
        r = proto_reply_encode(reply, buf, buf_size);
        for (size_t i = r < 0 ? 0 : buf_size; i < sizeof(buf); i++)
                ck_assert_uint_eq(buf[i], 0xee);
        if (r > 0 && ret_buf)
                memcpy(ret_buf, buf, (size_t) r);
        return r;
}

/* Decodes m, checks the result against want, and re-encodes it to the same bytes. */
static void request_check_round_trip(const Msg *m, const ProtoRequest *want) {
        uint8_t out[BUF_MAX];
        ProtoRequest req;

        ck_assert_int_eq(request_decode_exact(m, m->len, &req), 0);
        ck_assert_int_eq(req.type, want->type);
        ck_assert_uint_eq(req.flags, want->flags);
        ck_assert_uint_eq(req.max_size, want->max_size);
        ck_assert_uint_eq(req.path_length, want->path_length);
        if (want->path) {
                ck_assert_ptr_eq(req.path, (const char *) m->b + 28);
                ck_assert_mem_eq(req.path, want->path, want->path_length);
        } else
                ck_assert_ptr_null(req.path);

        ck_assert_int_eq(request_encode_guarded(want, m->len, out), (int) m->len);
        ck_assert_mem_eq(out, m->b, m->len);
        ck_assert_int_eq(request_encode_guarded(want, BUF_MAX, out), (int) m->len);
        ck_assert_mem_eq(out, m->b, m->len);
        ck_assert_int_eq(request_encode_guarded(want, m->len - 1, NULL), -ENOBUFS);
        ck_assert_int_eq(request_encode_guarded(want, 0, NULL), -ENOBUFS);
        ck_assert_int_eq(proto_request_encode(want, NULL, 0), -ENOBUFS);
}

static void reply_check_round_trip(const Msg *m, const ProtoReply *want) {
        uint8_t out[BUF_MAX];
        ProtoReply reply;

        ck_assert_int_eq(reply_decode_exact(m, m->len, &reply), 0);
        ck_assert_int_eq(reply.type, want->type);
        ck_assert_uint_eq(reply.flags, want->flags);
        ck_assert_int_eq(reply.status, want->status);
        ck_assert_uint_eq(reply.kind, want->kind);
        ck_assert_uint_eq(reply.size, want->size);
        ck_assert_uint_eq(reply.connections, want->connections);
        ck_assert_uint_eq(reply.cache_entries, want->cache_entries);
        ck_assert_uint_eq(reply.served, want->served);
        ck_assert_uint_eq(reply.bytes_held, want->bytes_held);
        ck_assert_uint_eq(reply.uptime_usec, want->uptime_usec);

        ck_assert_int_eq(reply_encode_guarded(want, m->len, out), (int) m->len);
        ck_assert_mem_eq(out, m->b, m->len);
        ck_assert_int_eq(reply_encode_guarded(want, BUF_MAX, out), (int) m->len);
        ck_assert_mem_eq(out, m->b, m->len);
        ck_assert_int_eq(reply_encode_guarded(want, m->len - 1, NULL), -ENOBUFS);
        ck_assert_int_eq(reply_encode_guarded(want, 0, NULL), -ENOBUFS);
        ck_assert_int_eq(proto_reply_encode(want, NULL, 0), -ENOBUFS);
}

/* One valid message of every type, for the tests that break them. */
static Msg msg_valid_request(unsigned i) {
        switch (i) {
        case 0:
                return msg_snapshot_fd(0);
        case 1:
                return msg_snapshot_path("/etc/passwd", 11);
        default:
                return msg_status_request();
        }
}
#define N_VALID_REQUESTS 3

static Msg msg_valid_reply(unsigned i) {
        switch (i) {
        case 0:
                return msg_snapshot_reply(0, PROTO_KIND_SEALED_MEMFD, 4096, PROTO_REPLY_FLAGS_ALL);
        case 1:
                return msg_snapshot_reply(-ENOENT, 0, 0, 0);
        default:
                return msg_status_reply(0);
        }
}
#define N_VALID_REPLIES 3

START_TEST(test_wire_bytes) {
        /* The exact bytes, so that a change of layout cannot pass unnoticed. */
        static const uint8_t want[] = {
                'S', 'M', 'A', 'P', 0x01, 0x00, 0x01, 0x00, 24, 0, 0, 0, 0, 0, 0, 0,
                0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01,
        };
        ProtoRequest req = { .type = PROTO_REQUEST_SNAPSHOT_FD, .max_size = UINT64_C(0x0102030405060708) };
        uint8_t out[64];

        ck_assert_int_eq(proto_request_encode(&req, out, sizeof(out)), (int) sizeof(want));
        ck_assert_mem_eq(out, want, sizeof(want));

        static const uint8_t want_reply[] = {
                'S', 'M', 'A', 'P', 0x01, 0x00, 0x81, 0x00, 40, 0, 0, 0, 0x02, 0, 0, 0,
                0xfe, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                0, 0, 0, 0, 0, 0, 0, 0,
        };
        ProtoReply reply = { .type = PROTO_REPLY_SNAPSHOT, .flags = PROTO_REPLY_CONSISTENT, .status = -2 };

        ck_assert_int_eq(proto_reply_encode(&reply, out, sizeof(out)), (int) sizeof(want_reply));
        ck_assert_mem_eq(out, want_reply, sizeof(want_reply));
}
END_TEST

START_TEST(test_request_round_trip) {
        static const uint64_t sizes[] = { 0, 1, 4096, UINT64_MAX };
        static const size_t path_lengths[] = { 1, 2, 255, 4094, PROTO_PATH_MAX };

        for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
                Msg m = msg_snapshot_fd(sizes[i]);

                request_check_round_trip(&m, &(ProtoRequest) {
                        .type = PROTO_REQUEST_SNAPSHOT_FD, .max_size = sizes[i] });
        }

        for (size_t i = 0; i < sizeof(path_lengths) / sizeof(path_lengths[0]); i++) {
                size_t n = path_lengths[i];
                char *p = path_make(n);
                Msg m = msg_snapshot_path(p, n);

                request_check_round_trip(&m, &(ProtoRequest) {
                        .type = PROTO_REQUEST_SNAPSHOT_PATH, .max_size = 4096,
                        .path = p, .path_length = (uint32_t) n });
                free(p);
        }

        /* Bytes >= 0x80 are not special: a path is bytes, not text. */
        Msg m = msg_snapshot_path("/\xff\x80/x", 5);
        request_check_round_trip(&m, &(ProtoRequest) {
                .type = PROTO_REQUEST_SNAPSHOT_PATH, .max_size = 4096, .path = "/\xff\x80/x", .path_length = 5 });

        m = msg_status_request();
        request_check_round_trip(&m, &(ProtoRequest) { .type = PROTO_REQUEST_STATUS });
}
END_TEST

START_TEST(test_request_encode_ignores_unused_fields) {
        /* Fields a type does not carry do not travel and do not make the encoder fail. */
        ProtoRequest req = { .type = PROTO_REQUEST_STATUS, .max_size = 5, .path = "x", .path_length = 1 };
        Msg m = msg_status_request();
        uint8_t out[BUF_MAX];

        ck_assert_int_eq(proto_request_encode(&req, out, sizeof(out)), 16);
        ck_assert_mem_eq(out, m.b, 16);

        req = (ProtoRequest) { .type = PROTO_REQUEST_SNAPSHOT_FD, .path = "x", .path_length = 1 };
        m = msg_snapshot_fd(0);
        ck_assert_int_eq(proto_request_encode(&req, out, sizeof(out)), 24);
        ck_assert_mem_eq(out, m.b, 24);
}
END_TEST

START_TEST(test_reply_round_trip) {
        static const int32_t statuses[] = { -1, -ENOENT, -EACCES, -4095 };
        static const uint64_t sizes[] = { 0, 1, UINT64_MAX };

        for (uint32_t kind = PROTO_KIND_SEALED_MEMFD; kind <= PROTO_KIND_FS_VERITY; kind++)
                for (uint32_t flags = 0; flags <= PROTO_REPLY_FLAGS_ALL; flags++)
                        for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
                                Msg m = msg_snapshot_reply(0, kind, sizes[i], flags);

                                reply_check_round_trip(&m, &(ProtoReply) {
                                        .type = PROTO_REPLY_SNAPSHOT, .flags = flags,
                                        .kind = kind, .size = sizes[i] });
                        }

        for (size_t i = 0; i < sizeof(statuses) / sizeof(statuses[0]); i++) {
                Msg m = msg_snapshot_reply(statuses[i], 0, 0, 0);

                reply_check_round_trip(&m, &(ProtoReply) {
                        .type = PROTO_REPLY_SNAPSHOT, .status = statuses[i] });

                m = msg_status_reply(statuses[i]);
                reply_check_round_trip(&m, &(ProtoReply) {
                        .type = PROTO_REPLY_STATUS, .status = statuses[i], .connections = 7,
                        .served = 1000, .bytes_held = 1 << 20, .cache_entries = 3,
                        .uptime_usec = 123456789 });
        }

        Msg m = msg_status_reply(0);
        put32(m.b + 20, UINT32_MAX);
        put64(m.b + 24, UINT64_MAX);
        put64(m.b + 32, UINT64_MAX);
        put32(m.b + 40, UINT32_MAX);
        put64(m.b + 48, UINT64_MAX);
        reply_check_round_trip(&m, &(ProtoReply) {
                .type = PROTO_REPLY_STATUS, .connections = UINT32_MAX, .served = UINT64_MAX,
                .bytes_held = UINT64_MAX, .cache_entries = UINT32_MAX, .uptime_usec = UINT64_MAX });
}
END_TEST

START_TEST(test_reply_encode_ignores_unused_fields) {
        ProtoReply reply = { .type = PROTO_REPLY_STATUS, .kind = 9, .size = 5 };
        Msg m = msg_status_reply(0);
        uint8_t out[BUF_MAX];

        memset(m.b + 20, 0, 36);
        ck_assert_int_eq(proto_reply_encode(&reply, out, sizeof(out)), 56);
        ck_assert_mem_eq(out, m.b, 56);

        reply = (ProtoReply) { .type = PROTO_REPLY_SNAPSHOT, .kind = 1, .connections = 3, .served = 4,
                               .bytes_held = 5, .cache_entries = 6, .uptime_usec = 7 };
        m = msg_snapshot_reply(0, 1, 0, 0);
        ck_assert_int_eq(proto_reply_encode(&reply, out, sizeof(out)), 40);
        ck_assert_mem_eq(out, m.b, 40);
}
END_TEST

START_TEST(test_truncated) {
        /* Every prefix, both with the length field as sent and fixed up to the prefix. */
        for (unsigned i = 0; i < N_VALID_REQUESTS; i++) {
                Msg m = msg_valid_request(i);

                for (size_t len = 0; len < m.len; len++) {
                        Msg t = m;

                        ck_assert_int_eq(request_decode_exact(&m, len, NULL), -EBADMSG);
                        msg_set_length(&t, len);
                        ck_assert_int_eq(request_decode_exact(&t, len, NULL), -EBADMSG);
                }
        }
        for (unsigned i = 0; i < N_VALID_REPLIES; i++) {
                Msg m = msg_valid_reply(i);

                for (size_t len = 0; len < m.len; len++) {
                        Msg t = m;

                        ck_assert_int_eq(reply_decode_exact(&m, len, NULL), -EBADMSG);
                        msg_set_length(&t, len);
                        ck_assert_int_eq(reply_decode_exact(&t, len, NULL), -EBADMSG);
                }
        }

        ProtoRequest req;
        ProtoReply reply;
        ck_assert_int_eq(proto_request_decode(NULL, 0, &req), -EBADMSG);
        ck_assert_int_eq(proto_reply_decode(NULL, 0, &reply), -EBADMSG);
}
END_TEST

START_TEST(test_too_long) {
        for (unsigned i = 0; i < N_VALID_REQUESTS; i++) {
                Msg m = msg_valid_request(i);

                /* One trailing byte, with the length field as sent and fixed up. */
                ck_assert_int_eq(request_decode_exact(&m, m.len + 1, NULL), -EBADMSG);
                msg_set_length(&m, m.len + 1);
                ck_assert_int_eq(request_decode(&m), -EBADMSG);
        }
        for (unsigned i = 0; i < N_VALID_REPLIES; i++) {
                Msg m = msg_valid_reply(i);

                ck_assert_int_eq(reply_decode_exact(&m, m.len + 1, NULL), i < 2 ? -EBADMSG : -EMSGSIZE);
                msg_set_length(&m, m.len + 1);
                ck_assert_int_eq(reply_decode(&m), i < 2 ? -EBADMSG : -EMSGSIZE);
        }

        /* Larger than any message of the direction, whatever it says. */
        Msg m = msg_snapshot_path("/", 1);
        ck_assert_int_eq(request_decode_exact(&m, PROTO_MESSAGE_MAX + 1, NULL), -EMSGSIZE);
        ck_assert_int_eq(request_decode_exact(&m, BUF_MAX, NULL), -EMSGSIZE);
        m = msg_status_reply(0);
        ck_assert_int_eq(reply_decode_exact(&m, PROTO_REPLY_STATUS_SIZE + 1, NULL), -EMSGSIZE);
        ck_assert_int_eq(reply_decode_exact(&m, PROTO_MESSAGE_MAX + 1, NULL), -EMSGSIZE);
        ck_assert_int_eq(proto_request_decode(m.b, SIZE_MAX, &(ProtoRequest) {}), -EMSGSIZE);
        ck_assert_int_eq(proto_reply_decode(m.b, SIZE_MAX, &(ProtoReply) {}), -EMSGSIZE);
}
END_TEST

START_TEST(test_bad_magic) {
        for (unsigned i = 0; i < N_VALID_REQUESTS + N_VALID_REPLIES; i++)
                for (size_t byte = 0; byte < 4; byte++)
                        for (unsigned bit = 0; bit < 8; bit++) {
                                Msg m = i < N_VALID_REQUESTS ? msg_valid_request(i) : msg_valid_reply(i - N_VALID_REQUESTS);

                                m.b[byte] ^= (uint8_t) (1u << bit);
                                if (i < N_VALID_REQUESTS)
                                        ck_assert_int_eq(request_decode(&m), -EBADMSG);
                                else
                                        ck_assert_int_eq(reply_decode(&m), -EBADMSG);
                        }

        /* Right bytes, wrong order: big-endian "SMAP" */
        Msg m = msg_status_request();
        memcpy(m.b, "PAMS", 4);
        ck_assert_int_eq(request_decode(&m), -EBADMSG);
}
END_TEST

START_TEST(test_bad_version) {
        static const uint16_t versions[] = { 0, 2, 0x0100, 0xffff };

        for (size_t v = 0; v < sizeof(versions) / sizeof(versions[0]); v++) {
                for (unsigned i = 0; i < N_VALID_REQUESTS; i++) {
                        Msg m = msg_valid_request(i);

                        put16(m.b + 4, versions[v]);
                        ck_assert_int_eq(request_decode(&m), -EPROTONOSUPPORT);
                }
                for (unsigned i = 0; i < N_VALID_REPLIES; i++) {
                        Msg m = msg_valid_reply(i);

                        put16(m.b + 4, versions[v]);
                        ck_assert_int_eq(reply_decode(&m), -EPROTONOSUPPORT);
                }
        }
}
END_TEST

START_TEST(test_bad_type) {
        /* Unknown types, types that differ only in the high byte, and the other direction's. */
        static const uint16_t bad_request[] = { 0, 4, 0x80, 0x0101, 0x0201, 0x0301, 0xffff,
                                                PROTO_REPLY_SNAPSHOT, PROTO_REPLY_STATUS };
        static const uint16_t bad_reply[] = { 0, 0x80, 0x82, 0x84, 0x0181, 0x0183, 0xffff,
                                              PROTO_REQUEST_SNAPSHOT_FD, PROTO_REQUEST_SNAPSHOT_PATH,
                                              PROTO_REQUEST_STATUS };

        for (size_t t = 0; t < sizeof(bad_request) / sizeof(bad_request[0]); t++)
                for (unsigned i = 0; i < N_VALID_REQUESTS; i++) {
                        Msg m = msg_valid_request(i);

                        put16(m.b + 6, bad_request[t]);
                        ck_assert_int_eq(request_decode(&m), -EBADMSG);
                }
        for (size_t t = 0; t < sizeof(bad_reply) / sizeof(bad_reply[0]); t++)
                for (unsigned i = 0; i < N_VALID_REPLIES; i++) {
                        Msg m = msg_valid_reply(i);

                        put16(m.b + 6, bad_reply[t]);
                        ck_assert_int_eq(reply_decode(&m), -EBADMSG);
                }

        /* Whole valid messages handed to the wrong decoder. */
        for (unsigned i = 0; i < N_VALID_REPLIES; i++) {
                Msg m = msg_valid_reply(i);
                ck_assert_int_eq(request_decode(&m), -EBADMSG);
        }
        for (unsigned i = 0; i < N_VALID_REQUESTS; i++) {
                Msg m = msg_valid_request(i);
                ck_assert_int_eq(reply_decode(&m), -EBADMSG);
        }

        /* A type whose size matches another type's. */
        Msg m = msg_snapshot_fd(0);
        put16(m.b + 6, PROTO_REQUEST_STATUS);
        ck_assert_int_eq(request_decode(&m), -EBADMSG);
        m = msg_status_request();
        put16(m.b + 6, PROTO_REQUEST_SNAPSHOT_FD);
        ck_assert_int_eq(request_decode(&m), -EBADMSG);
        m = msg_snapshot_fd(0);
        put16(m.b + 6, PROTO_REQUEST_SNAPSHOT_PATH);
        ck_assert_int_eq(request_decode(&m), -EBADMSG);
        m = msg_status_reply(0);
        put16(m.b + 6, PROTO_REPLY_SNAPSHOT);
        ck_assert_int_eq(reply_decode(&m), -EBADMSG);
        m = msg_snapshot_reply(0, 1, 0, 0);
        put16(m.b + 6, PROTO_REPLY_STATUS);
        ck_assert_int_eq(reply_decode(&m), -EBADMSG);
}
END_TEST

START_TEST(test_bad_length_field) {
        static const uint32_t deltas[] = { 1, 2, 16, UINT32_C(1) << 31 };

        for (unsigned i = 0; i < N_VALID_REQUESTS + N_VALID_REPLIES; i++)
                for (size_t d = 0; d < sizeof(deltas) / sizeof(deltas[0]); d++)
                        for (int sign = -1; sign <= 1; sign += 2) {
                                Msg m = i < N_VALID_REQUESTS ? msg_valid_request(i) : msg_valid_reply(i - N_VALID_REQUESTS);
                                uint32_t field = (uint32_t) m.len + (sign > 0 ? deltas[d] : -deltas[d]);

                                put32(m.b + 8, field);
                                if (i < N_VALID_REQUESTS)
                                        ck_assert_int_eq(request_decode(&m), -EBADMSG);
                                else
                                        ck_assert_int_eq(reply_decode(&m), -EBADMSG);
                        }

        Msg m = msg_snapshot_fd(0);
        put32(m.b + 8, 0);
        ck_assert_int_eq(request_decode(&m), -EBADMSG);
        put32(m.b + 8, UINT32_MAX);
        ck_assert_int_eq(request_decode(&m), -EBADMSG);
}
END_TEST

START_TEST(test_unknown_flags) {
        for (unsigned bit = 0; bit < 32; bit++) {
                uint32_t flag = UINT32_C(1) << bit;

                for (unsigned i = 0; i < N_VALID_REQUESTS; i++) {
                        Msg m = msg_valid_request(i);

                        put32(m.b + 12, flag);
                        ck_assert_int_eq(request_decode(&m), -EBADMSG);
                }

                Msg m = msg_status_reply(0);
                put32(m.b + 12, flag);
                ck_assert_int_eq(reply_decode(&m), -EBADMSG);

                m = msg_snapshot_reply(0, 1, 0, PROTO_REPLY_FLAGS_ALL | flag);
                ck_assert_int_eq(reply_decode(&m), (flag & PROTO_REPLY_FLAGS_ALL) ? 0 : -EBADMSG);
        }
}
END_TEST

START_TEST(test_reserved_nonzero) {
        for (size_t off = 32; off < 40; off++) {
                Msg m = msg_snapshot_reply(0, 1, 0, 0);

                m.b[off] = 1;
                ck_assert_int_eq(reply_decode(&m), -EBADMSG);
                m.b[off] = 0x80;
                ck_assert_int_eq(reply_decode(&m), -EBADMSG);
        }
        for (size_t off = 44; off < 48; off++) {
                Msg m = msg_status_reply(0);

                m.b[off] = 1;
                ck_assert_int_eq(reply_decode(&m), -EBADMSG);
        }
}
END_TEST

START_TEST(test_bad_path) {
        Msg m;

        /* empty */
        m = msg_snapshot_path("", 0);
        ck_assert_int_eq(request_decode(&m), -EBADMSG);

        /* relative */
        m = msg_snapshot_path("a", 1);
        ck_assert_int_eq(request_decode(&m), -EBADMSG);
        m = msg_snapshot_path("etc/passwd", 10);
        ck_assert_int_eq(request_decode(&m), -EBADMSG);
        m = msg_snapshot_path("./etc", 5);
        ck_assert_int_eq(request_decode(&m), -EBADMSG);

        /* a NUL anywhere: leading, inside, trailing (a C string terminator) */
        m = msg_snapshot_path("\0", 1);
        ck_assert_int_eq(request_decode(&m), -EBADMSG);
        m = msg_snapshot_path("\0/etc", 5);
        ck_assert_int_eq(request_decode(&m), -EBADMSG);
        m = msg_snapshot_path("/etc\0/shadow", 12);
        ck_assert_int_eq(request_decode(&m), -EBADMSG);
        m = msg_snapshot_path("/etc/passwd\0", 12);
        ck_assert_int_eq(request_decode(&m), -EBADMSG);

        char *p = path_make(PROTO_PATH_MAX);
        p[PROTO_PATH_MAX - 1] = 0;
        m = msg_snapshot_path(p, PROTO_PATH_MAX);
        ck_assert_int_eq(request_decode(&m), -EBADMSG);
        free(p);

        /* path_length disagreeing with the message length */
        static const uint32_t wrong[] = { 0, 1, 10, 12, 13, 100, PROTO_PATH_MAX };
        for (size_t i = 0; i < sizeof(wrong) / sizeof(wrong[0]); i++) {
                m = msg_snapshot_path("/etc/passwd", 11);
                put32(m.b + 24, wrong[i]);
                ck_assert_int_eq(request_decode(&m), -EBADMSG);
        }

        /* path_length beyond PROTO_PATH_MAX, with and without a matching message length */
        static const uint32_t huge[] = { PROTO_PATH_MAX + 1, 65536, UINT32_MAX - 27, UINT32_MAX };
        for (size_t i = 0; i < sizeof(huge) / sizeof(huge[0]); i++) {
                m = msg_snapshot_path("/etc/passwd", 11);
                put32(m.b + 24, huge[i]);
                ck_assert_int_eq(request_decode(&m), -EMSGSIZE);
        }
        p = path_make(PROTO_PATH_MAX + 1);
        m = msg_snapshot_path(p, PROTO_PATH_MAX + 1);
        ck_assert_int_eq(request_decode(&m), -EMSGSIZE);
        free(p);
}
END_TEST

START_TEST(test_bad_status) {
        static const int32_t bad[] = { 1, 2, 4096, INT32_MAX, -4096, -65536, INT32_MIN };

        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                Msg m = msg_snapshot_reply(bad[i], 0, 0, 0);
                ck_assert_int_eq(reply_decode(&m), -EBADMSG);

                m = msg_snapshot_reply(bad[i], 1, 0, 0);
                ck_assert_int_eq(reply_decode(&m), -EBADMSG);

                m = msg_status_reply(bad[i]);
                ck_assert_int_eq(reply_decode(&m), -EBADMSG);
        }
}
END_TEST

START_TEST(test_bad_kind) {
        static const uint32_t bad[] = { 0, 3, 0x101, 0x80000001, UINT32_MAX };
        Msg m;

        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                m = msg_snapshot_reply(0, bad[i], 4096, 0);
                ck_assert_int_eq(reply_decode(&m), -EBADMSG);
        }

        /* A failure has no kind. */
        m = msg_snapshot_reply(-ENOENT, PROTO_KIND_SEALED_MEMFD, 0, 0);
        ck_assert_int_eq(reply_decode(&m), -EBADMSG);
        m = msg_snapshot_reply(-EFBIG, PROTO_KIND_FS_VERITY, 0, 0);
        ck_assert_int_eq(reply_decode(&m), -EBADMSG);
}
END_TEST

START_TEST(test_request_encode_invalid) {
        static const uint32_t bad_types[] = { 0, 4, PROTO_REPLY_SNAPSHOT, PROTO_REPLY_STATUS, 0x101 };
        char *p = path_make(PROTO_PATH_MAX + 1);
        ProtoRequest req;

        ck_assert_int_eq(request_encode_guarded(NULL, BUF_MAX, NULL), -EINVAL);

        for (size_t i = 0; i < sizeof(bad_types) / sizeof(bad_types[0]); i++) {
                req = (ProtoRequest) { .type = (enum proto_type) bad_types[i], .path = "/a", .path_length = 2 };
                ck_assert_int_eq(request_encode_guarded(&req, BUF_MAX, NULL), -EINVAL);
        }

        for (unsigned bit = 0; bit < 32; bit++) {
                req = (ProtoRequest) { .type = PROTO_REQUEST_STATUS, .flags = UINT32_C(1) << bit };
                ck_assert_int_eq(request_encode_guarded(&req, BUF_MAX, NULL), -EINVAL);
        }

        static const struct {
                const char *path;
                uint32_t length;
        } bad_paths[] = {
                { NULL, 0 },
                { NULL, 5 },
                { "/etc", 0 },
                { "", 0 },
                { "a", 1 },
                { "etc/passwd", 10 },
                { "\0", 1 },
                { "/etc\0/shadow", 12 },
                { "/etc/passwd\0", 12 },
        };
        for (size_t i = 0; i < sizeof(bad_paths) / sizeof(bad_paths[0]); i++) {
                req = (ProtoRequest) { .type = PROTO_REQUEST_SNAPSHOT_PATH,
                                       .path = bad_paths[i].path, .path_length = bad_paths[i].length };
                ck_assert_int_eq(request_encode_guarded(&req, BUF_MAX, NULL), -EINVAL);
        }

        req = (ProtoRequest) { .type = PROTO_REQUEST_SNAPSHOT_PATH, .path = p, .path_length = PROTO_PATH_MAX + 1 };
        ck_assert_int_eq(request_encode_guarded(&req, BUF_MAX, NULL), -EINVAL);
        req.path_length = UINT32_MAX;
        ck_assert_int_eq(proto_request_encode(&req, NULL, 0), -EINVAL);

        /* Invalid wins over a short buffer: the caller's bug is the more useful report. */
        req = (ProtoRequest) { .type = 0 };
        ck_assert_int_eq(request_encode_guarded(&req, 0, NULL), -EINVAL);
        free(p);
}
END_TEST

START_TEST(test_reply_encode_invalid) {
        static const uint32_t bad_types[] = { 0, PROTO_REQUEST_SNAPSHOT_FD, PROTO_REQUEST_SNAPSHOT_PATH,
                                              PROTO_REQUEST_STATUS, 0x82, 0x181 };
        static const int32_t bad_status[] = { 1, INT32_MAX, -4096, INT32_MIN };
        ProtoReply reply;

        ck_assert_int_eq(reply_encode_guarded(NULL, BUF_MAX, NULL), -EINVAL);

        for (size_t i = 0; i < sizeof(bad_types) / sizeof(bad_types[0]); i++) {
                reply = (ProtoReply) { .type = (enum proto_type) bad_types[i], .kind = 1 };
                ck_assert_int_eq(reply_encode_guarded(&reply, BUF_MAX, NULL), -EINVAL);
        }

        for (size_t i = 0; i < sizeof(bad_status) / sizeof(bad_status[0]); i++) {
                reply = (ProtoReply) { .type = PROTO_REPLY_SNAPSHOT, .status = bad_status[i] };
                ck_assert_int_eq(reply_encode_guarded(&reply, BUF_MAX, NULL), -EINVAL);
                reply = (ProtoReply) { .type = PROTO_REPLY_STATUS, .status = bad_status[i] };
                ck_assert_int_eq(reply_encode_guarded(&reply, BUF_MAX, NULL), -EINVAL);
        }

        for (unsigned bit = 0; bit < 32; bit++) {
                uint32_t flag = UINT32_C(1) << bit;

                reply = (ProtoReply) { .type = PROTO_REPLY_STATUS, .flags = flag };
                ck_assert_int_eq(reply_encode_guarded(&reply, BUF_MAX, NULL), -EINVAL);
                reply = (ProtoReply) { .type = PROTO_REPLY_SNAPSHOT, .kind = 1, .flags = flag };
                ck_assert_int_eq(reply_encode_guarded(&reply, BUF_MAX, NULL),
                                 (flag & PROTO_REPLY_FLAGS_ALL) ? 40 : -EINVAL);
        }

        static const uint32_t bad_kinds[] = { 0, 3, UINT32_MAX };
        for (size_t i = 0; i < sizeof(bad_kinds) / sizeof(bad_kinds[0]); i++) {
                reply = (ProtoReply) { .type = PROTO_REPLY_SNAPSHOT, .kind = bad_kinds[i] };
                ck_assert_int_eq(reply_encode_guarded(&reply, BUF_MAX, NULL), -EINVAL);
        }
        reply = (ProtoReply) { .type = PROTO_REPLY_SNAPSHOT, .status = -ENOENT, .kind = PROTO_KIND_SEALED_MEMFD };
        ck_assert_int_eq(reply_encode_guarded(&reply, BUF_MAX, NULL), -EINVAL);

        reply = (ProtoReply) { .type = 0 };
        ck_assert_int_eq(reply_encode_guarded(&reply, 0, NULL), -EINVAL);
}
END_TEST

START_TEST(test_type_to_string) {
        ck_assert_str_eq(proto_type_to_string(PROTO_REQUEST_SNAPSHOT_FD), "snapshot-fd");
        ck_assert_str_eq(proto_type_to_string(PROTO_REQUEST_SNAPSHOT_PATH), "snapshot-path");
        ck_assert_str_eq(proto_type_to_string(PROTO_REQUEST_STATUS), "status");
        ck_assert_str_eq(proto_type_to_string(PROTO_REPLY_SNAPSHOT), "snapshot-reply");
        ck_assert_str_eq(proto_type_to_string(PROTO_REPLY_STATUS), "status-reply");
        ck_assert_str_eq(proto_type_to_string(0), "unknown");
        ck_assert_str_eq(proto_type_to_string(0x101), "unknown");
        ck_assert_str_eq(proto_type_to_string(UINT32_MAX), "unknown");
}
END_TEST

/*
 * The fuzz seeds are packed by a separate script; their names say whether the
 * decoder must accept them, which cross-checks the codec against a second
 * implementation of the format.
 */
static void corpus_check(const char *target, bool request) {
        const char *root = getenv("SAFE_MMAP_SOURCE_ROOT");
        char dir[4096];
        unsigned n = 0;
        DIR *d;

        ck_assert_msg(root, "SAFE_MMAP_SOURCE_ROOT is unset (run through meson test)");
        ck_assert_int_lt(snprintf(dir, sizeof(dir), "%s/tests/proto/corpus/%s", root, target), (int) sizeof(dir));
        d = opendir(dir);
        ck_assert_msg(d, "%s: %s", dir, strerror(errno));

        for (struct dirent *de; (de = readdir(d)); ) {
                bool valid = strncmp(de->d_name, "valid-", 6) == 0;
                char path[8192];
                Msg m = {};
                FILE *f;
                int r;

                if (!valid && strncmp(de->d_name, "invalid-", 8) != 0)
                        continue;
                snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
                f = fopen(path, "rbe");
                ck_assert_msg(f, "%s: %s", path, strerror(errno));
                m.len = fread(m.b, 1, sizeof(m.b), f);
                ck_assert(!ferror(f) && feof(f));
                fclose(f);

                r = request ? request_decode(&m) : reply_decode(&m);
                ck_assert_msg(valid ? r == 0 : r < 0, "%s: decode returned %d", path, r);
                n++;
        }
        closedir(d);
        ck_assert_uint_gt(n, 0);
}

START_TEST(test_corpus_seeds) {
        corpus_check("fuzz-request", true);
        corpus_check("fuzz-reply", false);
}
END_TEST

static Suite *proto_suite(void) {
        Suite *s = suite_create("proto");
        TCase *tc = tcase_create("codec");

        tcase_add_test(tc, test_wire_bytes);
        tcase_add_test(tc, test_request_round_trip);
        tcase_add_test(tc, test_request_encode_ignores_unused_fields);
        tcase_add_test(tc, test_reply_round_trip);
        tcase_add_test(tc, test_reply_encode_ignores_unused_fields);
        tcase_add_test(tc, test_truncated);
        tcase_add_test(tc, test_too_long);
        tcase_add_test(tc, test_bad_magic);
        tcase_add_test(tc, test_bad_version);
        tcase_add_test(tc, test_bad_type);
        tcase_add_test(tc, test_bad_length_field);
        tcase_add_test(tc, test_unknown_flags);
        tcase_add_test(tc, test_reserved_nonzero);
        tcase_add_test(tc, test_bad_path);
        tcase_add_test(tc, test_bad_status);
        tcase_add_test(tc, test_bad_kind);
        tcase_add_test(tc, test_request_encode_invalid);
        tcase_add_test(tc, test_reply_encode_invalid);
        tcase_add_test(tc, test_type_to_string);
        tcase_add_test(tc, test_corpus_seeds);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return suite_run(proto_suite(), NULL);
}
