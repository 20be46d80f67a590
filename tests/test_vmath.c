/* test_vmath.c: the vectorisable float exp (also its x <= 0 form), tanh, sigmoid and Phi
 * of ops/vmath.h against libm in double, over dense grids that cover both tails, plus
 * the special values (NaN, +-inf, overflow, underflow). */
#include <float.h>
#include <math.h>
#include <stdio.h>

#include "ops/vmath.h"
#include "tests/test.h"

/* relative error of f against ref, with an absolute floor for values near 0 */
static double rel(double f, double ref, double floor_abs)
{
    double d = fabs(f - ref), m = fabs(ref);
    return d / (m > floor_abs ? m : floor_abs);
}

int main(void)
{
    double worst_exp = 0, worst_tanh = 0, worst_sig = 0, worst_phi = 0;
    for (double x = -87.0; x <= 88.0; x += 1e-3) {
        float xf = (float)x;
        worst_exp = fmax(worst_exp, rel(tg_vexpf(xf), exp((double)xf), 0));
        if (x <= 0) worst_exp = fmax(worst_exp, rel(tg_vexpf_neg(xf), exp((double)xf), 0));
    }
    for (double x = -20.0; x <= 20.0; x += 1e-4) {
        float xf = (float)x;
        worst_tanh = fmax(worst_tanh, rel(tg_vtanhf(xf), tanh((double)xf), 0));
        worst_sig = fmax(worst_sig, rel(tg_vsigmoidf(xf), 1 / (1 + exp(-(double)xf)), 0));
    }
    for (double x = -9.0; x <= 9.0; x += 1e-4) {
        float xf = (float)x;
        worst_phi = fmax(worst_phi, rel(tg_vphif(xf), 0.5 * erfc(-(double)xf / sqrt(2.0)), 0));
    }
    for (double x = 1e-30; x < 1; x *= 1.01) { /* tanh near 0 keeps its relative accuracy */
        float xf = (float)x;
        worst_tanh = fmax(worst_tanh, rel(tg_vtanhf(xf), tanh((double)xf), 0));
        worst_tanh = fmax(worst_tanh, rel(tg_vtanhf(-xf), tanh(-(double)xf), 0));
    }
    printf("max relative error: exp %.3g, tanh %.3g, sigmoid %.3g, Phi %.3g\n", worst_exp,
           worst_tanh, worst_sig, worst_phi);
    CHECK(worst_exp < 3e-7);
    CHECK(worst_tanh < 4e-7); /* the rational fit: 2.6e-7 at x = -5.2 */
    CHECK(worst_sig < 4e-7);
    CHECK(worst_phi < 1e-5); /* 1e-7 near 0; the far tail inherits the rounding of z*z */

    CHECK(isnan(tg_vexpf(NAN)) && isnan(tg_vtanhf(NAN)) && isnan(tg_vsigmoidf(NAN)));
    CHECK(tg_vexpf(89.0f) == INFINITY && tg_vexpf(INFINITY) == INFINITY);
    CHECK(tg_vexpf(-88.0f) == 0.0f && tg_vexpf(-INFINITY) == 0.0f);
    CHECK(tg_vexpf(0.0f) == 1.0f && tg_vexpf_neg(0.0f) == 1.0f);
    CHECK(tg_vexpf_neg(-88.0f) == 0.0f && tg_vexpf_neg(-INFINITY) == 0.0f);
    CHECK(tg_vtanhf(1e4f) == 1.0f && tg_vtanhf(-1e4f) == -1.0f && tg_vtanhf(INFINITY) == 1.0f);
    CHECK(tg_vtanhf(0.0f) == 0.0f);
    CHECK(tg_vsigmoidf(1e4f) == 1.0f && tg_vsigmoidf(-1e4f) == 0.0f);
    CHECK(tg_vphif(-1e4f) == 0.0f && tg_vphif(1e4f) == 1.0f);
    CHECK(fabs(tg_vexpf(88.3f) - exp((double)88.3f)) / exp((double)88.3f) < 3e-7); /* near FLT_MAX */
    return tg_test_end();
}
