/* SPDX-License-Identifier: Apache-2.0 OR MIT */
#include <errno.h>
#include <seccomp.h>
#include <stdbool.h>
#include <sys/prctl.h>
#include <sys/socket.h>

#include "log.h"
#include "macro.h"
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
        "clock_gettime", "clock_nanosleep", "nanosleep", "timerfd_create", "timerfd_settime",
        "timerfd_gettime",
        /* identity, for log lines and NSS */
        "getpid", "gettid", "getuid", "geteuid", "getgid", "getegid", "getppid", "uname",
        "prlimit64", "getrlimit",
        /* event loop */
        "epoll_create1", "epoll_ctl", "epoll_wait", "epoll_pwait", "epoll_pwait2", "poll", "ppoll",
        "eventfd2", "pipe2",
        /* sockets: clients, sd_notify, NSS through AF_UNIX */
        "accept4", "recvmsg", "sendmsg", "sendto", "recvfrom", "getsockopt", "setsockopt", "connect",
        "shutdown", "getsockname", "getpeername",
        /* files: resolving, copying, sealing, the policy */
        "openat", "openat2", "open", "close", "read", "pread64", "readv", "write", "writev", "lseek",
        "fstat", "newfstatat", "stat", "lstat", "statx", "fstatfs", "statfs", "fcntl", "dup", "dup3",
        "getdents64", "readlink", "readlinkat", "access", "faccessat", "memfd_create", "ftruncate",
        "sendfile", "splice", "fchmod", "unlink", "unlinkat", "close_range",
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

int sandbox_apply(void) {
        scmp_filter_ctx ctx;
        int r;

        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
                return log_errno(LOG_ERR, negative_errno(), "Cannot set no_new_privs: %m");

        ctx = seccomp_init(SCMP_ACT_KILL_PROCESS);
        if (!ctx)
                return log_errno(LOG_ERR, -ENOMEM, "Cannot set up seccomp: %m");

        r = add_list(ctx, allowed, ELEMENTSOF(allowed), SCMP_ACT_ALLOW);
        if (r >= 0)
                r = add_list(ctx, enosys, ELEMENTSOF(enosys), SCMP_ACT_ERRNO(ENOSYS));
#ifdef SANITIZER_BUILD
        if (r >= 0)
                r = add_list(ctx, allowed_sanitizer, ELEMENTSOF(allowed_sanitizer), SCMP_ACT_ALLOW);
        log_notice("Sanitizer build: the seccomp allow-list also admits the sanitizer runtime's calls.");
#else
        /* Only terminal probes of stdio; answered as for a non-terminal. */
        if (r >= 0)
                r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOTTY), SCMP_SYS(ioctl), 0);
#endif
        /* Local sockets only: NSS may try others, which then fail softly. */
        if (r >= 0)
                r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(socket), 1, SCMP_A0(SCMP_CMP_EQ, AF_UNIX));
        if (r >= 0)
                r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EAFNOSUPPORT), SCMP_SYS(socket), 1,
                                     SCMP_A0(SCMP_CMP_NE, AF_UNIX));
        if (r >= 0)
                r = seccomp_load(ctx);
        seccomp_release(ctx);
        if (r < 0)
                return log_errno(LOG_ERR, r, "Cannot install the seccomp filter: %m");
        log_debug("Seccomp filter installed.");
        return 0;
}
