/* SPDX-License-Identifier: Apache-2.0 OR MIT */
#pragma once

/*
 * sd_notify(3) through a socket connected before the sandbox. libsystemd's
 * sd_notify() creates a socket for every message, and after start-up the
 * daemon may create none (see sandbox.c): the one datagram socket to the
 * service manager is made here, once, while socket() and connect() are
 * still allowed.
 */

#include "macro.h"

/* Connects to $NOTIFY_SOCKET if it is set (0 and nothing to do if not). */
int notify_open(void);
void notify_close(void);

/* Sends one state update such as "READY=1"; a no-op without a socket. */
int notify_send(const char *state);
int notify_sendf(const char *format, ...) _printf_(1, 2);
