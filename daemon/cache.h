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
 * Offers @s (consistent memfd snapshots only) to the cache. When an entry for
 * the same key is already there, that one is returned (a new reference) so
 * that identical requests share one memfd; otherwise a new reference to @s.
 */
Snapshot *cache_insert(Cache *c, Snapshot *s);

/*
 * Returns a new reference to the entry for @key; an entry for the same file
 * with another version is dropped (the file changed). When another job is
 * copying that version right now, waits for its copy and returns it:
 * identical requests share one copy even when they arrive together. NULL
 * means the caller is to copy, and must then call cache_complete() with
 * @key, whatever the outcome.
 */
Snapshot *cache_acquire(Cache *c, const FileVersion *key);

/*
 * cache_acquire() that never waits, for the event loop: a new reference to
 * the entry for @key, or NULL when there is none yet (a copy of that version
 * may be in progress: the caller hands the request to a worker, which waits
 * for it in cache_acquire()). Drops an entry of another version of the file,
 * as cache_acquire() does.
 */
Snapshot *cache_lookup(Cache *c, const FileVersion *key);

/*
 * Ends the copy claimed by cache_acquire(): @s is the snapshot made, or NULL
 * if the copy failed. Returns what to serve, as cache_insert() (NULL for a
 * NULL @s), and hands it to the jobs that waited.
 */
Snapshot *cache_complete(Cache *c, const FileVersion *key, Snapshot *s);

unsigned cache_entries(Cache *c);

/*
 * Drops least recently used entries until their cost adds up to @bytes (or
 * none is left): when memory overall is short, what only the cache holds
 * goes first. Returns the cost dropped (freed only where nobody else holds it).
 */
uint64_t cache_trim(Cache *c, uint64_t bytes);
