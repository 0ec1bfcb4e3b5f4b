/* SPDX-License-Identifier: Apache-2.0 OR MIT */
#include <errno.h>
#include <stdlib.h>

#include "account.h"
#include "log.h"

Account *account_get(AccountTable *t, uid_t uid) {
        Account *a;

        for (a = t->accounts; a; a = a->next)
                if (a->uid == uid)
                        return a;
        a = calloc(1, sizeof(*a));
        if (!a)
                return NULL;
        a->uid = uid;
        a->next = t->accounts;
        t->accounts = a;
        t->n_accounts++;
        return a;
}

void account_release_unused(Account *a) {
        static bool warned;

        for (Holder **h = &a->holders; *h;) {
                Holder *x = *h;
                int r = snapshot_probe_unused(x->snapshot);

                if (r < 0 && !warned) {
                        /* Then nothing can tell; releasing keeps the service usable, at the cost of the bound. */
                        log_errno(LOG_WARNING, r, "Cannot probe whether clients still hold a snapshot: %m");
                        warned = true;
                }
                if (r == 0) {
                        h = &x->next;
                        continue;
                }
                *h = x->next;
                __atomic_sub_fetch(&a->bytes, x->snapshot->cost, __ATOMIC_RELAXED);
                a->n_holders--;
                snapshot_unref(x->snapshot);
                free(x);
        }
}

int account_charge(Account *a, Snapshot *s, uint64_t max_bytes) {
        Holder *h;

        if (s->kind != PROTO_KIND_SEALED_MEMFD)
                return 0;
        for (h = a->holders; h; h = h->next)
                if (h->snapshot == s)
                        return 0;

        account_release_unused(a);
        if (a->n_holders >= ACCOUNT_SNAPSHOTS_MAX || a->bytes + s->cost > max_bytes)
                return -EDQUOT;

        h = calloc(1, sizeof(*h));
        if (!h)
                return -ENOMEM;
        h->snapshot = snapshot_ref(s);
        h->next = a->holders;
        a->holders = h;
        a->n_holders++;
        __atomic_add_fetch(&a->bytes, s->cost, __ATOMIC_RELAXED);
        return 0;
}

int account_reserve(Account *a, uint64_t cost, uint64_t max_bytes) {
        uint64_t held = __atomic_load_n(&a->bytes, __ATOMIC_RELAXED);
        uint64_t before = __atomic_fetch_add(&a->reserved, cost, __ATOMIC_RELAXED);

        if (held > max_bytes || before > max_bytes - held || cost > max_bytes - held - before) {
                __atomic_sub_fetch(&a->reserved, cost, __ATOMIC_RELAXED);
                return -EDQUOT;
        }
        return 0;
}

void account_unreserve(Account *a, uint64_t cost) {
        __atomic_sub_fetch(&a->reserved, cost, __ATOMIC_RELAXED);
}

static void account_free(Account *a) {
        while (a->holders) {
                Holder *h = a->holders;

                a->holders = h->next;
                snapshot_unref(h->snapshot);
                free(h);
        }
        free(a);
}

void account_table_gc(AccountTable *t) {
        for (Account **p = &t->accounts; *p;) {
                Account *a = *p;

                account_release_unused(a);
                if (a->n_connections == 0 && a->n_holders == 0 && a->n_jobs == 0) {
                        *p = a->next;
                        t->n_accounts--;
                        account_free(a);
                } else
                        p = &a->next;
        }
}

void account_table_clear(AccountTable *t) {
        while (t->accounts) {
                Account *a = t->accounts;

                t->accounts = a->next;
                account_free(a);
        }
        t->n_accounts = 0;
}
