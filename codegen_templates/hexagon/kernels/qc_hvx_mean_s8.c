/* int8 mean with HVX, bit-exact with TFLite's reference MEAN (see qc_hvx_mean_s8.h). */
#include "qc_hvx_mean_s8.h"

#if QC_HVX
/* Sums over the reduced index space of n channels at base, widened to four vectors of 32 int32 lanes. */
static void qc_hvx_mean_sums(const qc_mean_params_t *p, const int8_t *base, int n, HVX_Vector sums[4])
{
    int r0, r1, r2, r3, k;
    for (k = 0; k < 4; ++k) {
        sums[k] = Q6_V_vzero();
    }
    for (r0 = 0; r0 < p->reduced_dims[0]; ++r0) {
        for (r1 = 0; r1 < p->reduced_dims[1]; ++r1) {
            for (r2 = 0; r2 < p->reduced_dims[2]; ++r2) {
                for (r3 = 0; r3 < p->reduced_dims[3]; ++r3) {
                    HVX_Vector words[4];
                    qc_hvx_widen_bytes(qc_hvx_load_bytes(base + (long)r0 * p->reduced_strides[0]
                                                         + (long)r1 * p->reduced_strides[1]
                                                         + (long)r2 * p->reduced_strides[2]
                                                         + (long)r3 * p->reduced_strides[3], n), words);
                    for (k = 0; k < 4; ++k) {
                        sums[k] = Q6_Vw_vadd_VwVw(sums[k], words[k]);
                    }
                }
            }
        }
    }
}

void qc_hvx_mean_s8(const qc_hvx_mean_params_t *p, const int8_t *input, int8_t *output)
{
    const qc_mean_params_t *s = &p->shape;
    const int channels = s->kept_dims[3];
    const HVX_Vector zero_point_sum = Q6_V_vsplat_R(s->zero_point_sum);
    int k0, k1, k2, c, k;
    for (k0 = 0; k0 < s->kept_dims[0]; ++k0) {
        for (k1 = 0; k1 < s->kept_dims[1]; ++k1) {
            for (k2 = 0; k2 < s->kept_dims[2]; ++k2) {
                const int8_t *base = input + (long)k0 * s->kept_strides[0] + (long)k1 * s->kept_strides[1]
                                     + (long)k2 * s->kept_strides[2];
                for (c = 0; c < channels; c += QC_VECTOR_BYTES) {
                    const int n = channels - c < QC_VECTOR_BYTES ? channels - c : QC_VECTOR_BYTES;
                    HVX_Vector sums[4];
                    qc_hvx_mean_sums(s, base + c, n, sums);
                    for (k = 0; k < 4; ++k) {
                        const HVX_Vector centred = Q6_Vw_vsub_VwVw(sums[k], zero_point_sum);
                        sums[k] = qc_hvx_offset_clamp(qc_hvx_requantize(centred, &p->requant), s->output_zero_point,
                                                      -128, 127);
                    }
                    qc_hvx_store_bytes(output + c, qc_hvx_narrow_to_bytes(sums), n);
                }
                output += channels;
            }
        }
    }
}
#else
typedef int qc_hvx_mean_scalar_build; /* the scalar build uses qc_mean_s8 */
#endif
