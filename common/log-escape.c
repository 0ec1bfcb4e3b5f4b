/* SPDX-License-Identifier: Apache-2.0 OR MIT */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "log-escape.h"

/*
 * Length of the valid UTF-8 sequence at @s (1 to 4), or 0 if @s does not
 * start one: stray continuation bytes, overlong forms, surrogates and code
 * points past U+10FFFF are all invalid. A NUL ends the input, so it never
 * counts as a continuation byte.
 */
static size_t utf8_sequence_length(const unsigned char *s, uint32_t *ret_code_point) {
        uint32_t c;
        size_t n;

        if (s[0] < 0x80) {
                *ret_code_point = s[0];
                return 1;
        }
        if (s[0] >= 0xc2 && s[0] <= 0xdf) {
                n = 2;
                c = s[0] & 0x1f;
        } else if (s[0] >= 0xe0 && s[0] <= 0xef) {
                n = 3;
                c = s[0] & 0x0f;
        } else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
                n = 4;
                c = s[0] & 0x07;
        } else
                return 0;
        for (size_t i = 1; i < n; i++) {
                if ((s[i] & 0xc0) != 0x80)
                        return 0;
                c = (c << 6) | (s[i] & 0x3f);
        }
        if ((n == 3 && c < 0x800) || (n == 4 && (c < 0x10000 || c > 0x10ffff)) || (c >= 0xd800 && c <= 0xdfff))
                return 0;
        *ret_code_point = c;
        return n;
}

static bool must_escape(uint32_t c) {
        return c < 0x20 || c == 0x7f || (c >= 0x80 && c < 0xa0) || c == '<' || c == '\\';
}

char *log_escape(const char *s, char *buf, size_t size) {
        static const char hex[] = "0123456789abcdef";
        const unsigned char *p = (const unsigned char *) s;
        /* Room is always kept for the marker (and its NUL), so that a cut can be marked. */
        const size_t limit = size - sizeof(LOG_ESCAPE_TRUNCATED);
        size_t o = 0;

        if (!s) {
                strcpy(buf, "(null)");
                return buf;
        }
        while (*p) {
                uint32_t c = 0;
                size_t n = utf8_sequence_length(p, &c), need;
                bool escape = n == 0 || must_escape(c);

                if (n == 0)
                        n = 1;
                need = escape ? 4 * n : n;
                if (o + need > limit) {
                        memcpy(buf + o, LOG_ESCAPE_TRUNCATED, sizeof(LOG_ESCAPE_TRUNCATED));
                        return buf;
                }
                for (size_t i = 0; i < n; i++) {
                        if (escape) {
                                buf[o++] = '\\';
                                buf[o++] = 'x';
                                buf[o++] = hex[p[i] >> 4];
                                buf[o++] = hex[p[i] & 0xf];
                        } else
                                buf[o++] = (char) p[i];
                }
                p += n;
        }
        buf[o] = '\0';
        return buf;
}
