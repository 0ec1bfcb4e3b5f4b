/* SPDX-License-Identifier: Apache-2.0 OR MIT */
/*
 * The policy parser on any file content: no crash, no leak, and no grant
 * wider than the text states. "Wider" is checked against the raw bytes, not
 * through the parser's own logic: a grant's path is absolute, normalised and
 * never "/", each of its components is in the text; each uid and gid is
 * written in the text as a number or as a name that resolves to it; a limit
 * or an option appears only where its key does; there are no more grants
 * than [Grant] headers, and no more grants with a MaxSize= than such keys.
 */

#include <errno.h>
#include <grp.h>
#include <linux/openat2.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../proto/fuzz.h"
#include "policy-parse.h"

static size_t count(const uint8_t *data, size_t size, const char *needle) {
        size_t n = 0, len = strlen(needle);

        for (const uint8_t *p = data; size >= len && (p = memmem(p, size - (size_t) (p - data), needle, len));
             p += len)
                n++;
        return n;
}

static int contains(const uint8_t *data, size_t size, const char *needle, size_t len) {
        return len == 0 || memmem(data, size, needle, len) != NULL;
}

static int id_stated(const uint8_t *data, size_t size, uint32_t id, int group) {
        char number[16];
        const char *name = NULL;

        snprintf(number, sizeof(number), "%u", id);
        if (contains(data, size, number, strlen(number)))
                return 1;
        if (group) {
                struct group *gr = getgrgid(id);
                name = gr ? gr->gr_name : NULL;
        } else {
                struct passwd *pw = getpwuid(id);
                name = pw ? pw->pw_name : NULL;
        }
        return name && contains(data, size, name, strlen(name));
}

static void check(const uint8_t *data, size_t size, List *grants) {
        size_t n = 0, with_max = 0;
        const Grant *g;

        LIST_FOREACH(g, grants, Grant, link) {
                const char *p;

                n++;
                if (!g->path || g->path[0] != '/' || strcmp(g->path, "/") == 0)
                        abort();
                if (g->n_uids == 0 && g->n_gids == 0)
                        abort();
                /* Normalised: no empty, "." or ".." component, no trailing slash. */
                for (p = g->path; *p; ) {
                        size_t len;

                        p++;
                        len = strcspn(p, "/");
                        if (len == 0 || (len == 1 && p[0] == '.') || (len == 2 && p[0] == '.' && p[1] == '.'))
                                abort();
                        if (!contains(data, size, p, len))
                                abort();
                        p += len;
                }
                for (size_t i = 0; i < g->n_uids; i++)
                        if (!id_stated(data, size, g->uids[i], 0))
                                abort();
                for (size_t i = 0; i < g->n_gids; i++)
                        if (!id_stated(data, size, g->gids[i], 1))
                                abort();
                if (g->max_size > 0)
                        with_max++;
                if ((g->resolve_flags & RESOLVE_NO_SYMLINKS) && !count(data, size, "NoSymlinks"))
                        abort();
                if ((g->resolve_flags & RESOLVE_NO_XDEV) && !count(data, size, "NoXDev"))
                        abort();
                if (g->resolve_flags & ~(uint64_t) (RESOLVE_NO_SYMLINKS | RESOLVE_NO_XDEV))
                        abort();
                if (g->root_fd >= 0 || g->file_name)
                        abort();
        }
        if (n > count(data, size, "[Grant]") || with_max > count(data, size, "MaxSize"))
                abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        static const char empty[] = "\n";
        char error[256];
        unsigned line = 0;
        List grants = LIST_INIT(grants);
        FILE *f;
        int r;

        /* fmemopen() wants at least one byte. */
        f = size > 0 ? fmemopen((void *) data, size, "r") : fmemopen((void *) empty, 1, "r");
        if (!f)
                return 0;
        r = policy_parse(f, &grants, &line, error, sizeof(error));
        fclose(f);
        if (r < 0) {
                if (r != -EBADMSG || !list_is_empty(&grants) || line == 0 || !memchr(error, '\0', sizeof(error)))
                        abort();
                return 0;
        }
        check(data, size, &grants);
        grants_free(&grants);
        return 0;
}
