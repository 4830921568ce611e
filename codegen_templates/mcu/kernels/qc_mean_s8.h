/* int8 mean over axes, TFLite's reference MEAN: the int32 sum minus count * input zero point, rescaled by
 * input_scale / output_scale with 1 / count folded into the multiplier, plus the output zero point. */
#ifndef QC_MEAN_S8_H
#define QC_MEAN_S8_H

#include <stdint.h>

typedef struct {
    int kept_dims[4], kept_strides[4];       /* output index space: its input element strides */
    int reduced_dims[4], reduced_strides[4]; /* reduced index space: its input element strides */
    int32_t zero_point_sum;                  /* count * input zero point */
    int32_t multiplier, shift;               /* with 1 / count folded in */
    int32_t output_zero_point;
} qc_mean_params_t;

/* Output element i is written after all of its reads, in increasing address order (in-place overlap). */
void qc_mean_s8(const qc_mean_params_t *p, const int8_t *input, int8_t *output);

#endif
