/* QUANTIZE / DEQUANTIZE / requantize, bit-exact with TFLite's reference kernels. */
#include "qc_quantize.h"
#include "qc_fixed_point.h"
#include "qc_rounding.h"

void qc_quantize_f32_s8(const qc_quantize_params_t *p, const float *input, int8_t *output)
{
    long i;
    for (i = 0; i < p->count; ++i) {
        const float ratio = input[i] / p->scale;
        double rounded = ratio == ratio ? qc_round_half_away((double)ratio) : 0.0; /* NaN -> zero point */
        rounded = rounded > 1e9 ? 1e9 : (rounded < -1e9 ? -1e9 : rounded); /* saturates either way */
        output[i] = (int8_t)qc_clamp_i32((int32_t)rounded + p->output_zero_point, -128, 127);
    }
}

void qc_dequantize_s8_f32(const qc_quantize_params_t *p, const int8_t *input, float *output)
{
    long i;
    for (i = 0; i < p->count; ++i) {
        output[i] = (float)(p->dequantize_scale * (double)((int32_t)input[i] - p->input_zero_point));
    }
}

void qc_requantize_s8(const qc_quantize_params_t *p, const int8_t *input, int8_t *output)
{
    long i;
    for (i = 0; i < p->count; ++i) {
        const int32_t value = qc_requantize((int32_t)input[i] - p->input_zero_point, p->multiplier, p->shift);
        output[i] = (int8_t)qc_clamp_i32(value + p->output_zero_point, -128, 127);
    }
}
