/* SPDX-License-Identifier: Apache-2.0 OR MIT */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "manager.h"
#include "parse-size.h"
#include "policy.h"
#include "sandbox.h"

#define USEC_PER_SEC UINT64_C(1000000)

static bool arg_check_policy;

/*
 * Loads the policy exactly as start-up and SIGHUP do (same parser, same root
 * checks, same log lines on stderr), prints the grants that would be in
 * force, and fails if any file or grant was refused.
 */
static int check_policy(const char *dir) {
        _cleanup_(policy_freep) Policy *p = NULL;
        int r;

        r = policy_load(dir, &p);
        if (r < 0)
                return log_errno(LOG_ERR, r, "Cannot load the policy: %m");
        policy_dump(p, stdout);
        printf("%u grant(s), %u error(s).\n", p->n_grants, p->n_errors);
        return p->n_errors > 0 ? -EBADMSG : 0;
}

/*
 * MANAGER_JOBS_PER_CPU per CPU, between 4 and an eighth of the workers: a uid
 * may stall twice as many workers (its jobs, and closes of what it sent),
 * and most must stay for everybody else.
 */
static unsigned default_jobs_per_uid(void) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        unsigned v = n > 0 && n < 1024 ? (unsigned) n * MANAGER_JOBS_PER_CPU : 4u;

        if (v > MANAGER_WORKERS_MAX / 8)
                v = MANAGER_WORKERS_MAX / 8;
        return v < 4 ? 4 : v;
}

static void help(void) {
        printf("safe-mmapd [OPTIONS]\n\n"
               "Hands out immutable snapshots of files as sealed memfds.\n\n"
               "  --listen PATH               Bind a socket at PATH instead of taking systemd's\n"
               "  --policy-dir DIR            Path grants (default " POLICY_DIR_DEFAULT ")\n"
               "  --exit-idle SECONDS         Exit after SECONDS without a request (0: never)\n"
               "  --max-size BYTES            Largest file to copy (default 256M)\n"
               "  --cache-size BYTES          Memory for cached snapshots (default 512M)\n"
               "  --max-bytes-per-uid BYTES   Snapshot memory one uid may hold (default 1G)\n"
               "  --max-bytes BYTES           Snapshot memory of all uids together (default 4G)\n"
               "  --max-jobs-per-uid N        Requests of one uid running or queued (default 4 per CPU)\n"
               "  --max-connections N         Connections overall (default 256)\n"
               "  --max-connections-per-uid N Connections of one uid (default 16)\n"
               "  --idle-timeout SECONDS      Drop idle connections (default 30, 0: never)\n"
               "  --check-policy [DIR]        Load the policy as a reload would, print its grants, exit\n"
               "  --help, --version\n");
}

static int parse_uint(const char *s, uint64_t max, uint64_t *ret) {
        char *end;
        unsigned long long v;

        if (!s || *s < '0' || *s > '9')
                return -EINVAL;
        errno = 0;
        v = strtoull(s, &end, 10);
        if (errno || *end || v > max)
                return -ERANGE;
        *ret = v;
        return 0;
}

static int parse_argv(int argc, char *argv[], ManagerConfig *c) {
        enum { ARG_LISTEN = 0x100, ARG_POLICY_DIR, ARG_EXIT_IDLE, ARG_MAX_SIZE, ARG_CACHE_SIZE,
               ARG_MAX_BYTES_PER_UID, ARG_MAX_BYTES, ARG_MAX_JOBS_PER_UID, ARG_MAX_CONNECTIONS,
               ARG_MAX_CONNECTIONS_PER_UID, ARG_IDLE_TIMEOUT, ARG_VERSION, ARG_CHECK_POLICY };
        static const struct option options[] = {
                { "help",                    no_argument,       NULL, 'h' },
                { "version",                 no_argument,       NULL, ARG_VERSION },
                { "listen",                  required_argument, NULL, ARG_LISTEN },
                { "policy-dir",              required_argument, NULL, ARG_POLICY_DIR },
                { "exit-idle",               required_argument, NULL, ARG_EXIT_IDLE },
                { "max-size",                required_argument, NULL, ARG_MAX_SIZE },
                { "cache-size",              required_argument, NULL, ARG_CACHE_SIZE },
                { "max-bytes-per-uid",       required_argument, NULL, ARG_MAX_BYTES_PER_UID },
                { "max-bytes",               required_argument, NULL, ARG_MAX_BYTES },
                { "max-jobs-per-uid",        required_argument, NULL, ARG_MAX_JOBS_PER_UID },
                { "max-connections",         required_argument, NULL, ARG_MAX_CONNECTIONS },
                { "max-connections-per-uid", required_argument, NULL, ARG_MAX_CONNECTIONS_PER_UID },
                { "idle-timeout",            required_argument, NULL, ARG_IDLE_TIMEOUT },
                { "check-policy",            optional_argument, NULL, ARG_CHECK_POLICY },
                {}
        };
        uint64_t v;
        int opt, r = 0;

        while ((opt = getopt_long(argc, argv, "h", options, NULL)) >= 0) {
                switch (opt) {
                case 'h':
                        help();
                        return 0;
                case ARG_VERSION:
                        printf("safe-mmapd " PACKAGE_VERSION "\n");
                        return 0;
                case ARG_LISTEN:
                        c->listen_path = optarg;
                        break;
                case ARG_POLICY_DIR:
                        c->policy_dir = optarg;
                        break;
                case ARG_CHECK_POLICY:
                        arg_check_policy = true;
                        if (optarg)
                                c->policy_dir = optarg;
                        break;
                case ARG_EXIT_IDLE:
                case ARG_IDLE_TIMEOUT:
                        r = parse_uint(optarg, UINT64_MAX / USEC_PER_SEC, &v);
                        if (r >= 0)
                                *(opt == ARG_EXIT_IDLE ? &c->exit_idle_usec : &c->idle_timeout_usec) = v * USEC_PER_SEC;
                        break;
                case ARG_MAX_SIZE:
                case ARG_CACHE_SIZE:
                case ARG_MAX_BYTES_PER_UID:
                        r = parse_size(optarg, &v);
                        if (r >= 0)
                                *(opt == ARG_MAX_SIZE ? &c->max_size :
                                  opt == ARG_CACHE_SIZE ? &c->cache_size : &c->max_bytes_per_uid) = v;
                        break;
                case ARG_MAX_BYTES:
                        r = parse_size(optarg, &c->max_bytes);
                        break;
                case ARG_MAX_JOBS_PER_UID:
                        /* A uid may stall twice this many workers: most must stay for everybody else. */
                        r = parse_uint(optarg, MANAGER_WORKERS_MAX / 4, &v);
                        if (r >= 0 && v == 0)
                                r = -ERANGE;
                        if (r >= 0)
                                c->max_jobs_per_uid = (unsigned) v;
                        break;
                case ARG_MAX_CONNECTIONS:
                case ARG_MAX_CONNECTIONS_PER_UID:
                        r = parse_uint(optarg, 1000000, &v);
                        if (r >= 0 && v == 0)
                                r = -ERANGE;
                        if (r >= 0)
                                *(opt == ARG_MAX_CONNECTIONS ? &c->max_connections : &c->max_connections_per_uid) =
                                        (unsigned) v;
                        break;
                default:
                        return -EINVAL;
                }
                if (r < 0) {
                        fprintf(stderr, "Invalid option value \"%s\".\n", optarg);
                        return r;
                }
        }
        /* "--check-policy DIR" as well as "--check-policy=DIR". */
        if (arg_check_policy && optind == argc - 1)
                c->policy_dir = argv[optind++];
        if (optind < argc) {
                fprintf(stderr, "Unexpected argument: %s\n", argv[optind]);
                return -EINVAL;
        }
        return 1;
}

#define SHMEM_ENABLED_PATH "/sys/kernel/mm/transparent_hugepage/shmem_enabled"

/*
 * Copies into memfds are shmem: with huge pages off they run 2.5-3x slower
 * than with shmem_enabled=within_size (measured on this project's
 * benchmark), slower than a client reading the file into malloc'd memory.
 * Said once, at start-up: read before the sandbox takes /sys away.
 */
static void log_shmem_huge_pages(void) {
        char buf[128] = {}, *start, *end;
        FILE *f;

        f = fopen(SHMEM_ENABLED_PATH, "re");
        if (!f)
                return; /* no THP in this kernel, or no /sys: nothing to say */
        if (!fgets(buf, sizeof(buf), f)) {
                fclose(f);
                return;
        }
        fclose(f);
        /* "always within_size advise [never] deny force": the setting in force is in brackets. */
        start = strchr(buf, '[');
        end = start ? strchr(start, ']') : NULL;
        if (!end)
                return;
        *end = '\0';
        start++;
        /* advise needs madvise() on a mapping; the daemon copies with write() and sendfile(). */
        if (strcmp(start, "always") == 0 || strcmp(start, "within_size") == 0 || strcmp(start, "force") == 0)
                return;
        log_notice("Shmem huge pages are off (" SHMEM_ENABLED_PATH ": %s): copies run 2.5-3x slower than with "
                   "within_size; see safe-mmapd(8), PERFORMANCE.", start);
}

int main(int argc, char *argv[]) {
        ManagerConfig config = {
                .policy_dir = POLICY_DIR_DEFAULT,
                .max_size = UINT64_C(256) << 20,
                .cache_size = UINT64_C(512) << 20,
                .max_bytes_per_uid = UINT64_C(1) << 30,
                .max_bytes = UINT64_C(4) << 30,
                .max_jobs_per_uid = default_jobs_per_uid(),
                .max_connections = 256,
                .max_connections_per_uid = 16,
                .idle_timeout_usec = 30 * USEC_PER_SEC,
        };
        _cleanup_(manager_freep) Manager *m = NULL;
        int r;

        log_setup();
        r = parse_argv(argc, argv, &config);
        if (r <= 0)
                return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
        if (arg_check_policy)
                return check_policy(config.policy_dir) < 0 ? EXIT_FAILURE : EXIT_SUCCESS;

        log_shmem_huge_pages();
        r = manager_new(&config, &m);
        if (r < 0)
                return EXIT_FAILURE; /* manager_new() said why. */
        r = sandbox_apply(config.listen_path);
        if (r < 0)
                return EXIT_FAILURE; /* sandbox_apply() said why. */
        r = manager_run(m);
        m = manager_free(m);
        if (r < 0) {
                log_errno(LOG_ERR, r, "Exiting on error: %m");
                return EXIT_FAILURE;
        }
        return EXIT_SUCCESS;
}
