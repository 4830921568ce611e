/* int8 mean, bit-exact with TFLite's reference MEAN. */
#include "qc_mean_s8.h"
#include "qc_fixed_point.h"

static int32_t qc_mean_sum(const qc_mean_params_t *p, const int8_t *base)
{
    int r0, r1, r2, r3;
    int32_t sum = 0;
    for (r0 = 0; r0 < p->reduced_dims[0]; ++r0) {
        for (r1 = 0; r1 < p->reduced_dims[1]; ++r1) {
            for (r2 = 0; r2 < p->reduced_dims[2]; ++r2) {
                for (r3 = 0; r3 < p->reduced_dims[3]; ++r3) {
                    sum += base[(long)r0 * p->reduced_strides[0] + (long)r1 * p->reduced_strides[1]
                                + (long)r2 * p->reduced_strides[2] + (long)r3 * p->reduced_strides[3]];
                }
            }
        }
    }
    return sum;
}

void qc_mean_s8(const qc_mean_params_t *p, const int8_t *input, int8_t *output)
{
    int k0, k1, k2, k3;
    for (k0 = 0; k0 < p->kept_dims[0]; ++k0) {
        for (k1 = 0; k1 < p->kept_dims[1]; ++k1) {
            for (k2 = 0; k2 < p->kept_dims[2]; ++k2) {
                for (k3 = 0; k3 < p->kept_dims[3]; ++k3) {
                    const int8_t *base = input + (long)k0 * p->kept_strides[0] + (long)k1 * p->kept_strides[1]
                                         + (long)k2 * p->kept_strides[2] + (long)k3 * p->kept_strides[3];
                    const int32_t centered = (int32_t)((uint32_t)qc_mean_sum(p, base) - (uint32_t)p->zero_point_sum);
                    const int32_t value = qc_requantize(centered, p->multiplier, p->shift) + p->output_zero_point;
                    *output++ = (int8_t)qc_clamp_i32(value, -128, 127);
                }
            }
        }
    }
}
