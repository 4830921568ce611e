/* Test driver of the int8 -> int8 requantization kernels: reads qc_quantize_params_t's integer fields, the HVX
 * record, the input and the prefilled output buffer; writes the buffer after qc_hvx_requantize_s8 (HVX build)
 * or qc_requantize_s8. */
#include "qc_driver_io.h"
#include "qc_hvx_requantize_s8.h"

int main(void)
{
    static qc_hvx_requantize_params_t p;
    qc_quantize_params_t *s = &p.shape;
    const int8_t *input;
    int8_t *output;
    long count;
    s->count = qc_driver_i32();
    s->input_zero_point = qc_driver_i32(); s->output_zero_point = qc_driver_i32();
    s->multiplier = qc_driver_i32(); s->shift = qc_driver_i32();
    qc_driver_bytes(&p.requant, (long)sizeof p.requant);
    input = (const int8_t *)qc_driver_array();
    output = (int8_t *)qc_driver_array_sized(&count);
#if QC_HVX
    qc_hvx_requantize_s8(&p, input, output);
#else
    qc_requantize_s8(s, input, output);
#endif
    qc_driver_put(output, count);
    return 0;
}
