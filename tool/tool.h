/* SPDX-License-Identifier: Apache-2.0 OR MIT */
#pragma once

/*
 * What main.c, the verbs (check.c, cat.c, snapshot.c, status.c) and their
 * shared pieces say to each other. The verbs use the public library
 * (safe-mmap.h) only. The one exception is client/status.h, an internal
 * static library: status.c asks the daemon for its state through it, and the
 * snapshot messages take the socket's name from it.
 */

#include <stdbool.h>

#include "macro.h"
#include "safe-mmap.h"

#define PROGRAM "safe-mmap"

enum {
        EXIT_USAGE = 2,
};

/* Long-only options get values outside the char range. */
enum {
        ARG_FD = 0x100,
        ARG_LOCAL,
        ARG_NO_FALLBACK,
        ARG_POPULATE,
        ARG_REQUIRE_CONSISTENT,
        ARG_DIGEST,
};

/* main.c: the one help text, and the usage errors every verb reports the same way. */
void help(void);
_printf_(1, 2) int usage_error(const char *fmt, ...);
int option_error(const char *command, int c, char *const argv[]);

/* Each verb gets argv from its own name on and returns the exit status. */
int verb_check(int argc, char *argv[]);
int verb_cat(int argc, char *argv[]);
int verb_snapshot(int argc, char *argv[]);
int verb_status(int argc, char *argv[]);

/* snapshot.c: for the verbs that take PATH... (cat, snapshot).
 * The callback runs for each PATH that could be snapshotted: 0 to go on, 1 to
 * stop early with the outcome so far, a negative value to stop with
 * EXIT_FAILURE (the callback has reported why). */
typedef int (*snapshot_callback_t)(const char *path, unsigned flags, const safe_mmap *m, bool first);
int snapshot_each(const char *command, int argc, char *argv[], bool allow_populate, snapshot_callback_t callback);
