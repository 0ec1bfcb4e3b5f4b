/* SPDX-License-Identifier: Apache-2.0 OR MIT */
#pragma once

/*
 * Per-uid bookkeeping: live connections, and the memfd snapshots handed to
 * the uid that a client may still hold. Memfd pages stay charged to the
 * daemon as long as any client holds them, so a uid's budget counts every
 * snapshot it was given until a probe (snapshot_probe_unused()) shows that
 * nobody holds it any more. Event loop only, no locking.
 */

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "snapshot.h"

/* Live snapshots a uid may hold at once, whatever their size: each pins one descriptor in the daemon. */
#define ACCOUNT_SNAPSHOTS_MAX 4096u

typedef struct Holder {
        Snapshot *snapshot;
        struct Holder *next;
} Holder;

typedef struct Account {
        uid_t uid;
        unsigned n_connections;
        unsigned n_holders;
        unsigned n_jobs;        /* jobs that may still reserve against this account */
        /*
         * Charged bytes, and bytes that running copies reserved: read by job
         * threads, hence atomic; only the event loop changes bytes.
         */
        uint64_t bytes;
        uint64_t reserved;
        Holder *holders;
        struct Account *next;
} Account;

typedef struct AccountTable {
        Account *accounts;
        unsigned n_accounts;
} AccountTable;

/* The account of @uid, created when missing; NULL on allocation failure. */
Account *account_get(AccountTable *t, uid_t uid);

/*
 * Charges @s to @a unless @a already holds it. Releases whatever the uid no
 * longer holds first; -EDQUOT when the uid would exceed @max_bytes or
 * ACCOUNT_SNAPSHOTS_MAX.
 */
int account_charge(Account *a, Snapshot *s, uint64_t max_bytes);

/*
 * From a job thread: reserves @cost bytes of the uid's budget @max_bytes for
 * a copy about to start, so that parallel copies cannot overshoot it.
 * -EDQUOT when the budget cannot take it. Undone with account_unreserve().
 */
int account_reserve(Account *a, uint64_t cost, uint64_t max_bytes);
void account_unreserve(Account *a, uint64_t cost);

/* Releases the snapshots of @a that nobody holds any more. */
void account_release_unused(Account *a);

/* Releases snapshots nobody holds any more and frees idle accounts. */
void account_table_gc(AccountTable *t);
void account_table_clear(AccountTable *t);
