/* SPDX-License-Identifier: Apache-2.0 OR MIT */
#pragma once

/* Parsing of one policy file; see policy.h for what a grant means. */

#include <stddef.h>
#include <stdio.h>

#include "policy.h"

/*
 * Parses @f. Returns 0 and appends the grants to @grants in file order (roots
 * not opened yet), or -EBADMSG with the line and text of the first error: a
 * file with any error yields no grant at all.
 */
int policy_parse(FILE *f, List *grants, unsigned *ret_error_line, char *error, size_t error_size);

/* Frees @g, and takes it out of the list that holds it. */
Grant *grant_free(Grant *g);
/* Frees every grant of @grants. */
void grants_free(List *grants);
