/* Test driver of the mean kernels: reads qc_mean_params_t's fields, the HVX record, the input and the
 * prefilled output buffer; writes the buffer after qc_hvx_mean_s8 (HVX build) or qc_mean_s8. */
#include "qc_driver_io.h"
#include "qc_hvx_mean_s8.h"

int main(void)
{
    static qc_hvx_mean_params_t p;
    qc_mean_params_t *s = &p.shape;
    const int8_t *input;
    int8_t *output;
    long count;
    int d;
    for (d = 0; d < 4; ++d) {
        s->kept_dims[d] = qc_driver_i32();
    }
    for (d = 0; d < 4; ++d) {
        s->kept_strides[d] = qc_driver_i32();
    }
    for (d = 0; d < 4; ++d) {
        s->reduced_dims[d] = qc_driver_i32();
    }
    for (d = 0; d < 4; ++d) {
        s->reduced_strides[d] = qc_driver_i32();
    }
    s->zero_point_sum = qc_driver_i32(); s->multiplier = qc_driver_i32(); s->shift = qc_driver_i32();
    s->output_zero_point = qc_driver_i32();
    qc_driver_bytes(&p.requant, (long)sizeof p.requant);
    input = (const int8_t *)qc_driver_array();
    output = (int8_t *)qc_driver_array_sized(&count);
#if QC_HVX
    qc_hvx_mean_s8(&p, input, output);
#else
    qc_mean_s8(s, input, output);
#endif
    qc_driver_put(output, count);
    return 0;
}
