/* int8 elementwise multiplication, bit-exact with TFLite's reference integer MUL. */
#include "qc_mul_s8.h"
#include "qc_fixed_point.h"

void qc_mul_s8(const qc_mul_params_t *p, const int8_t *lhs, const int8_t *rhs, int8_t *output)
{
    const long count = qc_broadcast_count(&p->shape);
    qc_broadcast_cursor_t at;
    long i;
    qc_broadcast_begin(&at);
    for (i = 0; i < count; ++i) {
        const int32_t product = (p->lhs_offset + lhs[at.lhs]) * (p->rhs_offset + rhs[at.rhs]);
        output[i] = qc_requantize_to_s8(product, p->output_multiplier, p->output_shift, p->output_offset,
                                        p->act_min, p->act_max);
        qc_broadcast_advance(&p->shape, &at);
    }
}
