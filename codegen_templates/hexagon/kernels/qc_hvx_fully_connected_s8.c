/* int8 fully connected layer with HVX, bit-exact with TFLite's reference FULLY_CONNECTED. */
#include "qc_hvx_fully_connected_s8.h"
#include "qc_rounding.h"

#if QC_HVX
void qc_hvx_fully_connected_s8(const qc_hvx_fully_connected_params_t *p, const int8_t *input, int8_t *output)
{
    const qc_fully_connected_params_t *s = &p->shape;
    int8_t copy[QC_HVX_ROW_BYTES] __attribute__((aligned(QC_VECTOR_BYTES)));
    int32_t acc[QC_VECTOR_WORDS] __attribute__((aligned(QC_VECTOR_BYTES)));
    int r, tile, lane;
    qc_hvx_fill_bytes(copy, 0, p->gemm.groups * 4);
    for (r = 0; r < s->rows; ++r) {
        const int8_t *row = input + (long)r * s->in_features;
        const int32_t *words = (const int32_t *)row;
        if (s->in_features % 4 != 0 || ((uintptr_t)row & 3) != 0) {
            qc_hvx_copy_bytes(copy, row, s->in_features);
            words = (const int32_t *)copy;
        }
        for (tile = 0; tile * QC_VECTOR_WORDS < s->out_features; ++tile) {
            const int first = tile * QC_VECTOR_WORDS;
            const int count = s->out_features - first < QC_VECTOR_WORDS ? s->out_features - first : QC_VECTOR_WORDS;
            *(HVX_Vector *)acc = qc_hvx_gemm_accumulate(&p->gemm, words, tile);
            for (lane = 0; lane < count; ++lane) {
                const int channel = s->per_channel ? first + lane : 0;
                output[(long)r * s->out_features + first + lane] = (int8_t)qc_rescale_double(
                    acc[lane], s->scale[channel], s->output_offset, s->act_min, s->act_max);
            }
        }
    }
}
#else
typedef int qc_hvx_fully_connected_scalar_build; /* the scalar build uses qc_fully_connected_s8 */
#endif
