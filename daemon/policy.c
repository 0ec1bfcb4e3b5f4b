/* SPDX-License-Identifier: Apache-2.0 OR MIT */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <ini.h>
#include <limits.h>
#include <linux/openat2.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "macro.h"
#include "policy.h"

#define POLICY_FILES_MAX 1024u
#define POLICY_IDS_MAX 4096u

typedef struct ParseState {
        FILE *f;
        unsigned line;
        unsigned section;       /* counts "[...]" lines, to tell apart two sections of the same name */
        unsigned grant_section;
        char error[256];        /* the first error, with error_line */
        unsigned error_line;
        Grant *current;
        Grant *grants, **tail;
} ParseState;

static Grant *grant_free(Grant *g) {
        if (!g)
                return NULL;
        safe_close(g->root_fd);
        free(g->path);
        free(g->file_name);
        free(g->uids);
        free(g->gids);
        free(g);
        return NULL;
}

static void grants_free(Grant *g) {
        while (g) {
                Grant *next = g->next;
                grant_free(g);
                g = next;
        }
}

Policy *policy_free(Policy *p) {
        if (!p)
                return NULL;
        grants_free(p->grants);
        free(p);
        return NULL;
}

int parse_size(const char *s, uint64_t *ret) {
        unsigned long long v;
        unsigned shift = 0;
        char *end;

        if (!s || !isdigit((unsigned char) *s))
                return -EINVAL;
        errno = 0;
        v = strtoull(s, &end, 10);
        if (errno != 0)
                return -ERANGE;
        switch (*end) {
        case '\0': break;
        case 'K': case 'k': shift = 10; end++; break;
        case 'M': case 'm': shift = 20; end++; break;
        case 'G': case 'g': shift = 30; end++; break;
        case 'T': case 't': shift = 40; end++; break;
        default: return -EINVAL;
        }
        if (*end != '\0')
                return -EINVAL;
        if (shift && v > (UINT64_MAX >> shift))
                return -ERANGE;
        *ret = (uint64_t) v << shift;
        return 0;
}

static void parse_error(ParseState *st, const char *format, ...) _printf_(2, 3);
static void parse_error(ParseState *st, const char *format, ...) {
        va_list ap;

        if (st->error_line)
                return;
        st->error_line = st->line ? st->line : 1;
        va_start(ap, format);
        (void) vsnprintf(st->error, sizeof(st->error), format, ap);
        va_end(ap);
}

/*
 * Feeds inih one line at a time. Leading blanks are stripped, so that an
 * indented key is a key and never the continuation of the previous value,
 * and "#" starts a comment after a blank too (inih knows only ";" there).
 * Section headers are counted here because inih does not report a second
 * section of the same name.
 */
static char *policy_reader(char *str, int num, void *stream) {
        ParseState *st = stream;
        size_t len, skip = 0;
        char *p;

        if (!fgets(str, num, st->f))
                return NULL;
        st->line++;

        /* inih's line buffer is small and fixed; a longer line is an error, never two lines. */
        len = strlen(str);
        if (len > 0 && str[len - 1] != '\n' && !feof(st->f)) {
                int c;

                parse_error(st, "line too long");
                while ((c = fgetc(st->f)) != EOF && c != '\n')
                        ;
                str[0] = '\0';
                return str;
        }
        while (str[skip] == ' ' || str[skip] == '\t')
                skip++;
        memmove(str, str + skip, len - skip + 1);
        for (p = str; (p = strchr(p, '#')); p++)
                if (p > str && (p[-1] == ' ' || p[-1] == '\t')) {
                        p[0] = '\n';
                        p[1] = '\0';
                        break;
                }
        if (str[0] == '[')
                st->section++;
        return str;
}

/* Absolute, no "." or ".." components; slashes collapsed, no trailing slash. */
static int path_normalize(const char *in, char **ret) {
        _cleanup_free_ char *out = NULL;
        size_t n = 0;
        const char *p = in;

        if (in[0] != '/' || strlen(in) >= PATH_MAX)
                return -EINVAL;
        out = malloc(strlen(in) + 2);
        if (!out)
                return -ENOMEM;
        while (*p) {
                size_t len;

                while (*p == '/')
                        p++;
                len = strcspn(p, "/");
                if (len == 0)
                        break;
                if ((len == 1 && p[0] == '.') || (len == 2 && p[0] == '.' && p[1] == '.'))
                        return -EINVAL;
                out[n++] = '/';
                memcpy(out + n, p, len);
                n += len;
                p += len;
        }
        if (n == 0)
                out[n++] = '/';
        out[n] = '\0';
        *ret = TAKE_PTR(out);
        return 0;
}

static int id_append(void **array, size_t *n, uint32_t id) {
        uint32_t *a;

        if (*n >= POLICY_IDS_MAX)
                return -E2BIG;
        a = realloc(*array, (*n + 1) * sizeof(uint32_t));
        if (!a)
                return -ENOMEM;
        a[(*n)++] = id;
        *array = a;
        return 0;
}

static int parse_id(const char *token, bool group, uint32_t *ret) {
        _cleanup_free_ char *buf = NULL;
        size_t size = 4096;
        int r;

        if (isdigit((unsigned char) token[0])) {
                unsigned long v;
                char *end;

                errno = 0;
                v = strtoul(token, &end, 10);
                /* (uid_t) -1 means "no change" to the kernel; never a real id. */
                if (errno || *end || v >= UINT32_MAX)
                        return -EINVAL;
                *ret = (uint32_t) v;
                return 0;
        }
        /* Large groups need large buffers: grow on ERANGE, within reason. */
        for (;; size *= 4) {
                char *b = realloc(buf, size);

                if (!b)
                        return -ENOMEM;
                buf = b;
                if (group) {
                        struct group gr, *res = NULL;

                        r = getgrnam_r(token, &gr, buf, size, &res);
                        if (r == 0 && res)
                                *ret = res->gr_gid;
                        else if (r == 0)
                                r = ESRCH;
                } else {
                        struct passwd pw, *res = NULL;

                        r = getpwnam_r(token, &pw, buf, size, &res);
                        if (r == 0 && res)
                                *ret = res->pw_uid;
                        else if (r == 0)
                                r = ESRCH;
                }
                if (r != ERANGE || size >= 4u * 1024u * 1024u)
                        return -r;
        }
}

static int parse_ids(ParseState *st, const char *value, bool group, void **array, size_t *n) {
        _cleanup_free_ char *copy = strdup(value);
        char *save = NULL;

        if (!copy)
                return -ENOMEM;
        for (char *t = strtok_r(copy, " \t,", &save); t; t = strtok_r(NULL, " \t,", &save)) {
                uint32_t id = 0;
                int r;

                r = parse_id(t, group, &id);
                if (r < 0) {
                        parse_error(st, "unknown %s \"%s\"", group ? "group" : "user", t);
                        return r;
                }
                r = id_append(array, n, id);
                if (r < 0) {
                        parse_error(st, "too many ids");
                        return r;
                }
        }
        return 0;
}

static int parse_bool(const char *v, bool *ret) {
        if (!strcmp(v, "yes") || !strcmp(v, "true") || !strcmp(v, "1") || !strcmp(v, "on"))
                *ret = true;
        else if (!strcmp(v, "no") || !strcmp(v, "false") || !strcmp(v, "0") || !strcmp(v, "off"))
                *ret = false;
        else
                return -EINVAL;
        return 0;
}

static int policy_handler(void *user, const char *section, const char *name, const char *value) {
        ParseState *st = user;
        Grant *g;
        bool b;
        int r;

        if (strcmp(section, "Grant") != 0) {
                parse_error(st, "unknown section [%s]", section);
                return 0;
        }
        if (!st->current || st->grant_section != st->section) {
                g = calloc(1, sizeof(*g));
                if (!g) {
                        parse_error(st, "out of memory");
                        return 0;
                }
                g->root_fd = -EBADF;
                g->line = st->line;
                *st->tail = g;
                st->tail = &g->next;
                st->current = g;
                st->grant_section = st->section;
        }
        g = st->current;

        if (!strcmp(name, "Path")) {
                free(g->path);
                g->path = NULL;
                if (path_normalize(value, &g->path) < 0) {
                        parse_error(st, "Path= must be absolute without . or .. components: \"%s\"", value);
                        return 0;
                }
        } else if (!strcmp(name, "Users")) {
                if (parse_ids(st, value, false, (void **) &g->uids, &g->n_uids) < 0)
                        return 0;
        } else if (!strcmp(name, "Groups")) {
                if (parse_ids(st, value, true, (void **) &g->gids, &g->n_gids) < 0)
                        return 0;
        } else if (!strcmp(name, "MaxSize")) {
                if (parse_size(value, &g->max_size) < 0 || g->max_size == 0) {
                        parse_error(st, "bad MaxSize= \"%s\"", value);
                        return 0;
                }
        } else if (!strcmp(name, "NoSymlinks") || !strcmp(name, "NoXDev")) {
                uint64_t flag = name[2] == 'S' ? RESOLVE_NO_SYMLINKS : RESOLVE_NO_XDEV;

                r = parse_bool(value, &b);
                if (r < 0) {
                        parse_error(st, "bad boolean %s=\"%s\"", name, value);
                        return 0;
                }
                g->resolve_flags = b ? (g->resolve_flags | flag) : (g->resolve_flags & ~flag);
        } else {
                parse_error(st, "unknown key %s=", name);
                return 0;
        }
        return 1;
}

/*
 * Opens the grant root now, while the administrator's path may still be
 * resolved from "/": a directory is its own root, a file (or a name that does
 * not exist yet) is looked up by name in its parent at request time, so that
 * a file replaced by rename() is served in its new version.
 */
static int grant_open_root(Grant *g) {
        _cleanup_close_ int fd = -EBADF;
        struct stat st;
        char *slash;

        fd = open(g->path, O_PATH | O_CLOEXEC);
        if (fd >= 0 && fstat(fd, &st) >= 0 && S_ISDIR(st.st_mode)) {
                g->root_fd = TAKE_FD(fd);
                return 0;
        }
        if (fd < 0 && errno != ENOENT)
                return negative_errno();
        if (!strcmp(g->path, "/"))
                return -ENOTDIR;

        slash = strrchr(g->path, '/');
        g->file_name = strdup(slash + 1);
        if (!g->file_name)
                return -ENOMEM;
        if (slash == g->path)
                g->root_fd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
        else {
                *slash = '\0';
                g->root_fd = open(g->path, O_PATH | O_DIRECTORY | O_CLOEXEC);
                *slash = '/';
        }
        if (g->root_fd < 0)
                return negative_errno();
        return 0;
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
        ParseState st = {};
        unsigned n = 0;
        Grant *g;
        int r;

        st.tail = &st.grants;

        fd = openat(dir_fd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);
        if (fd < 0) {
                log_errno(LOG_ERR, negative_errno(), "%s/%s: cannot open, skipped: %m", dir, name);
                return;
        }
        r = policy_file_check(fd);
        if (r < 0) {
                log_errno(LOG_ERR, r, "%s/%s: not a regular file only root can write, skipped: %m", dir, name);
                return;
        }
        st.f = fdopen(fd, "re");
        if (!st.f) {
                log_errno(LOG_ERR, negative_errno(), "%s/%s: %m", dir, name);
                return;
        }
        TAKE_FD(fd);

        r = ini_parse_stream(policy_reader, &st, policy_handler, &st);
        fclose(st.f);
        if (r != 0 && !st.error_line) {
                st.error_line = r > 0 ? (unsigned) r : st.line;
                snprintf(st.error, sizeof(st.error), "syntax error");
        }
        for (g = st.grants; g && !st.error_line; g = g->next) {
                if (!g->path)
                        snprintf(st.error, sizeof(st.error), "[Grant] without Path=");
                else if (g->n_uids == 0 && g->n_gids == 0)
                        snprintf(st.error, sizeof(st.error), "[Grant] without Users= or Groups=");
                else
                        continue;
                st.error_line = g->line;
        }
        if (st.error_line) {
                log_error("%s/%s:%u: %s; file skipped.", dir, name, st.error_line, st.error);
                grants_free(st.grants);
                return;
        }

        while ((g = st.grants)) {
                st.grants = g->next;
                g->next = NULL;
                r = grant_open_root(g);
                if (r < 0) {
                        log_errno(LOG_WARNING, r, "%s/%s:%u: cannot open %s, grant skipped: %m",
                                  dir, name, g->line, g->path);
                        grant_free(g);
                        continue;
                }
                /* Appended in order: the first grant that covers a path is the one that applies. */
                Grant **t = &p->grants;
                while (*t)
                        t = &(*t)->next;
                *t = g;
                p->n_grants++;
                n++;
        }
        log_info("%s/%s: %u grant(s) loaded.", dir, name, n);
}

static int name_compare(const void *a, const void *b) {
        return strcmp(*(char * const *) a, *(char * const *) b);
}

int policy_load(const char *dir, Policy **ret) {
        Policy *p;
        DIR *d;
        struct dirent *de;
        char **names = NULL;
        size_t n_names = 0;

        p = calloc(1, sizeof(*p));
        if (!p)
                return -ENOMEM;

        d = opendir(dir);
        if (!d) {
                if (errno == ENOENT)
                        log_info("Policy directory %s does not exist: no path grants.", dir);
                else
                        log_errno(LOG_ERR, negative_errno(), "Cannot open policy directory %s, no path grants: %m", dir);
                *ret = p;
                return 0;
        }
        while ((de = readdir(d))) {
                size_t len = strlen(de->d_name);
                char **a;

                if (de->d_name[0] == '.' || len < 6 || strcmp(de->d_name + len - 5, ".conf") != 0)
                        continue;
                if (n_names >= POLICY_FILES_MAX) {
                        log_warning("More than %u policy files in %s, ignoring the rest.", POLICY_FILES_MAX, dir);
                        break;
                }
                a = realloc(names, (n_names + 1) * sizeof(char *));
                if (!a)
                        break;
                names = a;
                names[n_names] = strdup(de->d_name);
                if (names[n_names])
                        n_names++;
        }
        if (n_names > 0)
                qsort(names, n_names, sizeof(char *), name_compare);
        for (size_t i = 0; i < n_names; i++) {
                policy_load_file(p, dirfd(d), dir, names[i]);
                free(names[i]);
        }
        free(names);
        closedir(d);

        log_info("Policy loaded from %s: %u grant(s).", dir, p->n_grants);
        *ret = p;
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
        if (!p || path[0] != '/')
                return NULL;
        for (const Grant *g = p->grants; g; g = g->next) {
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
