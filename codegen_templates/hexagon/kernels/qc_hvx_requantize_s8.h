/* int8 -> int8 requantization (TFLite QUANTIZE between int8 parameter sets) with HVX, 128 elements per step,
 * bit-exact with the reference kernel. */
#ifndef QC_HVX_REQUANTIZE_S8_H
#define QC_HVX_REQUANTIZE_S8_H

#include <stdint.h>
#include "qc_quantize.h"
#include "qc_hvx.h"

typedef struct {
    qc_quantize_params_t shape;     /* count and zero points; its multiplier and shift are unused */
    qc_hvx_requant_t requant;       /* input_scale / output_scale in every lane */
} qc_hvx_requantize_params_t;

#if QC_HVX
/* Elementwise (in-place safe). */
void qc_hvx_requantize_s8(const qc_hvx_requantize_params_t *p, const int8_t *input, int8_t *output);
#endif

#endif
