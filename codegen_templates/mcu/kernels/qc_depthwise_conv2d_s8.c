/* int8 depthwise 2-D convolution, bit-exact with TFLite's reference integer DEPTHWISE_CONV_2D. */
#include "qc_depthwise_conv2d_s8.h"
#include "qc_fixed_point.h"

void qc_depthwise_conv2d_s8(const qc_depthwise_conv2d_params_t *p, const int8_t *input, int8_t *output)
{
    const int out_c = p->in_c * p->depth_multiplier;
    int b, oy, ox, ic, m, ky, kx;
    for (b = 0; b < p->batches; ++b) {
        const int8_t *image = input + (long)b * p->in_h * p->in_w * p->in_c;
        for (oy = 0; oy < p->out_h; ++oy) {
            for (ox = 0; ox < p->out_w; ++ox) {
                const int y0 = oy * p->stride_h - p->pad_top;
                const int x0 = ox * p->stride_w - p->pad_left;
                for (ic = 0; ic < p->in_c; ++ic) {
                    for (m = 0; m < p->depth_multiplier; ++m) {
                        const int oc = ic * p->depth_multiplier + m;
                        int32_t acc = 0;
                        for (ky = 0; ky < p->k_h; ++ky) {
                            const int y = y0 + ky * p->dilation_h;
                            if (y < 0 || y >= p->in_h) {
                                continue;
                            }
                            for (kx = 0; kx < p->k_w; ++kx) {
                                const int x = x0 + kx * p->dilation_w;
                                if (x < 0 || x >= p->in_w) {
                                    continue;
                                }
                                acc += ((int32_t)image[((long)y * p->in_w + x) * p->in_c + ic] + p->input_offset)
                                       * (int32_t)p->filter[((long)ky * p->k_w + kx) * out_c + oc];
                            }
                        }
                        if (p->bias != 0) {
                            acc += p->bias[oc];
                        }
                        acc = qc_requantize(acc, p->multiplier[oc], p->shift[oc]) + p->output_offset;
                        *output++ = (int8_t)qc_clamp_i32(acc, p->act_min, p->act_max);
                    }
                }
            }
        }
    }
}
