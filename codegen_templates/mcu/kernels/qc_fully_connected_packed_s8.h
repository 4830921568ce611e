/* int8 fully connected layer over compressed weights, TFLite's reference FULLY_CONNECTED. */
#ifndef QC_FULLY_CONNECTED_PACKED_S8_H
#define QC_FULLY_CONNECTED_PACKED_S8_H

#include <stdint.h>
#include "qc_packed_weights.h"

typedef struct {
    int rows, in_features, out_features;
    int32_t input_offset, filter_offset, output_offset;
    int32_t act_min, act_max;
    int per_channel;             /* 1: one multiplier per output feature, 0: one for all */
    qc_packed_weights_t weights; /* [out_features][in_features] */
    const int32_t *bias;         /* [out_features] or NULL */
    const double *scale;         /* double(s_in) * double(s_w) / double(s_out), per output feature or one */
} qc_fully_connected_packed_params_t;

void qc_fully_connected_packed_s8(const qc_fully_connected_packed_params_t *p, const int8_t *input,
                                  int8_t *output);

#endif
