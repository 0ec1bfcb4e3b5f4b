/* SPDX-License-Identifier: Apache-2.0 OR MIT */

/*
 * safe-mmap status: the daemon's own state. The one verb that asks past the
 * public library, through the internal client/status.h.
 */

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "format.h"
#include "status.h"
#include "tool.h"

int verb_status(int argc, char *argv[]) {
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                {}
        };
        const char *path = status_socket_path();
        StatusReport status;
        uint64_t s;
        int c, r, cause;

        optind = 0;
        while ((c = getopt_long(argc, argv, "+:h", options, NULL)) >= 0)
                switch (c) {
                case 'h':
                        help();
                        return EXIT_SUCCESS;
                default:
                        return option_error("status", c, argv);
                }
        if (optind < argc)
                return usage_error("status: unexpected argument '%s'", argv[optind]);

        r = status_query(&status, &cause);
        switch (r) {
        case 0:
                break;
        case -ECONNREFUSED:
                fprintf(stderr, PROGRAM ": no daemon answers at %s: %s\n", path, strerror(-cause));
                return EXIT_FAILURE;
        case -EPERM:
                /* Something listens, but it is not a daemon we may trust: it was not asked. */
                fprintf(stderr, PROGRAM ": the daemon socket %s belongs to a user other than root or you: "
                        "not trusted\n", path);
                return EXIT_FAILURE;
        case -EREMOTEIO:
                fprintf(stderr, PROGRAM ": daemon at %s refused the status request: %s\n", path,
                        strerror(-cause));
                return EXIT_FAILURE;
        default:
                fprintf(stderr, PROGRAM ": daemon at %s did not answer: %s\n", path, strerror(-cause));
                return EXIT_FAILURE;
        }

        s = status.uptime_usec / 1000000;
        printf("socket:        %s\n", path);
        printf("connections:   %" PRIu32 "\n", status.connections);
        printf("served:        %" PRIu64 "\n", status.served);
        print_bytes("bytes held:    ", status.bytes_held);
        printf("cache entries: %" PRIu32 "\n", status.cache_entries);
        printf("uptime:        ");
        if (s >= 86400)
                printf("%" PRIu64 "d ", s / 86400);
        if (s >= 3600)
                printf("%" PRIu64 "h ", s / 3600 % 24);
        if (s >= 60)
                printf("%" PRIu64 "min ", s / 60 % 60);
        printf("%" PRIu64 "s\n", s % 60);
        return EXIT_SUCCESS;
}

