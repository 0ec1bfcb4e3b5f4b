/* SPDX-License-Identifier: Apache-2.0 OR MIT */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "log.h"
#include "macro.h"
#include "mounts.h"

#ifndef AT_HANDLE_FID
#  define AT_HANDLE_FID 0x200
#endif

/* A device-mapper over an md over a partition...: deeper than any real stack, shallow enough for any loop. */
#define MOUNTS_DEVICE_DEPTH_MAX 8
/* The longest mountinfo the daemon reads: 64 MiB is about 300,000 mounts. */
#define MOUNTS_TEXT_MAX (UINT64_C(64) << 20)

struct Mounts {
        int fd;                 /* /proc/self/mountinfo: polled for EPOLLPRI, read again from the start */
        char *sysfs;
        sd_event_source *source;
        MountEntry *entries;    /* sorted by id */
        size_t n_entries;
        unsigned generation;
        bool valid;             /* the last read succeeded */
};

/* Kernel-implemented, local: see mounts.h. Anything not named here may stall. */
static const char *const fstypes_local[] = {
        "tmpfs", "ramfs", "ext2", "ext3", "ext4", "xfs", "btrfs", "f2fs", "vfat", "msdos", "exfat",
        "erofs", "squashfs", "iso9660", "udf",
};
/* Of those, the ones without a block device below. */
static const char *const fstypes_memory[] = {
        "tmpfs", "ramfs",
};
/* Disks whose storage is a file, a process or the network (kernel names without the number). */
static const char *const disks_remote[] = {
        "loop", "nbd", "ublkb", "ublkc", "rbd", "drbd",
};

static bool in_list(const char *const *list, size_t n, const char *s) {
        for (size_t i = 0; i < n; i++)
                if (strcmp(list[i], s) == 0)
                        return true;
        return false;
}

bool mounts_fstype_cannot_stall(const char *fstype) {
        /* "fuse.sshfs", "fuseblk" and the like are not in the list: a subtype never matches. */
        return in_list(fstypes_local, ELEMENTSOF(fstypes_local), fstype);
}

bool mounts_fstype_in_memory(const char *fstype) {
        return in_list(fstypes_memory, ELEMENTSOF(fstypes_memory), fstype);
}

bool mounts_disk_name_local(const char *name) {
        size_t n;

        if (!name || !*name)
                return false;
        /* The name without its trailing unit number: "loop12" is "loop", "nbd0" is "nbd". */
        n = strlen(name);
        while (n > 0 && name[n - 1] >= '0' && name[n - 1] <= '9')
                n--;
        for (size_t i = 0; i < ELEMENTSOF(disks_remote); i++)
                if (strlen(disks_remote[i]) == n && strncmp(disks_remote[i], name, n) == 0)
                        return false;
        return true;
}

/* Undoes mountinfo's octal escapes (\040 for a space, ...) in place. */
static void unescape(char *s) {
        char *out = s;

        for (const char *in = s; *in; ) {
                if (in[0] == '\\' && in[1] >= '0' && in[1] <= '3' && in[2] >= '0' && in[2] <= '7' &&
                    in[3] >= '0' && in[3] <= '7') {
                        *out++ = (char) ((in[1] - '0') * 64 + (in[2] - '0') * 8 + (in[3] - '0'));
                        in += 4;
                } else
                        *out++ = *in++;
        }
        *out = '\0';
}

/* The next space-separated field of *@p, NUL-terminated; NULL when there is none. */
static char *next_field(char **p) {
        char *s = *p, *end;

        if (!s)
                return NULL;
        while (*s == ' ')
                s++;
        if (!*s)
                return NULL;
        end = strchr(s, ' ');
        if (end) {
                *end = '\0';
                *p = end + 1;
        } else
                *p = NULL;
        return s;
}

static int parse_int(const char *s, int *ret) {
        char *end;
        long v;

        errno = 0;
        v = strtol(s, &end, 10);
        if (errno != 0 || end == s || *end || v < 0 || v > INT_MAX)
                return -EINVAL;
        *ret = (int) v;
        return 0;
}

/*
 * 36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue
 * (1)(2)(3)   (4)   (5)      (6)       (7)   (8) (9)   (10)         (11)
 * (7) is zero or more optional fields, ended by the "-" of (8).
 */
int mounts_parse_line(char *line, MountInfo *ret) {
        char *p = line, *f, *fstype, *source;
        MountInfo mi = {};
        int parent;

        f = next_field(&p);
        if (!f || parse_int(f, &mi.id) < 0)
                return -EINVAL;
        f = next_field(&p);
        if (!f || parse_int(f, &parent) < 0)
                return -EINVAL;
        f = next_field(&p);
        if (!f || sscanf(f, "%u:%u", &mi.major, &mi.minor) != 2)
                return -EINVAL;
        if (!next_field(&p))                    /* root */
                return -EINVAL;
        f = next_field(&p);                     /* mount point */
        if (!f)
                return -EINVAL;
        unescape(f);
        mi.mount_point = f;
        if (!next_field(&p))                    /* mount options */
                return -EINVAL;
        do {
                f = next_field(&p);
                if (!f)
                        return -EINVAL;
        } while (strcmp(f, "-") != 0);
        fstype = next_field(&p);
        source = next_field(&p);
        if (!fstype || !source)
                return -EINVAL;
        unescape(fstype);
        unescape(source);
        mi.fstype = fstype;
        mi.source = source;
        *ret = mi;
        return 0;
}

/* The target of the sysfs link @path, its last component into @name (NAME_MAX + 1 bytes). */
static int link_name(const char *path, char *name) {
        char target[PATH_MAX];
        const char *slash;
        ssize_t n;

        n = readlink(path, target, sizeof(target) - 1);
        if (n <= 0)
                return -ENOENT;
        target[n] = '\0';
        slash = strrchr(target, '/');
        slash = slash ? slash + 1 : target;
        if (strlen(slash) > NAME_MAX || !*slash)
                return -EINVAL;
        strcpy(name, slash);
        return 0;
}

static bool disk_local(const char *sysfs, const char *name, unsigned depth);

/* Whether every device below @dir (a sysfs block device directory) is local: none at all is fine. */
static bool slaves_local(const char *sysfs, const char *dir, unsigned depth) {
        char path[PATH_MAX];
        bool ok = true;
        DIR *d;

        if ((size_t) snprintf(path, sizeof(path), "%s/slaves", dir) >= sizeof(path))
                return false;
        d = opendir(path);
        if (!d)
                return errno == ENOENT;
        for (struct dirent *de; ok && (de = readdir(d)); ) {
                if (de->d_name[0] == '.')
                        continue;
                ok = disk_local(sysfs, de->d_name, depth + 1);
        }
        closedir(d);
        return ok;
}

/* @name: a block device's kernel name (a disk or a partition), as under /sys/class/block. */
static bool disk_local(const char *sysfs, const char *name, unsigned depth) {
        char dir[PATH_MAX], path[PATH_MAX], disk[NAME_MAX + 1];

        if (depth > MOUNTS_DEVICE_DEPTH_MAX)
                return false;
        if ((size_t) snprintf(dir, sizeof(dir), "%s/class/block/%s", sysfs, name) >= sizeof(dir))
                return false;
        /* A partition is judged by its disk: "loop0p1" is in loop0's directory, next to its "dev". */
        if ((size_t) snprintf(path, sizeof(path), "%s/partition", dir) >= sizeof(path))
                return false;
        if (access(path, F_OK) == 0) {
                char *slash;
                ssize_t n;

                /* The link reads ../../devices/.../block/DISK/PART: the disk is the component before. */
                n = readlink(dir, path, sizeof(path) - 1);
                if (n <= 0)
                        return false;
                path[n] = '\0';
                slash = strrchr(path, '/');
                if (!slash)
                        return false;
                *slash = '\0';
                slash = strrchr(path, '/');
                slash = slash ? slash + 1 : path;
                if (!*slash || strlen(slash) > NAME_MAX)
                        return false;
                strcpy(disk, slash);
                return disk_local(sysfs, disk, depth + 1);
        }
        if (!mounts_disk_name_local(name))
                return false;
        return slaves_local(sysfs, dir, depth);
}

bool mounts_block_device_local(const char *sysfs, unsigned major, unsigned minor) {
        char path[PATH_MAX], name[NAME_MAX + 1];

        if ((size_t) snprintf(path, sizeof(path), "%s/dev/block/%u:%u", sysfs, major, minor) >= sizeof(path))
                return false;
        if (link_name(path, name) < 0)
                return false;
        return disk_local(sysfs, name, 0);
}

static bool mount_cannot_stall(const MountInfo *mi, const char *sysfs) {
        unsigned major = mi->major, minor = mi->minor;

        if (!mounts_fstype_cannot_stall(mi->fstype))
                return false;
        if (mounts_fstype_in_memory(mi->fstype))
                return true;
        if (major == 0) {
                /* btrfs shows an anonymous device: its source names the (first) device. */
                struct stat st;

                if (strncmp(mi->source, "/dev/", 5) != 0 || stat(mi->source, &st) < 0 || !S_ISBLK(st.st_mode))
                        return false;
                major = major(st.st_rdev);
                minor = minor(st.st_rdev);
        }
        return mounts_block_device_local(sysfs, major, minor);
}

static int entry_compare(const void *a, const void *b) {
        const MountEntry *x = a, *y = b;

        return (x->id > y->id) - (x->id < y->id);
}

int mounts_parse(char *text, const char *sysfs, MountEntry **ret, size_t *ret_n) {
        MountEntry *entries = NULL;
        size_t n = 0, n_alloc = 0;
        char *line = text;

        while (line && *line) {
                char *end = strchr(line, '\n');
                MountInfo mi;

                if (end)
                        *end = '\0';
                if (mounts_parse_line(line, &mi) >= 0) {
                        if (n == n_alloc) {
                                size_t k = n_alloc ? n_alloc * 2 : 64;
                                MountEntry *e = reallocarray(entries, k, sizeof(*e));

                                if (!e) {
                                        free(entries);
                                        return -ENOMEM;
                                }
                                entries = e;
                                n_alloc = k;
                        }
                        entries[n++] = (MountEntry) { .id = mi.id, .cannot_stall = mount_cannot_stall(&mi, sysfs) };
                }
                line = end ? end + 1 : NULL;
        }
        qsort(entries, n, sizeof(*entries), entry_compare);
        *ret = entries;
        *ret_n = n;
        return 0;
}

/* Reads the whole file again from its start (a seq_file: every read from offset 0 is a fresh table). */
static int read_all(int fd, char **ret) {
        size_t size = 0, n_alloc = 16384;
        char *buf = malloc(n_alloc);

        if (!buf)
                return -ENOMEM;
        for (;;) {
                ssize_t n;

                if (size + 1 >= n_alloc) {
                        char *b;

                        if (n_alloc >= MOUNTS_TEXT_MAX) {
                                free(buf);
                                return -EFBIG;
                        }
                        b = realloc(buf, n_alloc * 2);
                        if (!b) {
                                free(buf);
                                return -ENOMEM;
                        }
                        buf = b;
                        n_alloc *= 2;
                }
                n = pread(fd, buf + size, n_alloc - size - 1, (off_t) size);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        free(buf);
                        return negative_errno();
                }
                if (n == 0)
                        break;
                size += (size_t) n;
        }
        buf[size] = '\0';
        *ret = buf;
        return 0;
}

static int mounts_read(Mounts *m) {
        _cleanup_free_ char *text = NULL;
        MountEntry *entries;
        size_t n;
        int r;

        m->generation++;
        r = read_all(m->fd, &text);
        if (r >= 0)
                r = mounts_parse(text, m->sysfs, &entries, &n);
        if (r < 0) {
                /* Nothing is known then: every request goes to the pool, as before this table existed. */
                m->valid = false;
                return log_errno(LOG_WARNING, r, "Cannot read the mount table, every request goes to a worker: %m");
        }
        free(m->entries);
        m->entries = entries;
        m->n_entries = n;
        m->valid = true;
        return 0;
}

/* Whether the kernel says the table changed since the last poll (which this one consumes). */
static bool mounts_changed(Mounts *m) {
        struct pollfd p = { .fd = m->fd, .events = POLLPRI };

        return poll(&p, 1, 0) > 0 && (p.revents & (POLLPRI | POLLERR));
}

static int on_mountinfo(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Mounts *m = userdata;

        log_debug("The mount table changed, reading it again.");
        (void) mounts_read(m);
        return 0;
}

int mounts_new(sd_event *event, const char *sysfs, Mounts **ret) {
        Mounts *m = calloc(1, sizeof(*m));
        int r;

        if (!m)
                return -ENOMEM;
        m->sysfs = strdup(sysfs);
        m->fd = open("/proc/self/mountinfo", O_RDONLY | O_CLOEXEC);
        if (!m->sysfs || m->fd < 0) {
                r = m->sysfs ? negative_errno() : -ENOMEM;
                mounts_free(m);
                return r;
        }
        /* The first poll says "changed" only after a change: the table read now is current until then. */
        (void) mounts_changed(m);
        (void) mounts_read(m);
        if (event) {
                r = sd_event_add_io(event, &m->source, m->fd, EPOLLPRI, on_mountinfo, m);
                /* Before any request handled in the same round: see mounts.h. */
                if (r >= 0)
                        r = sd_event_source_set_priority(m->source, SD_EVENT_PRIORITY_IMPORTANT);
                if (r < 0) {
                        mounts_free(m);
                        return r;
                }
        }
        *ret = m;
        return 0;
}

Mounts *mounts_free(Mounts *m) {
        if (!m)
                return NULL;
        sd_event_source_disable_unref(m->source);
        safe_close(m->fd);
        free(m->sysfs);
        free(m->entries);
        free(m);
        return NULL;
}

bool mounts_cannot_stall(Mounts *m, int mnt_id) {
        size_t lo = 0, hi;

        if (!m)
                return false;
        if (mounts_changed(m))
                (void) mounts_read(m);
        if (!m->valid)
                return false;
        hi = m->n_entries;
        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;

                if (m->entries[mid].id == mnt_id)
                        return m->entries[mid].cannot_stall;
                if (m->entries[mid].id < mnt_id)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        return false;
}

unsigned mounts_generation(const Mounts *m) {
        return m->generation;
}


int mounts_fd_mount_id(int fd) {
        struct file_handle fh = { .handle_bytes = 0 };
        int id = -1, r;

        /*
         * No room for the handle: the VFS fills in the mount id, and a file
         * system's encode_fh() only says how much room it would need (a
         * computation, never a question to a server). /proc/self/fdinfo
         * would name the mount too, but it lists every lock held through
         * the description, a list the client makes as long as it likes:
         * with 20,000 OFD locks one read took 60 ms.
         */
        r = name_to_handle_at(fd, "", &fh, &id, AT_EMPTY_PATH | AT_HANDLE_FID);
        if (r < 0 && errno == EINVAL) /* before Linux 6.5: no AT_HANDLE_FID */
                r = name_to_handle_at(fd, "", &fh, &id, AT_EMPTY_PATH);
        if (r < 0 && errno != EOVERFLOW)
                return negative_errno();
        if (id < 0)
                return -EINVAL;
        return id;
}
