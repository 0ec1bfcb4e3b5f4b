/* SPDX-License-Identifier: Apache-2.0 OR MIT */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include "listen.h"
#include "log.h"
#include "macro.h"

int listen_unix_path(const char *path, int *ret_fd) {
        _cleanup_close_ int fd = -EBADF;
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        socklen_t salen;
        struct stat st;

        if (strlen(path) >= sizeof(sa.sun_path))
                return -ENAMETOOLONG;
        memcpy(sa.sun_path, path, strlen(path));
        salen = (socklen_t) (offsetof(struct sockaddr_un, sun_path) + strlen(path) + 1);

        fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
                return negative_errno();
        if (bind(fd, (struct sockaddr *) &sa, salen) < 0) {
                _cleanup_close_ int probe = -EBADF;

                if (errno != EADDRINUSE)
                        return negative_errno();
                /* Only a socket nobody listens on any more is stale; a live daemon is left alone. */
                if (lstat(path, &st) < 0 || !S_ISSOCK(st.st_mode))
                        return -EADDRINUSE;
                probe = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
                if (probe < 0)
                        return negative_errno();
                if (connect(probe, (struct sockaddr *) &sa, salen) >= 0 || errno != ECONNREFUSED)
                        return -EADDRINUSE;
                if (unlink(path) < 0 || bind(fd, (struct sockaddr *) &sa, salen) < 0)
                        return negative_errno();
        }
        /* Who may read what is decided per request; anybody may ask. */
        if (chmod(path, 0666) < 0 || listen(fd, SOMAXCONN) < 0) {
                int r = negative_errno();
                (void) unlink(path);
                return r;
        }
        *ret_fd = TAKE_FD(fd);
        return 0;
}

/* sd_listen_fds_with_names()'s array: NULL-terminated, every name allocated. */
static char **names_free(char **names) {
        for (char **i = names; i && *i; i++)
                free(*i);
        free(names);
        return NULL;
}
DEFINE_CLEANUP(char *, names_free);

int listen_systemd(int **ret_fds, unsigned *ret_n) {
        _cleanup_(names_freep) char **names = NULL;
        _cleanup_free_ int *fds = NULL;
        unsigned n_fds = 0;
        int n;

        n = sd_listen_fds_with_names(1, &names);
        if (n < 0)
                return n;
        fds = calloc(n > 0 ? (size_t) n : 1, sizeof(int));
        if (!fds) {
                for (int i = 0; i < n; i++)
                        safe_close(SD_LISTEN_FDS_START + i);
                return -ENOMEM;
        }
        for (int i = 0; i < n; i++) {
                int fd = SD_LISTEN_FDS_START + i;
                const char *name = names && names[i] ? names[i] : "?";

                if (sd_is_socket_unix(fd, SOCK_SEQPACKET, 1, NULL, 0) <= 0) {
                        log_warning("Ignoring passed descriptor %i (%s): not a listening AF_UNIX SOCK_SEQPACKET socket.",
                                    fd, name);
                        safe_close(fd);
                } else if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) < 0) {
                        log_errno(LOG_ERR, negative_errno(), "Cannot use passed socket %i (%s): %m", fd, name);
                        safe_close(fd);
                } else
                        fds[n_fds++] = fd;
        }
        *ret_fds = TAKE_PTR(fds);
        *ret_n = n_fds;
        return 0;
}

int socket_peer_groups(int fd, gid_t primary, gid_t **ret, size_t *ret_n) {
        socklen_t len = 32 * sizeof(gid_t);
        _cleanup_free_ gid_t *g = NULL;
        size_t n;

        for (;;) {
                gid_t *ng = realloc(g, len + sizeof(gid_t));

                if (!ng)
                        return -ENOMEM;
                g = ng;
                if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, g, &len) >= 0)
                        break;
                /* The kernel said how much it needs; NGROUPS_MAX bounds it. */
                if (errno != ERANGE || len > 65536 * sizeof(gid_t))
                        return negative_errno();
        }
        n = len / sizeof(gid_t);
        g[n++] = primary;
        *ret = TAKE_PTR(g);
        *ret_n = n;
        return 0;
}
