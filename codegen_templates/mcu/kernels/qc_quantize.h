/* Conversions at the edges of an int8 model and between int8 parameter sets, TFLite's reference QUANTIZE,
 * DEQUANTIZE and int8 -> int8 QUANTIZE (requantize). All three are elementwise (in-place safe). */
#ifndef QC_QUANTIZE_H
#define QC_QUANTIZE_H

#include <stdint.h>

typedef struct {
    long count;
    float scale;               /* quantize: divide in float32 */
    double dequantize_scale;   /* dequantize: multiply in double */
    int32_t input_zero_point;
    int32_t output_zero_point;
    int32_t multiplier, shift; /* requantize: input_scale / output_scale */
} qc_quantize_params_t;

/* output[i] = clamp(round(input[i] / scale) + output_zero_point). */
void qc_quantize_f32_s8(const qc_quantize_params_t *p, const float *input, int8_t *output);
/* output[i] = (float)(dequantize_scale * (input[i] - input_zero_point)). */
void qc_dequantize_s8_f32(const qc_quantize_params_t *p, const int8_t *input, float *output);
/* output[i] = clamp(requantize(input[i] - input_zero_point) + output_zero_point). */
void qc_requantize_s8(const qc_quantize_params_t *p, const int8_t *input, int8_t *output);

#endif
