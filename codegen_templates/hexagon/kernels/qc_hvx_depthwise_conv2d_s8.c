/* int8 depthwise 2-D convolution with HVX, bit-exact with TFLite's reference DEPTHWISE_CONV_2D. */
#include "qc_hvx_depthwise_conv2d_s8.h"

#if QC_HVX
#define QC_DW_CHANNELS 64

void qc_hvx_depthwise_conv2d_s8(const qc_hvx_depthwise_conv2d_params_t *p, const int8_t *input, int8_t *output)
{
    const qc_depthwise_conv2d_params_t *s = &p->shape;
    const HVX_Vector offset = Q6_Vh_vsplat_R(s->input_offset);
    const int taps = s->k_h * s->k_w;
    int b, oy, ox, tile, ky, kx;
    for (b = 0; b < s->batches; ++b) {
        const int8_t *image = input + (long)b * s->in_h * s->in_w * s->in_c;
        for (oy = 0; oy < s->out_h; ++oy) {
            for (ox = 0; ox < s->out_w; ++ox) {
                const int y0 = oy * s->stride_h - s->pad_top;
                const int x0 = ox * s->stride_w - s->pad_left;
                for (tile = 0; tile * QC_DW_CHANNELS < s->in_c; ++tile) {
                    const int c0 = tile * QC_DW_CHANNELS;
                    const int count = s->in_c - c0 < QC_DW_CHANNELS ? s->in_c - c0 : QC_DW_CHANNELS;
                    const HVX_Vector *filter = (const HVX_Vector *)p->filter + (long)tile * taps;
                    const HVX_Vector *bias = (const HVX_Vector *)p->bias + 2 * tile;
                    HVX_VectorPair acc = Q6_W_vcombine_VV(bias[1], bias[0]);
                    HVX_Vector even, odd, halves;
                    for (ky = 0; ky < s->k_h; ++ky) {
                        const int y = y0 + ky * s->dilation_h;
                        if (y < 0 || y >= s->in_h) {
                            continue;
                        }
                        for (kx = 0; kx < s->k_w; ++kx) {
                            const int x = x0 + kx * s->dilation_w;
                            HVX_Vector pixels;
                            if (x < 0 || x >= s->in_w) {
                                continue;
                            }
                            pixels = qc_hvx_load_bytes(image + ((long)y * s->in_w + x) * s->in_c + c0, count);
                            pixels = Q6_Vh_vadd_VhVh(Q6_V_lo_W(Q6_Wh_vunpack_Vb(pixels)), offset);
                            acc = Q6_Ww_vmpyacc_WwVhVh(acc, pixels, filter[ky * s->k_w + kx]);
                        }
                    }
                    even = qc_hvx_requantize(Q6_V_lo_W(acc), &p->requant[2 * tile]);
                    odd = qc_hvx_requantize(Q6_V_hi_W(acc), &p->requant[2 * tile + 1]);
                    even = qc_hvx_offset_clamp(even, s->output_offset, s->act_min, s->act_max);
                    odd = qc_hvx_offset_clamp(odd, s->output_offset, s->act_min, s->act_max);
                    halves = Q6_Vh_vshuffe_VhVh(odd, even);
                    qc_hvx_store_bytes(output + c0, Q6_Vb_vpacke_VhVh(halves, halves), count);
                }
                output += s->in_c;
            }
        }
    }
}
#else
typedef int qc_hvx_depthwise_conv2d_scalar_build; /* the scalar build uses qc_depthwise_conv2d_s8 */
#endif
