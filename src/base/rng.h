/*
 * rng.h - the library's random numbers: xoshiro256** seeded through splitmix64.
 *
 * Small, fast and reproducible on every platform: the same seed gives the same stream
 * everywhere, which is what samplers and synthetic models promise their users. Not for secrets.
 */
#ifndef BN_BASE_RNG_H
#define BN_BASE_RNG_H

#include <stdint.h>

typedef struct bn_rng {
    uint64_t s[4]; /* xoshiro256** state, never all zero */
} bn_rng;

/* One step of splitmix64: a good 64-bit mix of *x, which it advances. Also a hash of a seed. */
static inline uint64_t bn_splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

/* xoshiro256** wants a state that is not all zero; splitmix64 spreads any seed (0 included)
 * over the four words, as its authors recommend. */
static inline void bn_rng_seed(bn_rng *r, uint64_t seed) {
    for (int i = 0; i < 4; i++)
        r->s[i] = bn_splitmix64(&seed);
}

static inline uint64_t bn_rng_rotl(uint64_t x, int k) {
    return (x << k) | (x >> (64 - k));
}

static inline uint64_t bn_rng_next(bn_rng *r) {
    uint64_t *s = r->s;
    uint64_t result = bn_rng_rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = bn_rng_rotl(s[3], 45);
    return result;
}

/* Uniform in [0, 1). 24 bits fill a float's mantissa exactly, so every value k / 2^24 is
 * representable and the result is strictly below 1. The top bits are xoshiro's best. */
static inline float bn_rng_uniform(bn_rng *r) {
    return (float)(bn_rng_next(r) >> 40) * (1.0f / 16777216.0f);
}

#endif /* BN_BASE_RNG_H */
