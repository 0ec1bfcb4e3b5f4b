/* SPDX-License-Identifier: Apache-2.0 OR MIT */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "macro.h"
#include "policy.h"
#include "policy-parse.h"

#define POLICY_FILES_MAX 1024u

Policy *policy_free(Policy *p) {
        if (!p)
                return NULL;
        grants_free(&p->grants);
        free(p);
        return NULL;
}

/*
 * Whether a directory on the way to a grant root can be trusted not to change
 * under the daemon (sshd's StrictModes): owned by root (or by the daemon's own
 * uid, when it runs unprivileged) and writable by nobody else. A sticky
 * directory such as /tmp may be writable by all: there, only the owner of an
 * entry may rename or remove it, and the next component must be ours too.
 */
static int grant_check_component(int fd, const char *path, size_t len, struct stat *ret_st,
                                 char *why, size_t why_size) {
        if (fstat(fd, ret_st) < 0)
                return negative_errno();
        if (S_ISLNK(ret_st->st_mode)) {
                snprintf(why, why_size, "%.*s is a symbolic link", (int) len, path);
                return -ELOOP;
        }
        if (!S_ISDIR(ret_st->st_mode))
                return 0;
        if (ret_st->st_uid != 0 && ret_st->st_uid != geteuid()) {
                snprintf(why, why_size, "%.*s is owned by uid %u", (int) len, path, (unsigned) ret_st->st_uid);
                return -EPERM;
        }
        if ((ret_st->st_mode & (S_IWGRP | S_IWOTH)) && !(ret_st->st_mode & S_ISVTX)) {
                snprintf(why, why_size, "%.*s is writable by %s", (int) len, path,
                         ret_st->st_mode & S_IWOTH ? "everybody" : "its group");
                return -EPERM;
        }
        return 0;
}

/*
 * A grant of one file: @name, looked up in @dir_fd (taken over) at each
 * request. Whoever may write the directory must not turn the name into a
 * symlink to the file beside it; the name is the only component resolved,
 * so RESOLVE_NO_SYMLINKS refuses exactly a symlink in its place.
 */
static void grant_set_file(Grant *g, int dir_fd, char *name) {
        g->file_name = name;
        g->resolve_flags |= RESOLVE_NO_SYMLINKS;
        g->root_fd = dir_fd;
}

/*
 * Opens the grant root now, one component at a time from "/" with
 * O_NOFOLLOW, so that no symlink anywhere in Path= is followed and every
 * directory on the way is one that only root can change: otherwise whoever
 * may write one of them (the grantee, typically) replaces the path by a
 * symlink to "/" and the next load grants the whole file system. A directory
 * is its own root; a file (or a name that does not exist yet) is looked up by
 * name in its parent at request time, so that a file replaced by rename() is
 * served in its new version. On failure, @why says which component and why.
 */
static int grant_open_root(Grant *g, char *why, size_t why_size) {
        _cleanup_close_ int fd = -EBADF;
        const char *p = g->path;
        struct stat st;
        int r;

        *why = '\0';
        fd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return negative_errno();
        r = grant_check_component(fd, "/", 1, &st, why, why_size);
        if (r < 0)
                return r;

        for (;;) {
                _cleanup_close_ int next = -EBADF;
                _cleanup_free_ char *name = NULL;
                size_t len, so_far;
                bool last;

                p += strspn(p, "/");
                len = strcspn(p, "/");
                /* Path=/ is refused by the parser; never grant the whole tree here either. */
                if (len == 0)
                        return -EISDIR;
                last = p[len] == '\0';
                so_far = (size_t) (p + len - g->path);
                name = strndup(p, len);
                if (!name)
                        return -ENOMEM;

                next = openat(fd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
                if (next < 0 && errno == ENOENT && last) {
                        grant_set_file(g, TAKE_FD(fd), TAKE_PTR(name));
                        return 0;
                }
                if (next < 0) {
                        r = negative_errno();
                        snprintf(why, why_size, "cannot open %.*s: %s", (int) so_far, g->path, strerror(-r));
                        return r;
                }
                r = grant_check_component(next, g->path, so_far, &st, why, why_size);
                if (r < 0)
                        return r;
                if (last && !S_ISDIR(st.st_mode)) {
                        grant_set_file(g, TAKE_FD(fd), TAKE_PTR(name));
                        return 0;
                }
                if (last) {
                        g->root_fd = TAKE_FD(next);
                        return 0;
                }
                if (!S_ISDIR(st.st_mode)) {
                        snprintf(why, why_size, "%.*s is not a directory", (int) so_far, g->path);
                        return -ENOTDIR;
                }
                safe_close(fd);
                fd = TAKE_FD(next);
                p += len;
        }
}

/* Only root may write the policy: a file anybody else can change grants nothing. */
static int policy_file_check(int fd) {
        struct stat st;

        if (fstat(fd, &st) < 0)
                return negative_errno();
        if (!S_ISREG(st.st_mode))
                return -EBADFD;
        if (st.st_uid != 0 && st.st_uid != geteuid())
                return -EPERM;
        if (st.st_mode & (S_IWGRP | S_IWOTH))
                return -EPERM;
        return 0;
}

static void policy_load_file(Policy *p, int dir_fd, const char *dir, const char *name) {
        _cleanup_close_ int fd = -EBADF;
        List grants = LIST_INIT(grants);
        Grant *g;
        char error[256], why[PATH_MAX + 64];
        unsigned n = 0, line = 0;
        FILE *f;
        int r;

        fd = openat(dir_fd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);
        if (fd < 0) {
                log_errno(LOG_ERR, negative_errno(), "%s/%s: cannot open, skipped: %m", dir, name);
                p->n_errors++;
                return;
        }
        r = policy_file_check(fd);
        if (r < 0) {
                log_errno(LOG_ERR, r, "%s/%s: not a regular file only root can write, skipped: %m", dir, name);
                p->n_errors++;
                return;
        }
        f = fdopen(fd, "re");
        if (!f) {
                log_errno(LOG_ERR, negative_errno(), "%s/%s: %m", dir, name);
                p->n_errors++;
                return;
        }
        TAKE_FD(fd);
        r = policy_parse(f, &grants, &line, error, sizeof(error));
        fclose(f);
        if (r < 0) {
                log_error("%s/%s:%u: %s; file skipped.", dir, name, line, error);
                p->n_errors++;
                return;
        }

        LIST_FOREACH_SAFE(g, next, &grants, Grant, link) {
                g->source = strdup(name);
                r = g->source ? grant_open_root(g, why, sizeof(why)) : -ENOMEM;
                if (r < 0) {
                        if (why[0])
                                log_warning("%s/%s:%u: grant of %s refused: %s.", dir, name, g->line, g->path, why);
                        else
                                log_errno(LOG_WARNING, r, "%s/%s:%u: cannot open %s, grant skipped: %m",
                                          dir, name, g->line, g->path);
                        grant_free(g);
                        p->n_errors++;
                        continue;
                }
                /* Appended in order: the first grant that covers a path is the one that applies. */
                list_unlink(&g->link);
                list_append(&p->grants, &g->link);
                p->n_grants++;
                n++;
        }
        log_info("%s/%s: %u grant(s) loaded.", dir, name, n);
}

static int name_compare(const void *a, const void *b) {
        return strcmp(*(char * const *) a, *(char * const *) b);
}

DEFINE_CLEANUP(DIR, closedir);

/* The policy files' names, sorted: an array of @n strings. */
typedef struct Names {
        char **names;
        size_t n;
} Names;

static void names_clear(Names *n) {
        for (size_t i = 0; i < n->n; i++)
                free(n->names[i]);
        free(n->names);
}

int policy_load(const char *dir, Policy **ret) {
        _cleanup_(policy_freep) Policy *p = NULL;
        _cleanup_(closedirp) DIR *d = NULL;
        _cleanup_(names_clear) Names names = {};
        struct dirent *de;

        p = calloc(1, sizeof(*p));
        if (!p)
                return -ENOMEM;
        list_init(&p->grants);

        d = opendir(dir);
        if (!d) {
                if (errno == ENOENT)
                        log_info("Policy directory %s does not exist: no path grants.", dir);
                else {
                        log_errno(LOG_ERR, negative_errno(), "Cannot open policy directory %s, no path grants: %m", dir);
                        p->n_errors++;
                }
                *ret = TAKE_PTR(p);
                return 0;
        }
        while ((de = readdir(d))) {
                size_t len = strlen(de->d_name);
                char **a;

                if (de->d_name[0] == '.' || len < 6 || strcmp(de->d_name + len - 5, ".conf") != 0)
                        continue;
                if (names.n >= POLICY_FILES_MAX) {
                        log_warning("More than %u policy files in %s, ignoring the rest.", POLICY_FILES_MAX, dir);
                        p->n_errors++;
                        break;
                }
                a = realloc(names.names, (names.n + 1) * sizeof(char *));
                if (!a) {
                        p->n_errors++;
                        break;
                }
                names.names = a;
                names.names[names.n] = strdup(de->d_name);
                if (names.names[names.n])
                        names.n++;
                else
                        p->n_errors++;
        }
        if (names.n > 0)
                qsort(names.names, names.n, sizeof(char *), name_compare);
        for (size_t i = 0; i < names.n; i++)
                policy_load_file(p, dirfd(d), dir, names.names[i]);

        log_info("Policy loaded from %s: %u grant(s)%s.", dir, p->n_grants,
                 p->n_errors > 0 ? ", with errors (see above)" : "");
        *ret = TAKE_PTR(p);
        return 0;
}

/*
 * Matches @path against the grant path component by component, skipping
 * empty and "." components of the request. Returns where the request goes on
 * after the last component of the grant (at a '/' or the end), or NULL when
 * the grant does not cover it. ".." in the rest is left to RESOLVE_BENEATH,
 * which refuses any escape.
 */
static const char *path_beneath(const char *grant_path, const char *path) {
        const char *g = grant_path, *p = path;

        for (;;) {
                size_t glen, plen;

                while (*g == '/')
                        g++;
                glen = strcspn(g, "/");
                if (glen == 0)
                        return p;
                for (;;) {
                        while (*p == '/')
                                p++;
                        if (p[0] == '.' && (p[1] == '/' || p[1] == '\0'))
                                p++;
                        else
                                break;
                }
                plen = strcspn(p, "/");
                if (glen != plen || memcmp(g, p, glen) != 0)
                        return NULL;
                g += glen;
                p += plen;
        }
}

static bool grant_covers_peer(const Grant *g, uid_t uid, const gid_t *groups, size_t n_groups) {
        for (size_t i = 0; i < g->n_uids; i++)
                if (g->uids[i] == uid)
                        return true;
        for (size_t i = 0; i < g->n_gids; i++)
                for (size_t j = 0; j < n_groups; j++)
                        if (g->gids[i] == groups[j])
                                return true;
        return false;
}

const Grant *policy_lookup(const Policy *p, uid_t uid, const gid_t *groups, size_t n_groups,
                           const char *path, const char **ret_relative) {
        const Grant *g;

        if (!p || path[0] != '/')
                return NULL;
        LIST_FOREACH(g, &p->grants, Grant, link) {
                const char *rest;

                if (!grant_covers_peer(g, uid, groups, n_groups))
                        continue;
                rest = path_beneath(g->path, path);
                if (!rest)
                        continue;
                if (g->file_name) {
                        /* A file grant covers that one name, not "name/" and nothing beneath it. */
                        if (*rest != '\0')
                                continue;
                        rest = g->file_name;
                } else
                        /* Relative to the grant root: a leading slash would make it absolute. */
                        rest += strspn(rest, "/");
                *ret_relative = rest;
                return g;
        }
        return NULL;
}

static void ids_dump(FILE *f, const char *what, const uint32_t *ids, size_t n) {
        if (n == 0)
                return;
        fprintf(f, " %s=", what);
        for (size_t i = 0; i < n; i++)
                fprintf(f, "%s%" PRIu32, i > 0 ? "," : "", ids[i]);
}

void policy_dump(const Policy *p, FILE *f) {
        const Grant *g;

        LIST_FOREACH(g, &p->grants, Grant, link) {
                fprintf(f, "%s:%u: %s %s", g->source ? g->source : "?", g->line,
                        g->file_name ? "file" : "tree", g->path);
                ids_dump(f, "uids", g->uids, g->n_uids);
                ids_dump(f, "gids", g->gids, g->n_gids);
                if (g->max_size > 0)
                        fprintf(f, " max-size=%" PRIu64, g->max_size);
                if (g->resolve_flags & RESOLVE_NO_SYMLINKS)
                        fprintf(f, " no-symlinks");
                if (g->resolve_flags & RESOLVE_NO_XDEV)
                        fprintf(f, " no-xdev");
                fputc('\n', f);
        }
}
