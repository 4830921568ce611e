/* int8 elementwise multiplication, bit-exact with TFLite's reference integer MUL. */
#include "qc_mul_s8.h"
#include "qc_fixed_point.h"

void qc_mul_s8(const qc_mul_params_t *p, const int8_t *lhs, const int8_t *rhs, int8_t *output)
{
    int i0, i1, i2, i3;
    for (i0 = 0; i0 < p->shape.dims[0]; ++i0) {
        for (i1 = 0; i1 < p->shape.dims[1]; ++i1) {
            for (i2 = 0; i2 < p->shape.dims[2]; ++i2) {
                for (i3 = 0; i3 < p->shape.dims[3]; ++i3) {
                    long a, b;
                    int32_t product;
                    qc_broadcast_offsets(&p->shape, i0, i1, i2, i3, &a, &b);
                    product = (p->lhs_offset + lhs[a]) * (p->rhs_offset + rhs[b]);
                    product = qc_requantize(product, p->output_multiplier, p->output_shift) + p->output_offset;
                    *output++ = (int8_t)qc_clamp_i32(product, p->act_min, p->act_max);
                }
            }
        }
    }
}
