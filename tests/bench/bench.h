/* SPDX-License-Identifier: Apache-2.0 OR MIT */
#pragma once

/*
 * The pieces bench-snapshot's goals share: the run's configuration, the
 * servers, the files, and a way to run N client processes side by side.
 */

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "harness.h"
#include "report.h"

#define SMALL_SIZE 4096u
#define FILL_BYTE 's'
#define PAGE 4096u
#define COLD_FILES_MAX 8u
#define BIG_TRIES 3u              /* P1: a round keeps the fastest of this many */

typedef struct Config {
        bool quick;
        unsigned rounds;
        double rate_seconds;            /* P2: how long one rate is measured */
        uint64_t big_sizes[2];          /* P1 */
        uint64_t hit_size;              /* P3 */
        uint64_t shared_size;           /* P4 */
        unsigned holders;               /* P4 */
        unsigned map_ops;               /* P5, per round and side */
        unsigned scale_clients;
} Config;

/* Who answers a snapshot request. */
typedef enum Server {
        SERVER_DAEMON,                  /* safe-mmapd */
        SERVER_BARE,                    /* the bare fd-passing server */
        SERVER_LOCAL,                   /* nobody: SAFE_MMAP_NO_DAEMON */
        _SERVER_MAX,
} Server;

/* The machine's transparent huge pages: the active choice of each sysfs file ("never", "madvise", ...). */
typedef struct HugePages {
        char anon[32];                  /* transparent_hugepage/enabled */
        char shmem[32];                 /* transparent_hugepage/shmem_enabled */
        bool shmem_on;                  /* memfds may get huge pages */
} HugePages;

typedef struct Bench {
        Config cfg;
        HugePages huge;
        Harness daemon;                 /* safe-mmapd for P1, P2, P3 */
        char *bare_socket;
        pid_t bare_pid;
        char *small_path;               /* SMALL_SIZE bytes, never changed */
        char *cold_paths[COLD_FILES_MAX]; /* SMALL_SIZE bytes each, changed before every request */
        Report report;
} Bench;

/* What one client process reports back. */
typedef struct WorkerResult {
        uint32_t index;
        int32_t error;                  /* 0 or -errno */
        uint64_t ops;
        uint64_t usec;
} WorkerResult;

/* The starting line: who is ready, and the shot that starts them all. */
typedef struct WorkerStart {
        int ready;
        int go;
} WorkerStart;

/*
 * Runs @fn in @n forked processes; each fills its result and exits. They
 * start together: @fn calls worker_wait_go() when it is ready to begin, and
 * the shot goes off once all of them are. Returns 0 and every result in
 * @ret (indexed as @fn was), -errno if a process could not be forked or died.
 */
typedef void (*WorkerFn)(const Bench *b, const void *userdata, const WorkerStart *start, WorkerResult *ret);
int workers_run(const Bench *b, unsigned n, WorkerFn fn, const void *userdata, WorkerResult *ret);
void worker_wait_go(const WorkerStart *start);

/* Points the library at @s (not for SERVER_LOCAL); the flags that go with it. */
void server_use(const Bench *b, Server s);
unsigned server_flags(Server s);
const char *server_socket(const Bench *b, Server s);

/* Changes @path's first bytes and gives it a new mtime, so that no cache can know it. */
int file_change(const char *path);
/* Creates @path of @size bytes of FILL_BYTE. */
int file_make(const char *path, uint64_t size);

/*
 * One snapshot of @file by the library, checked (size and last byte) and
 * freed; with @read_pages every page is read once first. 0 or -errno.
 */
int snapshot_once(int file, unsigned flags, uint64_t size, bool read_pages);

/* now_usec() is test-util.h's. */
/* Stops the compiler from dropping stores into memory nobody reads. */
static inline void clobber(const void *p) {
        __asm__ volatile("" : : "r"(p) : "memory");
}

void goal_big_copy(Bench *b);      /* P1 */
void goal_small(Bench *b);         /* P2 */
void goal_cache_hit(Bench *b);     /* P3 */
void goal_shared(Bench *b);        /* P4 */
void goal_map(Bench *b);           /* P5 */
void goal_scale(Bench *b);         /* 1,000 clients */

/* Reads the huge page settings; P1 makes its baselines' buffers follow shmem's. */
void huge_pages_read(HugePages *ret);

/* Prints why a goal could not be measured; the run goes on without it. */
void bench_fail(const char *goal, const char *what, int r);
