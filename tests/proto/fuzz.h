/* SPDX-License-Identifier: Apache-2.0 OR MIT */
#pragma once

#include <stddef.h>
#include <stdint.h>

/* The libFuzzer entry point; fuzz-main.c calls it to replay a corpus without libFuzzer. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
