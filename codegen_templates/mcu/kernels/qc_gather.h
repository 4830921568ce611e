/* Gather along an axis with constant indices, on raw bytes (TFLite GATHER): for each of `outer` slices, the
 * `inner_bytes` runs at the given indices. */
#ifndef QC_GATHER_H
#define QC_GATHER_H

#include <stdint.h>

typedef struct {
    int outer, axis_size, count;
    int32_t inner_bytes;
    const int32_t *indices; /* [count], each in [0, axis_size) */
} qc_gather_params_t;

void qc_gather(const qc_gather_params_t *p, const void *input, void *output);

#endif
