/* int8 2-D convolution, bit-exact with TFLite's reference integer CONV_2D. A window inside the image takes
 * sum(x * w) + input_offset * sum(w) (the same integer as the reference's sum((x + input_offset) * w));
 * a window over the border skips the padded taps as the reference does. */
#include "qc_conv2d_s8.h"
#include "qc_fixed_point.h"

/* sum((x + input_offset) * w) over the taps of the window at (y0, x0) that fall inside the image. */
static int32_t qc_conv_border(const qc_conv2d_params_t *p, const int8_t *image, const int8_t *filter, int y0,
                              int x0)
{
    int32_t acc = 0;
    int ky, kx, ic;
    for (ky = 0; ky < p->k_h; ++ky) {
        const int y = y0 + ky * p->dilation_h;
        if (y < 0 || y >= p->in_h) {
            continue;
        }
        for (kx = 0; kx < p->k_w; ++kx) {
            const int x = x0 + kx * p->dilation_w;
            const int8_t *pixel = image + ((long)y * p->in_w + x) * p->in_c;
            const int8_t *taps = filter + ((long)ky * p->k_w + kx) * p->in_c;
            if (x < 0 || x >= p->in_w) {
                continue;
            }
            for (ic = 0; ic < p->in_c; ++ic) {
                acc += ((int32_t)pixel[ic] + p->input_offset) * (int32_t)taps[ic];
            }
        }
    }
    return acc;
}

/* sum(x * w) over a window wholly inside the image (each kernel row is one run when not dilated). */
static int32_t qc_conv_interior(const qc_conv2d_params_t *p, const int8_t *image, const int8_t *filter, int y0,
                                int x0)
{
    const int run = p->dilation_w == 1 ? p->k_w * p->in_c : p->in_c;
    const int runs = p->dilation_w == 1 ? 1 : p->k_w;
    int32_t acc = 0;
    int ky, r, i;
    for (ky = 0; ky < p->k_h; ++ky) {
        const int8_t *row = image + ((long)(y0 + ky * p->dilation_h) * p->in_w + x0) * p->in_c;
        const int8_t *taps = filter + (long)ky * p->k_w * p->in_c;
        for (r = 0; r < runs; ++r) {
            const int8_t *pixel = row + (long)r * p->dilation_w * p->in_c;
            const int8_t *weights = taps + (long)r * p->in_c;
            for (i = 0; i < run; ++i) {
                acc += (int32_t)pixel[i] * (int32_t)weights[i];
            }
        }
    }
    return acc;
}

void qc_conv2d_s8(const qc_conv2d_params_t *p, const int8_t *input, int8_t *output)
{
    const long filter_size = (long)p->k_h * p->k_w * p->in_c;
    int b, oy, ox, oc;
    for (b = 0; b < p->batches; ++b) {
        const int8_t *image = input + (long)b * p->in_h * p->in_w * p->in_c;
        for (oy = 0; oy < p->out_h; ++oy) {
            const int y0 = oy * p->stride_h - p->pad_top;
            const int rows_inside = y0 >= 0 && y0 + (p->k_h - 1) * p->dilation_h < p->in_h;
            for (ox = 0; ox < p->out_w; ++ox) {
                const int x0 = ox * p->stride_w - p->pad_left;
                const int inside = rows_inside && x0 >= 0 && x0 + (p->k_w - 1) * p->dilation_w < p->in_w;
                for (oc = 0; oc < p->out_c; ++oc) {
                    const int8_t *filter = p->filter + oc * filter_size;
                    const int32_t acc = inside ? qc_conv_interior(p, image, filter, y0, x0)
                                                     + p->input_offset * p->filter_sums[oc]
                                               : qc_conv_border(p, image, filter, y0, x0);
                    *output++ = qc_conv_channel_output_s8(acc, p->bias, p->multiplier, p->shift, oc, p->output_offset,
                                                          p->act_min, p->act_max);
                }
            }
        }
    }
}
