/*
 * test_rng.h - the tests' deterministic random numbers (splitmix64): a fixed seed per test
 * program, so every failure reproduces. A test sets bn_test_rng_state to its own seed.
 */
#ifndef BN_TEST_RNG_H
#define BN_TEST_RNG_H

#include <stdint.h>

static uint64_t bn_test_rng_state;

static inline uint64_t rng_next(void) {
    uint64_t z = (bn_test_rng_state += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

/* Uniform in [lo, hi]. */
static inline int rng_int(int lo, int hi) {
    return lo + (int)(rng_next() % (uint64_t)(hi - lo + 1));
}

#endif /* BN_TEST_RNG_H */
