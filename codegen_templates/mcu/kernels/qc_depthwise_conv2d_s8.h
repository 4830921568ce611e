/* int8 depthwise 2-D convolution (NHWC input, 1HWC filter, per-channel requantization), TFLite's reference
 * DEPTHWISE_CONV_2D: output channel c * depth_multiplier + m reads input channel c. */
#ifndef QC_DEPTHWISE_CONV2D_S8_H
#define QC_DEPTHWISE_CONV2D_S8_H

#include <stdint.h>

typedef struct {
    int batches, in_h, in_w, in_c;
    int out_h, out_w, depth_multiplier;
    int k_h, k_w;
    int stride_h, stride_w, dilation_h, dilation_w;
    int pad_top, pad_left;
    int32_t input_offset, output_offset;
    int32_t act_min, act_max;
    const int8_t *filter;       /* [k_h][k_w][in_c * depth_multiplier] */
    const int32_t *bias;        /* [in_c * depth_multiplier] or NULL */
    const int32_t *filter_sums; /* [in_c * depth_multiplier]: sum of each output channel's taps */
    const int32_t *multiplier;
    const int32_t *shift;
} qc_depthwise_conv2d_params_t;

/* Writes output elements in increasing address order, each after all of its reads (in-place overlap). */
void qc_depthwise_conv2d_s8(const qc_depthwise_conv2d_params_t *p, const int8_t *input, int8_t *output);

#endif
