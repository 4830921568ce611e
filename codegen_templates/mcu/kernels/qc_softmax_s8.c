/* int8 softmax, bit-exact with TFLite's reference integer SOFTMAX. Fixed-point values are int32 raw words;
 * the comments give their Q format (integer bits). */
#include "qc_softmax_s8.h"
#include "qc_fixed_point.h"

#define QC_SCALED_DIFF_INTEGER_BITS 5
#define QC_ACCUMULATION_INTEGER_BITS 12

/* exp(a) for a in [-1/4, 0), a and result in Q0.31 (Taylor series around -1/8). */
static int32_t qc_exp_on_quarter_interval(int32_t a)
{
    const int32_t constant_term = 1895147668;      /* exp(-1/8) */
    const int32_t constant_1_over_3 = 715827883;
    const int32_t x = a + (1 << 28);                /* a + 1/8 */
    const int32_t x2 = qc_srdhm(x, x);
    const int32_t x3 = qc_srdhm(x2, x);
    const int32_t x4 = qc_srdhm(x2, x2);
    const int32_t x4_over_4 = qc_rounding_divide_by_pot(x4, 2);
    const int32_t poly = qc_rounding_divide_by_pot(qc_srdhm(x4_over_4 + x3, constant_1_over_3) + x2, 1);
    return constant_term + qc_srdhm(constant_term, x + poly);
}

/* exp(a) for a <= 0; a in Q5.26, result in Q0.31. */
static int32_t qc_exp_on_negative_values(int32_t a)
{
    static const int32_t barrel[7] = {1672461947, 1302514674, 790015084, 290630308, 39332535, 720401, 242};
    const int fractional_bits = 31 - QC_SCALED_DIFF_INTEGER_BITS;
    const int32_t one_quarter = (int32_t)1 << (fractional_bits - 2);
    const int32_t a_mod_quarter_minus_one_quarter = (a & (one_quarter - 1)) - one_quarter;
    const int32_t remainder = a_mod_quarter_minus_one_quarter - a;
    int32_t result = qc_exp_on_quarter_interval(
        qc_saturating_left_shift(a_mod_quarter_minus_one_quarter, QC_SCALED_DIFF_INTEGER_BITS));
    int k;
    for (k = 0; k < 7; ++k) { /* exponents -2 .. 4 */
        if (remainder & ((int32_t)1 << (fractional_bits - 2 + k))) {
            result = qc_srdhm(result, barrel[k]);
        }
    }
    return a == 0 ? INT32_MAX : result;
}

/* 1 / (1 + a) for a in [0, 1), a in Q0.31, result in Q0.31 (Newton-Raphson on Q2.29). */
static int32_t qc_one_over_one_plus_x(int32_t a)
{
    const int64_t sum = (int64_t)a + INT32_MAX;
    const int32_t half_denominator = (int32_t)((sum + (sum >= 0 ? 1 : -1)) / 2);
    const int32_t one_q2 = (int32_t)1 << 29;
    int32_t x = 1515870810 + qc_srdhm(half_denominator, -1010580540); /* 48/17 - 32/17 * d */
    int i;
    for (i = 0; i < 3; ++i) {
        const int32_t half_denominator_times_x = qc_srdhm(half_denominator, x);
        const int32_t one_minus = one_q2 - half_denominator_times_x;
        x = x + qc_saturating_left_shift(qc_srdhm(x, one_minus), 2);
    }
    return qc_saturating_left_shift(x, 1);
}

static int qc_count_leading_zeros(uint32_t x)
{
    int zeros = 0;
    if (x == 0) {
        return 32;
    }
    while (!(x & 0x80000000u)) {
        x <<= 1;
        ++zeros;
    }
    return zeros;
}

static int32_t qc_scaled_diff(const qc_softmax_params_t *p, int32_t diff)
{
    return qc_srdhm((int32_t)((uint32_t)diff << p->input_left_shift), p->input_multiplier);
}

void qc_softmax_s8(const qc_softmax_params_t *p, const int8_t *input, int8_t *output)
{
    int r, c;
    for (r = 0; r < p->rows; ++r) {
        const int8_t *row = input + (long)r * p->depth;
        int8_t *out = output + (long)r * p->depth;
        int32_t max_in_row = -128;
        int32_t sum_of_exps = 0; /* Q12.19 */
        int headroom, num_bits_over_unit;
        int32_t shifted_scale;   /* Q0.31 */
        for (c = 0; c < p->depth; ++c) {
            max_in_row = qc_max_i32(max_in_row, row[c]);
        }
        for (c = 0; c < p->depth; ++c) {
            const int32_t diff = row[c] - max_in_row;
            if (diff >= p->diff_min) {
                sum_of_exps += qc_rounding_divide_by_pot(qc_exp_on_negative_values(qc_scaled_diff(p, diff)),
                                                         QC_ACCUMULATION_INTEGER_BITS);
            }
        }
        headroom = qc_count_leading_zeros((uint32_t)sum_of_exps);
        num_bits_over_unit = QC_ACCUMULATION_INTEGER_BITS - headroom;
        shifted_scale = qc_one_over_one_plus_x(
            (int32_t)(((uint32_t)sum_of_exps << headroom) - ((uint32_t)1 << 31)));
        for (c = 0; c < p->depth; ++c) {
            const int32_t diff = row[c] - max_in_row;
            int32_t value = -128;
            if (diff >= p->diff_min) {
                const int32_t exp_value = qc_exp_on_negative_values(qc_scaled_diff(p, diff));
                value = qc_rounding_divide_by_pot(qc_srdhm(shifted_scale, exp_value), num_bits_over_unit + 31 - 8)
                        - 128;
                value = qc_clamp_i32(value, -128, 127);
            }
            out[c] = (int8_t)value;
        }
    }
}
