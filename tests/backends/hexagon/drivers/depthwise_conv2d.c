/* Test driver of the depthwise kernels: reads the layer (qc_depthwise_conv2d_params_t fields, scalar arrays,
 * HVX widened filter and lane-ordered constants), the input and the prefilled output buffer; writes the buffer
 * after qc_hvx_depthwise_conv2d_s8 (HVX build) or qc_depthwise_conv2d_s8. */
#include "qc_driver_io.h"
#include "qc_hvx_depthwise_conv2d_s8.h"

int main(void)
{
    qc_hvx_depthwise_conv2d_params_t p;
    qc_depthwise_conv2d_params_t *s = &p.shape;
    const int8_t *input;
    int8_t *output;
    long count;
    QC_DRIVER_WINDOW(s);
    s->depth_multiplier = qc_driver_i32();
    s->filter = (const int8_t *)qc_driver_array();
    s->bias = (const int32_t *)qc_driver_array();
    s->filter_sums = (const int32_t *)qc_driver_array();
    s->multiplier = (const int32_t *)qc_driver_array();
    s->shift = (const int32_t *)qc_driver_array();
    p.filter = (const int16_t *)qc_driver_array();
    p.bias = (const int32_t *)qc_driver_array();
    p.requant = (const qc_hvx_requant_t *)qc_driver_array();
    input = (const int8_t *)qc_driver_array();
    output = (int8_t *)qc_driver_array_sized(&count);
#if QC_HVX
    qc_hvx_depthwise_conv2d_s8(&p, input, output);
#else
    qc_depthwise_conv2d_s8(s, input, output);
#endif
    qc_driver_put(output, count);
    return 0;
}
