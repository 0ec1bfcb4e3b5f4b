/* SPDX-License-Identifier: Apache-2.0 OR MIT */
/*
 * The policy module: parsing of one file (a mistake only narrows: a doubled
 * key, an empty value or Path=/ refuses the whole file), loading of a
 * directory (grant roots opened on a real tree) and matching of request
 * paths and peers against the grants.
 */

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "macro.h"
#include "policy.h"
#include "policy-parse.h"
#include "test-util.h"

/* Parses @text; returns policy_parse()'s result, the grants appended to @grants and the error line. */
static int parse(const char *text, List *grants, unsigned *ret_line, char *error, size_t error_size) {
        FILE *f = fmemopen((void *) text, strlen(text), "r");
        int r;

        ck_assert_ptr_nonnull(f);
        *ret_line = 0;
        error[0] = '\0';
        r = policy_parse(f, grants, ret_line, error, error_size);
        fclose(f);
        return r;
}

/* The grant after @g in @grants, or NULL. */
static Grant *grant_next(List *grants, Grant *g) {
        return g->link.next == grants ? NULL : LIST_ENTRY(g->link.next, Grant, link);
}

/* @text must be refused at @line with an error containing @what. */
static void check_refused(const char *text, unsigned line, const char *what) {
        List grants = LIST_INIT(grants);
        char error[256];
        unsigned l;

        ck_assert_msg(parse(text, &grants, &l, error, sizeof(error)) == -EBADMSG, "accepted: %s", text);
        ck_assert(list_is_empty(&grants));
        ck_assert_msg(l == line, "line %u, not %u, for: %s (%s)", l, line, text, error);
        ck_assert_msg(strstr(error, what), "error \"%s\" lacks \"%s\"", error, what);
}

START_TEST(test_parse_valid) {
        List grants = LIST_INIT(grants);
        char error[256];
        unsigned line;
        Grant *g, *n;

        ck_assert_int_eq(parse("# comment\n"
                               "[Grant]\n"
                               "Path=/srv//app/config/\n"
                               "Users=0 65534,12\n"
                               "MaxSize=64M\n"
                               "NoSymlinks=yes\n"
                               "\n"
                               "[Grant]\n"
                               "  Path=/etc/app/key.pub  # trailing comment\n"
                               "Groups=4242\n"
                               "NoXDev=on\n",
                               &grants, &line, error, sizeof(error)), 0);
        g = LIST_FIRST(&grants, Grant, link);
        ck_assert_ptr_nonnull(g);
        ck_assert_str_eq(g->path, "/srv/app/config");
        ck_assert_uint_eq(g->line, 2);
        ck_assert_uint_eq(g->n_uids, 3);
        ck_assert_uint_eq(g->uids[0], 0);
        ck_assert_uint_eq(g->uids[1], 65534);
        ck_assert_uint_eq(g->uids[2], 12);
        ck_assert_uint_eq(g->n_gids, 0);
        ck_assert_uint_eq(g->max_size, UINT64_C(64) << 20);
        n = grant_next(&grants, g);
        ck_assert_ptr_nonnull(n);
        ck_assert_str_eq(n->path, "/etc/app/key.pub");
        ck_assert_uint_eq(n->n_uids, 0);
        ck_assert_uint_eq(n->n_gids, 1);
        ck_assert_uint_eq(n->gids[0], 4242);
        ck_assert_uint_eq(n->max_size, 0);
        ck_assert_ptr_null(grant_next(&grants, n));
        grants_free(&grants);
        ck_assert(list_is_empty(&grants));
}
END_TEST

START_TEST(test_parse_doubled_key) {
        /* The case: a second Path= used to replace the first. */
        check_refused("[Grant]\nPath=/srv/data\nPath=/etc\nUsers=nobody\n", 3, "Path= given twice");
        check_refused("[Grant]\nPath=/srv/data\nUsers=0\nUsers=1\n", 4, "Users= given twice");
        check_refused("[Grant]\nPath=/srv/data\nGroups=0\nGroups=1\n", 4, "Groups= given twice");
        check_refused("[Grant]\nPath=/srv/data\nUsers=0\nMaxSize=1M\nMaxSize=1G\n", 5, "MaxSize= given twice");
        check_refused("[Grant]\nPath=/srv/data\nUsers=0\nNoSymlinks=yes\nNoSymlinks=no\n", 5,
                      "NoSymlinks= given twice");
        check_refused("[Grant]\nPath=/srv/data\nUsers=0\nNoXDev=yes\nNoXDev=no\n", 5, "NoXDev= given twice");
        /* Whatever the spacing. */
        check_refused("[Grant]\nPath = /srv/data\n  Path=/etc\nUsers=0\n", 3, "Path= given twice");
        /* The whole file goes, the good grant before it too. */
        check_refused("[Grant]\nPath=/srv/ok\nUsers=0\n\n[Grant]\nPath=/srv/data\nUsers=0\nUsers=1\n", 8,
                      "given twice");
}
END_TEST

START_TEST(test_parse_same_key_in_two_sections) {
        List grants = LIST_INIT(grants);
        char error[256];
        unsigned line;
        Grant *g;

        ck_assert_int_eq(parse("[Grant]\nPath=/a\nUsers=0\n[Grant]\nPath=/b\nUsers=0\n",
                               &grants, &line, error, sizeof(error)), 0);
        g = LIST_FIRST(&grants, Grant, link);
        ck_assert_str_eq(g->path, "/a");
        ck_assert_str_eq(grant_next(&grants, g)->path, "/b");
        grants_free(&grants);
}
END_TEST

START_TEST(test_parse_empty_value) {
        check_refused("[Grant]\nPath=\nUsers=0\n", 2, "empty value for Path=");
        check_refused("[Grant]\nPath=/srv/data\nUsers=\n", 3, "empty value for Users=");
        check_refused("[Grant]\nPath=/srv/data\nUsers=0\nGroups= \n", 4, "empty value for Groups=");
        check_refused("[Grant]\nPath=/srv/data\nUsers=0\nMaxSize=\n", 4, "empty value for MaxSize=");
        check_refused("[Grant]\nPath=/srv/data\nUsers=0\nNoXDev=\n", 4, "empty value for NoXDev=");
}
END_TEST

START_TEST(test_parse_path_root) {
        check_refused("[Grant]\nPath=/\nUsers=0\n", 2, "Path=/");
        check_refused("[Grant]\nPath=///\nUsers=0\n", 2, "Path=/");
}
END_TEST

START_TEST(test_parse_other_errors) {
        check_refused("[Grant]\nPath=relative\nUsers=0\n", 2, "absolute");
        check_refused("[Grant]\nPath=/srv/../etc\nUsers=0\n", 2, "absolute");
        check_refused("[Bogus]\nPath=/srv\nUsers=0\n", 2, "unknown section");
        check_refused("[Grant]\nPath=/srv\nUsers=0\nColour=red\n", 4, "unknown key");
        check_refused("[Grant]\nPath=/srv\nUsers=0\nMaxSize=lots\n", 4, "MaxSize");
        check_refused("[Grant]\nPath=/srv\nUsers=0\nMaxSize=0\n", 4, "MaxSize");
        check_refused("[Grant]\nPath=/srv\nUsers=no-such-user-here\n", 3, "unknown user");
        check_refused("[Grant]\nPath=/srv\nUsers=4294967295\n", 3, "unknown user");
        check_refused("[Grant]\nPath=/srv\n", 1, "without Users= or Groups=");
        check_refused("[Grant]\nUsers=0\n", 1, "without Path=");
        check_refused("[Grant]\nPath=/srv\nUsers=0\nNoSymlinks=maybe\n", 4, "bad boolean");
}
END_TEST

/* A scratch tree for loading: DIR/policy.d, DIR/tree/{a,b}, DIR/file, DIR/tree-evil. */
static char dir[] = "/tmp/test-policy.XXXXXX";

static char *D(const char *name) {
        char *p;

        ck_assert_int_ge(asprintf(&p, "%s/%s", dir, name), 0);
        return p;
}

static void write_at(const char *name, const char *text) {
        _cleanup_free_ char *p = D(name);
        FILE *f = fopen(p, "we");

        ck_assert_ptr_nonnull(f);
        ck_assert_int_ge(fputs(text, f), 0);
        ck_assert_int_eq(fclose(f), 0);
        ck_assert_int_eq(chmod(p, 0644), 0);
}

static void write_grant(const char *conf, const char *fmt_path, const char *rest) {
        _cleanup_free_ char *text = NULL;

        ck_assert_int_ge(asprintf(&text, "[Grant]\nPath=%s/%s\n%s", dir, fmt_path, rest), 0);
        write_at(conf, text);
}

static void setup(void) {
        strcpy(dir, "/tmp/test-policy.XXXXXX");
        ck_assert_ptr_nonnull(mkdtemp(dir));
        ck_assert_int_eq(chmod(dir, 0755), 0);
        for (const char *const *d = (const char *const[]) { "policy.d", "tree", "tree/sub", "tree-evil", NULL };
             *d; d++) {
                _cleanup_free_ char *p = D(*d);
                ck_assert_int_eq(mkdir(p, 0755), 0);
        }
        write_at("file", "x");
        write_at("tree/a", "x");
}

static void teardown(void) {
        ck_assert_int_eq(tree_remove(dir), 0);
}

static Policy *load(void) {
        _cleanup_free_ char *p = D("policy.d");
        Policy *policy = NULL;

        ck_assert_int_eq(policy_load(p, &policy), 0);
        ck_assert_ptr_nonnull(policy);
        return policy;
}

/* The relative path the lookup of @name (beneath dir) yields for @uid, or NULL. */
static const char *lookup(const Policy *p, uid_t uid, const char *name) {
        _cleanup_free_ char *path = D(name);
        static char rel[4096];
        const char *relative = NULL;
        const Grant *g;

        g = policy_lookup(p, uid, NULL, 0, path, &relative);
        if (!g)
                return NULL;
        snprintf(rel, sizeof(rel), "%s", relative);
        return rel;
}

START_TEST(test_load_and_match) {
        const gid_t groups[] = { 5, 4242 };
        _cleanup_free_ char *path = NULL;
        const char *relative;
        Policy *p;

        write_grant("policy.d/10-tree.conf", "tree", "Users=1000\n");
        write_grant("policy.d/20-file.conf", "file", "Users=1000\n");
        write_grant("policy.d/30-group.conf", "tree-evil", "Groups=4242\nMaxSize=1K\n");
        /* Skipped whole, and counted as an error: it would have granted the tree to 2000. */
        write_at("policy.d/40-doubled.conf", "[Grant]\nPath=/nonexistent\nUsers=2000\n"
                 "[Grant]\nPath=/nonexistent\nPath=/tmp\nUsers=2000\n");
        write_at("policy.d/not-a-policy.txt", "[Grant]\nPath=/\nUsers=2000\n");
        p = load();
        ck_assert_uint_eq(p->n_grants, 3);
        ck_assert_uint_eq(p->n_errors, 1);

        ck_assert_str_eq(lookup(p, 1000, "tree/a"), "a");
        ck_assert_str_eq(lookup(p, 1000, "tree//./sub/../a"), "./sub/../a");
        ck_assert_str_eq(lookup(p, 1000, "tree"), "");
        ck_assert_ptr_null(lookup(p, 1001, "tree/a"));
        /* A prefix of a name is not a parent. */
        ck_assert_ptr_null(lookup(p, 1000, "tree-evil/a"));
        ck_assert_ptr_null(lookup(p, 1000, "tre"));
        /* A file grant covers that one name. */
        ck_assert_str_eq(lookup(p, 1000, "file"), "file");
        ck_assert_ptr_null(lookup(p, 1000, "file/"));
        ck_assert_ptr_null(lookup(p, 1000, "file/x"));
        ck_assert_ptr_null(lookup(p, 2000, "tree/a"));
        ck_assert_ptr_null(policy_lookup(p, 1000, NULL, 0, "relative/tree", &relative));

        path = D("tree-evil/x");
        ck_assert_ptr_null(policy_lookup(p, 1000, groups, 1, path, &relative));
        ck_assert_ptr_nonnull(policy_lookup(p, 1000, groups, 2, path, &relative));
        ck_assert_uint_eq(policy_lookup(p, 1000, groups, 2, path, &relative)->max_size, 1024);
        ck_assert_str_eq(relative, "x");
        policy_free(p);
}
END_TEST

START_TEST(test_load_symlink_root_refused) {
        _cleanup_free_ char *tree = D("tree"), *link = D("link");
        Policy *p;

        ck_assert_int_eq(symlink(tree, link), 0);
        write_grant("policy.d/10-link.conf", "link", "Users=1000\n");
        write_grant("policy.d/20-through.conf", "link/a", "Users=1000\n");
        p = load();
        ck_assert_uint_eq(p->n_grants, 0);
        ck_assert_uint_eq(p->n_errors, 2);
        ck_assert_ptr_null(lookup(p, 1000, "link/a"));
        ck_assert_ptr_null(lookup(p, 1000, "tree/a"));
        policy_free(p);
}
END_TEST

START_TEST(test_load_writable_component_refused) {
        _cleanup_free_ char *tree = D("tree");
        Policy *p;

        ck_assert_int_eq(chmod(tree, 0777), 0);
        write_grant("policy.d/10-tree.conf", "tree/sub", "Users=1000\n");
        p = load();
        ck_assert_uint_eq(p->n_grants, 0);
        ck_assert_uint_eq(p->n_errors, 1);
        policy_free(p);
}
END_TEST

START_TEST(test_load_missing_dir) {
        Policy *p = NULL;

        ck_assert_int_eq(policy_load("/nonexistent/policy.d", &p), 0);
        ck_assert_uint_eq(p->n_grants, 0);
        ck_assert_uint_eq(p->n_errors, 0);
        ck_assert_ptr_null(policy_lookup(p, 0, NULL, 0, "/etc/passwd", &(const char *) { NULL }));
        policy_free(p);
}
END_TEST

int main(void) {
        Suite *s = suite_create("policy");
        TCase *tc = tcase_create("parse");

        tcase_add_test(tc, test_parse_valid);
        tcase_add_test(tc, test_parse_doubled_key);
        tcase_add_test(tc, test_parse_same_key_in_two_sections);
        tcase_add_test(tc, test_parse_empty_value);
        tcase_add_test(tc, test_parse_path_root);
        tcase_add_test(tc, test_parse_other_errors);
        suite_add_tcase(s, tc);

        tc = tcase_create("load");
        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_add_test(tc, test_load_and_match);
        tcase_add_test(tc, test_load_symlink_root_refused);
        tcase_add_test(tc, test_load_writable_component_refused);
        tcase_add_test(tc, test_load_missing_dir);
        suite_add_tcase(s, tc);

        return suite_run(s, NULL);
}
