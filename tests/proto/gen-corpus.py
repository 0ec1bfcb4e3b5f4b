#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0 OR MIT
#
# Writes the seed corpora of the fuzz targets. The bytes are packed here with
# struct, independently of the C encoder, so the seeds also cross-check it.
# Run it from this directory after a change of the wire format and commit
# the result; libFuzzer finds the rest from these starting points.

import os
import struct

MAGIC = b'SMAP'
VERSION = 1


def header(type_, length, flags=0, magic=MAGIC, version=VERSION):
    return magic + struct.pack('<HHII', version, type_, length, flags)


def snapshot_fd(max_size=0, **kw):
    return header(1, 24, **kw) + struct.pack('<Q', max_size)


def snapshot_path(path, max_size=0, path_length=None, length=None, **kw):
    n = len(path) if path_length is None else path_length
    total = 28 + len(path) if length is None else length
    return header(2, total, **kw) + struct.pack('<QI', max_size, n) + path


def status_request(**kw):
    return header(3, 16, **kw)


def snapshot_reply(status=0, kind=1, size=0, flags=0, reserved=0, **kw):
    return header(0x81, 40, flags, **kw) + struct.pack('<iIQQ', status, kind, size, reserved)


def status_reply(status=0, reserved=0, flags=0, **kw):
    return header(0x83, 56, flags, **kw) + struct.pack('<iIQQIIQ', status, 3, 100, 1 << 20, 2, reserved, 10**6)


requests = {
    'valid-snapshot-fd': snapshot_fd(),
    'valid-snapshot-fd-limit': snapshot_fd(1 << 30),
    'valid-snapshot-path': snapshot_path(b'/etc/passwd'),
    'valid-snapshot-path-root': snapshot_path(b'/'),
    'valid-snapshot-path-max': snapshot_path(b'/' + b'a' * 4094),
    'valid-status': status_request(),
    'invalid-empty': b'',
    'invalid-short-header': status_request()[:15],
    'invalid-magic': status_request(magic=b'PAMS'),
    'invalid-version': snapshot_fd(version=2),
    'invalid-type-reply': header(0x81, 16),
    'invalid-flags': snapshot_fd(flags=1),
    'invalid-path-relative': snapshot_path(b'etc/passwd'),
    'invalid-path-nul': snapshot_path(b'/etc\0/passwd'),
    'invalid-path-empty': snapshot_path(b''),
    'invalid-path-length': snapshot_path(b'/etc/passwd', path_length=10),
    'invalid-path-too-long': snapshot_path(b'/' + b'a' * 4095),
    'invalid-length-field': snapshot_fd()[:8] + struct.pack('<I', 25) + snapshot_fd()[12:],
    'invalid-trailing-byte': snapshot_fd() + b'\0',
}

replies = {
    'valid-snapshot-memfd': snapshot_reply(0, 1, 4096, flags=3),
    'valid-snapshot-verity': snapshot_reply(0, 2, 1 << 40, flags=2),
    'valid-snapshot-error': snapshot_reply(-2, 0),
    'valid-snapshot-error-min': snapshot_reply(-4095, 0),
    'valid-status': status_reply(),
    'valid-status-error': status_reply(-13),
    'invalid-empty': b'',
    'invalid-short': snapshot_reply()[:39],
    'invalid-magic': snapshot_reply(magic=b'SMAQ'),
    'invalid-version': status_reply(version=0),
    'invalid-type-request': header(3, 16),
    'invalid-flags': snapshot_reply(flags=4),
    'invalid-status-positive': snapshot_reply(1, 0),
    'invalid-status-range': status_reply(-4096),
    'invalid-kind': snapshot_reply(0, 3),
    'invalid-kind-on-error': snapshot_reply(-2, 1),
    'invalid-reserved': snapshot_reply(reserved=1 << 63),
    'invalid-status-reserved': status_reply(reserved=1),
    'invalid-oversize': status_reply() + b'\0',
}

here = os.path.dirname(os.path.abspath(__file__))
for target, seeds in (('fuzz-request', requests), ('fuzz-reply', replies)):
    d = os.path.join(here, 'corpus', target)
    os.makedirs(d, exist_ok=True)
    for name, data in seeds.items():
        with open(os.path.join(d, name), 'wb') as f:
            f.write(data)
