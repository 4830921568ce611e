/* int8 squared difference, bit-exact with TFLite's reference SQUARED_DIFFERENCE. */
#include "qc_squared_difference_s8.h"
#include "qc_fixed_point.h"

void qc_squared_difference_s8(const qc_squared_difference_params_t *p, const int8_t *lhs, const int8_t *rhs,
                              int8_t *output)
{
    const long count = qc_broadcast_count(&p->shape);
    qc_broadcast_cursor_t at;
    long i;
    qc_broadcast_begin(&at);
    for (i = 0; i < count; ++i) {
        const int32_t x = qc_requantize_smaller_than_one(
            (int32_t)((uint32_t)(lhs[at.lhs] + p->lhs_offset) << 7), p->lhs_multiplier, p->lhs_shift);
        const int32_t y = qc_requantize_smaller_than_one(
            (int32_t)((uint32_t)(rhs[at.rhs] + p->rhs_offset) << 7), p->rhs_multiplier, p->rhs_shift);
        const int32_t difference = x - y;
        const int32_t squared = (int32_t)((uint32_t)difference * (uint32_t)difference);
        const int32_t value = qc_requantize_smaller_than_one(squared, p->output_multiplier, p->output_shift)
                              + p->output_offset;
        output[i] = (int8_t)qc_clamp_i32(value, -128, 127);
        qc_broadcast_advance(&p->shape, &at);
    }
}
