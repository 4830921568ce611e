/* int8 batched matrix product with broadcast batch dims, TFLite's reference BATCH_MATMUL: the int32 sum of
 * (a - zero_a)(b - zero_b), requantized, plus the output zero point, saturated. */
#ifndef QC_BATCH_MATMUL_S8_H
#define QC_BATCH_MATMUL_S8_H

#include <stdint.h>

typedef struct {
    int batch_dims[2];                  /* output batch dims, padded with leading 1s */
    int lhs_batch_strides[2], rhs_batch_strides[2];
    int rows, depth, cols;              /* out[rows][cols] = sum over depth */
    int lhs_row_stride, lhs_depth_stride; /* element strides of lhs (i, k): adj_x swaps them */
    int rhs_depth_stride, rhs_col_stride; /* element strides of rhs (k, j): adj_y swaps them */
    int32_t lhs_offset, rhs_offset, output_offset;
    int32_t multiplier, shift;
} qc_batch_matmul_params_t;

void qc_batch_matmul_s8(const qc_batch_matmul_params_t *p, const int8_t *lhs, const int8_t *rhs, int8_t *output);

#endif
