/* int8 2-D convolution with HVX, bit-exact with TFLite's reference CONV_2D (see qc_hvx_conv2d_s8.h). */
#include "qc_hvx_conv2d_s8.h"

#if QC_HVX
/* The taps of output pixel (oy, ox) in filter order (ky, kx, ic), padded taps holding the input zero point. */
static void qc_hvx_gather_patch(const qc_conv2d_params_t *s, const int8_t *image, int oy, int ox, int8_t *patch)
{
    const int8_t zero_point = (int8_t)(-s->input_offset);
    const int y0 = oy * s->stride_h - s->pad_top;
    const int x0 = ox * s->stride_w - s->pad_left;
    const int row = s->k_w * s->in_c;
    int ky, kx;
    for (ky = 0; ky < s->k_h; ++ky) {
        const int y = y0 + ky * s->dilation_h;
        int8_t *taps = patch + ky * row;
        if (y < 0 || y >= s->in_h) {
            qc_hvx_fill_bytes(taps, zero_point, row);
        } else if (s->dilation_w == 1 && x0 >= 0 && x0 + s->k_w <= s->in_w) {
            qc_hvx_copy_bytes(taps, image + ((long)y * s->in_w + x0) * s->in_c, row);
        } else {
            for (kx = 0; kx < s->k_w; ++kx) {
                const int x = x0 + kx * s->dilation_w;
                if (x < 0 || x >= s->in_w) {
                    qc_hvx_fill_bytes(taps + kx * s->in_c, zero_point, s->in_c);
                } else {
                    qc_hvx_copy_bytes(taps + kx * s->in_c, image + ((long)y * s->in_w + x) * s->in_c, s->in_c);
                }
            }
        }
    }
}

void qc_hvx_conv2d_s8(const qc_hvx_conv2d_params_t *p, const int8_t *input, int8_t *output)
{
    const qc_conv2d_params_t *s = &p->shape;
    const int pointwise = s->k_h == 1 && s->k_w == 1 && s->pad_top == 0 && s->pad_left == 0 && s->in_c % 4 == 0
                          && ((uintptr_t)input & 3) == 0;
    int8_t patch[QC_HVX_ROW_BYTES] __attribute__((aligned(QC_VECTOR_BYTES)));
    int b, oy, ox;
    qc_hvx_fill_bytes(patch, 0, p->gemm.groups * 4);
    for (b = 0; b < s->batches; ++b) {
        const int8_t *image = input + (long)b * s->in_h * s->in_w * s->in_c;
        for (oy = 0; oy < s->out_h; ++oy) {
            for (ox = 0; ox < s->out_w; ++ox) {
                const int32_t *words;
                if (pointwise) {
                    words = (const int32_t *)(image + ((long)oy * s->stride_h * s->in_w + (long)ox * s->stride_w)
                                                          * s->in_c);
                } else {
                    qc_hvx_gather_patch(s, image, oy, ox, patch);
                    words = (const int32_t *)patch;
                }
                qc_hvx_gemm_row(&p->gemm, words, output);
                output += s->out_c;
            }
        }
    }
}
#else
typedef int qc_hvx_conv2d_scalar_build; /* the scalar build uses qc_conv2d_s8 */
#endif
