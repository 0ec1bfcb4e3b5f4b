/* SPDX-License-Identifier: Apache-2.0 OR MIT */
/*
 * Clients that break the protocol on purpose. Each one must get an error
 * reply or lose its connection; none may stall the daemon, take it down or
 * leave a descriptor behind in it. After each attack a bystander connected
 * from the start, and a fresh client, are still served, and the daemon's
 * descriptor count returns to where it was.
 */

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "macro.h"
#include "raw-client.h"

#define VERDICT_TIMEOUT_MS 10000
#define SETTLE_TIMEOUT_MS 10000
#define PER_UID_LIMIT 4

static Harness h;
static int bystander = -EBADF;
static int baseline_fds;
static uint32_t baseline_cache_entries;
static char *small_path;

static void put_le16(uint8_t *p, uint16_t v) {
        p[0] = (uint8_t) v;
        p[1] = (uint8_t) (v >> 8);
}

static void put_le32(uint8_t *p, uint32_t v) {
        for (int i = 0; i < 4; i++)
                p[i] = (uint8_t) (v >> (8 * i));
}

static size_t encode_status(uint8_t buf[PROTO_REQUEST_STATUS_SIZE]) {
        ProtoRequest req = { .type = PROTO_REQUEST_STATUS };
        int n = proto_request_encode(&req, buf, PROTO_REQUEST_STATUS_SIZE);

        ck_assert_int_eq(n, PROTO_REQUEST_STATUS_SIZE);
        return (size_t) n;
}

/* A status request from a fresh client must still work. */
/* Whether a new connection is answered, for a status and a snapshot alike. */
static bool serves_now(void) {
        _cleanup_close_ int sock = -EBADF, file = -EBADF, fd = -EBADF;
        ProtoReply reply;

        ck_assert_int_eq(raw_connect(h.socket_path, &sock), 0);
        if (raw_status(sock, 30000, &reply) < 0 || reply.status != 0)
                return false;
        file = open(small_path, O_RDONLY | O_CLOEXEC);
        ck_assert_int_ge(file, 0);
        return raw_snapshot_fd(sock, file, 0, 30000, &reply, &fd) == 0 && reply.status == 0 && fd >= 0;
}

static void assert_serving(void) {
        _cleanup_close_ int sock = -EBADF, file = -EBADF, fd = -EBADF;
        ProtoReply reply;

        ck_assert_int_eq(raw_connect(h.socket_path, &sock), 0);
        ck_assert_int_eq(raw_status(sock, 30000, &reply), 0);
        ck_assert_int_eq(reply.status, 0);
        file = open(small_path, O_RDONLY | O_CLOEXEC);
        ck_assert_int_ge(file, 0);
        ck_assert_int_eq(raw_snapshot_fd(sock, file, 0, 30000, &reply, &fd), 0);
        ck_assert_int_eq(reply.status, 0);
        ck_assert_int_ge(fd, 0);
}

static void start(const char *const *args) {
        ProtoReply reply;

        ck_assert_int_eq(harness_setup(&h), 0);
        small_path = harness_path(&h, "small");
        ck_assert_int_eq(harness_fill_file(small_path, 0644, 'x', 4096), 0);
        ck_assert_int_eq(harness_start(&h, HARNESS_LISTEN, args), 0);
        /* Warm up (a cached snapshot, lazily opened files) before counting descriptors. */
        assert_serving();
        ck_assert_int_eq(raw_connect(h.socket_path, &bystander), 0);
        ck_assert_int_eq(raw_status(bystander, 30000, &reply), 0);
        usleep(200 * 1000);
        baseline_fds = harness_fd_count(&h);
        ck_assert_int_gt(baseline_fds, 0);
        ck_assert_int_eq(raw_status(bystander, 30000, &reply), 0);
        baseline_cache_entries = reply.cache_entries;
}

static void setup(void) {
        const char *const args[] = { "--max-connections-per-uid", "4", NULL };

        start(args);
}

static void teardown(void) {
        bystander = safe_close(bystander);
        ck_assert_int_eq(harness_finish(&h), 0);
        free(small_path);
        small_path = NULL;
}

/*
 * The daemon is still whole: the bystander and a newcomer are served, no
 * descriptor is left over. Each cache entry legitimately pins one memfd,
 * and requests of clients that left may still be finishing (and filling the
 * cache), so the allowance is read again while waiting.
 */
static void assert_recovered(void) {
        uint64_t deadline = harness_now_usec() + SETTLE_TIMEOUT_MS * 1000ull;
        ProtoReply reply;
        int n, allowed;

        ck_assert_int_gt(kill(h.pid, 0) == 0, 0);
        /*
         * Connections and jobs of clients that left count against their uid
         * until a worker has closed what they sent (and the copy noticed):
         * for a moment, the uid may still be at its limits, for connections
         * (a refused status) or for jobs (a snapshot refused with EAGAIN).
         */
        while (!serves_now()) {
                ck_assert_msg(harness_now_usec() < deadline, "refused for a limit long after the clients left");
                usleep(10 * 1000);
        }
        assert_serving();
        for (;;) {
                int r = raw_status(bystander, 30000, &reply);

                if (r == -ECONNRESET) {
                        /* Idle, it made room for the uid's newer connections (the attack's): it reconnects. */
                        bystander = safe_close(bystander);
                        ck_assert_int_eq(raw_connect(h.socket_path, &bystander), 0);
                        r = raw_status(bystander, 30000, &reply);
                }
                ck_assert_int_eq(r, 0);
                ck_assert_int_eq(reply.status, 0);
                allowed = baseline_fds;
                if (reply.cache_entries > baseline_cache_entries)
                        allowed += (int) (reply.cache_entries - baseline_cache_entries);
                n = harness_fd_count(&h);
                if (n <= allowed || harness_now_usec() > deadline)
                        break;
                usleep(50 * 1000);
        }
        ck_assert_msg(n <= allowed, "daemon holds %d descriptors, %d before the attack (+%u cache entries)",
                      n, baseline_fds, reply.cache_entries - baseline_cache_entries);
}

/*
 * Sends one packet on a fresh connection and checks the daemon's answer:
 * dropped, or a reply with a negative status (one of @allowed when given,
 * 0-terminated).
 */
static void attack(const char *what, const void *buf, size_t len, const int *fds, size_t n_fds,
                   const int *allowed) {
        _cleanup_close_ int sock = -EBADF;
        ProtoReply reply;
        int r;

        for (unsigned tries = 0;; tries++) {
                ck_assert_int_eq(raw_connect(h.socket_path, &sock), 0);
                r = raw_send(sock, buf, len, fds, n_fds);
                if (r == -EPIPE || r == -ECONNRESET || (r == -EPERM && n_fds > 0))
                        return; /* refused at the socket (SO_PASSRIGHTS) or already dropped */
                ck_assert_msg(r == 0, "%s: send failed: %s", what, strerror(-r));
                r = raw_verdict(sock, VERDICT_TIMEOUT_MS, &reply);
                ck_assert_msg(r == RAW_REPLIED || r == RAW_DROPPED, "%s: neither reply nor drop: %s", what,
                              strerror(-r));
                if (r == RAW_DROPPED)
                        return;
                /*
                 * Refused for the uid's connection limit, before the packet
                 * was read: the connections of the previous attacks still
                 * count while workers close them. Not a verdict on this
                 * packet; it is sent again once they are gone.
                 */
                if (reply.status != -EMFILE || tries >= 100)
                        break;
                sock = safe_close(sock);
                usleep(20 * 1000);
        }
        ck_assert_msg(reply.status < 0, "%s: answered with status %d", what, reply.status);
        if (allowed) {
                bool ok = false;
                for (const int *a = allowed; *a; a++)
                        ok = ok || reply.status == -*a;
                ck_assert_msg(ok, "%s: unexpected status %d (%s)", what, reply.status, strerror(-reply.status));
        }
        /* An undecodable request ends the conversation: nothing more may come back. */
        if (reply.status == -EBADMSG || reply.status == -EPROTONOSUPPORT) {
                uint8_t status[PROTO_REQUEST_STATUS_SIZE];
                size_t n = encode_status(status);
                if (raw_send(sock, status, n, NULL, 0) == 0)
                        ck_assert_int_eq(raw_verdict(sock, VERDICT_TIMEOUT_MS, &reply), RAW_DROPPED);
        }
}

static const int bad_message[] = { EBADMSG, EMSGSIZE, 0 };

START_TEST(test_malformed_packets) {
        uint8_t buf[PROTO_MESSAGE_MAX + 4096];
        size_t n;

        attack("empty packet", "", 0, NULL, 0, bad_message);

        n = encode_status(buf);
        attack("short packet", buf, 8, NULL, 0, bad_message);
        attack("header minus one", buf, n - 1, NULL, 0, bad_message);

        /* A snapshot-fd header without its body, with the length field telling the truth. */
        put_le16(buf + 6, PROTO_REQUEST_SNAPSHOT_FD);
        put_le32(buf + 8, PROTO_HEADER_SIZE);
        attack("truncated body", buf, PROTO_HEADER_SIZE, NULL, 0, bad_message);

        n = encode_status(buf);
        put_le32(buf + 8, 4096);
        attack("length field lies", buf, n, NULL, 0, bad_message);

        n = encode_status(buf);
        put_le32(buf + 0, 0x12345678);
        attack("bad magic", buf, n, NULL, 0, bad_message);

        n = encode_status(buf);
        put_le16(buf + 6, 0x7f);
        attack("unknown type", buf, n, NULL, 0, bad_message);

        n = encode_status(buf);
        put_le16(buf + 6, PROTO_REPLY_STATUS);
        attack("a reply as request", buf, n, NULL, 0, bad_message);

        n = encode_status(buf);
        put_le32(buf + 12, 1);
        attack("unknown flag", buf, n, NULL, 0, bad_message);

        /* A path request with a relative path and one with a NUL. */
        ProtoRequest req = { .type = PROTO_REQUEST_SNAPSHOT_PATH, .path = "/etc/hostname", .path_length = 13 };
        int len = proto_request_encode(&req, buf, sizeof(buf));
        ck_assert_int_gt(len, 0);
        buf[PROTO_REQUEST_SNAPSHOT_PATH_MIN] = 'e';
        attack("relative path", buf, (size_t) len, NULL, 0, bad_message);
        buf[PROTO_REQUEST_SNAPSHOT_PATH_MIN] = '/';
        buf[PROTO_REQUEST_SNAPSHOT_PATH_MIN + 4] = '\0';
        attack("NUL in path", buf, (size_t) len, NULL, 0, bad_message);

        memset(buf, 0, sizeof(buf));
        n = encode_status(buf);
        attack("oversized by one", buf, PROTO_MESSAGE_MAX + 1, NULL, 0, bad_message);
        attack("oversized", buf, sizeof(buf), NULL, 0, bad_message);

        assert_recovered();
}
END_TEST

START_TEST(test_wrong_version) {
        uint8_t buf[PROTO_REQUEST_STATUS_SIZE];

        for (unsigned v = 0; v < 4; v++) {
                if (v == PROTO_VERSION)
                        continue;
                encode_status(buf);
                put_le16(buf + 4, (uint16_t) v);
                attack("wrong version", buf, sizeof(buf), NULL, 0, (const int[]) { EPROTONOSUPPORT, 0 });
        }
        encode_status(buf);
        put_le16(buf + 4, 0xffff);
        attack("version 0xffff", buf, sizeof(buf), NULL, 0, (const int[]) { EPROTONOSUPPORT, 0 });
        assert_recovered();
}
END_TEST

START_TEST(test_random_bytes) {
        uint8_t buf[PROTO_MESSAGE_MAX + 64];
        unsigned seed = 0x5eed;

        for (int i = 0; i < 300; i++) {
                size_t len = (size_t) rand_r(&seed) % sizeof(buf);
                for (size_t k = 0; k < len; k++)
                        buf[k] = (uint8_t) rand_r(&seed);
                /* Every third packet starts like a real message, to get past the magic check. */
                if (i % 3 == 0 && len >= PROTO_HEADER_SIZE) {
                        put_le32(buf, PROTO_MAGIC);
                        put_le16(buf + 4, PROTO_VERSION);
                        put_le16(buf + 6, (uint16_t) (1 + i % 3));
                        if (i % 2)
                                put_le32(buf + 8, (uint32_t) len);
                }
                attack("random bytes", buf, len, NULL, 0, NULL);
        }
        assert_recovered();
}
END_TEST

/* The daemon closed its copy of a descriptor we sent it: the pipe has no reader left. */
static void assert_reader_closed(int write_end, const char *what) {
        uint64_t deadline = harness_now_usec() + SETTLE_TIMEOUT_MS * 1000ull;

        for (;;) {
                ssize_t n = write(write_end, "", 1);
                if (n < 0 && errno == EPIPE)
                        return;
                ck_assert_msg(harness_now_usec() < deadline, "%s: the daemon kept the descriptor", what);
                usleep(20 * 1000);
        }
}

static void attack_with_pipes(const char *what, const ProtoRequest *req, size_t n_fds, const int *allowed) {
        uint8_t buf[RAW_BUFFER_SIZE];
        int fds[RAW_SEND_MAX_FDS], writers[RAW_SEND_MAX_FDS];
        int len;

        len = proto_request_encode(req, buf, sizeof(buf));
        ck_assert_int_gt(len, 0);
        for (size_t i = 0; i < n_fds; i++) {
                int p[2];
                ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
                fds[i] = p[0];
                writers[i] = p[1];
        }
        attack(what, buf, (size_t) len, fds, n_fds, allowed);
        for (size_t i = 0; i < n_fds; i++) {
                safe_close(fds[i]);
                assert_reader_closed(writers[i], what);
                safe_close(writers[i]);
        }
}

START_TEST(test_stray_descriptors) {
        ProtoRequest status = { .type = PROTO_REQUEST_STATUS };
        ProtoRequest path = { .type = PROTO_REQUEST_SNAPSHOT_PATH, .path = small_path,
                              .path_length = (uint32_t) strlen(small_path) };
        ProtoRequest fd = { .type = PROTO_REQUEST_SNAPSHOT_FD };

        (void) signal(SIGPIPE, SIG_IGN);
        attack_with_pipes("status with a descriptor", &status, 1, NULL);
        attack_with_pipes("status with 8 descriptors", &status, 8, NULL);
        attack_with_pipes("path request with a descriptor", &path, 1, NULL);
        attack_with_pipes("snapshot-fd with 2 descriptors", &fd, 2, (const int[]) { EBADF, 0 });
        attack_with_pipes("snapshot-fd with 8 descriptors", &fd, 8, (const int[]) { EBADF, 0 });
        attack_with_pipes("snapshot-fd without descriptor", &fd, 0, (const int[]) { EBADF, 0 });
        /* Many more than a request takes: the daemon has room for every one (SCM_MAX_FD), and closes them all. */
        attack_with_pipes("snapshot-fd with 200 descriptors", &fd, 200, (const int[]) { EBADF, 0 });

        /* Credentials are no request's business either. */
        {
                _cleanup_close_ int sock = -EBADF;
                uint8_t packet[PROTO_REQUEST_STATUS_SIZE];
                size_t n = encode_status(packet);
                ProtoReply reply;
                int r;

                ck_assert_int_eq(raw_connect(h.socket_path, &sock), 0);
                r = raw_send_credentials(sock, packet, n);
                ck_assert_int_eq(r, 0);
                r = raw_verdict(sock, VERDICT_TIMEOUT_MS, &reply);
                ck_assert_msg(r == RAW_DROPPED || (r == RAW_REPLIED && (reply.status < 0 || reply.type == PROTO_REPLY_STATUS)),
                              "credentials: %d", r);
        }
        assert_recovered();
}
END_TEST

START_TEST(test_second_request_before_reply) {
        uint8_t buf[RAW_BUFFER_SIZE];
        ProtoRequest req = { .type = PROTO_REQUEST_SNAPSHOT_FD };
        int len;

        len = proto_request_encode(&req, buf, sizeof(buf));
        ck_assert_int_gt(len, 0);

        for (int round = 0; round < 3; round++) {
                _cleanup_free_ char *big = NULL;
                _cleanup_close_ int sock = -EBADF, file = -EBADF;
                uint8_t status[PROTO_REQUEST_STATUS_SIZE];
                size_t sn = encode_status(status);
                int fds[RAW_MAX_FDS], snapshots = 0, busy = 0, statuses = 0;
                char name[16];

                /*
                 * A large file, new each round so that no cache answers at
                 * once, keeps the first request in flight while the others
                 * arrive.
                 */
                snprintf(name, sizeof(name), "big%d", round);
                big = harness_path(&h, name);
                ck_assert_int_eq(harness_fill_file(big, 0644, 'b', 128u << 20), 0);
                file = open(big, O_RDONLY | O_CLOEXEC);
                ck_assert_int_ge(file, 0);

                ck_assert_int_eq(raw_connect(h.socket_path, &sock), 0);
                ck_assert_int_eq(raw_send(sock, buf, (size_t) len, &file, 1), 0);
                ck_assert_int_eq(raw_send(sock, buf, (size_t) len, &file, 1), 0);
                ck_assert_int_eq(raw_send(sock, status, sn, NULL, 0), 0);
                /*
                 * The second snapshot request is answered -EBUSY (or the
                 * connection dropped); the status request may be answered
                 * while the snapshot runs. Never more than one reply per
                 * request, each well-formed.
                 */
                for (;;) {
                        uint8_t rbuf[RAW_BUFFER_SIZE];
                        size_t n_fds = 0;
                        ProtoReply reply;
                        ssize_t n = raw_recv(sock, rbuf, sizeof(rbuf), 30000, fds, &n_fds);

                        ck_assert_msg(n >= 0, "round %d: %s", round, strerror((int) -n));
                        if (n == 0)
                                break;
                        for (size_t i = 0; i < n_fds; i++)
                                safe_close(fds[i]);
                        ck_assert_int_eq(proto_reply_decode(rbuf, (size_t) n, &reply), 0);
                        ck_assert_int_le(n_fds, reply.status == 0 && reply.type == PROTO_REPLY_SNAPSHOT ? 1 : 0);
                        if (reply.type == PROTO_REPLY_STATUS)
                                statuses++;
                        else if (reply.status == -EBUSY)
                                busy++;
                        else {
                                ck_assert_msg(reply.status == 0, "round %d: %s", round, strerror(-reply.status));
                                ck_assert_int_eq(n_fds, 1);
                                snapshots++;
                        }
                        ck_assert_int_le(snapshots + busy + statuses, 3);
                        if (snapshots + busy + statuses == 3)
                                break;
                }
                ck_assert_int_le(snapshots, 1);
                ck_assert_int_le(statuses, 1);
                ck_assert_msg(busy == 1 || snapshots + busy + statuses < 3,
                              "round %d: two snapshot requests on one connection both served", round);
                file = safe_close(file);
                ck_assert_int_eq(unlink(big), 0);
        }
        assert_recovered();
}
END_TEST

START_TEST(test_client_leaves_before_reply) {
        _cleanup_free_ char *big = harness_path(&h, "big");
        _cleanup_close_ int file = -EBADF;

        ck_assert_int_eq(harness_fill_file(big, 0644, 'b', 32u << 20), 0);
        file = open(big, O_RDONLY | O_CLOEXEC);
        ck_assert_int_ge(file, 0);
        for (int i = 0; i < 20; i++) {
                _cleanup_close_ int sock = -EBADF;
                uint8_t buf[RAW_BUFFER_SIZE];
                ProtoRequest req = { .type = PROTO_REQUEST_SNAPSHOT_FD };
                int len = proto_request_encode(&req, buf, sizeof(buf));

                int r;

                ck_assert_int_eq(raw_connect(h.socket_path, &sock), 0);
                r = raw_send(sock, buf, (size_t) len, &file, 1);
                if (r == -EPIPE) {
                        ProtoReply reply;

                        /* Refused at accept: the uid's earlier connections are still being closed. */
                        ck_assert_int_eq(raw_verdict(sock, VERDICT_TIMEOUT_MS, &reply), RAW_REPLIED);
                        ck_assert_int_eq(reply.status, -EMFILE);
                        continue;
                }
                ck_assert_int_eq(r, 0);
        }
        assert_recovered();
}
END_TEST

START_TEST(test_connections_per_uid) {
        int socks[3 * PER_UID_LIMIT];
        int served = 0, refused = 0;

        /* The bystander is one of ours already. */
        for (size_t i = 0; i < ELEMENTSOF(socks); i++)
                ck_assert_int_eq(raw_connect(h.socket_path, &socks[i]), 0);
        usleep(300 * 1000);
        for (size_t i = 0; i < ELEMENTSOF(socks); i++) {
                ProtoReply reply;
                int r = raw_status(socks[i], 30000, &reply);

                if (r == 0 && reply.status == 0)
                        served++;
                else {
                        ck_assert_msg(r == -ECONNRESET || (r == 0 && reply.status < 0),
                                      "connection %zu: %s", i, strerror(-r));
                        refused++;
                }
        }
        /* The bystander, idle, made room; connections that never sent a request are not dropped. */
        ck_assert_int_eq(served, PER_UID_LIMIT);
        ck_assert_int_eq(refused, (int) ELEMENTSOF(socks) - PER_UID_LIMIT);
        for (size_t i = 0; i < ELEMENTSOF(socks); i++)
                safe_close(socks[i]);

        /* Once they are gone, the same uid is served again. */
        uint64_t deadline = harness_now_usec() + SETTLE_TIMEOUT_MS * 1000ull;
        for (;;) {
                _cleanup_close_ int sock = -EBADF;
                ProtoReply reply;
                ck_assert_int_eq(raw_connect(h.socket_path, &sock), 0);
                if (raw_status(sock, 30000, &reply) == 0 && reply.status == 0)
                        break;
                ck_assert_msg(harness_now_usec() < deadline, "uid never served again");
                usleep(50 * 1000);
        }
        assert_recovered();
}
END_TEST

START_TEST(test_idle_connection_dropped) {
        const char *const args[] = { "--idle-timeout", "3", NULL };
        _cleanup_close_ int idle = -EBADF;
        ProtoReply reply;
        uint64_t t0;
        int r;

        /* This test runs its own daemon, with a short idle timeout. */
        teardown();
        start(args);
        ck_assert_int_eq(raw_connect(h.socket_path, &idle), 0);
        t0 = harness_now_usec();
        r = raw_verdict(idle, 30000, &reply);
        ck_assert_int_eq(r, RAW_DROPPED);
        /* --idle-timeout 3: neither much earlier nor much later. */
        ck_assert_uint_ge(harness_now_usec() - t0, 2000000);
        ck_assert_uint_le(harness_now_usec() - t0, 15000000);
        /* The bystander was idle just as long; it must reconnect. */
        bystander = safe_close(bystander);
        ck_assert_int_eq(raw_connect(h.socket_path, &bystander), 0);
        assert_recovered();
}
END_TEST

START_TEST(test_longest_paths) {
        _cleanup_free_ char *path = malloc(PROTO_PATH_MAX + 2);
        uint8_t buf[RAW_BUFFER_SIZE + 16];
        ProtoRequest req = { .type = PROTO_REQUEST_SNAPSHOT_PATH };
        int len;

        ck_assert_ptr_nonnull(path);
        memset(path, 'a', PROTO_PATH_MAX + 1);
        for (size_t i = 0; i < PROTO_PATH_MAX; i += 200)
                path[i] = '/';
        path[PROTO_PATH_MAX + 1] = '\0';

        /* The longest valid path: no grant covers it (and it exceeds NAME_MAX per component). */
        req.path = path;
        req.path_length = PROTO_PATH_MAX;
        len = proto_request_encode(&req, buf, sizeof(buf));
        ck_assert_int_eq(len, PROTO_MESSAGE_MAX);
        attack("longest path", buf, (size_t) len, NULL, 0, (const int[]) { EACCES, ENAMETOOLONG, 0 });

        /* One byte more, with a length field that tells the truth. */
        req.path_length = PROTO_PATH_MAX - 1;
        len = proto_request_encode(&req, buf, sizeof(buf));
        ck_assert_int_gt(len, 0);
        buf[len] = 'a';
        put_le32(buf + 8, (uint32_t) len + 1);
        put_le32(buf + 24, PROTO_PATH_MAX + 1);
        attack("path one byte too long", buf, (size_t) len + 1, NULL, 0, bad_message);
        assert_recovered();
}
END_TEST

/* utime + stime of the daemon in clock ticks. */
static long cpu_ticks(void) {
        char path[64], line[1024];
        unsigned long utime, stime;
        FILE *f;
        char *p;

        snprintf(path, sizeof(path), "/proc/%d/stat", (int) h.pid);
        f = fopen(path, "re");
        ck_assert_ptr_nonnull(f);
        ck_assert_ptr_nonnull(fgets(line, sizeof(line), f));
        fclose(f);
        p = strrchr(line, ')');
        ck_assert_ptr_nonnull(p);
        /* Fields 14 and 15 (utime, stime); the comm field before ')' may hold spaces. */
        ck_assert_int_eq(sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &utime, &stime), 2);
        return (long) (utime + stime);
}

START_TEST(test_out_of_descriptors) {
        const char *const args[] = { "--max-connections-per-uid", "1000", "--max-connections", "1000", NULL };
        struct rlimit rl = { .rlim_cur = 64, .rlim_max = 64 };
        enum { N = 150 };
        int socks[N];
        long ticks, hz = sysconf(_SC_CLK_TCK);
        uint64_t deadline;

        /* This test runs its own daemon, with room for connections but few descriptors. */
        teardown();
        start(args);
        ck_assert_int_eq(prlimit(h.pid, RLIMIT_NOFILE, &rl, NULL), 0);
        for (int i = 0; i < N; i++)
                ck_assert_int_eq(raw_connect(h.socket_path, &socks[i]), 0);
        usleep(500 * 1000);

        /* Out of descriptors with connections waiting: the daemon must wait, not spin. */
        ticks = cpu_ticks();
        usleep(2 * 1000 * 1000);
        ticks = cpu_ticks() - ticks;
        ck_assert_msg(ticks < hz / 2, "the daemon burned %ld ticks (of %ld per second) in 2 s at EMFILE",
                      ticks, hz);

        for (int i = 0; i < N; i++)
                safe_close(socks[i]);
        /* ...and serves again when descriptors come back. */
        deadline = harness_now_usec() + SETTLE_TIMEOUT_MS * 1000ull;
        for (;;) {
                _cleanup_close_ int sock = -EBADF;
                ProtoReply reply;

                ck_assert_int_eq(raw_connect(h.socket_path, &sock), 0);
                if (raw_status(sock, 5000, &reply) == 0 && reply.status == 0)
                        break;
                ck_assert_msg(harness_now_usec() < deadline, "never served again after EMFILE");
                usleep(100 * 1000);
        }
        assert_recovered();
}
END_TEST

int main(void) {
        TCase *tc;
        Suite *s;

        s = harness_suite("hostile", 300, setup, teardown, &tc);
        tcase_add_test(tc, test_malformed_packets);
        tcase_add_test(tc, test_wrong_version);
        tcase_add_test(tc, test_random_bytes);
        tcase_add_test(tc, test_stray_descriptors);
        tcase_add_test(tc, test_second_request_before_reply);
        tcase_add_test(tc, test_client_leaves_before_reply);
        tcase_add_test(tc, test_connections_per_uid);
        tcase_add_test(tc, test_idle_connection_dropped);
        tcase_add_test(tc, test_longest_paths);
        tcase_add_test(tc, test_out_of_descriptors);

        return harness_run_suite(s);
}
