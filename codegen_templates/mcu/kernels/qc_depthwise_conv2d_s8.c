/* int8 depthwise 2-D convolution, bit-exact with TFLite's reference integer DEPTHWISE_CONV_2D. A window inside
 * the image takes sum(x * w) + input_offset * sum(w); a window over the border skips the padded taps. */
#include "qc_depthwise_conv2d_s8.h"
#include "qc_fixed_point.h"

/* The accumulator of output channel oc (input channel ic) for the window at (y0, x0). */
static int32_t qc_depthwise_window(const qc_depthwise_conv2d_params_t *p, const int8_t *image, int ic, int oc,
                                   int y0, int x0, int inside)
{
    const int out_c = p->in_c * p->depth_multiplier;
    int32_t acc = 0;
    int ky, kx;
    for (ky = 0; ky < p->k_h; ++ky) {
        const int y = y0 + ky * p->dilation_h;
        if (!inside && (y < 0 || y >= p->in_h)) {
            continue;
        }
        for (kx = 0; kx < p->k_w; ++kx) {
            const int x = x0 + kx * p->dilation_w;
            const int32_t tap = p->filter[((long)ky * p->k_w + kx) * out_c + oc];
            if (inside) {
                acc += image[((long)y * p->in_w + x) * p->in_c + ic] * tap;
            } else if (x >= 0 && x < p->in_w) {
                acc += (image[((long)y * p->in_w + x) * p->in_c + ic] + p->input_offset) * tap;
            }
        }
    }
    return inside ? acc + p->input_offset * p->filter_sums[oc] : acc;
}

void qc_depthwise_conv2d_s8(const qc_depthwise_conv2d_params_t *p, const int8_t *input, int8_t *output)
{
    int b, oy, ox, ic, m;
    for (b = 0; b < p->batches; ++b) {
        const int8_t *image = input + (long)b * p->in_h * p->in_w * p->in_c;
        for (oy = 0; oy < p->out_h; ++oy) {
            const int y0 = oy * p->stride_h - p->pad_top;
            const int rows_inside = y0 >= 0 && y0 + (p->k_h - 1) * p->dilation_h < p->in_h;
            for (ox = 0; ox < p->out_w; ++ox) {
                const int x0 = ox * p->stride_w - p->pad_left;
                const int inside = rows_inside && x0 >= 0 && x0 + (p->k_w - 1) * p->dilation_w < p->in_w;
                for (ic = 0; ic < p->in_c; ++ic) {
                    for (m = 0; m < p->depth_multiplier; ++m) {
                        const int oc = ic * p->depth_multiplier + m;
                        const int32_t acc = qc_depthwise_window(p, image, ic, oc, y0, x0, inside);
                        *output++ = qc_conv_channel_output_s8(acc, p->bias, p->multiplier, p->shift, oc,
                                                              p->output_offset, p->act_min, p->act_max);
                    }
                }
            }
        }
    }
}
