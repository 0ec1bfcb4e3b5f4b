/* SPDX-License-Identifier: Apache-2.0 OR MIT */
#pragma once

/*
 * Closes that would take long, deferred off the request path. Closing the
 * last descriptor of a large memfd frees its pages right there: about a
 * quarter of a large cold copy's time when a request replaced the cached
 * version, and milliseconds of the event loop when a probe finds a large
 * snapshot nobody holds. Such descriptors are handed over here instead;
 * the manager has a worker close them after the event at hand.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Memfds at least this large are closed by a worker: below it, freeing costs less than handing over. */
#define REAP_SIZE_MIN (UINT64_C(1) << 20)

/* Any thread: keeps @fd to be closed later; -ENOMEM when it cannot (then the caller closes it). */
int reap_defer(int fd);

/* Whether descriptors wait to be closed. */
bool reap_pending(void);

/* Takes every waiting descriptor: the caller closes them and frees *@ret. Returns how many. */
size_t reap_take(int **ret);
