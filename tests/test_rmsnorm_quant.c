/* test_rmsnorm_quant.c - the fused RMSNorm + int8 quantization equals the two reference steps
 * (bn_ref_rmsnorm, then bn_act_quant_row) bit for bit. */
#include "quant/act_quant.h"
#include "tensor/ops_ref.h"
#include "test.h"

#include <string.h>

static uint64_t state = 0x853C49E6748FEA9Bull;
static float frand(void) {
    state ^= state << 13, state ^= state >> 7, state ^= state << 17;
    return (float)((double)(state >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}

int main(void) {
    const int64_t sizes[] = {1, 2, 7, 255, 2560, 6912};
    static float x[6912], w[6912], y[6912];
    static int8_t q_fused[6912], q_ref[6912];
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        int64_t n = sizes[s];
        for (int trial = 0; trial < 20; trial++) {
            float amp = trial % 4 == 0 ? 1e-4f : (trial % 4 == 1 ? 1e3f : 3.0f);
            for (int64_t i = 0; i < n; i++) {
                x[i] = frand() * amp;
                w[i] = 1.0f + 0.5f * frand();
            }
            if (trial == 5)
                memset(x, 0, (size_t)n * sizeof(float)); /* all zero: eps only */
            for (int with_w = 0; with_w < 2; with_w++) {
                const float *wp = with_w ? w : NULL;
                int32_t sum_f = 0, sum_r = 0;
                float s_f = bn_rmsnorm_quant_row(x, wp, n, 1e-5f, q_fused, &sum_f);
                bn_ref_rmsnorm(y, x, wp, (size_t)n, 1e-5f);
                float s_r = bn_act_quant_row(y, n, q_ref, &sum_r);
                CHECK(memcmp(&s_f, &s_r, sizeof s_f) == 0 && sum_f == sum_r &&
                          memcmp(q_fused, q_ref, (size_t)n) == 0,
                      "n %lld trial %d weight %d: scale %g vs %g, sum %d vs %d", (long long)n,
                      trial, with_w, (double)s_f, (double)s_r, sum_f, sum_r);
            }
        }
    }
    /* a known answer: x = [1, 2, 3, 4], no weight, eps 0 -> y = x / sqrt(7.5), max -> 127 */
    float k[4] = {1, 2, 3, 4};
    int8_t qk[4];
    int32_t sk;
    bn_rmsnorm_quant_row(k, NULL, 4, 0.0f, qk, &sk);
    CHECK(qk[3] == 127 && qk[0] == 32 && qk[1] == 64 && qk[2] == 95 && sk == 318,
          "known answer: %d %d %d %d (sum %d)", qk[0], qk[1], qk[2], qk[3], sk);
    return bn_test_finish("test_rmsnorm_quant");
}
