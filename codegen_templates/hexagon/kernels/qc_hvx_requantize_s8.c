/* int8 -> int8 requantization with HVX, bit-exact with TFLite's reference QUANTIZE (int8 to int8). */
#include "qc_hvx_requantize_s8.h"

#if QC_HVX
void qc_hvx_requantize_s8(const qc_hvx_requantize_params_t *p, const int8_t *input, int8_t *output)
{
    const qc_quantize_params_t *s = &p->shape;
    long at;
    for (at = 0; at < s->count; at += QC_VECTOR_BYTES) {
        const int n = s->count - at < QC_VECTOR_BYTES ? (int)(s->count - at) : QC_VECTOR_BYTES;
        HVX_Vector x[4];
        int k;
        qc_hvx_widen_bytes(qc_hvx_load_bytes(input + at, n), x);
        for (k = 0; k < 4; ++k) {
            const HVX_Vector centred = Q6_Vw_vsub_VwVw(x[k], Q6_V_vsplat_R(s->input_zero_point));
            x[k] = qc_hvx_offset_clamp(qc_hvx_requantize(centred, &p->requant), s->output_zero_point, -128, 127);
        }
        qc_hvx_store_bytes(output + at, qc_hvx_narrow_to_bytes(x), n);
    }
}
#else
typedef int qc_hvx_requantize_scalar_build; /* the scalar build uses qc_requantize_s8 */
#endif
