/* SPDX-License-Identifier: Apache-2.0 OR MIT */
/*
 * The policy file format: INI read with inih, one [Grant] section per grant.
 * Parsing only; opening the grant roots and matching requests is policy.c.
 */
#include <ctype.h>
#include <errno.h>
#include <grp.h>
#include <ini.h>
#include <limits.h>
#include <linux/openat2.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "macro.h"
#include "parse-size.h"
#include "policy-parse.h"

#define POLICY_IDS_MAX 4096u

typedef struct ParseState {
        FILE *f;
        unsigned line;
        unsigned section;       /* counts "[...]" lines, to tell apart two sections of the same name */
        unsigned section_line;  /* where the last "[...]" line is, for a grant's log lines */
        unsigned grant_section;
        char error[256];        /* the first error, with error_line */
        unsigned error_line;
        Grant *current;
        unsigned current_keys;  /* the keys the current section has set, as KEY_* bits */
        List grants;
} ParseState;

enum {
        KEY_PATH       = 1u << 0,
        KEY_USERS      = 1u << 1,
        KEY_GROUPS     = 1u << 2,
        KEY_MAX_SIZE   = 1u << 3,
        KEY_NO_SYMLINKS = 1u << 4,
        KEY_NO_XDEV    = 1u << 5,
};

static const struct {
        const char *name;
        unsigned bit;
} keys[] = {
        { "Path",       KEY_PATH },
        { "Users",      KEY_USERS },
        { "Groups",     KEY_GROUPS },
        { "MaxSize",    KEY_MAX_SIZE },
        { "NoSymlinks", KEY_NO_SYMLINKS },
        { "NoXDev",     KEY_NO_XDEV },
};

Grant *grant_free(Grant *g) {
        if (!g)
                return NULL;
        list_unlink(&g->link);
        safe_close(g->root_fd);
        free(g->path);
        free(g->file_name);
        free(g->source);
        free(g->uids);
        free(g->gids);
        free(g);
        return NULL;
}

void grants_free(List *grants) {
        Grant *g;

        LIST_FOREACH_SAFE(g, next, grants, Grant, link)
                grant_free(g);
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
        if (str[0] == '[') {
                st->section++;
                st->section_line = st->line;
        }
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
                g->line = st->section_line ? st->section_line : st->line;
                list_append(&st->grants, &g->link);
                st->current = g;
                st->current_keys = 0;
                st->grant_section = st->section;
        }
        g = st->current;

        /*
         * A second value for a key would silently replace or extend the
         * first (Path=/etc after Path=/srv/data): the author meant one of
         * them and the parser cannot know which, so the file is refused. An
         * empty value is refused for the same reason: it is a value someone
         * forgot, not "nothing".
         */
        for (size_t i = 0; i < ELEMENTSOF(keys); i++)
                if (!strcmp(name, keys[i].name)) {
                        if (st->current_keys & keys[i].bit) {
                                parse_error(st, "%s= given twice in one [Grant]", name);
                                return 0;
                        }
                        st->current_keys |= keys[i].bit;
                }
        if (value[0] == '\0') {
                parse_error(st, "empty value for %s=", name);
                return 0;
        }

        if (!strcmp(name, "Path")) {
                free(g->path);
                g->path = NULL;
                if (path_normalize(value, &g->path) < 0) {
                        parse_error(st, "Path= must be absolute without . or .. components: \"%s\"", value);
                        return 0;
                }
                if (!strcmp(g->path, "/")) {
                        parse_error(st, "Path=/ would grant the whole file system");
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

int policy_parse(FILE *f, List *grants, unsigned *ret_error_line, char *error, size_t error_size) {
        ParseState st = { .f = f, .grants = LIST_INIT(st.grants) };
        Grant *g;
        int r;

        r = ini_parse_stream(policy_reader, &st, policy_handler, &st);
        if (r != 0 && !st.error_line) {
                st.error_line = r > 0 ? (unsigned) r : st.line;
                snprintf(st.error, sizeof(st.error), "syntax error");
        }
        LIST_FOREACH(g, &st.grants, Grant, link) {
                if (st.error_line)
                        break;
                if (!g->path)
                        snprintf(st.error, sizeof(st.error), "[Grant] without Path=");
                else if (g->n_uids == 0 && g->n_gids == 0)
                        snprintf(st.error, sizeof(st.error), "[Grant] without Users= or Groups=");
                else
                        continue;
                st.error_line = g->line;
        }
        if (st.error_line) {
                grants_free(&st.grants);
                *ret_error_line = st.error_line;
                snprintf(error, error_size, "%s", st.error);
                return -EBADMSG;
        }
        list_splice_tail(grants, &st.grants);
        return 0;
}
