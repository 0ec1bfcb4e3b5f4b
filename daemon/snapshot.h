/* SPDX-License-Identifier: Apache-2.0 OR MIT */
#pragma once

/*
 * A snapshot: an immutable file the daemon hands to clients. Either a sealed
 * memfd holding a copy of the source, or (fs-verity) an open description of
 * the source itself. Snapshots are reference counted: the cache holds one
 * reference, and so does every uid that may still hold the snapshot
 * (account.c). The count is atomic because worker threads take references
 * from the cache while the event loop drops others.
 */

#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>

#include "file-version.h"
#include "list.h"
#include "proto.h"
#include "resolve.h"

typedef struct Snapshot {
        unsigned n_ref;
        /* O_RDONLY: the daemon never keeps a writable descriptor of a sealed memfd. */
        int fd;
        enum proto_kind kind;
        uint64_t size;
        /* Memory the snapshot pins, as counted against budgets (page-rounded, never 0). */
        uint64_t cost;
        bool consistent;
        /* The cache key: names the mount too, so another image on the same device never hits. */
        FileVersion key;

        /* Event loop only: accounts (uids) that may still hold it. */
        unsigned n_accounts;

        /* Owned by cache.c, under its lock (read atomically elsewhere). */
        bool cached;
        List hash_link;         /* in its bucket */
        List lru_link;          /* in the cache's LRU list */
} Snapshot;

/* Bounded retries of a copy that a writer disturbed. */
#define SNAPSHOT_COPY_ATTEMPTS 3

/* Bytes copied between two calls of the progress callback. */
#define SNAPSHOT_CHUNK (UINT64_C(1) << 20)

/*
 * Called before the memfd grows to @total bytes: 0 to go on, or a negative
 * errno that ends the copy with it (the reservation cannot grow; the client
 * went away).
 */
typedef int (*snapshot_progress_fn)(void *userdata, uint64_t total);

/*
 * Copies at most @limit bytes of the regular file @src into a new sealed
 * memfd, a chunk at a time, asking @progress before each. A borrowed source
 * (the client's own description) is never leased, so the copy is never
 * proven consistent. Returns -EFBIG past @limit, -ENOSPC/-ENOMEM when memory
 * runs out, what @progress returned, or the read error.
 */
int snapshot_new_copy(const Source *src, uint64_t limit, snapshot_progress_fn progress, void *userdata,
                      Snapshot **ret);

/* Wraps the fs-verity source @src (its descriptor taken over, also on failure) as a snapshot. */
int snapshot_new_verity(Source *src, Snapshot **ret);

Snapshot *snapshot_ref(Snapshot *s);
Snapshot *snapshot_unref(Snapshot *s);
static inline void snapshot_unrefp(Snapshot **s) {
        snapshot_unref(*s);
}
#define _cleanup_snapshot_ __attribute__((cleanup(snapshot_unrefp)))

/* A fresh O_RDONLY open file description for one client, never shared with another. */
int snapshot_open_for_client(Snapshot *s, int *ret_fd);

/*
 * Whether anybody but the daemon still holds the snapshot open or mapped:
 * returns 1 when it is unused, 0 when it is in use, -errno when that cannot
 * be known (the filesystem refuses leases).
 */
int snapshot_probe_unused(Snapshot *s);

/* Memory a memfd of @size bytes pins, as budgets count it: whole pages, at least one. */
uint64_t snapshot_cost(uint64_t size);

/* Bytes pinned by all live memfd snapshots of the daemon. */
uint64_t snapshot_bytes_live(void);
