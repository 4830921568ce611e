/* int8 elementwise addition with HVX for operands of the output's shape (no broadcasting): 128 elements per
 * step widened to int32 lanes, TFLite's reference ADD rescaling (both inputs to a common scale with 20 bits of
 * headroom, summed, requantized), bit-exact. */
#ifndef QC_HVX_ADD_S8_H
#define QC_HVX_ADD_S8_H

#include <stdint.h>
#include "qc_add_s8.h"
#include "qc_hvx.h"

typedef struct {
    qc_add_params_t shape;      /* dims, offsets, left shift and clamp; its multipliers are unused */
    qc_hvx_requant_t lhs, rhs, output;  /* the three rescalings, the same constants in every lane */
} qc_hvx_add_params_t;

#if QC_HVX
/* Element i is written after reading element i of each operand (in-place safe). */
void qc_hvx_add_s8(const qc_hvx_add_params_t *p, const int8_t *lhs, const int8_t *rhs, int8_t *output);
#endif

#endif
