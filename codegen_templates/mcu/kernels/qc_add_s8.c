/* int8 elementwise addition, bit-exact with TFLite's reference integer ADD. */
#include "qc_add_s8.h"
#include "qc_fixed_point.h"

void qc_add_s8(const qc_add_params_t *p, const int8_t *lhs, const int8_t *rhs, int8_t *output)
{
    const long count = qc_broadcast_count(&p->shape);
    qc_broadcast_cursor_t at;
    long i;
    qc_broadcast_begin(&at);
    for (i = 0; i < count; ++i) {
        int32_t x = (int32_t)((uint32_t)(p->lhs_offset + lhs[at.lhs]) << p->left_shift);
        int32_t y = (int32_t)((uint32_t)(p->rhs_offset + rhs[at.rhs]) << p->left_shift);
        int32_t sum;
        x = qc_requantize_smaller_than_one(x, p->lhs_multiplier, p->lhs_shift);
        y = qc_requantize_smaller_than_one(y, p->rhs_multiplier, p->rhs_shift);
        sum = qc_requantize_smaller_than_one(x + y, p->output_multiplier, p->output_shift) + p->output_offset;
        output[i] = (int8_t)qc_clamp_i32(sum, p->act_min, p->act_max);
        qc_broadcast_advance(&p->shape, &at);
    }
}
