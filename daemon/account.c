/* SPDX-License-Identifier: Apache-2.0 OR MIT */
#include <errno.h>
#include <stdlib.h>

#include "account.h"
#include "log.h"
#include "macro.h"

void account_table_init(AccountTable *t, const AccountLimits *limits) {
        *t = (AccountTable) { .limits = *limits };
        list_init(&t->accounts);
}

Account *account_get(AccountTable *t, uid_t uid) {
        Account *a;

        LIST_FOREACH(a, &t->accounts, Account, link)
                if (a->uid == uid)
                        return a;
        a = calloc(1, sizeof(*a));
        if (!a)
                return NULL;
        a->table = t;
        a->uid = uid;
        list_init(&a->dispose_waiting);
        list_init(&a->holders);
        list_prepend(&t->accounts, &a->link);
        t->n_accounts++;
        return a;
}

static bool account_is_subordinate(const Account *a) {
        return a->uid >= ACCOUNT_SUBORDINATE_UID_MIN;
}

/* What all subordinate uids together may have of @max: a quarter, at least one. */
static unsigned subordinate_share(unsigned max) {
        return max / 4 > 0 ? max / 4 : 1;
}

/*
 * Whether the table holds fewer than @max of something overall (@all), and,
 * for a subordinate uid, fewer than the subordinate uids' share of it
 * (@subordinate).
 */
static bool table_has_room(const Account *a, unsigned all, unsigned subordinate, unsigned max) {
        return all < max && !(account_is_subordinate(a) && subordinate >= subordinate_share(max));
}

/* Counts one more (@add) or one less of something @a has: its own count, overall, and the subordinate uids'. */
static void account_count(const Account *a, unsigned *own, unsigned *all, unsigned *subordinate, bool add) {
        unsigned *counts[] = { own, all, account_is_subordinate(a) ? subordinate : NULL };

        for (size_t i = 0; i < ELEMENTSOF(counts); i++)
                if (counts[i])
                        *counts[i] = add ? *counts[i] + 1 : *counts[i] - 1;
}

int account_connection_admit(Account *a) {
        const AccountTable *t = a->table;

        /* Connections being closed hold a socket and what it received until a worker has closed them. */
        if (a->n_connections >= t->limits.max_connections_per_uid ||
            a->n_closing >= ACCOUNT_CLOSING_PER_CONNECTION * t->limits.max_connections_per_uid)
                return -EMFILE;
        if (!table_has_room(a, t->n_connections, t->n_connections_subordinate, t->limits.max_connections))
                return -ENFILE;
        return 0;
}

void account_connection_add(Account *a) {
        account_count(a, &a->n_connections, &a->table->n_connections, &a->table->n_connections_subordinate, true);
}

void account_connection_closing(Account *a) {
        account_count(a, &a->n_connections, &a->table->n_connections, &a->table->n_connections_subordinate, false);
        a->n_closing++;
}

void account_closing_done(Account *a) {
        a->n_closing--;
}

int account_pend_fd(Account *a, int fd) {
        if (a->n_pending_fds >= (size_t) ACCOUNT_PENDING_PER_CONNECTION * a->table->limits.max_connections_per_uid)
                return -ENOBUFS;
        if (a->n_pending_fds == a->n_pending_alloc) {
                size_t n = a->n_pending_alloc ? 2 * a->n_pending_alloc : 16;
                int *p = realloc(a->pending_fds, n * sizeof(int));

                if (!p)
                        return -ENOMEM;
                a->pending_fds = p;
                a->n_pending_alloc = n;
        }
        a->pending_fds[a->n_pending_fds++] = fd;
        return 0;
}

bool account_may_dispose(const Account *a) {
        return a->n_disposing < a->table->limits.max_jobs_per_uid;
}

int account_job_admit(Account *a) {
        const AccountTable *t = a->table;

        if (a->n_jobs >= t->limits.max_jobs_per_uid)
                return -EAGAIN;
        if (!table_has_room(a, t->n_jobs, t->n_jobs_subordinate, t->limits.max_jobs))
                return -ENOBUFS;
        return 0;
}

void account_job_add(Account *a) {
        account_count(a, &a->n_jobs, &a->table->n_jobs, &a->table->n_jobs_subordinate, true);
}

void account_job_remove(Account *a) {
        account_count(a, &a->n_jobs, &a->table->n_jobs, &a->table->n_jobs_subordinate, false);
}

/* Adds @delta to *@counter unless @base + *@counter + @delta would pass @max. Lock-free, never overshoots. */
static bool add_within(uint64_t *counter, uint64_t base, uint64_t delta, uint64_t max) {
        uint64_t cur = __atomic_load_n(counter, __ATOMIC_RELAXED);

        do {
                if (base > max || cur > max - base || delta > max - base - cur)
                        return false;
        } while (!__atomic_compare_exchange_n(counter, &cur, cur + delta, true, __ATOMIC_RELAXED,
                                              __ATOMIC_RELAXED));
        return true;
}

int account_reserve(Account *a, uint64_t *reserved, uint64_t total) {
        AccountTable *t = a->table;
        uint64_t delta;

        if (total <= *reserved)
                return 0;
        delta = total - *reserved;
        if (!add_within(&a->reserved, __atomic_load_n(&a->bytes, __ATOMIC_RELAXED), delta,
                        t->limits.max_bytes_per_uid))
                return -EDQUOT;
        if (!add_within(&t->reserved, snapshot_bytes_live(), delta, t->limits.max_bytes)) {
                __atomic_sub_fetch(&a->reserved, delta, __ATOMIC_RELAXED);
                return -ENOSPC;
        }
        *reserved = total;
        return 0;
}

/*
 * Whether a uid that may hold @s pays for it. Nothing tells the daemon which
 * uid still holds its own description of a snapshot that several uids were
 * given (a lease probe only says whether anybody does): one uid would stay
 * charged for as long as any other holds it, and a popular snapshot would
 * use up the budget of uids that let go of it long ago. So a snapshot that
 * several uids were given is paid by the cache for as long as the cache
 * keeps it (within --cache-size); once evicted, by each uid that was given
 * it, until nobody holds it any more.
 */
static bool account_pays(const Snapshot *s) {
        return !(s->n_accounts > 1 && __atomic_load_n(&s->cached, __ATOMIC_RELAXED));
}

/* Recomputes what @a pays for: who else holds a snapshot, and what the cache keeps, change meanwhile. */
static void account_recount(Account *a) {
        uint64_t bytes = 0;
        Holder *h;

        LIST_FOREACH(h, &a->holders, Holder, link)
                if (account_pays(h->snapshot))
                        bytes += h->snapshot->cost;
        __atomic_store_n(&a->bytes, bytes, __ATOMIC_RELAXED);
}

static bool account_fits(const Account *a, const Snapshot *s) {
        return a->n_holders < ACCOUNT_SNAPSHOTS_MAX &&
                !(account_pays(s) && a->bytes + s->cost > a->table->limits.max_bytes_per_uid);
}

static int account_charge(Account *a, Snapshot *s) {
        Holder *h;

        if (s->kind != PROTO_KIND_SEALED_MEMFD)
                return 0;
        LIST_FOREACH(h, &a->holders, Holder, link)
                if (h->snapshot == s)
                        return 0;

        s->n_accounts++;
        if (!account_fits(a, s)) {
                /* Only now is it worth probing everything the uid holds: what it let go of may make room. */
                s->n_accounts--;
                account_release_unused(a);
                s->n_accounts++;
        }
        if (!account_fits(a, s)) {
                s->n_accounts--;
                return -EDQUOT;
        }

        h = calloc(1, sizeof(*h));
        if (!h) {
                s->n_accounts--;
                return -ENOMEM;
        }
        h->snapshot = snapshot_ref(s);
        list_prepend(&a->holders, &h->link);
        a->n_holders++;
        account_recount(a);
        return 0;
}

int account_settle(Account *a, uint64_t *reserved, Snapshot *s) {
        if (*reserved > 0) {
                __atomic_sub_fetch(&a->reserved, *reserved, __ATOMIC_RELAXED);
                __atomic_sub_fetch(&a->table->reserved, *reserved, __ATOMIC_RELAXED);
                *reserved = 0;
        }
        return s ? account_charge(a, s) : 0;
}

/* Lets go of @h: the uid may no longer hold its snapshot. */
static void holder_free(Account *a, Holder *h) {
        list_unlink(&h->link);
        a->n_holders--;
        h->snapshot->n_accounts--;
        snapshot_unref(h->snapshot);
        free(h);
}

/* Probes the holder @h: whether it was released (then it is freed). */
static bool account_probe(Account *a, Holder *h) {
        static bool warned;
        int r;

        a->table->n_probes++;
        r = snapshot_probe_unused(h->snapshot);
        if (r < 0 && !warned) {
                /* Then nothing can tell; releasing keeps the service usable, at the cost of the bound. */
                log_errno(LOG_WARNING, r, "Cannot probe whether clients still hold a snapshot: %m");
                warned = true;
        }
        if (r == 0)
                return false;
        holder_free(a, h);
        return true;
}

void account_release_unused(Account *a) {
        Holder *h;

        LIST_FOREACH_SAFE(h, next, &a->holders, Holder, link)
                (void) account_probe(a, h);
        /* Holders went away: the round robin starts over. */
        a->probe_at = NULL;
        account_recount(a);
}

void account_release_some(Account *a) {
        List *at = a->probe_at ? &a->probe_at->link : a->holders.next;
        bool released = false;

        if (a->bytes > a->table->limits.max_bytes_per_uid / 2) {
                account_release_unused(a);
                return;
        }
        /*
         * The cursor is the next holder to probe: new holders go first in
         * the list and never move it; only this function and
         * account_release_unused() remove holders, and the latter resets it.
         */
        for (unsigned i = 0; i < ACCOUNT_PROBES_PER_REQUEST && at != &a->holders; i++) {
                List *next = at->next;

                if (account_probe(a, LIST_ENTRY(at, Holder, link)))
                        released = true;
                at = next;
        }
        a->probe_at = at != &a->holders ? LIST_ENTRY(at, Holder, link) : NULL;
        if (released)
                account_recount(a);
}

static void account_free(Account *a) {
        Holder *h;

        /* At exit: sockets nobody closed yet are left to the process exit, not closed here. */
        free(a->pending_fds);
        LIST_FOREACH_SAFE(h, next, &a->holders, Holder, link)
                holder_free(a, h);
        list_unlink(&a->link);
        a->table->n_accounts--;
        free(a);
}

void account_table_gc(AccountTable *t) {
        Account *a;

        LIST_FOREACH_SAFE(a, next, &t->accounts, Account, link) {
                account_release_unused(a);
                if (a->n_connections == 0 && a->n_closing == 0 && a->n_pending_fds == 0 && a->n_disposing == 0 &&
                    a->n_fastpath_fds == 0 && a->n_holders == 0 && a->n_jobs == 0)
                        account_free(a);
        }
}

void account_table_clear(AccountTable *t) {
        Account *a;

        LIST_FOREACH_SAFE(a, next, &t->accounts, Account, link)
                account_free(a);
}
