/* The dot-product core of the HVX convolution and dense kernels: one row of int8 inputs (a pixel's patch, a
 * matrix row) against every output channel, 32 channels per vector with vrmpy (four taps per lane and
 * instruction), then per-lane requantization, offset, clamp and a byte store of the row's outputs. */
#ifndef QC_HVX_GEMM_H
#define QC_HVX_GEMM_H

#include <stdint.h>
#include "qc_hvx.h"

/* Largest row (taps rounded up to a multiple of 4) the kernels gather into their stack buffer; the backend
 * keeps larger layers on the scalar path. */
#ifndef QC_HVX_ROW_BYTES
#define QC_HVX_ROW_BYTES 8192
#endif

/* The packed constants of one layer (backends/hexagon/packing.py builds them). */
typedef struct {
    int out_c;                          /* output channels */
    int groups;                         /* taps / 4, rounded up */
    const int8_t *filter;               /* [tiles][groups][32][4]: vector (t, g), lane j = taps 4g.. of channel 32t+j */
    const int32_t *start;               /* [tiles * 32]: bias + input_offset * sum(taps) per channel */
    const qc_hvx_requant_t *requant;    /* [tiles], for qc_hvx_gemm_row */
    int32_t output_offset, act_min, act_max;
} qc_hvx_gemm_t;

#if QC_HVX
/* The int32 accumulators of output channels 32 tile .. 32 tile + 31 for one row: ``words`` holds the row's
 * taps, four per word, padded to ``groups`` words (any values in the padding: the filter is zero there). */
HVX_Vector qc_hvx_gemm_accumulate(const qc_hvx_gemm_t *g, const int32_t *words, int tile);

/* Requantizes (g->requant), offsets, clamps and stores the accumulators of tile ``tile`` of one row whose
 * outputs start at ``output``. */
void qc_hvx_gemm_store(const qc_hvx_gemm_t *g, HVX_Vector acc, int tile, int8_t *output);

/* Outputs of one row, requantized per lane (g->requant): writes out_c bytes at ``output``. */
void qc_hvx_gemm_row(const qc_hvx_gemm_t *g, const int32_t *words, int8_t *output);

/* Copies n bytes from src to dst (any alignment, n >= 0) with vector loads and stores. */
void qc_hvx_copy_bytes(int8_t *dst, const int8_t *src, int n);

/* Fills n bytes at dst with value. */
void qc_hvx_fill_bytes(int8_t *dst, int8_t value, int n);
#endif

#endif
