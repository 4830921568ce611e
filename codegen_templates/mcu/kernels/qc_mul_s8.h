/* int8 elementwise multiplication with broadcasting, TFLite's reference MUL. */
#ifndef QC_MUL_S8_H
#define QC_MUL_S8_H

#include <stdint.h>
#include "qc_broadcast.h"

typedef struct {
    qc_broadcast_t shape;
    int32_t lhs_offset, rhs_offset;
    int32_t output_offset, output_multiplier, output_shift;
    int32_t act_min, act_max;
} qc_mul_params_t;

/* Element i is written after reading element i of each full-size operand (in-place safe). */
void qc_mul_s8(const qc_mul_params_t *p, const int8_t *lhs, const int8_t *rhs, int8_t *output);

#endif
