/* vmath.h: exp, tanh, sigmoid and the normal CDF in a form the compiler vectorises.
 *
 * libm's expf/tanhf/erff are scalar calls (10-20 ns each); a character LSTM spends a
 * third of its time in them. These are branch-free polynomials (Cephes-style range
 * reduction for exp, Eigen's rational tanh, Numerical Recipes' erfc) that GCC turns
 * into SIMD loops. Float only: the float64 build (the gradient checker) keeps
 * libm, so TG_EXP etc. pick the right one for `real`. Accuracy, tested over dense
 * grids in tests/test_vmath.c: exp and sigmoid within relative 2e-7 (about 2 ulp),
 * tanh 3e-7; Phi (and so gelu) within 1e-7 near 0 and 1e-5 in the far tails (x = -9), where
 * the float rounding of the exponent's argument dominates. NaN propagates;
 * exp overflows to +inf and underflows to 0 like expf (below -87.33 it gives 0 rather
 * than a subnormal). */
#ifndef TG_VMATH_H
#define TG_VMATH_H

#include <math.h>
#include <stdint.h>
#include <string.h>

#define TG_VINLINE static inline __attribute__((always_inline))

/* e^xc for xc in [TG_EXP_LO, TG_EXP_HI] (no NaN). xc = n ln2 + r; 2^n is added to
 * p(r)'s exponent field. TG_EXP_LO keeps n >= -126 with r >= 0, so the result stays
 * normal; TG_EXP_HI keeps n <= 128 with r < 0 (p < 1), so the exponent field stays
 * below 255. */
#define TG_EXP_HI 88.3762626647949f
#define TG_EXP_LO -87.33f
TG_VINLINE float tg_vexpf_core(float xc)
{
    /* n = round(x / ln2) by the 1.5 * 2^23 trick (no rint call); r = x - n ln2 in two parts */
    float n = (xc * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
    float r = xc - n * 0.693359375f;
    r = r - n * -2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    uint32_t b; /* unsigned: the add of a negative n wraps, defined */
    memcpy(&b, &p, 4);
    b += (uint32_t)(int32_t)n << 23;
    float y;
    memcpy(&y, &b, 4);
    return y;
}

/* e^x */
TG_VINLINE float tg_vexpf(float x)
{
    float xc = x < TG_EXP_HI ? x : TG_EXP_HI; /* NaN: computed as hi (no NaN-to-int conversion), returned as is */
    xc = xc > TG_EXP_LO ? xc : TG_EXP_LO;
    float y = tg_vexpf_core(xc);
    y = x > TG_EXP_HI ? INFINITY : y;
    y = x < TG_EXP_LO ? 0.0f : y;
    return x != x ? x : y;
}

/* e^x for x <= 0 (or NaN, which comes back as 0: callers whose NaN propagates another
 * way, like Phi's through t): tg_vexpf without the overflow and NaN cases, 14% less
 * work in Phi */
TG_VINLINE float tg_vexpf_neg(float x)
{
    float y = tg_vexpf_core(x > TG_EXP_LO ? x : TG_EXP_LO);
    return x > TG_EXP_LO ? y : 0.0f;
}

/* tanh x: Eigen's rational minimax fit (generic_fast_tanh_float), x P(x^2) / Q(x^2)
 * on x clamped to +-7.9988 (where tanh rounds to +-1 in float); x itself below 4e-4.
 * One division and 11 FMAs, no exp: 2.4x faster than 1 - 2 / (e^2x + 1) with a
 * polynomial near 0, within relative 2.6e-7 (tests/test_vmath.c). */
TG_VINLINE float tg_vtanhf(float a)
{
    const float c = 7.99881172180175781f;
    float x = a < c ? a : c;
    x = x > -c ? x : -c;
    float z = x * x;
    float p = -2.76076847742355e-16f;
    p = p * z + 2.00018790482477e-13f;
    p = p * z - 8.60467152213735e-11f;
    p = p * z + 5.12229709037114e-08f;
    p = p * z + 1.48572235717979e-05f;
    p = p * z + 6.37261928875436e-04f;
    p = p * z + 4.89352455891786e-03f;
    float q = 1.19825839466702e-06f;
    q = q * z + 1.18534705686654e-04f;
    q = q * z + 2.26843463243900e-03f;
    q = q * z + 4.89352518554385e-03f;
    float y = x * p / q;
    y = fabsf(a) < 0.0004f ? a : y;
    /* +-1 at and past the clamp; and within [-1, 1] also where, without FMA (Eigen
     * clamps at 7.905 there), the fit rounds past it */
    y = y < 1.0f ? y : 1.0f;
    y = y > -1.0f ? y : -1.0f;
    y = a >= c ? 1.0f : y;
    y = a <= -c ? -1.0f : y;
    return a != a ? a : y;
}

/* 1 / (1 + e^-x) */
TG_VINLINE float tg_vsigmoidf(float x) { return 1.0f / (1.0f + tg_vexpf(-x)); }

/* Phi(x) = P(N(0,1) <= x) = erfc(-x / sqrt 2) / 2, with relative accuracy in both tails
 * (erfc by Numerical Recipes' Chebyshev fit, fractional error < 1.2e-7) */
TG_VINLINE float tg_vphif(float x)
{
    float z = fabsf(x) * 0.70710678118654752f;
    float t = 1.0f / (1.0f + 0.5f * z);
    /* the degree-9 polynomial in t by Estrin's scheme: a shorter dependency chain than
     * Horner's, which bounded the loop's speed */
    float t2 = t * t, t4 = t2 * t2, t8 = t4 * t4;
    float c01 = -1.26551223f + 1.00002368f * t, c23 = 0.37409196f + 0.09678418f * t;
    float c45 = -0.18628806f + 0.27886807f * t, c67 = -1.13520398f + 1.48851587f * t;
    float c89 = -0.82215223f + 0.17087277f * t;
    float q = (c01 + c23 * t2) + (c45 + c67 * t2) * t4 + c89 * t8;
    /* q - z^2 is at most 3e-8 (z = 0), where the x <= 0 exp is still exact; NaN x: t is NaN */
    float half_erfc = 0.5f * t * tg_vexpf_neg(q - z * z);
    return x < 0 ? half_erfc : 1.0f - half_erfc;
}

/* The double forms for the float64 build. */
static inline double tg_vphi(double x) { return 0.5 * erfc(-x * 0.70710678118654752440); }
static inline double tg_vsigmoid(double x)
{
    if (x >= 0) return 1 / (1 + exp(-x));
    double e = exp(x);
    return e / (1 + e);
}

#if defined(TG_REAL_DOUBLE) && TG_REAL_DOUBLE
#define TG_EXP(x) exp(x)
#define TG_EXP_NEG(x) exp(x)
#define TG_TANH(x) tanh(x)
#define TG_SIGMOID(x) tg_vsigmoid(x)
#define TG_PHI(x) tg_vphi(x)
#else
#define TG_EXP(x) tg_vexpf(x)
#define TG_EXP_NEG(x) tg_vexpf_neg(x)
#define TG_TANH(x) tg_vtanhf(x)
#define TG_SIGMOID(x) tg_vsigmoidf(x)
#define TG_PHI(x) tg_vphif(x)
#endif

#endif
