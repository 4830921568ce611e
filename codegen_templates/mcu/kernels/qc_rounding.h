/* Round half away from zero (C's round()) without libm, for the kernels that convert float to integers. */
#ifndef QC_ROUNDING_H
#define QC_ROUNDING_H

#include <stdint.h>

/* round(x) for |x| < 2^31; larger magnitudes (and NaN) saturate to +-2^31 for the clamp that follows. */
static inline double qc_round_half_away(double x)
{
    int64_t whole;
    double fraction;
    if (x >= 2147483648.0) {
        return 2147483648.0;
    }
    if (!(x > -2147483648.0)) { /* also catches NaN */
        return -2147483648.0;
    }
    whole = (int64_t)x;
    fraction = x - (double)whole;
    if (fraction >= 0.5) {
        whole += 1;
    } else if (fraction <= -0.5) {
        whole -= 1;
    }
    return (double)whole;
}

/* LiteRT's reference FULLY_CONNECTED rescale: round(double(acc) * scale) half away from zero (every step IEEE
 * double, so the product and its rounding equal the reference's bit for bit), plus the output offset, clamped
 * to [act_min, act_max]. */
static inline int32_t qc_rescale_double(int32_t acc, double scale, int32_t offset, int32_t act_min,
                                        int32_t act_max)
{
    const double value = qc_round_half_away((double)acc * scale) + (double)offset;
    if (value < (double)act_min) {
        return act_min;
    }
    return value > (double)act_max ? act_max : (int32_t)value;
}

static inline float qc_round_half_away_f(float x)
{
    return (float)qc_round_half_away((double)x);
}

#endif
