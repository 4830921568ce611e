/* int8 grouped 2-D convolution over compressed weights (NHWC input; regular convolution with groups = 1,
 * depthwise with groups = in_c), bit-exact with TFLite's reference integer CONV_2D and DEPTHWISE_CONV_2D. */
#ifndef QC_CONV2D_PACKED_S8_H
#define QC_CONV2D_PACKED_S8_H

#include <stdint.h>
#include "qc_packed_weights.h"

typedef struct {
    int batches, in_h, in_w, in_c;
    int out_h, out_w, out_c;
    int groups;                 /* output channel oc reads input channels of group oc / (out_c / groups) */
    int k_h, k_w;
    int stride_h, stride_w, dilation_h, dilation_w;
    int pad_top, pad_left;
    int32_t input_offset, output_offset;
    int32_t act_min, act_max;
    qc_packed_weights_t weights; /* [out_c][k_h][k_w][in_c / groups] */
    const int32_t *bias;         /* [out_c] or NULL */
    const int32_t *multiplier;   /* [out_c] */
    const int32_t *shift;        /* [out_c] */
} qc_conv2d_packed_params_t;

/* Writes output elements in increasing address order, each after all of its reads (in-place overlap), and
 * reads the same input elements as qc_conv2d_s8 / qc_depthwise_conv2d_s8. */
void qc_conv2d_packed_s8(const qc_conv2d_packed_params_t *p, const int8_t *input, int8_t *output);

#endif
