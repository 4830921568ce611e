/* int8 fully connected layer with HVX: each input row against all output features through the vrmpy core,
 * then LiteRT's FULLY_CONNECTED rescaling of each accumulator (the scalar kernel's: qc_rescale_double, the
 * accumulator times the double scale rounded half away from zero). Bit-exact with LiteRT's reference kernel for symmetric weights (filter offset 0). */
#ifndef QC_HVX_FULLY_CONNECTED_S8_H
#define QC_HVX_FULLY_CONNECTED_S8_H

#include <stdint.h>
#include "qc_fully_connected_s8.h"
#include "qc_hvx_gemm.h"

typedef struct {
    qc_fully_connected_params_t shape;  /* sizes, offsets and scale; filter and bias are unused */
    qc_hvx_gemm_t gemm;                 /* packed filter and accumulator starts; requant is unused */
} qc_hvx_fully_connected_params_t;

#if QC_HVX
/* Row r's outputs are written after all of row r is read (in-place overlap by one row). */
void qc_hvx_fully_connected_s8(const qc_hvx_fully_connected_params_t *p, const int8_t *input, int8_t *output);
#endif

#endif
