/* int8 2-D convolution (NHWC input, OHWI filter, per-channel requantization), TFLite's reference CONV_2D. */
#ifndef QC_CONV2D_S8_H
#define QC_CONV2D_S8_H

#include <stdint.h>

typedef struct {
    int batches, in_h, in_w, in_c;
    int out_h, out_w, out_c;
    int k_h, k_w;
    int stride_h, stride_w, dilation_h, dilation_w;
    int pad_top, pad_left;
    int32_t input_offset, output_offset;
    int32_t act_min, act_max;
    const int8_t *filter;       /* [out_c][k_h][k_w][in_c] */
    const int32_t *bias;        /* [out_c] or NULL */
    const int32_t *filter_sums; /* [out_c]: sum of each output channel's taps (windows inside the image) */
    const int32_t *multiplier;  /* [out_c] */
    const int32_t *shift;       /* [out_c] */
} qc_conv2d_params_t;

/* Writes output elements in increasing address order, each after all of its reads: the planner relies on it
 * to overlap the output with the tail of the input. */
void qc_conv2d_s8(const qc_conv2d_params_t *p, const int8_t *input, int8_t *output);

#endif
