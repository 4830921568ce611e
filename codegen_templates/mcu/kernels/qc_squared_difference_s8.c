/* int8 squared difference, bit-exact with TFLite's reference SQUARED_DIFFERENCE. */
#include "qc_squared_difference_s8.h"
#include "qc_fixed_point.h"

void qc_squared_difference_s8(const qc_squared_difference_params_t *p, const int8_t *lhs, const int8_t *rhs,
                              int8_t *output)
{
    int i0, i1, i2, i3;
    for (i0 = 0; i0 < p->shape.dims[0]; ++i0) {
        for (i1 = 0; i1 < p->shape.dims[1]; ++i1) {
            for (i2 = 0; i2 < p->shape.dims[2]; ++i2) {
                for (i3 = 0; i3 < p->shape.dims[3]; ++i3) {
                    long a, b;
                    int32_t x, y, difference, squared, value;
                    qc_broadcast_offsets(&p->shape, i0, i1, i2, i3, &a, &b);
                    x = qc_requantize_smaller_than_one((int32_t)((uint32_t)(lhs[a] + p->lhs_offset) << 7),
                                                       p->lhs_multiplier, p->lhs_shift);
                    y = qc_requantize_smaller_than_one((int32_t)((uint32_t)(rhs[b] + p->rhs_offset) << 7),
                                                       p->rhs_multiplier, p->rhs_shift);
                    difference = x - y;
                    squared = (int32_t)((uint32_t)difference * (uint32_t)difference);
                    value = qc_requantize_smaller_than_one(squared, p->output_multiplier, p->output_shift)
                            + p->output_offset;
                    *output++ = (int8_t)qc_clamp_i32(value, -128, 127);
                }
            }
        }
    }
}
