/* rng.h: the seeded random numbers of tapegrad (splitmix64): one 64-bit state, so a
 * checkpoint can store it and a resumed run continues the same stream. tg_hash64 is a
 * stateless mix of (seed, index), for masks that must be replayable (dropout). */
#ifndef TG_RNG_H
#define TG_RNG_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>

typedef struct tg_rng { uint64_t s; } tg_rng;

static inline uint64_t tg_hash64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

static inline uint64_t tg_rng_next(tg_rng *r)
{
    uint64_t x = tg_hash64(r->s);
    r->s += 0x9e3779b97f4a7c15ull;
    return x;
}

/* FNV-1a over n bytes, continuing from h (start with TG_FNV0): checksums and hashes. */
#define TG_FNV0 14695981039346656037ull
static inline uint64_t tg_fnv64(uint64_t h, const void *p, size_t n)
{
    const unsigned char *c = (const unsigned char *)p;
    for (size_t i = 0; i < n; i++) h = (h ^ c[i]) * 1099511628211ull;
    return h;
}

/* Uniform in [0, 1) with 53 random bits. */
static inline double tg_rng_uniform(tg_rng *r) { return (tg_rng_next(r) >> 11) * 0x1.0p-53; }

/* Uniform integer in [0, n), n >= 1. */
static inline uint64_t tg_rng_below(tg_rng *r, uint64_t n) { return tg_rng_next(r) % n; }

/* Standard normal (Box-Muller). */
static inline double tg_rng_normal(tg_rng *r)
{
    double u = tg_rng_uniform(r), v = tg_rng_uniform(r);
    return sqrt(-2.0 * log(1.0 - u)) * cos(6.283185307179586 * v);
}

#endif
