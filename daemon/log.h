/* SPDX-License-Identifier: Apache-2.0 OR MIT */
#pragma once

/*
 * One line per event on stderr, prefixed with the sd-daemon "<N>" priority so
 * that journald files it at the right level. Lines are written with a single
 * write() so that lines of worker threads never interleave.
 */

#include <syslog.h>

#include "log-escape.h"
#include "macro.h"

/*
 * Anything a client chose (a path above all) goes through LOG_ESCAPE() on
 * its way into a line: see log-escape.h for what a raw path could forge.
 */

void log_internal(int level, int error, const char *format, ...) _printf_(3, 4);

#define log_error(...)   log_internal(LOG_ERR, 0, __VA_ARGS__)
#define log_warning(...) log_internal(LOG_WARNING, 0, __VA_ARGS__)
#define log_notice(...)  log_internal(LOG_NOTICE, 0, __VA_ARGS__)
#define log_info(...)    log_internal(LOG_INFO, 0, __VA_ARGS__)
#define log_debug(...)   log_internal(LOG_DEBUG, 0, __VA_ARGS__)

/* Log with %m standing for -error, and evaluate to error (a negative errno). */
#define log_errno(level, error, ...)                                    \
        ({                                                              \
                int _e = (error);                                       \
                log_internal((level), _e, __VA_ARGS__);                 \
                _e;                                                     \
        })

/* Debug lines are dropped unless SAFE_MMAPD_DEBUG is set at start-up. */
void log_setup(void);
