/* SPDX-License-Identifier: Apache-2.0 OR MIT */
#pragma once

/*
 * The daemon's own state, for `safe-mmap status`: the one thing the tool asks
 * that the public library (safe-mmap.h) does not offer, because no program
 * but the tool has a use for it. Built as a static library that only the tool
 * links, so libsafe-mmap exports nothing new (tests/client/test-symbols.sh).
 */

#include <stdint.h>

typedef struct StatusReport {
        uint32_t connections;   /* open client connections */
        uint64_t served;        /* snapshots handed out since start */
        uint64_t bytes_held;    /* bytes in snapshots still alive */
        uint32_t cache_entries;
        uint64_t uptime_usec;
} StatusReport;

/*
 * Where the library and status_query() look for the daemon: $SAFE_MMAP_SOCKET
 * when set and non-empty, else the built-in default. For messages that name
 * the socket.
 */
const char *status_socket_path(void);

/*
 * Asks the daemon for its state. Each failure is one outcome, and
 * *ret_cause says what lay beneath it, for a message:
 *   -ECONNREFUSED  no daemon answers at the socket (none there, none
 *                  listening, or no right to connect); cause: the connect error
 *   -EPERM         the socket belongs to a user other than root or the
 *                  caller: not trusted, not asked; cause: -EPERM
 *   -EPROTO        the daemon did not answer usably; cause: -ECONNRESET
 *                  (hung up), -ETIMEDOUT, -EPROTO (malformed reply), ...
 *   -EREMOTEIO     the daemon refused the request; cause: its status
 * Returns 0 with *ret filled otherwise. @ret_cause may be NULL.
 */
int status_query(StatusReport *ret, int *ret_cause);
