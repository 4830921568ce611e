/* Transpose of a tensor of up to 6 dims with 1-byte elements (TFLite TRANSPOSE on int8). */
#ifndef QC_TRANSPOSE_H
#define QC_TRANSPOSE_H

#include <stdint.h>

typedef struct {
    int out_dims[6];      /* padded with leading 1s */
    int source_strides[6]; /* input element stride of each output axis */
} qc_transpose_params_t;

void qc_transpose_s8(const qc_transpose_params_t *p, const int8_t *input, int8_t *output);

#endif
