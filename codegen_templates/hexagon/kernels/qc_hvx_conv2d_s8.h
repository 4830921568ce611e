/* int8 2-D convolution with HVX (NHWC input, any kernel size, stride, dilation and padding, groups = 1):
 * each output pixel's taps feed the vrmpy core four channels at a time, read in place when the channels
 * come in fours (else gathered into a patch), padded taps as the input zero point. Bit-exact with TFLite's
 * reference CONV_2D. */
#ifndef QC_HVX_CONV2D_S8_H
#define QC_HVX_CONV2D_S8_H

#include <stdint.h>
#include "qc_conv2d_s8.h"
#include "qc_hvx_gemm.h"

typedef struct {
    qc_conv2d_params_t shape;   /* geometry and offsets; its array pointers are unused */
    qc_hvx_gemm_t gemm;         /* the packed filter and per-channel constants */
} qc_hvx_conv2d_params_t;

#if QC_HVX
/* Writes output pixels in increasing address order, each after all of its reads (in-place overlap). */
void qc_hvx_conv2d_s8(const qc_hvx_conv2d_params_t *p, const int8_t *input, int8_t *output);
#endif

#endif
