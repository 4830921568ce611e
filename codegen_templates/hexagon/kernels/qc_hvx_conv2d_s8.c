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

/* acc plus the vrmpy of ``count`` filter vectors with the splat words of ``words`` (the zero point's when NULL). */
static inline HVX_Vector qc_hvx_conv_run(HVX_Vector acc, const int32_t *words, const HVX_Vector *filter, int count,
                                         HVX_Vector padding)
{
    int k;
    if (words == 0) {
        for (k = 0; k < count; ++k) {
            acc = Q6_Vw_vrmpyacc_VwVbVb(acc, padding, filter[k]);
        }
    } else {
        for (k = 0; k < count; ++k) {
            acc = Q6_Vw_vrmpyacc_VwVbVb(acc, Q6_V_vsplat_R(words[k]), filter[k]);
        }
    }
    return acc;
}

/* The accumulators of tile ``tile`` at output pixel (oy, ox), reading the taps in place (in_c % 4 == 0 and a
 * word-aligned input): four channels of a tap per vrmpy, a whole filter row at once where it lies inside the
 * image, padded taps as four zero points. */
static HVX_Vector qc_hvx_conv_taps(const qc_hvx_conv2d_params_t *p, const int8_t *image, int oy, int ox, int tile,
                                   HVX_Vector padding)
{
    const qc_conv2d_params_t *s = &p->shape;
    const int per_tap = s->in_c / 4;
    const int per_row = s->k_w * per_tap;
    const int y0 = oy * s->stride_h - s->pad_top;
    const int x0 = ox * s->stride_w - s->pad_left;
    const int row_inside = s->dilation_w == 1 && x0 >= 0 && x0 + s->k_w <= s->in_w;
    const HVX_Vector *filter = (const HVX_Vector *)p->gemm.filter + (long)tile * p->gemm.groups;
    HVX_Vector acc = ((const HVX_Vector *)p->gemm.start)[tile];
    int ky, kx;
    for (ky = 0; ky < s->k_h; ++ky, filter += per_row) {
        const int y = y0 + ky * s->dilation_h;
        const int8_t *row = image + (long)y * s->in_w * s->in_c;
        if (y < 0 || y >= s->in_h) {
            acc = qc_hvx_conv_run(acc, 0, filter, per_row, padding);
        } else if (row_inside) {
            acc = qc_hvx_conv_run(acc, (const int32_t *)(row + (long)x0 * s->in_c), filter, per_row, padding);
        } else {
            for (kx = 0; kx < s->k_w; ++kx) {
                const int x = x0 + kx * s->dilation_w;
                const int32_t *words = x < 0 || x >= s->in_w ? 0 : (const int32_t *)(row + (long)x * s->in_c);
                acc = qc_hvx_conv_run(acc, words, filter + kx * per_tap, per_tap, padding);
            }
        }
    }
    return acc;
}

/* Output pixels computed together by the in-place path: the filter vectors are loaded once for all of them
 * and their vrmpy chains are independent. */
#define QC_CONV_BLOCK 4
/* Most output channels (tiles of 32) a block keeps in flight: its outputs are stored only after every read
 * (the order the in-place overlap relies on). */
#define QC_CONV_BLOCK_TILES 4

/* The accumulators of tile ``tile`` at QC_CONV_BLOCK output pixels from (oy, ox) on, each with every filter row
 * either inside the image or padding (the caller checks the columns). */
static void qc_hvx_conv_block(const qc_hvx_conv2d_params_t *p, const int8_t *image, int oy, int ox, int tile,
                              HVX_Vector padding, HVX_Vector acc[QC_CONV_BLOCK])
{
    const qc_conv2d_params_t *s = &p->shape;
    const int per_row = s->k_w * s->in_c / 4;
    const long step = (long)s->stride_w * s->in_c / 4;
    const int y0 = oy * s->stride_h - s->pad_top;
    const long x0 = (long)ox * s->stride_w - s->pad_left;
    const HVX_Vector *filter = (const HVX_Vector *)p->gemm.filter + (long)tile * p->gemm.groups;
    HVX_Vector padded = ((const HVX_Vector *)p->gemm.start)[tile];
    int ky, k, i;
    for (i = 0; i < QC_CONV_BLOCK; ++i) {
        acc[i] = Q6_V_vzero();
    }
    for (ky = 0; ky < s->k_h; ++ky, filter += per_row) {
        const int y = y0 + ky * s->dilation_h;
        if (y < 0 || y >= s->in_h) {
            for (k = 0; k < per_row; ++k) {
                padded = Q6_Vw_vrmpyacc_VwVbVb(padded, padding, filter[k]);
            }
        } else {
            const int32_t *words = (const int32_t *)(image + ((long)y * s->in_w + x0) * s->in_c);
            for (k = 0; k < per_row; ++k) {
                const HVX_Vector taps = filter[k];
                acc[0] = Q6_Vw_vrmpyacc_VwVbVb(acc[0], Q6_V_vsplat_R(words[k]), taps);
                acc[1] = Q6_Vw_vrmpyacc_VwVbVb(acc[1], Q6_V_vsplat_R(words[k + step]), taps);
                acc[2] = Q6_Vw_vrmpyacc_VwVbVb(acc[2], Q6_V_vsplat_R(words[k + 2 * step]), taps);
                acc[3] = Q6_Vw_vrmpyacc_VwVbVb(acc[3], Q6_V_vsplat_R(words[k + 3 * step]), taps);
            }
        }
    }
    for (i = 0; i < QC_CONV_BLOCK; ++i) {
        acc[i] = Q6_Vw_vadd_VwVw(acc[i], padded);
    }
}

void qc_hvx_conv2d_s8(const qc_hvx_conv2d_params_t *p, const int8_t *input, int8_t *output)
{
    const qc_conv2d_params_t *s = &p->shape;
    const int in_place = s->in_c % 4 == 0 && ((uintptr_t)input & 3) == 0;
    const int tiles = (s->out_c + QC_VECTOR_WORDS - 1) / QC_VECTOR_WORDS;
    const int blocks = in_place && s->dilation_w == 1 && tiles <= QC_CONV_BLOCK_TILES;
    const HVX_Vector padding = Q6_Vb_vsplat_R(-s->input_offset);
    int8_t patch[QC_HVX_ROW_BYTES] __attribute__((aligned(QC_VECTOR_BYTES)));
    HVX_Vector acc[QC_CONV_BLOCK_TILES][QC_CONV_BLOCK];
    int b, oy, ox, tile, i;
    if (!in_place) {
        qc_hvx_fill_bytes(patch, 0, p->gemm.groups * 4);
    }
    for (b = 0; b < s->batches; ++b) {
        const int8_t *image = input + (long)b * s->in_h * s->in_w * s->in_c;
        for (oy = 0; oy < s->out_h; ++oy) {
            for (ox = 0; ox < s->out_w;) {
                const int x_first = ox * s->stride_w - s->pad_left;
                const int x_last = (ox + QC_CONV_BLOCK - 1) * s->stride_w - s->pad_left;
                if (blocks && ox + QC_CONV_BLOCK <= s->out_w && x_first >= 0 && x_last + s->k_w <= s->in_w) {
                    for (tile = 0; tile < tiles; ++tile) {
                        qc_hvx_conv_block(p, image, oy, ox, tile, padding, acc[tile]);
                    }
                    for (i = 0; i < QC_CONV_BLOCK; ++i, output += s->out_c) {
                        for (tile = 0; tile < tiles; ++tile) {
                            qc_hvx_gemm_store(&p->gemm, acc[tile][i], tile, output);
                        }
                    }
                    ox += QC_CONV_BLOCK;
                    continue;
                }
                if (in_place) {
                    for (tile = 0; tile < tiles; ++tile) {
                        qc_hvx_gemm_store(&p->gemm, qc_hvx_conv_taps(p, image, oy, ox, tile, padding), tile, output);
                    }
                } else {
                    qc_hvx_gather_patch(s, image, oy, ox, patch);
                    qc_hvx_gemm_row(&p->gemm, (const int32_t *)patch, output);
                }
                output += s->out_c;
                ++ox;
            }
        }
    }
}
#else
typedef int qc_hvx_conv2d_scalar_build; /* the scalar build uses qc_conv2d_s8 */
#endif
