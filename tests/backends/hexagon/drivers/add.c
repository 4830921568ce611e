/* Test driver of the addition kernels: reads qc_add_params_t's fields (same-shape operands), the HVX rescaling
 * records, both operands and the prefilled output buffer; writes the buffer after qc_hvx_add_s8 (HVX build)
 * or qc_add_s8. */
#include "qc_driver_io.h"
#include "qc_hvx_add_s8.h"

int main(void)
{
    static qc_hvx_add_params_t p;
    qc_add_params_t *s = &p.shape;
    const int8_t *lhs, *rhs;
    int8_t *output;
    long count;
    int d;
    for (d = 0; d < 4; ++d) {
        s->shape.dims[d] = qc_driver_i32();
    }
    for (d = 0; d < 4; ++d) {
        s->shape.lhs_strides[d] = qc_driver_i32();
    }
    for (d = 0; d < 4; ++d) {
        s->shape.rhs_strides[d] = qc_driver_i32();
    }
    s->left_shift = qc_driver_i32();
    s->lhs_offset = qc_driver_i32(); s->lhs_multiplier = qc_driver_i32(); s->lhs_shift = qc_driver_i32();
    s->rhs_offset = qc_driver_i32(); s->rhs_multiplier = qc_driver_i32(); s->rhs_shift = qc_driver_i32();
    s->output_offset = qc_driver_i32(); s->output_multiplier = qc_driver_i32(); s->output_shift = qc_driver_i32();
    s->act_min = qc_driver_i32(); s->act_max = qc_driver_i32();
    qc_driver_bytes(&p.lhs, (long)sizeof p.lhs);
    qc_driver_bytes(&p.rhs, (long)sizeof p.rhs);
    qc_driver_bytes(&p.output, (long)sizeof p.output);
    lhs = (const int8_t *)qc_driver_array();
    rhs = (const int8_t *)qc_driver_array();
    output = (int8_t *)qc_driver_array_sized(&count);
#if QC_HVX
    qc_hvx_add_s8(&p, lhs, rhs, output);
#else
    qc_add_s8(s, lhs, rhs, output);
#endif
    qc_driver_put(output, count);
    return 0;
}
