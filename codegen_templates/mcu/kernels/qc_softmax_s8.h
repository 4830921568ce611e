/* int8 softmax over the last axis, TFLite's reference SOFTMAX (gemmlowp fixed point: exp on negative values
 * in Q5.26, sums in Q12.19, reciprocal by Newton-Raphson); output scale 1/256, zero point -128. */
#ifndef QC_SOFTMAX_S8_H
#define QC_SOFTMAX_S8_H

#include <stdint.h>

typedef struct {
    int rows, depth;
    int32_t input_multiplier, input_left_shift, diff_min;
} qc_softmax_params_t;

void qc_softmax_s8(const qc_softmax_params_t *p, const int8_t *input, int8_t *output);

#endif
