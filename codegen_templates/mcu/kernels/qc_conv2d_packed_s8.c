/* int8 grouped 2-D convolution decoding compressed weights tap by tap: sum((x + input_offset) * w) over the
 * taps inside the image (the reference's integer), skipped taps still advance the weight cursor. */
#include "qc_conv2d_packed_s8.h"
#include "qc_fixed_point.h"

/* The accumulator of one output channel for the window at (y0, x0); `first` is its group's first input
 * channel. The cursor is at the channel's first weight and ends past its last. */
static int32_t qc_conv_packed_window(const qc_conv2d_packed_params_t *p, qc_weight_cursor_t *cursor,
                                     const int8_t *image, int first, int y0, int x0)
{
    const int group_in = p->in_c / p->groups;
    int32_t acc = 0;
    int ky, kx, ic;
    for (ky = 0; ky < p->k_h; ++ky) {
        const int y = y0 + ky * p->dilation_h;
        const int row_inside = y >= 0 && y < p->in_h;
        for (kx = 0; kx < p->k_w; ++kx) {
            const int x = x0 + kx * p->dilation_w;
            if (row_inside && x >= 0 && x < p->in_w) {
                const int8_t *pixel = image + ((long)y * p->in_w + x) * p->in_c + first;
                for (ic = 0; ic < group_in; ++ic) {
                    acc += ((int32_t)pixel[ic] + p->input_offset) * qc_cursor_next(cursor);
                }
            } else {
                for (ic = 0; ic < group_in; ++ic) {
                    (void)qc_cursor_next(cursor);
                }
            }
        }
    }
    return acc;
}

void qc_conv2d_packed_s8(const qc_conv2d_packed_params_t *p, const int8_t *input, int8_t *output)
{
    const int group_in = p->in_c / p->groups, group_out = p->out_c / p->groups;
    int b, oy, ox, oc;
    for (b = 0; b < p->batches; ++b) {
        const int8_t *image = input + (long)b * p->in_h * p->in_w * p->in_c;
        for (oy = 0; oy < p->out_h; ++oy) {
            const int y0 = oy * p->stride_h - p->pad_top;
            for (ox = 0; ox < p->out_w; ++ox) {
                const int x0 = ox * p->stride_w - p->pad_left;
                qc_weight_cursor_t cursor;
                qc_cursor_start(&cursor, &p->weights);
                for (oc = 0; oc < p->out_c; ++oc) {
                    int32_t acc;
                    qc_cursor_channel(&cursor, oc);
                    acc = qc_conv_packed_window(p, &cursor, image, (oc / group_out) * group_in, y0, x0);
                    *output++ = qc_conv_channel_output_s8(acc, p->bias, p->multiplier, p->shift, oc, p->output_offset,
                                                          p->act_min, p->act_max);
                }
            }
        }
    }
}
