/* SPDX-License-Identifier: Apache-2.0 OR MIT */
/*
 * Whatever a client sends, the request decoder must not read outside the
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
        ProtoRequest req;
        int n;

        if (proto_request_decode(data, size, &req) < 0)
                return 0;

        /* The path must be the bytes at its fixed offset, not a copy or anything past the packet. */
        if (req.path && (const uint8_t *) req.path != data + PROTO_REQUEST_SNAPSHOT_PATH_MIN)
                abort();

        n = proto_request_encode(&req, out, sizeof(out));
        if (n < 0 || (size_t) n != size || memcmp(out, data, size) != 0)
                abort();
        if (proto_request_encode(&req, out, size - 1) != -ENOBUFS)
                abort();
        return 0;
}
