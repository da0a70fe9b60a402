#ifndef FERRY_CRC32C_H
#define FERRY_CRC32C_H
#include <stddef.h>
#include <stdint.h>

/// CRC-32C (Castagnoli) of `length` bytes, continuing from `crc` (0 to start).
/// Uses the SSE4.2 instruction when the CPU has it, a table otherwise.
uint32_t ferry_crc32c(uint32_t crc, const void *data, size_t length);

#endif
