/* HVX building blocks shared by the Hexagon int8 kernels (128-byte vectors, 32 int32 lanes): TFLite's
 * requantization per lane, bit for bit, and loads/stores of byte runs of any length
 * and alignment that touch only the 128-byte blocks holding their bytes.
 * QC_HVX is 1 when the kernels take the vector path: an HVX build without QC_SCALAR_ONLY. */
#ifndef QC_HVX_H
#define QC_HVX_H

#include <stdint.h>

#if defined(__HVX__) && !defined(QC_SCALAR_ONLY)
#define QC_HVX 1
#else
#define QC_HVX 0
#endif

/* Bytes of a vector, int32 lanes of a vector. */
#define QC_VECTOR_BYTES 128
#define QC_VECTOR_WORDS 32

/* Per-lane requantization constants of one vector of 32 accumulators (TFLite MultiplyByQuantizedMultiplier):
 * x * 2^left_shift, doubling high multiply by multiplier, rounding right shift by right_shift;
 * mask = 2^right_shift - 1 and half = mask >> 1 are precomputed. Lanes past the channels hold zeros. */
typedef struct {
    int32_t multiplier[QC_VECTOR_WORDS];
    int32_t left_shift[QC_VECTOR_WORDS];
    int32_t right_shift[QC_VECTOR_WORDS];
    int32_t mask[QC_VECTOR_WORDS];
    int32_t half[QC_VECTOR_WORDS];
} __attribute__((aligned(QC_VECTOR_BYTES))) qc_hvx_requant_t;

#if QC_HVX
#include <hexagon_types.h>
#include <hvx_hexagon_protos.h>

/* gemmlowp SaturatingRoundingDoublingHighMul per lane: (2 a b + 2^31) >> 32 with ties rounded up (gemmlowp's
 * nudge of 1 - 2^30 for negative products, then a division truncating towards zero, also rounds ties up),
 * saturating INT32_MIN * INT32_MIN: exactly the vmpye / vmpyo:<<1:rnd:sat pair. */
static inline HVX_Vector qc_hvx_srdhm(HVX_Vector a, HVX_Vector b)
{
    return Q6_Vw_vmpyoacc_VwVwVh_s1_rnd_sat_shift(Q6_Vw_vmpye_VwVuh(a, b), a, b);
}

/* gemmlowp RoundingDivideByPOT per lane (shift in [0, 31], mask and half as in qc_hvx_requant_t). */
static inline HVX_Vector qc_hvx_rounding_divide_by_pot(HVX_Vector x, HVX_Vector shift, HVX_Vector mask,
                                                       HVX_Vector half)
{
    const HVX_Vector remainder = Q6_V_vand_VV(x, mask);
    const HVX_VectorPred negative = Q6_Q_vcmp_gt_VwVw(Q6_V_vzero(), x);
    const HVX_Vector threshold = Q6_Vw_condacc_QVwVw(negative, half, Q6_V_vsplat_R(1));
    const HVX_Vector shifted = Q6_Vw_vasr_VwVw(x, shift);
    return Q6_Vw_condacc_QVwVw(Q6_Q_vcmp_gt_VwVw(remainder, threshold), shifted, Q6_V_vsplat_R(1));
}

/* TFLite MultiplyByQuantizedMultiplier on 32 lanes with their own constants. */
static inline HVX_Vector qc_hvx_requantize(HVX_Vector x, const qc_hvx_requant_t *r)
{
    const HVX_Vector *v = (const HVX_Vector *)r;
    const HVX_Vector scaled = Q6_Vw_vasl_VwVw(x, v[1]);
    return qc_hvx_rounding_divide_by_pot(qc_hvx_srdhm(scaled, v[0]), v[2], v[3], v[4]);
}

/* Narrow 32 int32 lanes already clamped to [-128, 127] to their low bytes, in lane order, in bytes 0..31. */
static inline HVX_Vector qc_hvx_narrow_words(HVX_Vector words)
{
    const HVX_Vector halves = Q6_Vh_vpacke_VwVw(words, words);
    return Q6_Vb_vpacke_VhVh(halves, halves);
}

/* clamp(x + offset, lo, hi) per lane. */
static inline HVX_Vector qc_hvx_offset_clamp(HVX_Vector x, int32_t offset, int32_t lo, int32_t hi)
{
    const HVX_Vector y = Q6_Vw_vadd_VwVw(x, Q6_V_vsplat_R(offset));
    return Q6_Vw_vmin_VwVw(Q6_Vw_vmax_VwVw(y, Q6_V_vsplat_R(lo)), Q6_V_vsplat_R(hi));
}

/* Offset, clamp and narrow: bytes 0..31 hold clamp(x + offset, lo, hi). */
static inline HVX_Vector qc_hvx_offset_clamp_narrow(HVX_Vector x, int32_t offset, int32_t lo, int32_t hi)
{
    return qc_hvx_narrow_words(qc_hvx_offset_clamp(x, offset, lo, hi));
}

/* The 128 bytes of v widened to int32, in order: words[k] holds bytes 32k..32k+31. */
static inline void qc_hvx_widen_bytes(HVX_Vector v, HVX_Vector words[4])
{
    const HVX_VectorPair halves = Q6_Wh_vunpack_Vb(v);
    const HVX_VectorPair low = Q6_Ww_vunpack_Vh(Q6_V_lo_W(halves));
    const HVX_VectorPair high = Q6_Ww_vunpack_Vh(Q6_V_hi_W(halves));
    words[0] = Q6_V_lo_W(low);
    words[1] = Q6_V_hi_W(low);
    words[2] = Q6_V_lo_W(high);
    words[3] = Q6_V_hi_W(high);
}

/* The inverse of qc_hvx_widen_bytes for words already in [-128, 127]. */
static inline HVX_Vector qc_hvx_narrow_to_bytes(const HVX_Vector words[4])
{
    const HVX_Vector low = Q6_Vh_vpacke_VwVw(words[1], words[0]);
    const HVX_Vector high = Q6_Vh_vpacke_VwVw(words[3], words[2]);
    return Q6_Vb_vpacke_VhVh(high, low);
}

/* Bytes [0, n) of the 128 at p (n in [1, 128]), any alignment; reads only the aligned blocks holding them. */
static inline HVX_Vector qc_hvx_load_bytes(const void *p, int n)
{
    const uintptr_t address = (uintptr_t)p;
    const HVX_Vector *block = (const HVX_Vector *)(address & ~(uintptr_t)(QC_VECTOR_BYTES - 1));
    const HVX_Vector first = block[0];
    const HVX_Vector second = (int)(address & (QC_VECTOR_BYTES - 1)) + n > QC_VECTOR_BYTES ? block[1] : first;
    return Q6_V_valign_VVR(second, first, (int)address);
}

/* Stores bytes [0, n) of v at p (n in [1, 128]), any alignment, leaving every other byte untouched. */
static inline void qc_hvx_store_bytes(void *p, HVX_Vector v, int n)
{
    const uintptr_t address = (uintptr_t)p;
    const int offset = (int)(address & (QC_VECTOR_BYTES - 1));
    HVX_Vector *block = (HVX_Vector *)(address - (uintptr_t)offset);
    const HVX_Vector rotated = Q6_V_vlalign_VVR(v, v, offset);
    const int end = offset + n;
    if (end <= QC_VECTOR_BYTES) {
        const HVX_VectorPred keep = Q6_Q_and_QQn(Q6_Q_vsetq2_R(end), Q6_Q_vsetq_R(offset));
        Q6_vmem_QRIV(keep, block, rotated);
    } else {
        Q6_vmem_QRIV(Q6_Q_not_Q(Q6_Q_vsetq_R(offset)), block, rotated);
        Q6_vmem_QRIV(Q6_Q_vsetq_R(end - QC_VECTOR_BYTES), block + 1, rotated);
    }
}
#endif /* QC_HVX */

#endif /* QC_HVX_H */
