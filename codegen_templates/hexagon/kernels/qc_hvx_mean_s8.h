/* int8 mean over axes with HVX when the kept innermost axis is contiguous (channels, as a global average pool
 * of NHWC): 128 channels per step, sums in int32 lanes, TFLite's reference MEAN rescaling, bit-exact. */
#ifndef QC_HVX_MEAN_S8_H
#define QC_HVX_MEAN_S8_H

#include <stdint.h>
#include "qc_mean_s8.h"
#include "qc_hvx.h"

typedef struct {
    qc_mean_params_t shape;     /* index spaces, zero points; its multiplier and shift as the record below */
    qc_hvx_requant_t requant;   /* multiplier and shift (1 / count folded in) in every lane */
} qc_hvx_mean_params_t;

#if QC_HVX
/* Needs kept_strides[3] == 1; output elements are written after all of their reads, in increasing address
 * order (in-place overlap). */
void qc_hvx_mean_s8(const qc_hvx_mean_params_t *p, const int8_t *input, int8_t *output);
#endif

#endif
