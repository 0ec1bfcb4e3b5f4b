/* SPDX-License-Identifier: Apache-2.0 OR MIT */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>

#include "cache.h"

#define CACHE_BUCKETS 1024u
/* Each entry pins a descriptor; many tiny files must not exhaust them. */
#define CACHE_ENTRIES_MAX 1024u

/* A copy in progress: jobs asking for the same version wait for it instead of copying again. */
typedef struct Pending {
        FileVersion key;
        bool done;
        Snapshot *result;       /* NULL when the copy failed */
        unsigned n_waiters;
        List link;              /* in the cache's pending, until the copy ends */
} Pending;

struct Cache {
        pthread_mutex_t lock;
        pthread_cond_t done;
        List pending;
        uint64_t budget;
        uint64_t used;
        unsigned n_entries;
        /* Most recently used first. */
        List lru;
        List buckets[CACHE_BUCKETS];
};

int cache_new(uint64_t budget, Cache **ret) {
        Cache *c = calloc(1, sizeof(*c));

        if (!c)
                return -ENOMEM;
        pthread_mutex_init(&c->lock, NULL);
        pthread_cond_init(&c->done, NULL);
        list_init(&c->pending);
        list_init(&c->lru);
        for (unsigned i = 0; i < CACHE_BUCKETS; i++)
                list_init(&c->buckets[i]);
        c->budget = budget;
        *ret = c;
        return 0;
}

static unsigned bucket_of(const FileVersion *key) {
        uint64_t h = key->dev * UINT64_C(0x9E3779B97F4A7C15) ^ key->ino * UINT64_C(0xC2B2AE3D27D4EB4F);

        return (unsigned) (h >> 32) % CACHE_BUCKETS;
}

/* The least recently used entry, or NULL. */
static Snapshot *lru_last(Cache *c) {
        return list_is_empty(&c->lru) ? NULL : LIST_ENTRY(c->lru.prev, Snapshot, lru_link);
}

/* Called with the lock held; drops the cache's reference. */
static void cache_remove(Cache *c, Snapshot *s) {
        list_unlink(&s->hash_link);
        list_unlink(&s->lru_link);
        __atomic_store_n(&s->cached, false, __ATOMIC_RELAXED);
        c->used -= s->cost;
        c->n_entries--;
        snapshot_unref(s);
}

Cache *cache_free(Cache *c) {
        if (!c)
                return NULL;
        while (!list_is_empty(&c->lru))
                cache_remove(c, LIST_FIRST(&c->lru, Snapshot, lru_link));
        pthread_cond_destroy(&c->done);
        pthread_mutex_destroy(&c->lock);
        free(c);
        return NULL;
}

static Snapshot *lookup_locked(Cache *c, const FileVersion *key) {
        Snapshot *s;

        LIST_FOREACH_SAFE(s, next, &c->buckets[bucket_of(key)], Snapshot, hash_link)
                if (s->key.dev == key->dev && s->key.ino == key->ino) {
                        if (file_version_equal(&s->key, key))
                                return s;
                        /* Same file, other version: it changed, the old copy is stale. */
                        cache_remove(c, s);
                }
        return NULL;
}

/* Called with the lock held; returns a new reference to what is to be served. */
static Snapshot *insert_locked(Cache *c, Snapshot *s) {
        Snapshot *existing;

        if (s->kind != PROTO_KIND_SEALED_MEMFD || !s->consistent || s->cost > c->budget)
                return snapshot_ref(s);

        existing = lookup_locked(c, &s->key);
        if (existing)
                return snapshot_ref(existing);
        while (lru_last(c) && (c->used + s->cost > c->budget || c->n_entries >= CACHE_ENTRIES_MAX))
                cache_remove(c, lru_last(c));

        list_prepend(&c->buckets[bucket_of(&s->key)], &s->hash_link);
        list_prepend(&c->lru, &s->lru_link);
        __atomic_store_n(&s->cached, true, __ATOMIC_RELAXED);
        c->used += s->cost;
        c->n_entries++;
        snapshot_ref(s); /* the cache's */
        return snapshot_ref(s);
}

Snapshot *cache_insert(Cache *c, Snapshot *s) {
        Snapshot *r;

        pthread_mutex_lock(&c->lock);
        r = insert_locked(c, s);
        pthread_mutex_unlock(&c->lock);
        return r;
}

static Pending *pending_find_locked(Cache *c, const FileVersion *key) {
        Pending *p;

        LIST_FOREACH(p, &c->pending, Pending, link)
                if (file_version_equal(&p->key, key))
                        return p;
        return NULL;
}

static void pending_unref_locked(Pending *p) {
        if (--p->n_waiters > 0)
                return;
        snapshot_unref(p->result);
        free(p);
}

/* An entry asked for: the most recently used now, and a new reference for the caller. */
static Snapshot *hit_locked(Cache *c, Snapshot *s) {
        list_unlink(&s->lru_link);
        list_prepend(&c->lru, &s->lru_link);
        return snapshot_ref(s);
}

Snapshot *cache_acquire(Cache *c, const FileVersion *key) {
        pthread_mutex_lock(&c->lock);
        for (;;) {
                Snapshot *s = lookup_locked(c, key);
                Pending *p;

                if (s) {
                        s = hit_locked(c, s);
                        pthread_mutex_unlock(&c->lock);
                        return s;
                }
                p = pending_find_locked(c, key);
                if (!p) {
                        /* Nobody copies this version: the caller does. Without memory, it just copies alone. */
                        p = calloc(1, sizeof(*p));
                        if (p) {
                                p->key = *key;
                                p->n_waiters = 1; /* the copier's, dropped by cache_complete() */
                                list_prepend(&c->pending, &p->link);
                        }
                        pthread_mutex_unlock(&c->lock);
                        return NULL;
                }
                p->n_waiters++;
                while (!p->done)
                        pthread_cond_wait(&c->done, &c->lock);
                s = snapshot_ref(p->result);
                pending_unref_locked(p);
                if (s) {
                        pthread_mutex_unlock(&c->lock);
                        return s;
                }
                /* The copy failed (perhaps only against its own size limit): try again, maybe as the copier. */
        }
}

Snapshot *cache_lookup(Cache *c, const FileVersion *key) {
        Snapshot *s;

        pthread_mutex_lock(&c->lock);
        s = lookup_locked(c, key);
        if (s)
                s = hit_locked(c, s);
        pthread_mutex_unlock(&c->lock);
        return s;
}

Snapshot *cache_complete(Cache *c, const FileVersion *key, Snapshot *s) {
        Snapshot *r = NULL;
        Pending *p;

        pthread_mutex_lock(&c->lock);
        if (s)
                r = insert_locked(c, s);
        p = pending_find_locked(c, key);
        if (p) {
                list_unlink(&p->link);
                p->result = snapshot_ref(r);
                p->done = true;
                pending_unref_locked(p);
                pthread_cond_broadcast(&c->done);
        }
        pthread_mutex_unlock(&c->lock);
        return r;
}

unsigned cache_entries(Cache *c) {
        unsigned n;

        pthread_mutex_lock(&c->lock);
        n = c->n_entries;
        pthread_mutex_unlock(&c->lock);
        return n;
}

uint64_t cache_trim(Cache *c, uint64_t bytes) {
        uint64_t dropped = 0;

        pthread_mutex_lock(&c->lock);
        for (Snapshot *s; (s = lru_last(c)) && dropped < bytes;) {
                dropped += s->cost;
                cache_remove(c, s);
        }
        pthread_mutex_unlock(&c->lock);
        return dropped;
}
