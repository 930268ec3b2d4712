/*
 * test_gated.c - the gated activation's fast paths (kernels/cpu/gated.h) against the scalar
 * reference bn_ref_gated, bit for bit: random values with NaN, infinities, signed zeros and
 * subnormals mixed in, every activation, lengths around the vector width.
 */
#include "test.h"
#include "test_rng.h"

#include "kernels/cpu/gated.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

enum { MAX_N = 6913 };

static float special(int k) {
    const float s[] = {NAN, -NAN, INFINITY, -INFINITY, 0.0f, -0.0f, 1e-40f, -1e-40f, 3e38f};
    return s[k % (int)(sizeof s / sizeof s[0])];
}

int main(void) {
    bn_test_rng_state = 0x9a7ed;
    static float gate[MAX_N], up[MAX_N], want[MAX_N], got[MAX_N];
    const size_t lengths[] = {0, 1, 7, 8, 9, 31, 64, 6912, MAX_N};
    const bn_act acts[] = {BN_ACT_RELU2, BN_ACT_RELU, BN_ACT_SILU};
    int paths = 0;
    for (int isa = 0; isa < BN_ISA_COUNT; isa++) {
        if (!bn_cpu_isa_supported((bn_isa)isa))
            continue;
        bn_gated_fn fn = bn_gated_for((bn_isa)isa);
        paths++;
        for (size_t li = 0; li < sizeof lengths / sizeof lengths[0]; li++)
            for (size_t ai = 0; ai < sizeof acts / sizeof acts[0]; ai++) {
                size_t n = lengths[li];
                for (size_t i = 0; i < n; i++) {
                    gate[i] = (float)rng_int(-4000, 4000) / 997.0f;
                    up[i] = (float)rng_int(-4000, 4000) / 1009.0f;
                    if (rng_int(0, 19) == 0)
                        gate[i] = special(rng_int(0, 8));
                    if (rng_int(0, 29) == 0)
                        up[i] = special(rng_int(0, 8));
                }
                bn_ref_gated(want, gate, up, n, acts[ai]);
                memcpy(got, gate, n * sizeof *got);
                fn(got, up, n, acts[ai]);
                CHECK(memcmp(got, want, n * sizeof *got) == 0, "%s act %d n=%zu: bits differ",
                      bn_isa_name((bn_isa)isa), (int)acts[ai], n);
            }
    }
    CHECK(paths >= 1, "at least the scalar path ran");
    return bn_test_finish("test_gated");
}
