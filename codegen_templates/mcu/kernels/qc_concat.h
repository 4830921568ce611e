/* Concatenation along an axis, on raw bytes: for each of `outer` slices, each input contributes a contiguous
 * run of its bytes. Inputs and output share their quantization parameters. */
#ifndef QC_CONCAT_H
#define QC_CONCAT_H

#include <stdint.h>

typedef struct {
    int outer;
    int num_inputs;
    const int32_t *run_bytes; /* [num_inputs]: bytes of one slice of each input */
} qc_concat_params_t;

void qc_concat(const qc_concat_params_t *p, const void *const *inputs, void *output);

#endif
