/* int8 max and average pooling with HVX, bit-exact with TFLite's reference pooling kernels. */
#include "qc_hvx_pool_s8.h"
#include "qc_fixed_point.h"

#if QC_HVX
/* The window of output pixel (oy, ox) clipped to the image: [y_begin, y_end) x [x_begin, x_end). */
static void qc_hvx_pool_window(const qc_pool_params_t *p, int oy, int ox, int window[4])
{
    const int y0 = oy * p->stride_h - p->pad_top;
    const int x0 = ox * p->stride_w - p->pad_left;
    window[0] = y0 < 0 ? 0 : y0;
    window[1] = y0 + p->k_h < p->in_h ? y0 + p->k_h : p->in_h;
    window[2] = x0 < 0 ? 0 : x0;
    window[3] = x0 + p->k_w < p->in_w ? x0 + p->k_w : p->in_w;
}

void qc_hvx_max_pool_s8(const qc_pool_params_t *p, const int8_t *input, int8_t *output)
{
    const HVX_Vector lowest = Q6_Vb_vsplat_R(p->act_min);
    const HVX_Vector highest = Q6_Vb_vsplat_R(p->act_max);
    int b, oy, ox, c, y, x;
    for (b = 0; b < p->batches; ++b) {
        const int8_t *image = input + (long)b * p->in_h * p->in_w * p->channels;
        for (oy = 0; oy < p->out_h; ++oy) {
            for (ox = 0; ox < p->out_w; ++ox) {
                int window[4];
                qc_hvx_pool_window(p, oy, ox, window);
                for (c = 0; c < p->channels; c += QC_VECTOR_BYTES) {
                    const int n = p->channels - c < QC_VECTOR_BYTES ? p->channels - c : QC_VECTOR_BYTES;
                    HVX_Vector best = Q6_Vb_vsplat_R(-128);
                    for (y = window[0]; y < window[1]; ++y) {
                        for (x = window[2]; x < window[3]; ++x) {
                            best = Q6_Vb_vmax_VbVb(best, qc_hvx_load_bytes(
                                image + ((long)y * p->in_w + x) * p->channels + c, n));
                        }
                    }
                    best = Q6_Vb_vmin_VbVb(Q6_Vb_vmax_VbVb(best, lowest), highest);
                    qc_hvx_store_bytes(output + c, best, n);
                }
                output += p->channels;
            }
        }
    }
}

void qc_hvx_avg_pool_s8(const qc_pool_params_t *p, const int8_t *input, int8_t *output)
{
    int16_t sums[QC_VECTOR_BYTES] __attribute__((aligned(QC_VECTOR_BYTES)));
    int b, oy, ox, c, y, x, i;
    for (b = 0; b < p->batches; ++b) {
        const int8_t *image = input + (long)b * p->in_h * p->in_w * p->channels;
        for (oy = 0; oy < p->out_h; ++oy) {
            for (ox = 0; ox < p->out_w; ++ox) {
                int window[4], count;
                qc_hvx_pool_window(p, oy, ox, window);
                count = (window[1] - window[0]) * (window[3] - window[2]);
                for (c = 0; c < p->channels; c += QC_VECTOR_BYTES) {
                    const int n = p->channels - c < QC_VECTOR_BYTES ? p->channels - c : QC_VECTOR_BYTES;
                    HVX_VectorPair total = Q6_W_vcombine_VV(Q6_V_vzero(), Q6_V_vzero());
                    for (y = window[0]; y < window[1]; ++y) {
                        for (x = window[2]; x < window[3]; ++x) {
                            total = Q6_Wh_vadd_WhWh(total, Q6_Wh_vunpack_Vb(qc_hvx_load_bytes(
                                image + ((long)y * p->in_w + x) * p->channels + c, n)));
                        }
                    }
                    ((HVX_Vector *)sums)[0] = Q6_V_lo_W(total);
                    ((HVX_Vector *)sums)[1] = Q6_V_hi_W(total);
                    for (i = 0; i < n; ++i) {
                        int32_t average = 0;
                        if (count > 0) {
                            average = sums[i] > 0 ? (sums[i] + count / 2) / count : (sums[i] - count / 2) / count;
                        }
                        output[c + i] = (int8_t)qc_clamp_i32(average, p->act_min, p->act_max);
                    }
                }
                output += p->channels;
            }
        }
    }
}
#else
typedef int qc_hvx_pool_scalar_build; /* the scalar build uses qc_max_pool_s8 / qc_avg_pool_s8 */
#endif
