/* SPDX-License-Identifier: Apache-2.0 OR MIT */
#include <errno.h>
#include <fcntl.h>
#include <linux/landlock.h>
#include <seccomp.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "log.h"
#include "macro.h"
#include "notify.h"
#include "sandbox.h"

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_UNDEFINED__)
#  define SANITIZER_BUILD 1
#elif defined(__has_feature)
#  if __has_feature(address_sanitizer) || __has_feature(undefined_behavior_sanitizer)
#    define SANITIZER_BUILD 1
#  endif
#endif

/* What the event loop, job threads, glibc, libsystemd and NSS (policy reload) use. */
static const char *const allowed[] = {
        /* memory and threads */
        "brk", "mmap", "munmap", "mremap", "mprotect", "madvise", "clone", "set_robust_list",
        "rseq", "futex", "exit", "exit_group", "sched_yield", "getrandom", "membarrier",
        /* signals and time */
        "rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "sigaltstack", "signalfd4", "tgkill",
        /* The kernel resumes a timed wait with it after SIGSTOP/SIGCONT or a ptrace stop. */
        "restart_syscall",
        "clock_gettime", "clock_nanosleep", "nanosleep", "timerfd_create", "timerfd_settime",
        "timerfd_gettime",
        /* identity, for log lines and NSS */
        "getpid", "gettid", "getuid", "geteuid", "getgid", "getegid", "getppid", "uname",
        "prlimit64", "getrlimit",
        /* event loop */
        "epoll_create1", "epoll_ctl", "epoll_wait", "epoll_pwait", "epoll_pwait2", "poll", "ppoll",
        "eventfd2", "pipe2",
        /*
         * sockets: clients on the listening sockets, sd_notify on the socket
         * notify_open() connected. Neither socket() nor connect(): see below.
         */
        "accept4", "recvmsg", "sendmsg", "sendto", "recvfrom", "getsockopt", "setsockopt",
        "shutdown", "getsockname", "getpeername",
        /* files: resolving, copying, sealing, the policy */
        "openat", "openat2", "open", "close", "read", "pread64", "readv", "write", "writev", "lseek",
        "fstat", "newfstatat", "stat", "lstat", "statx", "fstatfs", "statfs", "fcntl", "dup", "dup3",
        "getdents64", "readlink", "readlinkat", "access", "faccessat", "memfd_create", "ftruncate",
        "sendfile", "splice", "fchmod", "unlink", "unlinkat", "close_range",
        /* the event loop's bounded close of a client's socket (socket-close.h) */
        "timer_settime",
        /* the mount of a client's descriptor, for the event loop's cache hits (mounts.c) */
        "name_to_handle_at",
};

#ifdef SANITIZER_BUILD
/*
 * The runtime of sanitizer builds reports through these (and LeakSanitizer
 * stops the world with ptrace at exit); they are never allowed otherwise.
 */
static const char *const allowed_sanitizer[] = {
        "ptrace", "wait4", "waitid", "prctl", "sched_getaffinity", "mincore", "process_vm_readv",
        "getcwd", "ioctl", "kill", "tkill", "execve", "vfork", "fork", "dup2", "pipe", "setsid",
        "times", "getrusage", "sysinfo", "pause", "getdents", "arch_prctl",
};
#endif

/*
 * glibc tries these and falls back when told ENOSYS; EPERM would make it
 * give up instead (clone3 in pthread_create, faccessat2 in access()).
 */
static const char *const enosys[] = {
        "clone3", "faccessat2", "statmount", "listmount",
};

/* Landlock rights newer than some distributions' headers; the kernel says which it knows. */
#ifndef LANDLOCK_ACCESS_FS_TRUNCATE
#define LANDLOCK_ACCESS_FS_TRUNCATE (1ULL << 14)
#endif
#ifndef LANDLOCK_ACCESS_FS_IOCTL_DEV
#define LANDLOCK_ACCESS_FS_IOCTL_DEV (1ULL << 15)
#endif
#define LANDLOCK_NET_BIND_TCP (1ULL << 0)
#define LANDLOCK_NET_CONNECT_TCP (1ULL << 1)

struct ruleset_attr {
        uint64_t handled_access_fs;
        uint64_t handled_access_net;
};

/*
 * Landlock as a second wall: the daemon may read anything (a client's
 * descriptor can point anywhere, even into another mount namespace, and is
 * reopened through /proc), but it never writes, creates, removes, truncates
 * or executes a file by path, nor touches TCP. The only exception is removing
 * its own socket at exit. A kernel without Landlock just lacks this wall.
 */
static int sandbox_landlock(const char *socket_path) {
        _cleanup_close_ int ruleset = -EBADF;
        struct ruleset_attr attr = {};
        size_t attr_size = sizeof(attr.handled_access_fs);
        long abi;

        abi = syscall(SYS_landlock_create_ruleset, NULL, 0, LANDLOCK_CREATE_RULESET_VERSION);
        if (abi < 0) {
                log_errno(LOG_NOTICE, negative_errno(), "Landlock unavailable, skipping it: %m");
                return 0;
        }

        attr.handled_access_fs = LANDLOCK_ACCESS_FS_WRITE_FILE | LANDLOCK_ACCESS_FS_REMOVE_DIR |
                LANDLOCK_ACCESS_FS_REMOVE_FILE | LANDLOCK_ACCESS_FS_MAKE_CHAR | LANDLOCK_ACCESS_FS_MAKE_DIR |
                LANDLOCK_ACCESS_FS_MAKE_REG | LANDLOCK_ACCESS_FS_MAKE_SOCK | LANDLOCK_ACCESS_FS_MAKE_FIFO |
                LANDLOCK_ACCESS_FS_MAKE_BLOCK | LANDLOCK_ACCESS_FS_MAKE_SYM;
#ifndef SANITIZER_BUILD
        /* The sanitizer runtime may start a symbolizer to report an error. */
        attr.handled_access_fs |= LANDLOCK_ACCESS_FS_EXECUTE;
#endif
        if (abi >= 2)
                attr.handled_access_fs |= LANDLOCK_ACCESS_FS_REFER;
        if (abi >= 3)
                attr.handled_access_fs |= LANDLOCK_ACCESS_FS_TRUNCATE;
        if (abi >= 5)
                attr.handled_access_fs |= LANDLOCK_ACCESS_FS_IOCTL_DEV;
        if (abi >= 4) {
                attr.handled_access_net = LANDLOCK_NET_BIND_TCP | LANDLOCK_NET_CONNECT_TCP;
                attr_size = sizeof(attr);
        }

        ruleset = (int) syscall(SYS_landlock_create_ruleset, &attr, attr_size, 0);
        if (ruleset < 0)
                return log_errno(LOG_ERR, negative_errno(), "Cannot create a Landlock ruleset: %m");

        if (socket_path) {
                _cleanup_free_ char *dir = strdup(socket_path);
                _cleanup_close_ int parent = -EBADF;
                char *slash = dir ? strrchr(dir, '/') : NULL;

                if (!dir)
                        return log_errno(LOG_ERR, -ENOMEM, "Cannot set up Landlock: %m");
                if (slash == dir)
                        slash[1] = '\0';
                else if (slash)
                        *slash = '\0';
                parent = open(slash ? dir : ".", O_PATH | O_DIRECTORY | O_CLOEXEC);
                if (parent < 0)
                        return log_errno(LOG_ERR, negative_errno(), "Cannot open the socket's directory: %m");
                if (syscall(SYS_landlock_add_rule, ruleset, LANDLOCK_RULE_PATH_BENEATH,
                            &(struct landlock_path_beneath_attr) {
                                    .allowed_access = LANDLOCK_ACCESS_FS_REMOVE_FILE,
                                    .parent_fd = parent,
                            }, 0) < 0)
                        return log_errno(LOG_ERR, negative_errno(), "Cannot add a Landlock rule: %m");
        }

        if (syscall(SYS_landlock_restrict_self, ruleset, 0) < 0)
                return log_errno(LOG_ERR, negative_errno(), "Cannot enforce Landlock: %m");
        log_debug("Landlock ABI %ld enforced.", abi);
        return 0;
}

static int add_list(scmp_filter_ctx ctx, const char *const *names, size_t n, uint32_t action) {
        for (size_t i = 0; i < n; i++) {
                int nr = seccomp_syscall_resolve_name(names[i]);
                int r;

                /* Names this architecture or libseccomp version does not know are simply absent. */
                if (nr == __NR_SCMP_ERROR || nr < 0)
                        continue;
                r = seccomp_rule_add(ctx, action, nr, 0);
                if (r < 0)
                        return log_errno(LOG_ERR, r, "seccomp: cannot add %s: %m", names[i]);
        }
        return 0;
}

/* scmp_filter_ctx is a void *. */
DEFINE_CLEANUP(void, seccomp_release);

int sandbox_apply(const char *socket_path) {
        _cleanup_(seccomp_releasep) scmp_filter_ctx ctx = NULL;
        int r;

        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
                return log_errno(LOG_ERR, negative_errno(), "Cannot set no_new_privs: %m");

        r = sandbox_landlock(socket_path);
        if (r < 0)
                return r;

        /* The last socket the daemon makes: to the service manager, for sd_notify. */
        r = notify_open();
        if (r < 0)
                log_errno(LOG_WARNING, r, "Cannot connect to $NOTIFY_SOCKET, no readiness notification: %m");

        ctx = seccomp_init(SCMP_ACT_KILL_PROCESS);
        if (!ctx)
                return log_errno(LOG_ERR, -ENOMEM, "Cannot set up seccomp: %m");

        /* add_list() says which call it could not add. */
        r = add_list(ctx, allowed, ELEMENTSOF(allowed), SCMP_ACT_ALLOW);
        if (r < 0)
                return r;
        r = add_list(ctx, enosys, ELEMENTSOF(enosys), SCMP_ACT_ERRNO(ENOSYS));
        if (r < 0)
                return r;
#ifdef SANITIZER_BUILD
        r = add_list(ctx, allowed_sanitizer, ELEMENTSOF(allowed_sanitizer), SCMP_ACT_ALLOW);
        if (r < 0)
                return r;
        log_notice("Sanitizer build: the seccomp allow-list also admits the sanitizer runtime's calls.");
#else
        /* Only terminal probes of stdio; answered as for a non-terminal. */
        r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOTTY), SCMP_SYS(ioctl), 0);
        if (r < 0)
                return log_errno(LOG_ERR, r, "seccomp: cannot add ioctl: %m");
#endif
        /*
         * No new socket, and no connection from one: the daemon is uid 0,
         * and code injected into it could otherwise connect to any local
         * service that trusts root by SO_PEERCRED (or by the socket's mode)
         * and speak for root there. Everything that needs a socket was
         * opened before (listening sockets, the notify socket). socket() is
         * refused rather than fatal because NSS tries nscd and userdb on a
         * policy reload and then falls back to the files; nothing of ours
         * calls connect() any more, so that one kills.
         */
        r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EACCES), SCMP_SYS(socket), 0);
        if (r < 0)
                return log_errno(LOG_ERR, r, "seccomp: cannot add socket: %m");
        r = seccomp_load(ctx);
        if (r < 0)
                return log_errno(LOG_ERR, r, "Cannot install the seccomp filter: %m");
        log_debug("Seccomp filter installed.");
        return 0;
}
