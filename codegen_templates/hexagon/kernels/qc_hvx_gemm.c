/* The HVX dot-product core shared by the convolution and dense kernels (see qc_hvx_gemm.h). */
#include "qc_hvx_gemm.h"

#if QC_HVX
/* Runs up to this many bytes are moved byte by byte (cheaper than a vector load, rotate and masked store). */
#define QC_HVX_SHORT_RUN 8

HVX_Vector qc_hvx_gemm_accumulate(const qc_hvx_gemm_t *g, const int32_t *words, int tile)
{
    const HVX_Vector *filter = (const HVX_Vector *)g->filter + (long)tile * g->groups;
    HVX_Vector acc = ((const HVX_Vector *)g->start)[tile];
    int k;
    for (k = 0; k < g->groups; ++k) {
        acc = Q6_Vw_vrmpyacc_VwVbVb(acc, Q6_V_vsplat_R(words[k]), filter[k]);
    }
    return acc;
}

void qc_hvx_gemm_store(const qc_hvx_gemm_t *g, HVX_Vector acc, int tile, int8_t *output)
{
    const int remaining = g->out_c - tile * QC_VECTOR_WORDS;
    acc = qc_hvx_requantize(acc, &g->requant[tile]);
    qc_hvx_store_bytes(output + tile * QC_VECTOR_WORDS,
                       qc_hvx_offset_clamp_narrow(acc, g->output_offset, g->act_min, g->act_max),
                       remaining < QC_VECTOR_WORDS ? remaining : QC_VECTOR_WORDS);
}

void qc_hvx_gemm_row(const qc_hvx_gemm_t *g, const int32_t *words, int8_t *output)
{
    int tile;
    for (tile = 0; tile * QC_VECTOR_WORDS < g->out_c; ++tile) {
        qc_hvx_gemm_store(g, qc_hvx_gemm_accumulate(g, words, tile), tile, output);
    }
}

void qc_hvx_copy_bytes(int8_t *dst, const int8_t *src, int n)
{
    if (n <= QC_HVX_SHORT_RUN) {
        while (n-- > 0) {
            *dst++ = *src++;
        }
        return;
    }
    while (n > 0) {
        const int chunk = n < QC_VECTOR_BYTES ? n : QC_VECTOR_BYTES;
        qc_hvx_store_bytes(dst, qc_hvx_load_bytes(src, chunk), chunk);
        dst += chunk;
        src += chunk;
        n -= chunk;
    }
}

void qc_hvx_fill_bytes(int8_t *dst, int8_t value, int n)
{
    const HVX_Vector splat = Q6_Vb_vsplat_R(value);
    if (n <= QC_HVX_SHORT_RUN) {
        while (n-- > 0) {
            *dst++ = value;
        }
        return;
    }
    while (n > 0) {
        const int chunk = n < QC_VECTOR_BYTES ? n : QC_VECTOR_BYTES;
        qc_hvx_store_bytes(dst, splat, chunk);
        dst += chunk;
        n -= chunk;
    }
}
#else
typedef int qc_hvx_gemm_scalar_build; /* the scalar build uses the MCU kernels */
#endif
