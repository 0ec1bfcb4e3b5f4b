/* SPDX-License-Identifier: Apache-2.0 OR MIT */
#pragma once

/*
 * Sealed memfds kept for reuse, keyed on the source's identity and version
 * (device, inode, size, mtime, ctime), bounded by a memory budget, evicted
 * least-recently-used first. Shared by worker threads: every call locks.
 */

#include <stdint.h>

#include "snapshot.h"

typedef struct Cache Cache;

int cache_new(uint64_t budget, Cache **ret);
Cache *cache_free(Cache *c);

/*
 * Returns a new reference to the entry for @key, or NULL. An entry for the
 * same file with another version is dropped: the file changed.
 */
Snapshot *cache_lookup(Cache *c, const SnapshotKey *key);

/*
 * Offers @s (consistent memfd snapshots only) to the cache. When an entry for
 * the same key is already there, that one is returned (a new reference) so
 * that identical requests share one memfd; otherwise a new reference to @s.
 */
Snapshot *cache_insert(Cache *c, Snapshot *s);

unsigned cache_entries(Cache *c);
