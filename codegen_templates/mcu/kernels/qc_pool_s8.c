/* int8 average and max pooling, bit-exact with TFLite's reference integer pooling kernels. */
#include "qc_pool_s8.h"
#include "qc_fixed_point.h"

/* The average (rounded half away from zero) or the maximum of one channel over the clipped window. */
static int32_t qc_pool_window(const qc_pool_params_t *p, int average, const int8_t *image, int c, int y_begin,
                              int y_end, int x_begin, int x_end)
{
    int32_t sum = 0;
    int32_t best = -128;
    int32_t count = (y_end - y_begin) * (x_end - x_begin);
    int y, x;
    for (y = y_begin; y < y_end; ++y) {
        for (x = x_begin; x < x_end; ++x) {
            const int32_t value = image[((long)y * p->in_w + x) * p->channels + c];
            sum += value;
            best = qc_max_i32(best, value);
        }
    }
    if (!average) {
        return best;
    }
    if (count <= 0) {
        return 0;
    }
    return sum > 0 ? (sum + count / 2) / count : (sum - count / 2) / count;
}

static void qc_pool(const qc_pool_params_t *p, int average, const int8_t *input, int8_t *output)
{
    int b, oy, ox, c;
    for (b = 0; b < p->batches; ++b) {
        const int8_t *image = input + (long)b * p->in_h * p->in_w * p->channels;
        for (oy = 0; oy < p->out_h; ++oy) {
            const int y0 = oy * p->stride_h - p->pad_top;
            const int y_begin = qc_max_i32(0, y0);
            const int y_end = qc_min_i32(p->in_h, y0 + p->k_h);
            for (ox = 0; ox < p->out_w; ++ox) {
                const int x0 = ox * p->stride_w - p->pad_left;
                const int x_begin = qc_max_i32(0, x0);
                const int x_end = qc_min_i32(p->in_w, x0 + p->k_w);
                for (c = 0; c < p->channels; ++c) {
                    const int32_t value = qc_pool_window(p, average, image, c, y_begin, y_end, x_begin, x_end);
                    *output++ = (int8_t)qc_clamp_i32(value, p->act_min, p->act_max);
                }
            }
        }
    }
}

void qc_avg_pool_s8(const qc_pool_params_t *p, const int8_t *input, int8_t *output)
{
    qc_pool(p, 1, input, output);
}

void qc_max_pool_s8(const qc_pool_params_t *p, const int8_t *input, int8_t *output)
{
    qc_pool(p, 0, input, output);
}
