/* int8 elementwise addition with HVX, bit-exact with TFLite's reference ADD. */
#include "qc_hvx_add_s8.h"

#if QC_HVX
void qc_hvx_add_s8(const qc_hvx_add_params_t *p, const int8_t *lhs, const int8_t *rhs, int8_t *output)
{
    const qc_add_params_t *s = &p->shape;
    const long count = (long)s->shape.dims[0] * s->shape.dims[1] * s->shape.dims[2] * s->shape.dims[3];
    long at;
    for (at = 0; at < count; at += QC_VECTOR_BYTES) {
        const int n = count - at < QC_VECTOR_BYTES ? (int)(count - at) : QC_VECTOR_BYTES;
        HVX_Vector x[4], y[4];
        int k;
        qc_hvx_widen_bytes(qc_hvx_load_bytes(lhs + at, n), x);
        qc_hvx_widen_bytes(qc_hvx_load_bytes(rhs + at, n), y);
        for (k = 0; k < 4; ++k) {
            const HVX_Vector a = Q6_Vw_vasl_VwR(Q6_Vw_vadd_VwVw(x[k], Q6_V_vsplat_R(s->lhs_offset)), s->left_shift);
            const HVX_Vector b = Q6_Vw_vasl_VwR(Q6_Vw_vadd_VwVw(y[k], Q6_V_vsplat_R(s->rhs_offset)), s->left_shift);
            const HVX_Vector sum = Q6_Vw_vadd_VwVw(qc_hvx_requantize(a, &p->lhs), qc_hvx_requantize(b, &p->rhs));
            x[k] = qc_hvx_offset_clamp(qc_hvx_requantize(sum, &p->output), s->output_offset, s->act_min, s->act_max);
        }
        qc_hvx_store_bytes(output + at, qc_hvx_narrow_to_bytes(x), n);
    }
}
#else
typedef int qc_hvx_add_scalar_build; /* the scalar build uses qc_add_s8 */
#endif
