/* Reading and writing the test drivers' binary streams: little-endian int32 scalars and raw arrays, into
 * 128-byte aligned static storage. A driver that meets short input stops with a trap. */
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

/* Reads an int32 byte count and that many bytes into fresh 128-byte aligned storage (NULL for count 0); the
 * count goes to *bytes when bytes is not NULL. */
static inline void *qc_driver_array_sized(long *bytes)
{
    static unsigned char pool[1 << 21] QC_DRIVER_ALIGNED;
    static long used = 0;
    const long n = qc_driver_i32();
    void *at = pool + used;
    if (bytes != 0) {
        *bytes = n;
    }
    if (n == 0) {
        return 0;
    }
    if (n < 0 || used + n > (long)sizeof pool) {
        __builtin_trap();
    }
    qc_driver_bytes(at, n);
    used += (n + 127) & ~127L;
    return at;
}

/* Reads the window fields the convolution parameter structs share, in this order. */
#define QC_DRIVER_WINDOW(s)                                                                                    \
    do {                                                                                                       \
        (s)->batches = qc_driver_i32(); (s)->in_h = qc_driver_i32(); (s)->in_w = qc_driver_i32();             \
        (s)->in_c = qc_driver_i32(); (s)->out_h = qc_driver_i32(); (s)->out_w = qc_driver_i32();              \
        (s)->k_h = qc_driver_i32(); (s)->k_w = qc_driver_i32();                                                \
        (s)->stride_h = qc_driver_i32(); (s)->stride_w = qc_driver_i32();                                      \
        (s)->dilation_h = qc_driver_i32(); (s)->dilation_w = qc_driver_i32();                                  \
        (s)->pad_top = qc_driver_i32(); (s)->pad_left = qc_driver_i32();                                       \
        (s)->input_offset = qc_driver_i32(); (s)->output_offset = qc_driver_i32();                             \
        (s)->act_min = qc_driver_i32(); (s)->act_max = qc_driver_i32();                                        \
    } while (0)

static inline void *qc_driver_array(void)
{
    return qc_driver_array_sized(0);
}

#endif
