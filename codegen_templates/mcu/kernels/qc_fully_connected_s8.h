/* int8 fully connected layer ([rows, in] x [out, in]^T + bias), TFLite's reference FULLY_CONNECTED: the
 * accumulator is rescaled in double and rounded half away from zero (qc_rescale_double). */
#ifndef QC_FULLY_CONNECTED_S8_H
#define QC_FULLY_CONNECTED_S8_H

#include <stdint.h>

typedef struct {
    int rows, in_features, out_features;
    int32_t input_offset, filter_offset, output_offset;
    int32_t act_min, act_max;
    int per_channel;            /* 1: one multiplier per output feature, 0: one for all */
    const int8_t *filter;       /* [out_features][in_features] */
    const int32_t *bias;        /* [out_features] or NULL */
    const double *scale;        /* double(s_in) * double(s_w) / double(s_out), per output feature or one */
} qc_fully_connected_params_t;

void qc_fully_connected_s8(const qc_fully_connected_params_t *p, const int8_t *input, int8_t *output);

#endif
