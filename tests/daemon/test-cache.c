/* SPDX-License-Identifier: Apache-2.0 OR MIT */
/*
 * The snapshot cache: identical requests share one memfd, also when they
 * arrive while the first copy is still being made; another version of the
 * same file drops the stale entry; the memory budget evicts least recently
 * used first, and cache_trim() makes room on demand.
 */

#include <check.h>
#include <pthread.h>

#include "cache.h"
#include "daemon-test.h"

#define KIB UINT64_C(1024)

static FileVersion key_of(uint64_t ino, int64_t mtime) {
        return (FileVersion) { .dev = 1, .ino = ino, .size = 4096, .mtime_sec = mtime, .ctime_sec = mtime };
}

/* A consistent snapshot under @key, as a copy protected by a lease would be. */
static Snapshot *make_keyed(const FileVersion *key, size_t size) {
        Snapshot *s = make_snapshot(size, 'c');

        s->key = *key;
        s->consistent = true;
        return s;
}

/* What a job does on a miss: copy, then complete. */
static Snapshot *fill(Cache *c, const FileVersion *key, size_t size) {
        Snapshot *s, *r;

        ck_assert_ptr_null(cache_acquire(c, key));
        s = make_keyed(key, size);
        r = cache_complete(c, key, s);
        ck_assert_ptr_eq(r, s);
        snapshot_unref(s);
        return r;
}

START_TEST(test_hit_and_version) {
        FileVersion k1 = key_of(10, 100), k2 = key_of(10, 101);
        Cache *c;
        Snapshot *s, *hit;

        ck_assert_int_eq(cache_new(1024 * KIB, &c), 0);
        s = fill(c, &k1, 4096);
        hit = cache_acquire(c, &k1);
        ck_assert_ptr_eq(hit, s);
        ck_assert_uint_eq(cache_entries(c), 1);
        snapshot_unref(hit);
        /* The file changed: the old entry goes, the caller copies. */
        ck_assert_ptr_null(cache_acquire(c, &k2));
        ck_assert_uint_eq(cache_entries(c), 0);
        ck_assert_ptr_null(cache_complete(c, &k2, NULL));
        snapshot_unref(s);
        cache_free(c);
}
END_TEST

START_TEST(test_inconsistent_not_kept) {
        FileVersion k = key_of(11, 100);
        Cache *c;
        Snapshot *s, *r;

        ck_assert_int_eq(cache_new(1024 * KIB, &c), 0);
        ck_assert_ptr_null(cache_acquire(c, &k));
        s = make_snapshot(4096, 'x');
        s->key = k;
        s->consistent = false; /* a copy no lease protected */
        r = cache_complete(c, &k, s);
        ck_assert_ptr_eq(r, s);
        ck_assert_uint_eq(cache_entries(c), 0);
        snapshot_unref(r);
        snapshot_unref(s);
        cache_free(c);
}
END_TEST

START_TEST(test_budget_lru_and_trim) {
        FileVersion k[4] = { key_of(1, 1), key_of(2, 1), key_of(3, 1), key_of(4, 1) };
        Cache *c;

        ck_assert_int_eq(cache_new(12 * KIB, &c), 0);
        for (int i = 0; i < 3; i++)
                snapshot_unref(fill(c, &k[i], 4096));
        /* Touch the first: the second is now the least recently used. */
        snapshot_unref(cache_acquire(c, &k[0]));
        snapshot_unref(fill(c, &k[3], 4096));
        ck_assert_uint_eq(cache_entries(c), 3);
        {
                Snapshot *s = cache_acquire(c, &k[1]);

                ck_assert_ptr_null(s);
                ck_assert_ptr_null(cache_complete(c, &k[1], NULL));
        }
        ck_assert_uint_eq(cache_trim(c, 5 * KIB), 8 * KIB);
        ck_assert_uint_eq(cache_entries(c), 1);
        ck_assert_uint_eq(cache_trim(c, UINT64_MAX), 4 * KIB);
        ck_assert_uint_eq(cache_entries(c), 0);
        cache_free(c);
}
END_TEST

typedef struct Waiter {
        Cache *cache;
        FileVersion key;
        Snapshot *got;
} Waiter;

static void *waiter_thread(void *userdata) {
        Waiter *w = userdata;

        w->got = cache_acquire(w->cache, &w->key);
        return NULL;
}

/* Two identical requests at once: the second waits for the first one's copy instead of copying again. */
START_TEST(test_waits_for_copy) {
        FileVersion k = key_of(20, 5);
        Waiter w = { .key = k };
        pthread_t thread;
        Snapshot *s, *r;

        ck_assert_int_eq(cache_new(1024 * KIB, &w.cache), 0);
        ck_assert_ptr_null(cache_acquire(w.cache, &k)); /* we copy */
        ck_assert_int_eq(pthread_create(&thread, NULL, waiter_thread, &w), 0);
        usleep(100 * 1000);
        s = make_keyed(&k, 4096);
        r = cache_complete(w.cache, &k, s);
        ck_assert_int_eq(pthread_join(thread, NULL), 0);
        ck_assert_ptr_eq(w.got, s);
        snapshot_unref(w.got);
        snapshot_unref(r);
        snapshot_unref(s);
        cache_free(w.cache);
}
END_TEST

int main(void) {
        const TTest *const tests[] = { test_hit_and_version, test_inconsistent_not_kept, test_budget_lru_and_trim,
                                       test_waits_for_copy };

        return run_tests("cache", tests, ELEMENTSOF(tests));
}
