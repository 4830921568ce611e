/* Reading and writing the test drivers' binary streams: little-endian int32 scalars and raw arrays, into
 * 128-byte aligned static storage. A driver that meets short input exits with code 3. */
#ifndef QC_DRIVER_IO_H
#define QC_DRIVER_IO_H

#include <stdint.h>
#include "qc_io.h"

#define QC_DRIVER_ALIGNED __attribute__((aligned(128)))

static inline int32_t qc_driver_i32(void)
{
    int32_t value = 0;
    if (qc_read_all(&value, (long)sizeof value) != 0) {
        __builtin_trap();
    }
    return value;
}

static inline void qc_driver_bytes(void *buffer, long n)
{
    if (n > 0 && qc_read_all(buffer, n) != 0) {
        __builtin_trap();
    }
}

static inline void qc_driver_put(const void *buffer, long n)
{
    if (qc_write_all(buffer, n) != 0) {
        __builtin_trap();
    }
}

#endif
