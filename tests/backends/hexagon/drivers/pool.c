/* Test driver of the pooling kernels: reads the kind (0 max, 1 average), qc_pool_params_t's fields, the input
 * and the prefilled output buffer; writes the buffer after the HVX kernel (HVX build) or the scalar one. */
#include "qc_driver_io.h"
#include "qc_hvx_pool_s8.h"

int main(void)
{
    qc_pool_params_t p;
    const int8_t *input;
    int8_t *output;
    long count;
    const int average = qc_driver_i32();
    p.batches = qc_driver_i32(); p.in_h = qc_driver_i32(); p.in_w = qc_driver_i32(); p.channels = qc_driver_i32();
    p.out_h = qc_driver_i32(); p.out_w = qc_driver_i32();
    p.k_h = qc_driver_i32(); p.k_w = qc_driver_i32(); p.stride_h = qc_driver_i32(); p.stride_w = qc_driver_i32();
    p.pad_top = qc_driver_i32(); p.pad_left = qc_driver_i32(); p.act_min = qc_driver_i32(); p.act_max = qc_driver_i32();
    input = (const int8_t *)qc_driver_array();
    output = (int8_t *)qc_driver_array_sized(&count);
#if QC_HVX
    if (average) {
        qc_hvx_avg_pool_s8(&p, input, output);
    } else {
        qc_hvx_max_pool_s8(&p, input, output);
    }
#else
    if (average) {
        qc_avg_pool_s8(&p, input, output);
    } else {
        qc_max_pool_s8(&p, input, output);
    }
#endif
    qc_driver_put(output, count);
    return 0;
}
