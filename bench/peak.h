/* peak.h: measures this machine's single-core float32 FMA peak in GFLOP/s with a
 * register-resident loop of independent fused multiply-adds (AVX-512 where the CPU
 * has it, else AVX2, else scalar), so benchmarks can report a fraction of it. */
#ifndef TG_BENCH_PEAK_H
#define TG_BENCH_PEAK_H

/* Returns GFLOP/s for one thread; *isa names the instruction set used. */
double tg_bench_fma_peak(const char **isa);
/* Wall-clock seconds (monotonic). */
double tg_bench_now(void);

#endif
