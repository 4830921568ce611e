/* int8 elementwise addition with broadcasting, TFLite's reference ADD (both inputs rescaled to a common
 * scale with 20 bits of headroom, summed, then requantized). */
#ifndef QC_ADD_S8_H
#define QC_ADD_S8_H

#include <stdint.h>
#include "qc_broadcast.h"

typedef struct {
    qc_broadcast_t shape;
    int32_t left_shift;
    int32_t lhs_offset, lhs_multiplier, lhs_shift;
    int32_t rhs_offset, rhs_multiplier, rhs_shift;
    int32_t output_offset, output_multiplier, output_shift;
    int32_t act_min, act_max;
} qc_add_params_t;

/* Element i is written after reading element i of each full-size operand (in-place safe). */
void qc_add_s8(const qc_add_params_t *p, const int8_t *lhs, const int8_t *rhs, int8_t *output);

#endif
