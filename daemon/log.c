/* SPDX-License-Identifier: Apache-2.0 OR MIT */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

static bool log_debug_enabled;

void log_setup(void) {
        const char *e = getenv("SAFE_MMAPD_DEBUG");

        log_debug_enabled = e && *e && strcmp(e, "0") != 0;
}

void log_internal(int level, int error, const char *format, ...) {
        char line[1024];
        int saved = errno;
        va_list ap;
        int n;

        if (level >= LOG_DEBUG && !log_debug_enabled)
                return;

        n = snprintf(line, sizeof(line), "<%d>", level);
        if (error < 0)
                errno = -error;
        va_start(ap, format);
        /* The format is always a literal of ours; %m needs errno set above. */
        n += vsnprintf(line + n, sizeof(line) - (size_t) n - 1, format, ap);
        va_end(ap);
        if (n > (int) sizeof(line) - 2)
                n = (int) sizeof(line) - 2;
        line[n++] = '\n';
        (void) !write(STDERR_FILENO, line, (size_t) n);
        errno = saved;
}
