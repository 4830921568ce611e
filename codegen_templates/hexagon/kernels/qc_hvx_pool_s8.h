/* int8 max and average pooling with HVX (NHWC), 128 channels per step: byte maxima for MAX_POOL_2D, int16 sums
 * then TFLite's rounded division per channel for AVERAGE_POOL_2D (windows of at most 256 cells). Padded cells
 * are skipped; bit-exact with the reference kernels. */
#ifndef QC_HVX_POOL_S8_H
#define QC_HVX_POOL_S8_H

#include <stdint.h>
#include "qc_pool_s8.h"
#include "qc_hvx.h"

#if QC_HVX
/* Both write output pixels in increasing address order, each after all of its reads (in-place overlap). */
void qc_hvx_max_pool_s8(const qc_pool_params_t *p, const int8_t *input, int8_t *output);
void qc_hvx_avg_pool_s8(const qc_pool_params_t *p, const int8_t *input, int8_t *output);
#endif

#endif
