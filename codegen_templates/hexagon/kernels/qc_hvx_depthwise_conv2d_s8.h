/* int8 depthwise 2-D convolution with HVX (depth multiplier 1): 64 channels per step, inputs widened to int16
 * with the input offset added, one vmpy-accumulate per tap into 64 int32 lanes (even channels in the low
 * vector, odd in the high), skipped padded taps. Bit-exact with TFLite's reference DEPTHWISE_CONV_2D. */
#ifndef QC_HVX_DEPTHWISE_CONV2D_S8_H
#define QC_HVX_DEPTHWISE_CONV2D_S8_H

#include <stdint.h>
#include "qc_depthwise_conv2d_s8.h"
#include "qc_hvx.h"

typedef struct {
    qc_depthwise_conv2d_params_t shape;  /* geometry and offsets; its array pointers are unused */
    const int16_t *filter;               /* [tiles][k_h * k_w][64] */
    const int32_t *bias;                 /* [tiles][2][32]: even channels, then odd */
    const qc_hvx_requant_t *requant;     /* [tiles][2]: even channels, then odd */
} qc_hvx_depthwise_conv2d_params_t;

#if QC_HVX
/* Writes output pixels in increasing address order, each after all of its reads (in place, as TinyEngine). */
void qc_hvx_depthwise_conv2d_s8(const qc_hvx_depthwise_conv2d_params_t *p, const int8_t *input, int8_t *output);
#endif

#endif
