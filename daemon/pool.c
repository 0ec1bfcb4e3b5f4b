/* SPDX-License-Identifier: Apache-2.0 OR MIT */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "macro.h"
#include "pool.h"

/* Sanitizer runtimes need more stack than a job itself. */
#define POOL_STACK_SIZE (1024u * 1024u)
/* Idle workers go away after this long: starting a thread per request cost more than the request. */
#define POOL_IDLE_SEC 10

/* A pool left to the process exit stays reachable: leak checkers then know it was left on purpose. */
static Pool *volatile pool_left_behind;

struct Pool {
        pthread_mutex_t lock;
        pthread_cond_t wakeup;  /* work queued, or stopping */
        pthread_cond_t gone;    /* a thread exited */
        int event_fd;
        unsigned max_threads;
        /*
         * n_threads counts a thread from before pthread_create() until it
         * exits; n_spare those of them that will take queued work without
         * another thread being started (idle, or not yet running). Counting
         * a new thread as spare from its creation is what keeps a flood from
         * starting one thread per request; starting one whenever more work is
         * queued than threads are spare is what keeps a job from waiting
         * behind one that never ends.
         */
        unsigned n_threads, n_spare;
        unsigned n_queued, n_in_flight;
        bool stopping;
        List queue;             /* PoolWork.link, oldest first */
        List done;
};

int pool_new(unsigned max_threads, Pool **ret) {
        _cleanup_free_ Pool *p = NULL;

        if (max_threads == 0)
                return -EINVAL;
        p = calloc(1, sizeof(*p));
        if (!p)
                return -ENOMEM;
        p->event_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (p->event_fd < 0)
                return negative_errno();
        pthread_mutex_init(&p->lock, NULL);
        pthread_cond_init(&p->wakeup, NULL);
        pthread_cond_init(&p->gone, NULL);
        list_init(&p->queue);
        list_init(&p->done);
        p->max_threads = max_threads;
        *ret = TAKE_PTR(p);
        return 0;
}

static void *pool_worker(void *userdata) {
        Pool *p = userdata;

        pthread_mutex_lock(&p->lock);
        for (;;) {
                PoolWork *w;

                /* n_spare already counts this thread: from its creation, or from the end of its last work. */
                while (list_is_empty(&p->queue) && !p->stopping) {
                        struct timespec deadline;

                        (void) clock_gettime(CLOCK_REALTIME, &deadline);
                        deadline.tv_sec += POOL_IDLE_SEC;
                        if (pthread_cond_timedwait(&p->wakeup, &p->lock, &deadline) == ETIMEDOUT &&
                            list_is_empty(&p->queue))
                                break;
                }
                w = LIST_FIRST(&p->queue, PoolWork, link);
                if (!w)
                        break;
                list_unlink(&w->link);
                p->n_queued--;
                p->n_spare--;
                pthread_mutex_unlock(&p->lock);

                w->run(w);

                pthread_mutex_lock(&p->lock);
                list_append(&p->done, &w->link);
                p->n_spare++;
                /* An eventfd counter never blocks a writer short of 2^64 - 1 wakeups. */
                (void) eventfd_write(p->event_fd, 1);
        }
        p->n_spare--;
        p->n_threads--;
        pthread_cond_broadcast(&p->gone);
        pthread_mutex_unlock(&p->lock);
        return NULL;
}

/* Called with the lock held. */
static int pool_spawn_locked(Pool *p) {
        pthread_attr_t attr;
        pthread_t thread;
        int r;

        r = pthread_attr_init(&attr);
        if (r != 0)
                return -r;
        (void) pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        (void) pthread_attr_setstacksize(&attr, POOL_STACK_SIZE);
        p->n_threads++;
        p->n_spare++;
        r = pthread_create(&thread, &attr, pool_worker, p);
        pthread_attr_destroy(&attr);
        if (r != 0) {
                p->n_threads--;
                p->n_spare--;
                return -r;
        }
        return 0;
}

int pool_submit(Pool *p, PoolWork *w) {
        int r = 0;

        pthread_mutex_lock(&p->lock);
        list_append(&p->queue, &w->link);
        p->n_queued++;
        p->n_in_flight++;
        if (p->n_queued > p->n_spare && p->n_threads < p->max_threads)
                r = pool_spawn_locked(p);
        else
                pthread_cond_signal(&p->wakeup);
        pthread_mutex_unlock(&p->lock);
        return r;
}

void pool_take_done(Pool *p, List *done) {
        eventfd_t v;

        (void) eventfd_read(p->event_fd, &v);
        pthread_mutex_lock(&p->lock);
        for (List *i = p->done.next; i != &p->done; i = i->next)
                p->n_in_flight--;
        list_splice_tail(done, &p->done);
        pthread_mutex_unlock(&p->lock);
}

int pool_get_fd(Pool *p) {
        return p->event_fd;
}

static unsigned pool_read(Pool *p, const unsigned *field) {
        unsigned v;

        pthread_mutex_lock(&p->lock);
        v = *field;
        pthread_mutex_unlock(&p->lock);
        return v;
}

unsigned pool_threads(Pool *p) {
        return pool_read(p, &p->n_threads);
}

unsigned pool_max_threads(Pool *p) {
        return p->max_threads;
}

unsigned pool_in_flight(Pool *p) {
        return pool_read(p, &p->n_in_flight);
}

Pool *pool_free(Pool *p) {
        bool busy;

        if (!p)
                return NULL;
        pthread_mutex_lock(&p->lock);
        p->stopping = true;
        pthread_cond_broadcast(&p->wakeup);
        busy = p->n_in_flight > 0;
        while (!busy && p->n_threads > 0)
                pthread_cond_wait(&p->gone, &p->lock);
        pthread_mutex_unlock(&p->lock);
        if (busy) {
                pool_left_behind = p;
                return NULL;
        }
        safe_close(p->event_fd);
        pthread_cond_destroy(&p->gone);
        pthread_cond_destroy(&p->wakeup);
        pthread_mutex_destroy(&p->lock);
        free(p);
        return NULL;
}
