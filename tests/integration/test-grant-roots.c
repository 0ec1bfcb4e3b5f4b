/* SPDX-License-Identifier: Apache-2.0 OR MIT */
/*
 * Grant roots are opened from "/" without following any symlink, and only
 * through directories that root alone can change. The attack this stops is
 * the one of safe-mmapd(8)'s own example: the grantee owns the directory
 * holding the granted path, replaces the path by a symlink to "/", and waits
 * for the next reload (or idle exit and activation) to be granted everything.
 */

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "macro.h"
#include "raw-client.h"
#include "run-as.h"

static Harness h;

static const char content[] = "root only\n";

static char *P(const char *name) {
        return harness_path(&h, name);
}

static void make_dir(const char *name, unsigned mode, uid_t owner) {
        _cleanup_free_ char *p = P(name);

        ck_assert_int_eq(mkdir(p, mode), 0);
        ck_assert_int_eq(chmod(p, mode), 0);
        ck_assert_int_eq(chown(p, owner, owner), 0);
}

static void make_file(const char *name) {
        _cleanup_free_ char *p = P(name);

        ck_assert_int_eq(harness_write_file(p, 0600, content, sizeof(content) - 1), 0);
}

static void write_grant(const char *conf, const char *name) {
        _cleanup_free_ char *p = P(name), *text = NULL;

        ck_assert_int_ge(asprintf(&text, "[Grant]\nPath=%s\nUsers=nobody\n", p), 0);
        ck_assert_int_eq(harness_write_policy(&h, conf, text), 0);
}

/* How often @needle occurs in the daemon's log. */
static unsigned log_count(const char *needle) {
        char buf[65536];
        unsigned n = 0;
        ssize_t len;
        int fd;

        fd = open(h.log_path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return 0;
        len = read(fd, buf, sizeof(buf) - 1);
        safe_close(fd);
        if (len <= 0)
                return 0;
        buf[len] = '\0';
        for (const char *p = buf; (p = strstr(p, needle)); p++)
                n++;
        return n;
}

static void wait_log_count(const char *needle, unsigned n) {
        uint64_t deadline = harness_now_usec() + 20u * 1000u * 1000u;

        while (log_count(needle) < n) {
                ck_assert_msg(harness_now_usec() < deadline, "no \"%s\" in the log", needle);
                usleep(20 * 1000);
        }
}

/* Asks, as nobody, for the path in @userdata: it must be refused. */
static int do_refused(void *userdata) {
        ProtoReply reply;
        int fd = -EBADF, r;

        r = raw_oneshot_path(h.socket_path, userdata, 0, &reply, &fd);
        CHILD_CHECK_INT(r, ==, 0);
        if (reply.status == 0) {
                fprintf(stderr, "%s served to nobody\n", (const char *) userdata);
                safe_close(fd);
                return -1;
        }
        return 0;
}

static int do_served(void *userdata) {
        ProtoReply reply;
        int fd = -EBADF, r;

        r = raw_oneshot_path(h.socket_path, userdata, 0, &reply, &fd);
        CHILD_CHECK_INT(r, ==, 0);
        CHILD_CHECK_INT(reply.status, ==, 0);
        safe_close(fd);
        return 0;
}

/* The grantee's move: the granted directory becomes a symlink to "/". */
static int do_swap_for_root(void *userdata) {
        _cleanup_free_ char *config = P("srv/app/config"), *old = P("srv/app/config.old");

        CHILD_CHECK_INT(rename(config, old), ==, 0);
        CHILD_CHECK_INT(symlink("/", config), ==, 0);
        return 0;
}

static void setup(void) {
        ck_assert_int_eq(harness_setup(&h), 0);
        make_file("secret");
}

static void teardown(void) {
        ck_assert_int_eq(harness_finish(&h), 0);
}

START_TEST(test_grantee_cannot_swap_root_for_symlink) {
        _cleanup_free_ char *secret = NULL;

        /* The man page's example: /srv/app/config granted to app, where app owns /srv/app. */
        make_dir("srv", 0755, 0);
        make_dir("srv/app", 0755, NOBODY_UID);
        make_dir("srv/app/config", 0755, NOBODY_UID);
        write_grant("app.conf", "srv/app/config");
        ck_assert_int_eq(harness_start(&h, HARNESS_LISTEN, NULL), 0);
        wait_log_count("is owned by uid 65534", 1);

        ck_assert_int_eq(run_as(NOBODY_UID, NOBODY_GID, NULL, 0, 60, do_swap_for_root, NULL), 0);
        ck_assert_int_eq(kill(h.pid, SIGHUP), 0);
        wait_log_count("Policy loaded from", 2);

        /* srv/app/config is "/" now: ask for the root-only file through it. */
        ck_assert_int_ge(asprintf(&secret, "%s/srv/app/config%s/secret", h.dir, h.dir), 0);
        ck_assert_int_eq(run_as(NOBODY_UID, NOBODY_GID, NULL, 0, 60, do_refused, secret), 0);
}
END_TEST

START_TEST(test_symlink_component_not_followed) {
        _cleanup_free_ char *real = P("real"), *link = P("link"), *through_link = P("link/data"),
                *direct = P("real/data");

        /* Even a symlink root made: Path= names the real place, or nothing is granted. */
        make_dir("real", 0755, 0);
        make_file("real/data");
        ck_assert_int_eq(symlink(real, link), 0);
        write_grant("link.conf", "link");
        ck_assert_int_eq(harness_start(&h, HARNESS_LISTEN, NULL), 0);
        wait_log_count("Policy loaded from", 1);
        ck_assert_uint_eq(log_count("link is a symbolic link"), 1);
        ck_assert_int_eq(run_as(NOBODY_UID, NOBODY_GID, NULL, 0, 60, do_refused, through_link), 0);
        ck_assert_int_eq(run_as(NOBODY_UID, NOBODY_GID, NULL, 0, 60, do_refused, direct), 0);
}
END_TEST

START_TEST(test_writable_components_refused) {
        _cleanup_free_ char *gw = P("gw/tree/data"), *ww = P("ww/tree/data"), *ok = P("ok/tree/data");

        make_dir("gw", 0775, 0);             /* group-writable */
        make_dir("gw/tree", 0755, 0);
        make_file("gw/tree/data");
        make_dir("ww", 0777, 0);             /* writable by all, not sticky */
        make_dir("ww/tree", 0755, 0);
        make_file("ww/tree/data");
        make_dir("ok", 01777, 0);            /* sticky: others' entries stay put */
        make_dir("ok/tree", 0755, 0);
        make_file("ok/tree/data");
        write_grant("gw.conf", "gw/tree");
        write_grant("ww.conf", "ww/tree");
        write_grant("ok.conf", "ok/tree");
        ck_assert_int_eq(harness_start(&h, HARNESS_LISTEN, NULL), 0);
        wait_log_count("Policy loaded from", 1);
        ck_assert_uint_eq(log_count("gw is writable by its group"), 1);
        ck_assert_uint_eq(log_count("ww is writable by everybody"), 1);
        ck_assert_int_eq(run_as(NOBODY_UID, NOBODY_GID, NULL, 0, 60, do_refused, gw), 0);
        ck_assert_int_eq(run_as(NOBODY_UID, NOBODY_GID, NULL, 0, 60, do_refused, ww), 0);
        ck_assert_int_eq(run_as(NOBODY_UID, NOBODY_GID, NULL, 0, 60, do_served, ok), 0);
}
END_TEST

int main(void) {
        TCase *tc;
        Suite *s;

        if (geteuid() != 0) {
                fprintf(stderr, "SKIP: needs root (a root daemon, a client dropped to nobody)\n");
                return 77;
        }

        s = harness_suite("grant-roots", 120, setup, teardown, &tc);
        tcase_add_test(tc, test_grantee_cannot_swap_root_for_symlink);
        tcase_add_test(tc, test_symlink_component_not_followed);
        tcase_add_test(tc, test_writable_components_refused);
        return harness_run_suite(s);
}
