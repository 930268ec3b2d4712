/*
 * test_act_quant_simd.c - the AVX2 activation quantizer gives bn_act_quant_row's codes, scale
 * and sum bit for bit: random rows of every length up to 300 (tails included), rows with NaN,
 * with an Inf, all zeros, values on .5 boundaries, and huge ones.
 */
#include "test.h"
#include "test_rng.h"

#include "kernels/cpu/ternary_gemm.h"
#include "quant/act_quant.h"

#include <string.h>

#if !defined(__x86_64__)
int main(void) {
    return bn_test_skip("test_act_quant_simd", "no x86 SIMD variant on this machine");
}
#else
static float uniform(void) {
    return (float)((double)(rng_next() >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}

static void same(const float *x, int n, const char *what) {
    int8_t q_ref[512], q[512];
    int32_t s_ref = 0, s = 0;
    float sc_ref = bn_act_quant_row(x, n, q_ref, &s_ref);
    float sc = bn_act_quant_row_avx2(x, n, q, &s);
    CHECK(memcmp(&sc, &sc_ref, sizeof sc) == 0 && s == s_ref && memcmp(q, q_ref, (size_t)n) == 0,
          "%s n=%d: scale %.9g/%.9g sum %d/%d", what, n, sc, sc_ref, s, s_ref);
}

int main(void) {
    if (!bn_cpu_isa_supported(BN_ISA_AVX2))
        return bn_test_skip("test_act_quant_simd", "no AVX2");
    bn_test_rng_state = 0xac7;
    float x[512];
    for (int n = 1; n <= 300; n++) {
        for (int i = 0; i < n; i++)
            x[i] = uniform() * (float)(1 << rng_int(0, 12));
        same(x, n, "random");
        /* values whose product with s lands on k + 0.5: x = 127 * (k + .5) / 127.5 with max 127.5
         */
        for (int i = 0; i < n; i++)
            x[i] = (float)(rng_int(-127, 126)) + 0.5f;
        x[0] = 127.0f;
        same(x, n, "half-way");
        x[n / 2] = NAN;
        same(x, n, "with NaN");
        x[n - 1] = -INFINITY;
        same(x, n, "with -Inf");
        memset(x, 0, sizeof x);
        same(x, n, "zeros");
        for (int i = 0; i < n; i++)
            x[i] = uniform() * 3e38f;
        same(x, n, "huge");
    }
    return bn_test_finish("test_act_quant_simd");
}
#endif
