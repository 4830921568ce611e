/* Test driver of the dense kernels: reads the layer (qc_fully_connected_params_t fields, scalar arrays, HVX
 * packed filter and accumulator starts), the input and the prefilled output buffer; writes the buffer after qc_hvx_fully_connected_s8
 * (HVX build) or qc_fully_connected_s8. */
#include "qc_driver_io.h"
#include "qc_hvx_fully_connected_s8.h"

int main(void)
{
    qc_hvx_fully_connected_params_t p;
    qc_fully_connected_params_t *s = &p.shape;
    const int8_t *input;
    int8_t *output;
    long count;
    s->rows = qc_driver_i32(); s->in_features = qc_driver_i32(); s->out_features = qc_driver_i32();
    s->input_offset = qc_driver_i32(); s->filter_offset = qc_driver_i32(); s->output_offset = qc_driver_i32();
    s->act_min = qc_driver_i32(); s->act_max = qc_driver_i32(); s->per_channel = qc_driver_i32();
    s->filter = (const int8_t *)qc_driver_array();
    s->bias = (const int32_t *)qc_driver_array();
    s->scale = (const double *)qc_driver_array();
    p.gemm.out_c = s->out_features;
    p.gemm.groups = qc_driver_i32();
    p.gemm.filter = (const int8_t *)qc_driver_array();
    p.gemm.start = (const int32_t *)qc_driver_array();
    p.gemm.requant = 0;
    p.gemm.output_offset = s->output_offset;
    p.gemm.act_min = s->act_min;
    p.gemm.act_max = s->act_max;
    input = (const int8_t *)qc_driver_array();
    output = (int8_t *)qc_driver_array_sized(&count);
#if QC_HVX
    qc_hvx_fully_connected_s8(&p, input, output);
#else
    qc_fully_connected_s8(s, input, output);
#endif
    qc_driver_put(output, count);
    return 0;
}
