/* SPDX-License-Identifier: Apache-2.0 OR MIT */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>

#include "reap.h"

static pthread_mutex_t reap_lock = PTHREAD_MUTEX_INITIALIZER;
static int *reap_fds;
static size_t n_reap_fds, n_reap_alloc;
static size_t n_pending; /* atomic copy of n_reap_fds: checked after every event, without the lock */

int reap_defer(int fd) {
        int r = 0;

        pthread_mutex_lock(&reap_lock);
        if (n_reap_fds == n_reap_alloc) {
                size_t n = n_reap_alloc ? 2 * n_reap_alloc : 16;
                int *p = realloc(reap_fds, n * sizeof(int));

                if (!p)
                        r = -ENOMEM;
                else {
                        reap_fds = p;
                        n_reap_alloc = n;
                }
        }
        if (r >= 0) {
                reap_fds[n_reap_fds++] = fd;
                __atomic_store_n(&n_pending, n_reap_fds, __ATOMIC_RELAXED);
        }
        pthread_mutex_unlock(&reap_lock);
        return r;
}

bool reap_pending(void) {
        return __atomic_load_n(&n_pending, __ATOMIC_RELAXED) > 0;
}

size_t reap_take(int **ret) {
        size_t n;

        pthread_mutex_lock(&reap_lock);
        *ret = reap_fds;
        n = n_reap_fds;
        reap_fds = NULL;
        n_reap_fds = n_reap_alloc = 0;
        __atomic_store_n(&n_pending, 0, __ATOMIC_RELAXED);
        pthread_mutex_unlock(&reap_lock);
        return n;
}
