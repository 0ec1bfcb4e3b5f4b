/* SPDX-License-Identifier: Apache-2.0 OR MIT */
/*
 * Whatever the peer on the daemon socket sends, the reply decoder must not read outside the
 * packet, and what it accepts must re-encode to exactly the same bytes: an
 * accepted message with two meanings, or a field the decoder lets through but
 * the encoder would refuse, is a bug even when nothing crashes.
 */

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        uint8_t out[PROTO_MESSAGE_MAX];
        ProtoReply reply;
        int n;

        if (proto_reply_decode(data, size, &reply) < 0)
                return 0;

        n = proto_reply_encode(&reply, out, sizeof(out));
        if (n < 0 || (size_t) n != size || memcmp(out, data, size) != 0)
                abort();
        if (proto_reply_encode(&reply, out, size - 1) != -ENOBUFS)
                abort();
        return 0;
}
