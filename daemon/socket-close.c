/* SPDX-License-Identifier: Apache-2.0 OR MIT */
#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "macro.h"
#include "socket-close.h"

#ifndef sigev_notify_thread_id
#  define sigev_notify_thread_id _sigev_un._tid
#endif

static timer_t loop_timer;
static pid_t loop_tid;

/* Its only job is to be delivered: a pending signal ends an interruptible wait in the kernel. */
static void on_interrupt(int sig) {
        (void) sig;
}

int socket_close_init(void) {
        struct sigaction sa = { .sa_handler = on_interrupt };   /* no SA_RESTART: interrupting is the point */
        struct sigevent ev = { .sigev_notify = SIGEV_THREAD_ID, .sigev_signo = SIGALRM };
        sigset_t mask;

        if (loop_tid != 0)
                return 0;
        if (sigemptyset(&sa.sa_mask) < 0 || sigaction(SIGALRM, &sa, NULL) < 0)
                return negative_errno();
        if (sigemptyset(&mask) < 0 || sigaddset(&mask, SIGALRM) < 0)
                return -EINVAL;
        if (pthread_sigmask(SIG_UNBLOCK, &mask, NULL) != 0)
                return -EINVAL;
        ev.sigev_notify_thread_id = gettid();
        if (timer_create(CLOCK_MONOTONIC, &ev, &loop_timer) < 0)
                return negative_errno();
        loop_tid = gettid();
        return 0;
}

void socket_close_bounded(int fd) {
        const struct itimerspec arm = { .it_value.tv_nsec = SOCKET_CLOSE_INTERRUPT_USEC * 1000L };
        const struct itimerspec disarm = {};
        bool timed;

        if (fd < 0)
                return;
        /* Nothing more can be queued on it from here on. */
        (void) shutdown(fd, SHUT_RDWR);
        assert(loop_tid == 0 || loop_tid == gettid());
        timed = loop_tid != 0 && timer_settime(loop_timer, 0, &arm, NULL) >= 0;
        (void) close(fd);
        if (timed)
                (void) timer_settime(loop_timer, 0, &disarm, NULL);
}
