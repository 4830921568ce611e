/* Test driver of the convolution kernels: reads the layer (qc_conv2d_params_t fields, the scalar arrays, the
 * HVX packed arrays), one input and the prefilled output buffer; writes the buffer after qc_hvx_conv2d_s8
 * (HVX build) or qc_conv2d_s8. */
#include "qc_driver_io.h"
#include "qc_hvx_conv2d_s8.h"

int main(void)
{
    qc_hvx_conv2d_params_t p;
    const int8_t *input;
    int8_t *output;
    long count;
    qc_conv2d_params_t *s = &p.shape;
    QC_DRIVER_WINDOW(s);
    s->out_c = qc_driver_i32();
    s->filter = (const int8_t *)qc_driver_array();
    s->bias = (const int32_t *)qc_driver_array();
    s->filter_sums = (const int32_t *)qc_driver_array();
    s->multiplier = (const int32_t *)qc_driver_array();
    s->shift = (const int32_t *)qc_driver_array();
    p.gemm.out_c = s->out_c;
    p.gemm.groups = qc_driver_i32();
    p.gemm.filter = (const int8_t *)qc_driver_array();
    p.gemm.start = (const int32_t *)qc_driver_array();
    p.gemm.requant = (const qc_hvx_requant_t *)qc_driver_array();
    p.gemm.output_offset = s->output_offset;
    p.gemm.act_min = s->act_min;
    p.gemm.act_max = s->act_max;
    input = (const int8_t *)qc_driver_array();
    output = (int8_t *)qc_driver_array_sized(&count); /* prefilled: the test checks bytes past the output */
#if QC_HVX
    qc_hvx_conv2d_s8(&p, input, output);
#else
    qc_conv2d_s8(s, input, output);
#endif
    qc_driver_put(output, count);
    return 0;
}
