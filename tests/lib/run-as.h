/* SPDX-License-Identifier: Apache-2.0 OR MIT */
#pragma once

/*
 * Runs a function as another user in a forked child: the only honest way to
 * test what an unprivileged peer can get out of a root daemon. The child
 * drops supplementary groups, gid and uid (in that order, so that none of
 * root's rights survive); a child that is not root stays who it is, and can
 * only be asked to. CHILD_CHECK() prints what failed, since Check's
 * assertions belong to the parent.
 */

#include <stddef.h>
#include <stdio.h>
#include <sys/types.h>

#define NOBODY_UID ((uid_t) 65534)
#define NOBODY_GID ((gid_t) 65534)

typedef int (*run_as_fn)(void *userdata);

/*
 * Runs @fn(@userdata) as @uid/@gid with exactly the @n_groups supplementary
 * @groups, and stores what it returned in *@ret_result. Returns 0 then; 2 if
 * dropping the privileges failed, 1 if the child could not report,
 * 128 + signal if it died, -ETIMEDOUT (child killed) after @timeout_sec, or
 * -errno.
 */
int run_as_result(uid_t uid, gid_t gid, const gid_t *groups, size_t n_groups,
                  unsigned timeout_sec, run_as_fn fn, void *userdata, int *ret_result);
/* The same, but returns 0 if @fn returned 0 and 1 if it returned anything else. */
int run_as(uid_t uid, gid_t gid, const gid_t *groups, size_t n_groups,
           unsigned timeout_sec, run_as_fn fn, void *userdata);

#define CHILD_CHECK(expr)                                                       \
        do {                                                                    \
                if (!(expr)) {                                                  \
                        fprintf(stderr, "%s:%d: child check failed: %s\n",      \
                                __FILE__, __LINE__, #expr);                     \
                        return -1;                                              \
                }                                                               \
        } while (0)

#define CHILD_CHECK_INT(a, op, b)                                               \
        do {                                                                    \
                long long _a = (long long) (a), _b = (long long) (b);           \
                if (!(_a op _b)) {                                              \
                        fprintf(stderr, "%s:%d: child check failed: %s %s %s "  \
                                "(%lld %s %lld)\n", __FILE__, __LINE__,         \
                                #a, #op, #b, _a, #op, _b);                      \
                        return -1;                                              \
                }                                                               \
        } while (0)
