/* peak.c: the FMA peak probe (see peak.h). 16 independent accumulators cover the
 * latency (4 cycles) times the two FMA ports of current x86 cores. */
#include "peak.h"

#include <immintrin.h>
#include <time.h>

double tg_bench_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

#define ITERS 20000000L

__attribute__((target("avx512f"))) static float run512(void)
{
    __m512 acc[16], a = _mm512_set1_ps(0.999999f), b = _mm512_set1_ps(1e-7f);
    for (int i = 0; i < 16; i++) acc[i] = _mm512_set1_ps((float)i);
    for (long it = 0; it < ITERS; it++)
        for (int i = 0; i < 16; i++) acc[i] = _mm512_fmadd_ps(acc[i], a, b);
    __m512 s = acc[0];
    for (int i = 1; i < 16; i++) s = _mm512_add_ps(s, acc[i]);
    return _mm512_reduce_add_ps(s);
}

__attribute__((target("avx2,fma"))) static float run256(void)
{
    __m256 acc[16], a = _mm256_set1_ps(0.999999f), b = _mm256_set1_ps(1e-7f);
    for (int i = 0; i < 16; i++) acc[i] = _mm256_set1_ps((float)i);
    for (long it = 0; it < ITERS; it++)
        for (int i = 0; i < 16; i++) acc[i] = _mm256_fmadd_ps(acc[i], a, b);
    float out[8], s = 0;
    for (int i = 1; i < 16; i++) acc[0] = _mm256_add_ps(acc[0], acc[i]);
    _mm256_storeu_ps(out, acc[0]);
    for (int i = 0; i < 8; i++) s += out[i];
    return s;
}

static volatile float sink;

double tg_bench_fma_peak(const char **isa)
{
    __builtin_cpu_init();
    int lanes;
    double best = 0;
    for (int rep = 0; rep < 3; rep++) {
        double t0 = tg_bench_now();
        if (__builtin_cpu_supports("avx512f")) sink = run512(), lanes = 16, *isa = "AVX-512";
        else if (__builtin_cpu_supports("fma")) sink = run256(), lanes = 8, *isa = "AVX2";
        else return *isa = "none", 0;
        double dt = tg_bench_now() - t0, g = 2.0 * lanes * 16 * ITERS / dt / 1e9;
        if (g > best) best = g;
    }
    return best;
}
