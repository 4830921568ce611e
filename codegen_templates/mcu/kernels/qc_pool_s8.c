/* int8 average and max pooling, bit-exact with TFLite's reference integer pooling kernels. */
#include "qc_pool_s8.h"
#include "qc_fixed_point.h"

/* The window of output pixel (oy, ox) clipped to the image: [y_begin, y_end) x [x_begin, x_end). */
static void qc_pool_window(const qc_pool_params_t *p, int oy, int ox, int *y_begin, int *y_end, int *x_begin,
                           int *x_end)
{
    const int y0 = oy * p->stride_h - p->pad_top;
    const int x0 = ox * p->stride_w - p->pad_left;
    *y_begin = qc_max_i32(0, -y0) + y0;
    *y_end = qc_min_i32(p->k_h, p->in_h - y0) + y0;
    *x_begin = qc_max_i32(0, -x0) + x0;
    *x_end = qc_min_i32(p->k_w, p->in_w - x0) + x0;
}

void qc_avg_pool_s8(const qc_pool_params_t *p, const int8_t *input, int8_t *output)
{
    int b, oy, ox, c, y, x;
    for (b = 0; b < p->batches; ++b) {
        const int8_t *image = input + (long)b * p->in_h * p->in_w * p->channels;
        for (oy = 0; oy < p->out_h; ++oy) {
            for (ox = 0; ox < p->out_w; ++ox) {
                int y_begin, y_end, x_begin, x_end;
                qc_pool_window(p, oy, ox, &y_begin, &y_end, &x_begin, &x_end);
                for (c = 0; c < p->channels; ++c) {
                    int32_t sum = 0;
                    int32_t count = 0;
                    for (y = y_begin; y < y_end; ++y) {
                        for (x = x_begin; x < x_end; ++x) {
                            sum += image[((long)y * p->in_w + x) * p->channels + c];
                            ++count;
                        }
                    }
                    if (count == 0) {
                        sum = 0;
                    } else {
                        sum = sum > 0 ? (sum + count / 2) / count : (sum - count / 2) / count;
                    }
                    *output++ = (int8_t)qc_clamp_i32(sum, p->act_min, p->act_max);
                }
            }
        }
    }
}

void qc_max_pool_s8(const qc_pool_params_t *p, const int8_t *input, int8_t *output)
{
    int b, oy, ox, c, y, x;
    for (b = 0; b < p->batches; ++b) {
        const int8_t *image = input + (long)b * p->in_h * p->in_w * p->channels;
        for (oy = 0; oy < p->out_h; ++oy) {
            for (ox = 0; ox < p->out_w; ++ox) {
                int y_begin, y_end, x_begin, x_end;
                qc_pool_window(p, oy, ox, &y_begin, &y_end, &x_begin, &x_end);
                for (c = 0; c < p->channels; ++c) {
                    int32_t best = -128;
                    for (y = y_begin; y < y_end; ++y) {
                        for (x = x_begin; x < x_end; ++x) {
                            best = qc_max_i32(best, image[((long)y * p->in_w + x) * p->channels + c]);
                        }
                    }
                    *output++ = (int8_t)qc_clamp_i32(best, p->act_min, p->act_max);
                }
            }
        }
    }
}
