/* int8 elementwise addition, bit-exact with TFLite's reference integer ADD. */
#include "qc_add_s8.h"
#include "qc_fixed_point.h"

void qc_add_s8(const qc_add_params_t *p, const int8_t *lhs, const int8_t *rhs, int8_t *output)
{
    int i0, i1, i2, i3;
    for (i0 = 0; i0 < p->shape.dims[0]; ++i0) {
        for (i1 = 0; i1 < p->shape.dims[1]; ++i1) {
            for (i2 = 0; i2 < p->shape.dims[2]; ++i2) {
                for (i3 = 0; i3 < p->shape.dims[3]; ++i3) {
                    long a, b;
                    int32_t x, y, sum;
                    qc_broadcast_offsets(&p->shape, i0, i1, i2, i3, &a, &b);
                    x = (int32_t)((uint32_t)(p->lhs_offset + lhs[a]) << p->left_shift);
                    y = (int32_t)((uint32_t)(p->rhs_offset + rhs[b]) << p->left_shift);
                    x = qc_requantize_smaller_than_one(x, p->lhs_multiplier, p->lhs_shift);
                    y = qc_requantize_smaller_than_one(y, p->rhs_multiplier, p->rhs_shift);
                    sum = qc_requantize_smaller_than_one(x + y, p->output_multiplier, p->output_shift)
                          + p->output_offset;
                    *output++ = (int8_t)qc_clamp_i32(sum, p->act_min, p->act_max);
                }
            }
        }
    }
}
