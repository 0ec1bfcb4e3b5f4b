/* SPDX-License-Identifier: Apache-2.0 OR MIT */
#pragma once

/*
 * Grants of path access, read from the *.conf files of the policy directory.
 * User and group names are resolved when the policy is loaded, and every
 * grant root is opened then
 * (O_PATH|O_DIRECTORY): the request path needs neither NSS nor a lookup from
 * "/". A file that does not parse is skipped whole, so that a typo can only
 * ever narrow access.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "list.h"
#include "macro.h"

typedef struct Grant {
        char *path;             /* normalised, absolute */
        int root_fd;            /* the granted directory, or the parent of the granted file */
        char *file_name;        /* a single-file grant: its name in root_fd; NULL for a tree */
        uid_t *uids;
        size_t n_uids;
        gid_t *gids;
        size_t n_gids;
        uint64_t max_size;      /* 0: no limit of its own */
        uint64_t resolve_flags; /* RESOLVE_NO_SYMLINKS / RESOLVE_NO_XDEV */
        char *source;           /* the policy file's name, for log lines and --check-policy */
        unsigned line;          /* its "[Grant]" line, for log lines */
        List link;              /* in its policy (or the parser's list), in file order */
} Grant;

typedef struct Policy {
        List grants;            /* Grant.link: the first that covers a path applies */
        unsigned n_grants;
        unsigned n_errors;      /* files skipped and grants refused while loading (all logged) */
} Policy;

/* A missing directory is an empty policy. Fails only on allocation failure. */
int policy_load(const char *dir, Policy **ret);
Policy *policy_free(Policy *p);
DEFINE_CLEANUP(Policy, policy_free);

/* Writes each grant as the daemon understood it, one per line, for --check-policy. */
void policy_dump(const Policy *p, FILE *f);

/*
 * Finds a grant covering the absolute @path for a peer with @uid and
 * @groups. Returns it and, in *ret_relative, the part of @path to resolve
 * beneath grant->root_fd (points into @path or is a constant); NULL when no
 * grant covers the path for this peer.
 */
const Grant *policy_lookup(const Policy *p, uid_t uid, const gid_t *groups, size_t n_groups,
                           const char *path, const char **ret_relative);
