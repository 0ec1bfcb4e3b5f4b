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
        struct Pending *next;
} Pending;

struct Cache {
        pthread_mutex_t lock;
        pthread_cond_t done;
        Pending *pending;
        uint64_t budget;
        uint64_t used;
        unsigned n_entries;
        /* Most recently used first. */
        Snapshot *lru_head, *lru_tail;
        Snapshot *buckets[CACHE_BUCKETS];
};

int cache_new(uint64_t budget, Cache **ret) {
        Cache *c = calloc(1, sizeof(*c));

        if (!c)
                return -ENOMEM;
        pthread_mutex_init(&c->lock, NULL);
        pthread_cond_init(&c->done, NULL);
        c->budget = budget;
        *ret = c;
        return 0;
}

static unsigned bucket_of(const FileVersion *key) {
        uint64_t h = key->dev * UINT64_C(0x9E3779B97F4A7C15) ^ key->ino * UINT64_C(0xC2B2AE3D27D4EB4F);

        return (unsigned) (h >> 32) % CACHE_BUCKETS;
}

static void lru_unlink(Cache *c, Snapshot *s) {
        if (s->lru_prev)
                s->lru_prev->lru_next = s->lru_next;
        else
                c->lru_head = s->lru_next;
        if (s->lru_next)
                s->lru_next->lru_prev = s->lru_prev;
        else
                c->lru_tail = s->lru_prev;
        s->lru_prev = s->lru_next = NULL;
}

static void lru_push_front(Cache *c, Snapshot *s) {
        s->lru_prev = NULL;
        s->lru_next = c->lru_head;
        if (c->lru_head)
                c->lru_head->lru_prev = s;
        c->lru_head = s;
        if (!c->lru_tail)
                c->lru_tail = s;
}

/* Called with the lock held; drops the cache's reference. */
static void cache_remove(Cache *c, Snapshot *s) {
        Snapshot **p = &c->buckets[bucket_of(&s->key)];

        while (*p && *p != s)
                p = &(*p)->hash_next;
        if (*p)
                *p = s->hash_next;
        s->hash_next = NULL;
        lru_unlink(c, s);
        __atomic_store_n(&s->cached, false, __ATOMIC_RELAXED);
        c->used -= s->cost;
        c->n_entries--;
        snapshot_unref(s);
}

Cache *cache_free(Cache *c) {
        if (!c)
                return NULL;
        while (c->lru_head)
                cache_remove(c, c->lru_head);
        pthread_cond_destroy(&c->done);
        pthread_mutex_destroy(&c->lock);
        free(c);
        return NULL;
}

static Snapshot *lookup_locked(Cache *c, const FileVersion *key) {
        Snapshot *s = c->buckets[bucket_of(key)];

        while (s) {
                Snapshot *next = s->hash_next;

                if (s->key.dev == key->dev && s->key.ino == key->ino) {
                        if (file_version_equal(&s->key, key))
                                return s;
                        /* Same file, other version: it changed, the old copy is stale. */
                        cache_remove(c, s);
                }
                s = next;
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
        while (c->lru_tail && (c->used + s->cost > c->budget || c->n_entries >= CACHE_ENTRIES_MAX))
                cache_remove(c, c->lru_tail);

        s->hash_next = c->buckets[bucket_of(&s->key)];
        c->buckets[bucket_of(&s->key)] = s;
        lru_push_front(c, s);
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

static void pending_unref_locked(Pending *p) {
        if (--p->n_waiters > 0)
                return;
        snapshot_unref(p->result);
        free(p);
}

Snapshot *cache_acquire(Cache *c, const FileVersion *key) {
        pthread_mutex_lock(&c->lock);
        for (;;) {
                Snapshot *s = lookup_locked(c, key);
                Pending *p;

                if (s) {
                        lru_unlink(c, s);
                        lru_push_front(c, s);
                        snapshot_ref(s);
                        pthread_mutex_unlock(&c->lock);
                        return s;
                }
                for (p = c->pending; p && !file_version_equal(&p->key, key); p = p->next)
                        ;
                if (!p) {
                        /* Nobody copies this version: the caller does. Without memory, it just copies alone. */
                        p = calloc(1, sizeof(*p));
                        if (p) {
                                p->key = *key;
                                p->n_waiters = 1; /* the copier's, dropped by cache_complete() */
                                p->next = c->pending;
                                c->pending = p;
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
        if (s) {
                lru_unlink(c, s);
                lru_push_front(c, s);
                snapshot_ref(s);
        }
        pthread_mutex_unlock(&c->lock);
        return s;
}

Snapshot *cache_complete(Cache *c, const FileVersion *key, Snapshot *s) {
        Snapshot *r = NULL;
        Pending **pp, *p;

        pthread_mutex_lock(&c->lock);
        if (s)
                r = insert_locked(c, s);
        for (pp = &c->pending; *pp && !file_version_equal(&(*pp)->key, key); pp = &(*pp)->next)
                ;
        p = *pp;
        if (p) {
                *pp = p->next;
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
        while (c->lru_tail && dropped < bytes) {
                dropped += c->lru_tail->cost;
                cache_remove(c, c->lru_tail);
        }
        pthread_mutex_unlock(&c->lock);
        return dropped;
}
