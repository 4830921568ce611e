/* The compiler support routines a -nostdlib Hexagon build calls and no library provides here: 32-bit integer
 * division and IEEE single-precision division (correctly rounded to nearest even, with subnormals, infinities
 * and NaNs), as the QUANTIZE kernel divides by the scale in float32 exactly like TFLite. */
#include <stdint.h>

int32_t __hexagon_divsi3(int32_t a, int32_t b);
int32_t __hexagon_modsi3(int32_t a, int32_t b);
uint32_t __hexagon_udivsi3(uint32_t a, uint32_t b);
uint32_t __hexagon_umodsi3(uint32_t a, uint32_t b);
float __hexagon_divsf3(float a, float b);

/* a / b and a % b by restoring long division (b != 0). */
static uint32_t qc_udivmod(uint32_t a, uint32_t b, uint32_t *remainder)
{
    uint32_t quotient = 0;
    uint32_t rest = 0;
    int bit;
    for (bit = 31; bit >= 0; --bit) {
        rest = (rest << 1) | ((a >> bit) & 1u);
        if (rest >= b) {
            rest -= b;
            quotient |= 1u << bit;
        }
    }
    *remainder = rest;
    return quotient;
}

static uint32_t qc_magnitude(int32_t x)
{
    return x < 0 ? 0u - (uint32_t)x : (uint32_t)x;
}

uint32_t __hexagon_udivsi3(uint32_t a, uint32_t b)
{
    uint32_t rest;
    return qc_udivmod(a, b, &rest);
}

uint32_t __hexagon_umodsi3(uint32_t a, uint32_t b)
{
    uint32_t rest;
    qc_udivmod(a, b, &rest);
    return rest;
}

int32_t __hexagon_divsi3(int32_t a, int32_t b)
{
    uint32_t rest;
    const uint32_t quotient = qc_udivmod(qc_magnitude(a), qc_magnitude(b), &rest);
    return (int32_t)((a < 0) != (b < 0) ? 0u - quotient : quotient);
}

int32_t __hexagon_modsi3(int32_t a, int32_t b)
{
    uint32_t rest;
    qc_udivmod(qc_magnitude(a), qc_magnitude(b), &rest);
    return (int32_t)(a < 0 ? 0u - rest : rest);
}

typedef union {
    float value;
    uint32_t bits;
} qc_float_bits;

/* The significand with its implicit bit, normalized to [2^23, 2^24), and the matching biased exponent. */
static uint32_t qc_normalize(uint32_t bits, int *exponent)
{
    uint32_t significand = bits & 0x7fffffu;
    *exponent = (int)((bits >> 23) & 0xffu);
    if (*exponent == 0) {
        *exponent = 1;
        while ((significand & 0x800000u) == 0) {
            significand <<= 1;
            *exponent -= 1;
        }
        return significand;
    }
    return significand | 0x800000u;
}

/* floor(top * 2^26 / bottom) for bottom in [2^23, 2^24) and top in [bottom, 2 bottom), and whether it leaves a
 * remainder: a reciprocal of bottom by Newton's iteration in fixed point (Q30, three steps from a linear
 * seed good to 1/17), the quotient from it, then a correction by the exact remainder. */
static uint32_t qc_quotient27(uint32_t top, uint32_t bottom, int *sticky)
{
    const uint64_t numerator = (uint64_t)top << 26;
    uint64_t product, rest;
    uint32_t reciprocal = 3031741621u - (uint32_t)(((uint64_t)2021161080u * bottom) >> 24); /* (48 - 32 d) / 17 */
    uint32_t quotient;
    int step;
    for (step = 0; step < 3; ++step) {
        const uint32_t estimate = (uint32_t)(((uint64_t)bottom * reciprocal) >> 24);      /* d x, Q30 */
        reciprocal = (uint32_t)(((uint64_t)reciprocal * (0x80000000u - estimate)) >> 30); /* x (2 - d x) */
    }
    quotient = (uint32_t)(((uint64_t)top * reciprocal) >> 28);
    product = (uint64_t)quotient * bottom;
    while (product > numerator) {
        quotient -= 1;
        product -= bottom;
    }
    rest = numerator - product;
    while (rest >= bottom) {
        quotient += 1;
        rest -= bottom;
    }
    *sticky = rest != 0;
    return quotient;
}

float __hexagon_divsf3(float a, float b)
{
    qc_float_bits x, y, result;
    uint32_t sign, top, bottom, quotient, extra;
    int ea, eb, exponent, sticky;
    x.value = a;
    y.value = b;
    sign = (x.bits ^ y.bits) & 0x80000000u;
    ea = (int)((x.bits >> 23) & 0xffu);
    eb = (int)((y.bits >> 23) & 0xffu);
    if ((x.bits & 0x7fffffffu) > 0x7f800000u) {             /* NaN operands propagate, quieted */
        result.bits = x.bits | 0x400000u;
        return result.value;
    }
    if ((y.bits & 0x7fffffffu) > 0x7f800000u) {
        result.bits = y.bits | 0x400000u;
        return result.value;
    }
    if (ea == 255 || (y.bits & 0x7fffffffu) == 0) {          /* inf / x, x / 0 */
        const int invalid = (ea == 255 && eb == 255) || ((x.bits & 0x7fffffffu) == 0 && (y.bits & 0x7fffffffu) == 0);
        result.bits = invalid ? 0x7fc00000u : (sign | 0x7f800000u);
        return result.value;
    }
    if (eb == 255 || (x.bits & 0x7fffffffu) == 0) {          /* x / inf, 0 / x */
        result.bits = sign;
        return result.value;
    }
    top = qc_normalize(x.bits, &ea);
    bottom = qc_normalize(y.bits, &eb);
    exponent = ea - eb + 127;
    if (top < bottom) {
        top <<= 1;
        exponent -= 1;
    }
    /* 27 quotient bits of top / bottom in [1, 2): the leading one, 23 fraction bits and 3 rounding bits. */
    quotient = qc_quotient27(top, bottom, &sticky);
    if (exponent <= 0) {                                     /* subnormal result: denormalize first */
        const int shift = 1 - exponent;
        if (shift >= 32) {
            sticky |= quotient != 0;
            quotient = 0;
        } else {
            sticky |= (quotient & ((1u << shift) - 1u)) != 0;
            quotient >>= shift;
        }
        exponent = 0;
    }
    extra = quotient & 7u;
    quotient >>= 3;
    if (extra > 4u || (extra == 4u && (sticky || (quotient & 1u)))) {
        quotient += 1;
    }
    if (exponent == 0) {
        result.bits = sign | quotient;                        /* a carry reaches the smallest normal */
    } else if (exponent >= 255) {
        result.bits = sign | 0x7f800000u;
    } else {
        const uint32_t magnitude = ((uint32_t)(exponent - 1) << 23) + quotient;  /* the implicit bit adds one */
        result.bits = sign | (magnitude >= 0x7f800000u ? 0x7f800000u : magnitude);
    }
    return result.value;
}
