/* Constant padding of a tensor of up to 4 dims with 1-byte elements (TFLite PAD on int8: the fill is the
 * quantized pad value, normally the zero point). */
#ifndef QC_PAD_H
#define QC_PAD_H

#include <stdint.h>

typedef struct {
    int in_dims[4];   /* padded with leading 1s */
    int before[4];
    int out_dims[4];
    int8_t value;
} qc_pad_params_t;

/* Writes the output in increasing address order; element i reads at most input element i (in-place overlap). */
void qc_pad_s8(const qc_pad_params_t *p, const int8_t *input, int8_t *output);

#endif
