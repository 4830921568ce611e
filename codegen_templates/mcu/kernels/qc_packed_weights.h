/* Compressed int8 weights and the sequential cursor the packed kernels read them with. The weights of a layer
 * are one run over [output channel][tap] in the order the kernels visit them; `mask` (when not NULL) has one
 * bit per weight, LSB first, 1 = stored (a cleared bit is a zero weight); `stream` holds the stored weights:
 * raw int8 when `table` is NULL, else `bits`-wide codebook indices, LSB first, followed by one padding byte. */
#ifndef QC_PACKED_WEIGHTS_H
#define QC_PACKED_WEIGHTS_H

#include <stdint.h>

typedef struct {
    const uint8_t *mask;   /* one bit per weight, or NULL: every weight stored */
    const uint8_t *stream; /* stored weights: int8 values, or packed codebook indices */
    const int8_t *table;   /* codebook [1 or out channels][table_size], or NULL */
    int bits;              /* index width, 1..8 */
    int table_size;        /* entries per codebook row */
    int per_channel;       /* 1: one codebook row per output channel */
} qc_packed_weights_t;

typedef struct {
    const qc_packed_weights_t *weights;
    const int8_t *table;   /* the current output channel's codebook row */
    uint32_t element;      /* next weight */
    uint32_t stored;       /* next stored value */
} qc_weight_cursor_t;

/* A cursor at the first weight of the layer. */
static inline void qc_cursor_start(qc_weight_cursor_t *cursor, const qc_packed_weights_t *weights)
{
    cursor->weights = weights;
    cursor->table = weights->table;
    cursor->element = 0;
    cursor->stored = 0;
}

/* Select output channel `channel`'s codebook row (the cursor is at that channel's first weight). */
static inline void qc_cursor_channel(qc_weight_cursor_t *cursor, int channel)
{
    const qc_packed_weights_t *w = cursor->weights;
    if (w->table != 0 && w->per_channel) {
        cursor->table = w->table + (long)channel * w->table_size;
    }
}

/* The next weight, as an int32 ready to multiply. */
static inline int32_t qc_cursor_next(qc_weight_cursor_t *cursor)
{
    const qc_packed_weights_t *w = cursor->weights;
    const uint32_t element = cursor->element++;
    uint32_t stored, bit, pair;
    if (w->mask != 0 && ((w->mask[element >> 3] >> (element & 7)) & 1u) == 0) {
        return 0;
    }
    stored = cursor->stored++;
    if (cursor->table == 0) {
        return (int32_t)(int8_t)w->stream[stored];
    }
    bit = stored * (uint32_t)w->bits;
    pair = (uint32_t)w->stream[bit >> 3] | ((uint32_t)w->stream[(bit >> 3) + 1] << 8);
    return cursor->table[(pair >> (bit & 7)) & ((1u << w->bits) - 1u)];
}

#endif
