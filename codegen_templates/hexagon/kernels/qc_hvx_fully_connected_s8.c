/* int8 fully connected layer with HVX, bit-exact with TFLite's reference FULLY_CONNECTED. */
#include "qc_hvx_fully_connected_s8.h"

#if QC_HVX
void qc_hvx_fully_connected_s8(const qc_hvx_fully_connected_params_t *p, const int8_t *input, int8_t *output)
{
    const qc_fully_connected_params_t *s = &p->shape;
    int8_t copy[QC_HVX_ROW_BYTES] __attribute__((aligned(QC_VECTOR_BYTES)));
    int r;
    qc_hvx_fill_bytes(copy, 0, p->gemm.groups * 4);
    for (r = 0; r < s->rows; ++r) {
        const int8_t *row = input + (long)r * s->in_features;
        const int32_t *words = (const int32_t *)row;
        if (s->in_features % 4 != 0 || ((uintptr_t)row & 3) != 0) {
            qc_hvx_copy_bytes(copy, row, s->in_features);
            words = (const int32_t *)copy;
        }
        qc_hvx_gemm_row(&p->gemm, words, output + (long)r * s->out_features);
    }
}
#else
typedef int qc_hvx_fully_connected_scalar_build; /* the scalar build uses qc_fully_connected_s8 */
#endif
