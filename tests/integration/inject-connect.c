/* SPDX-License-Identifier: Apache-2.0 OR MIT */
/*
 * Code injected into safe-mmapd (LD_PRELOAD) for test-sandbox: it stands for
 * an attacker who got code execution in the running daemon. It wraps
 * sd_event_loop(), which the daemon enters once the sandbox is up, and from
 * there tries to reach the socket $INJECT_CONNECT names:
 *   INJECT_MODE=socket   with a new socket(): expected to be refused;
 *   INJECT_MODE=connect  with a socket made before main(): expected to be killed.
 * It reports on stderr (the daemon's log) and then runs the real loop.
 *   INJECT_MODE=seccomp-load  makes seccomp_load() fail instead, for a sandbox
 *                             that cannot be raised.
 */

#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

typedef struct sd_event sd_event;
int sd_event_loop(sd_event *e);

static int premade = -1;

__attribute__((constructor)) static void inject_init(void) {
        premade = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
}

static void inject_attempt(void) {
        const char *path = getenv("INJECT_CONNECT"), *mode = getenv("INJECT_MODE");
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        int fd;

        if (!path || !mode || strlen(path) >= sizeof(sa.sun_path))
                return;
        strcpy(sa.sun_path, path);
        if (strcmp(mode, "socket") == 0) {
                fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
                if (fd < 0) {
                        fprintf(stderr, "inject: socket() refused: %s\n", strerror(errno));
                        return;
                }
                fprintf(stderr, "inject: socket() allowed\n");
        } else
                fd = premade;
        if (connect(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0)
                fprintf(stderr, "inject: connect() refused: %s\n", strerror(errno));
        else
                fprintf(stderr, "inject: connected\n");
}

/* Exported despite -fvisibility=hidden: it must interpose on libsystemd's. */
__attribute__((visibility("default"))) int sd_event_loop(sd_event *e) {
        int (*real)(sd_event *) = (int (*)(sd_event *)) dlsym(RTLD_NEXT, "sd_event_loop");

        inject_attempt();
        if (!real)
                abort();
        return real(e);
}

int seccomp_load(void *ctx);
__attribute__((visibility("default"))) int seccomp_load(void *ctx) {
        int (*real)(void *) = (int (*)(void *)) dlsym(RTLD_NEXT, "seccomp_load");
        const char *mode = getenv("INJECT_MODE");

        if (mode && strcmp(mode, "seccomp-load") == 0)
                return -EINVAL;
        if (!real)
                abort();
        return real(ctx);
}
