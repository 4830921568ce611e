/* int8 batched matrix product, bit-exact with TFLite's reference integer BATCH_MATMUL. */
#include "qc_batch_matmul_s8.h"
#include "qc_fixed_point.h"

void qc_batch_matmul_s8(const qc_batch_matmul_params_t *p, const int8_t *lhs, const int8_t *rhs, int8_t *output)
{
    int b0, b1, i, j, k;
    for (b0 = 0; b0 < p->batch_dims[0]; ++b0) {
        for (b1 = 0; b1 < p->batch_dims[1]; ++b1) {
            const int8_t *a = lhs + (long)b0 * p->lhs_batch_strides[0] + (long)b1 * p->lhs_batch_strides[1];
            const int8_t *b = rhs + (long)b0 * p->rhs_batch_strides[0] + (long)b1 * p->rhs_batch_strides[1];
            for (i = 0; i < p->rows; ++i) {
                for (j = 0; j < p->cols; ++j) {
                    int32_t acc = 0;
                    for (k = 0; k < p->depth; ++k) {
                        acc += ((int32_t)a[(long)i * p->lhs_row_stride + (long)k * p->lhs_depth_stride] + p->lhs_offset)
                               * ((int32_t)b[(long)k * p->rhs_depth_stride + (long)j * p->rhs_col_stride]
                                  + p->rhs_offset);
                    }
                    *output++ = qc_requantize_to_s8(acc, p->multiplier, p->shift, p->output_offset, -128, 127);
                }
            }
        }
    }
}
