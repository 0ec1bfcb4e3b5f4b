/* SPDX-License-Identifier: Apache-2.0 OR MIT */
#pragma once

/*
 * Text a client chose (a path, above all) on its way into a log line. The
 * daemon logs to stderr and journald splits entries at newlines and reads a
 * "<N>" at the start of a line as the priority: a raw path holding "\n<2>"
 * would forge a second entry, at crit, with the client's text. So every byte
 * that could end a line, start a prefix, or confuse a terminal or a UTF-8
 * decoder is written as \xNN: control characters (C0, DEL and C1), '<',
 * '\' itself (so that the escaping reads back unambiguously) and any byte
 * that is not part of valid, shortest-form UTF-8. Valid UTF-8 text stays
 * readable. A text longer than the buffer is cut at a character boundary and
 * ends in LOG_ESCAPE_TRUNCATED.
 */

#include <stddef.h>

#define LOG_ESCAPE_TRUNCATED "...[truncated]"
/* Room for about 100 bytes of the worst input (4 output bytes each) and 400 of plain text. */
#define LOG_ESCAPE_BUFFER_SIZE 416

/*
 * Writes @s escaped into @buf of @size bytes (at least
 * sizeof(LOG_ESCAPE_TRUNCATED) + 4), always NUL-terminated. @s may be NULL.
 * Returns @buf, so that the call can be an argument of a log call.
 */
char *log_escape(const char *s, char *buf, size_t size);

/* log_escape() into a buffer that lives as long as the enclosing statement's block. */
#define LOG_ESCAPE(s) log_escape((s), (char[LOG_ESCAPE_BUFFER_SIZE]) {}, LOG_ESCAPE_BUFFER_SIZE)
