/* int8 (lhs - rhs)^2 with broadcasting, TFLite's reference SQUARED_DIFFERENCE: both inputs on 7 extra bits at
 * twice the larger input scale, subtracted, squared, requantized. */
#ifndef QC_SQUARED_DIFFERENCE_S8_H
#define QC_SQUARED_DIFFERENCE_S8_H

#include <stdint.h>
#include "qc_broadcast.h"

typedef struct {
    qc_broadcast_t shape;
    int32_t lhs_offset, lhs_multiplier, lhs_shift;
    int32_t rhs_offset, rhs_multiplier, rhs_shift;
    int32_t output_offset, output_multiplier, output_shift;
} qc_squared_difference_params_t;

/* Element i is written after reading element i of each full-size operand (in-place safe). */
void qc_squared_difference_s8(const qc_squared_difference_params_t *p, const int8_t *lhs, const int8_t *rhs,
                              int8_t *output);

#endif
