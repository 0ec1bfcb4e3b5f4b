/* SPDX-License-Identifier: Apache-2.0 OR MIT */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <fcntl.h>
#include <linux/fuse.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "macro.h"
#include "stallfs.h"

enum {
        NODE_ROOT = FUSE_ROOT_ID,
        NODE_DATA,
        NODE_STUCK,
        NODE_STUCK_OPEN,
        NODE_STUCK_FLUSH,
        NODE_ENDLESS,
};

/* Reads of "endless" served so far, in a page shared with the test. */
static uint64_t *endless_reads;

static void reply(int fd, uint64_t unique, int error, const void *data, size_t size) {
        struct fuse_out_header out = {
                .len = (uint32_t) (sizeof(out) + (error ? 0 : size)),
                .error = error,
                .unique = unique,
        };
        struct iovec iov[2] = {
                { .iov_base = &out, .iov_len = sizeof(out) },
                { .iov_base = (void *) data, .iov_len = error ? 0 : size },
        };

        (void) writev(fd, iov, data && !error ? 2 : 1);
}

static void fill_attr(uint64_t node, struct fuse_attr *a) {
        *a = (struct fuse_attr) {
                .ino = node,
                .nlink = 1,
                .blksize = 4096,
        };
        if (node == NODE_ROOT) {
                a->mode = S_IFDIR | 0755;
                a->nlink = 2;
        } else {
                a->mode = S_IFREG | 0444;
                a->size = STALLFS_DATA_SIZE;
                a->blocks = STALLFS_DATA_SIZE / 512;
        }
}

/* Whether the thread @tid belongs to a process named safe-mmapd. */
static bool caller_is_daemon(uint32_t tid) {
        char path[64], line[256], comm[32] = {};
        long tgid = -1;
        FILE *f;
        int fd;
        ssize_t n;

        snprintf(path, sizeof(path), "/proc/%" PRIu32 "/status", tid);
        f = fopen(path, "re");
        if (!f)
                return false;
        while (fgets(line, sizeof(line), f))
                if (sscanf(line, "Tgid: %ld", &tgid) == 1)
                        break;
        fclose(f);
        if (tgid <= 0)
                return false;
        snprintf(path, sizeof(path), "/proc/%ld/comm", tgid);
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return false;
        n = read(fd, comm, sizeof(comm) - 1);
        close(fd);
        return n > 0 && strncmp(comm, "safe-mmapd\n", (size_t) n) == 0 && (size_t) n == strlen("safe-mmapd\n");
}

static _noreturn_ void serve(int fd) {
        static uint8_t buf[256 * 1024];
        static uint8_t data[STALLFS_DATA_SIZE];

        memset(data, 'f', sizeof(data));
        for (;;) {
                ssize_t n = read(fd, buf, sizeof(buf));
                struct fuse_in_header *in = (struct fuse_in_header *) buf;
                const void *arg = buf + sizeof(*in);

                if (n < 0 && (errno == EINTR || errno == ENOENT))
                        continue;       /* ENOENT: a request was interrupted before we read it */
                if (n < (ssize_t) sizeof(*in))
                        _exit(0);       /* unmounted */

                switch (in->opcode) {
                case FUSE_INIT: {
                        const struct fuse_init_in *ii = arg;
                        struct fuse_init_out o = {
                                .major = FUSE_KERNEL_VERSION,
                                .minor = FUSE_KERNEL_MINOR_VERSION,
                                .max_readahead = ii->max_readahead,
                                .max_write = 4096,
                                .max_background = 16,
                                .congestion_threshold = 12,
                                .time_gran = 1,
                        };
                        reply(fd, in->unique, 0, &o, sizeof(o));
                        break;
                }
                case FUSE_LOOKUP: {
                        const char *name = arg;
                        struct fuse_entry_out o = { .attr_valid = 3600, .entry_valid = 3600 };

                        if (in->nodeid != NODE_ROOT) {
                                reply(fd, in->unique, -ENOENT, NULL, 0);
                                break;
                        }
                        if (strcmp(name, "data") == 0)
                                o.nodeid = NODE_DATA;
                        else if (strcmp(name, "stuck") == 0)
                                o.nodeid = NODE_STUCK;
                        else if (strcmp(name, "stuck-open") == 0)
                                o.nodeid = NODE_STUCK_OPEN;
                        else if (strcmp(name, "stuck-flush") == 0)
                                o.nodeid = NODE_STUCK_FLUSH;
                        else if (strcmp(name, "endless") == 0)
                                o.nodeid = NODE_ENDLESS;
                        else if (strcmp(name, "stuck-lookup") == 0)
                                break;  /* never answered */
                        else {
                                reply(fd, in->unique, -ENOENT, NULL, 0);
                                break;
                        }
                        fill_attr(o.nodeid, &o.attr);
                        reply(fd, in->unique, 0, &o, sizeof(o));
                        break;
                }
                case FUSE_GETATTR: {
                        struct fuse_attr_out o = { .attr_valid = 3600 };

                        fill_attr(in->nodeid, &o.attr);
                        reply(fd, in->unique, 0, &o, sizeof(o));
                        break;
                }
                case FUSE_OPEN:
                case FUSE_OPENDIR: {
                        struct fuse_open_out o = { .fh = in->nodeid };

                        if (in->nodeid == NODE_STUCK_OPEN)
                                break;  /* never answered */
                        /* Without the page cache, reads past the size it claims reach the server. */
                        if (in->nodeid == NODE_ENDLESS)
                                o.open_flags = FOPEN_DIRECT_IO;
                        reply(fd, in->unique, 0, &o, sizeof(o));
                        break;
                }
                case FUSE_READ: {
                        const struct fuse_read_in *ri = arg;
                        size_t len = 0;

                        if (in->nodeid == NODE_STUCK)
                                break;  /* never answered */
                        if (in->nodeid == NODE_ENDLESS) {
                                static uint8_t endless[128 * 1024];

                                if (!endless[0])
                                        memset(endless, 'e', sizeof(endless));
                                __atomic_add_fetch(endless_reads, 1, __ATOMIC_RELAXED);
                                /* About 100 MB/s: slow enough to see a copy go on, or stop. */
                                usleep(1000);
                                reply(fd, in->unique, 0, endless, ri->size < sizeof(endless) ? ri->size : sizeof(endless));
                                break;
                        }
                        if (ri->offset < STALLFS_DATA_SIZE)
                                len = STALLFS_DATA_SIZE - ri->offset;
                        if (len > ri->size)
                                len = ri->size;
                        reply(fd, in->unique, 0, data + (ri->offset < STALLFS_DATA_SIZE ? ri->offset : 0), len);
                        break;
                }
                case FUSE_STATFS: {
                        struct fuse_statfs_out o = { .st = { .bsize = 4096, .frsize = 4096, .namelen = 255 } };

                        reply(fd, in->unique, 0, &o, sizeof(o));
                        break;
                }
                case FUSE_FLUSH:
                        /*
                         * What a hostile server does to the daemon: its own user's closes
                         * still work. Told by the process, not the uid: overlayfs flushes
                         * with its mounter's credentials (root) whoever closes.
                         */
                        if (in->nodeid == NODE_STUCK_FLUSH && caller_is_daemon(in->pid))
                                break;  /* never answered */
                        reply(fd, in->unique, 0, NULL, 0);
                        break;
                case FUSE_RELEASE:
                case FUSE_RELEASEDIR:
                case FUSE_ACCESS:
                case FUSE_SETLK:
                        reply(fd, in->unique, 0, NULL, 0);
                        break;
                case FUSE_FORGET:
                case FUSE_BATCH_FORGET:
                case FUSE_INTERRUPT:
                        break;  /* no reply expected */
                case FUSE_DESTROY:
                        reply(fd, in->unique, 0, NULL, 0);
                        _exit(0);
                default:
                        reply(fd, in->unique, -ENOSYS, NULL, 0);
                        break;
                }
        }
}

int stallfs_mount(StallFs *fs, const char *mountpoint) {
        _cleanup_close_ int fd = -EBADF;
        _cleanup_free_ char *overlay_options = NULL;
        char options[128];
        pid_t pid;
        int r;

        *fs = (StallFs) {};
        if (!endless_reads) {
                void *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);

                if (p == MAP_FAILED)
                        return negative_errno();
                endless_reads = p;
        }
        *endless_reads = 0;
        if (asprintf(&fs->fuse_mountpoint, "%s.fuse", mountpoint) < 0 ||
            asprintf(&fs->empty_dir, "%s.empty", mountpoint) < 0 ||
            asprintf(&overlay_options, "lowerdir=%s:%s", fs->fuse_mountpoint, fs->empty_dir) < 0) {
                stallfs_unmount(fs);
                return -ENOMEM;
        }
        if ((mkdir(fs->fuse_mountpoint, 0755) < 0 && errno != EEXIST) ||
            (mkdir(fs->empty_dir, 0755) < 0 && errno != EEXIST)) {
                r = negative_errno();
                stallfs_unmount(fs);
                return r;
        }
        fd = open("/dev/fuse", O_RDWR | O_CLOEXEC);
        if (fd < 0) {
                r = negative_errno();
                stallfs_unmount(fs);
                return r;
        }
        /* The root's mode is what overlayfs shows, and checks, for everybody: 0755. */
        snprintf(options, sizeof(options), "fd=%d,rootmode=40755,user_id=0,group_id=0,allow_other", fd);
        if (mount("stallfs", fs->fuse_mountpoint, "fuse.stallfs", MS_NOSUID | MS_NODEV, options) < 0) {
                r = negative_errno();
                stallfs_unmount(fs);
                return r;
        }
        fs->fuse_mounted = true;
        pid = fork();
        if (pid < 0) {
                r = negative_errno();
                stallfs_unmount(fs);
                return r;
        }
        if (pid == 0) {
                (void) prctl(PR_SET_PDEATHSIG, SIGKILL);
                serve(fd);
        }
        fs->pid = pid;
        /* The server answers overlayfs's look at its root from now on. */
        if (mount("stallfs", mountpoint, "overlay", MS_NOSUID | MS_NODEV | MS_RDONLY, overlay_options) < 0) {
                r = negative_errno();
                stallfs_unmount(fs);
                return r;
        }
        fs->mountpoint = strdup(mountpoint);
        return 0;
}

void stallfs_unmount(StallFs *fs) {
        if (fs->pid > 0) {
                (void) kill(fs->pid, SIGKILL);
                (void) waitpid(fs->pid, NULL, 0);
        }
        if (fs->mountpoint)
                (void) umount2(fs->mountpoint, MNT_DETACH);
        if (fs->fuse_mounted)
                (void) umount2(fs->fuse_mountpoint, MNT_DETACH);
        free(fs->mountpoint);
        free(fs->fuse_mountpoint);
        free(fs->empty_dir);
        *fs = (StallFs) {};
}

uint64_t stallfs_endless_reads(const StallFs *fs) {
        return endless_reads ? __atomic_load_n(endless_reads, __ATOMIC_RELAXED) : 0;
}
