/* int8 2-D pooling windows (NHWC), TFLite's reference AVERAGE_POOL_2D and MAX_POOL_2D: padded cells are
 * skipped, input and output share their quantization parameters. */
#ifndef QC_POOL_S8_H
#define QC_POOL_S8_H

#include <stdint.h>

typedef struct {
    int batches, in_h, in_w, channels;
    int out_h, out_w;
    int k_h, k_w, stride_h, stride_w, pad_top, pad_left;
    int32_t act_min, act_max;
} qc_pool_params_t;

/* Both write output elements in increasing address order, each after all of its reads (in-place overlap). */
void qc_avg_pool_s8(const qc_pool_params_t *p, const int8_t *input, int8_t *output);
void qc_max_pool_s8(const qc_pool_params_t *p, const int8_t *input, int8_t *output);

#endif
