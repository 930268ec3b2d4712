/*
 * test_attention.c - the attention kernel (src/kernels/cpu/attention.h): the scalar reference
 * against a plain double-precision softmax, every SIMD variant against the reference bit for
 * bit (f32 and f16 caches, one chunk and several), the chunks computed in any order (as threads
 * take them) combining to the same bits, a group equal to its heads one by one; and the float
 * dot product (dot.h) likewise, tails included.
 */
#include "test.h"
#include "test_rng.h"

#include "kernels/cpu/attention.h"
#include "kernels/cpu/dot.h"
#include "tensor/half.h"

#include <string.h>

enum { MAX_N = 700, MAX_D = 128, STRIDE = 2 * MAX_D };
enum { MAX_CHUNKS = (MAX_N + BN_ATTN_CHUNK - 1) / BN_ATTN_CHUNK };

static float uniform(void) {
    return (float)((double)(rng_next() >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}

/* softmax(q k^T * scale) v in double, from the values the cache holds. */
static void naive(const float *q, const float *k, const float *v, int n, int d, float scale,
                  double *out) {
    double s[MAX_N], mx = -1e300, sum = 0.0;
    for (int t = 0; t < n; t++) {
        s[t] = 0.0;
        for (int i = 0; i < d; i++)
            s[t] += (double)q[i] * k[t * STRIDE + i];
        s[t] *= scale;
        mx = s[t] > mx ? s[t] : mx;
    }
    for (int t = 0; t < n; t++)
        sum += (s[t] = exp(s[t] - mx));
    for (int i = 0; i < d; i++) {
        out[i] = 0.0;
        for (int t = 0; t < n; t++)
            out[i] += s[t] / sum * v[t * STRIDE + i];
    }
}

static float scores[BN_ATTN_MAX_GROUP * BN_ATTN_CHUNK];
static float partials[MAX_CHUNKS * BN_ATTN_MAX_GROUP * (MAX_D + 2)];

/* g query heads sharing one KV head: each head against a double softmax, and every path
 * against the scalar reference bit for bit (which is the single-head arithmetic per head). */
static void one_case(int n, int d, int g, bool f16) {
    static float q[BN_ATTN_MAX_GROUP * MAX_D], k[MAX_N * STRIDE], v[MAX_N * STRIDE];
    static uint16_t kh[MAX_N * STRIDE], vh[MAX_N * STRIDE];
    static float ref[BN_ATTN_MAX_GROUP * MAX_D], got[BN_ATTN_MAX_GROUP * MAX_D], one[MAX_D];
    double want[MAX_D];
    for (int i = 0; i < g * d; i++)
        q[i] = 3.0f * uniform();
    for (int i = 0; i < n * STRIDE; i++) {
        kh[i] = bn_f32_to_f16(uniform());
        vh[i] = bn_f32_to_f16(uniform());
        /* the f32 cache holds the same values, so both runs have one double answer */
        k[i] = bn_f16_to_f32(kh[i]);
        v[i] = bn_f16_to_f32(vh[i]);
    }
    float scale = 1.0f / sqrtf((float)d);
    bn_attn_args a = {.q = q,
                      .keys = f16 ? (const void *)kh : k,
                      .values = f16 ? (const void *)vh : v,
                      .stride = STRIDE,
                      .f16 = f16,
                      .n = n,
                      .d = d,
                      .n_q = g,
                      .scale = scale,
                      .scores = scores};
    bn_attn_heads(bn_attn_chunk_scalar, &a, partials, ref);
    for (int j = 0; j < g; j++) {
        naive(q + j * d, k, v, n, d, scale, want);
        for (int i = 0; i < d; i++)
            CHECK_NEAR(ref[j * d + i], want[i], 1e-5, "reference vs double");
        /* a group is its heads one by one */
        bn_attn_args single = a;
        single.q = q + j * d;
        single.n_q = 1;
        bn_attn_heads(bn_attn_chunk_scalar, &single, partials, one);
        CHECK(memcmp(one, ref + j * d, (size_t)d * sizeof(float)) == 0, "head %d of %d", j, g);
    }
    /* the chunks computed last to first (another thread order): the same bits */
    int chunks = bn_attn_chunks(n);
    size_t per_chunk = (size_t)g * bn_attn_partial_floats(d);
    for (int c = chunks - 1; c >= 0; c--)
        bn_attn_chunk_scalar(&a, c, partials + (size_t)c * per_chunk);
    bn_attn_combine(partials, chunks, g, d, got);
    CHECK(memcmp(got, ref, (size_t)(g * d) * sizeof(float)) == 0, "chunks in reverse order");
    /* the combination's variants against its scalar reference */
    static float scalar_out[BN_ATTN_MAX_GROUP * MAX_D];
    bn_attn_combine_scalar(partials, chunks, g, d, scalar_out);
    CHECK(memcmp(scalar_out, ref, (size_t)(g * d) * sizeof(float)) == 0,
          "combine: the dispatched path = the scalar reference (n=%d)", n);
#if defined(__x86_64__)
    if (bn_cpu_isa_supported(BN_ISA_AVX2)) {
        bn_attn_combine_avx2(partials, chunks, g, d, got);
        CHECK(memcmp(got, scalar_out, (size_t)(g * d) * sizeof(float)) == 0,
              "combine avx2 = scalar (n=%d d=%d g=%d)", n, d, g);
    }
#endif
    for (int isa = BN_ISA_SCALAR + 1; isa < BN_ISA_COUNT; isa++) {
        if (!bn_cpu_isa_supported((bn_isa)isa))
            continue;
        bn_attn_heads(bn_attn_chunk_for((bn_isa)isa), &a, partials, got);
        CHECK(memcmp(got, ref, (size_t)(g * d) * sizeof(float)) == 0,
              "%s n=%d d=%d g=%d f16=%d: bits differ", bn_isa_name((bn_isa)isa), n, d, g, f16);
    }
}

static void dot_case(int n) {
    static float a[4100], b[4100];
    double want = 0.0;
    for (int i = 0; i < n; i++) {
        a[i] = uniform();
        b[i] = uniform();
        want += (double)a[i] * b[i];
    }
    float ref = bn_dot_f32_scalar(a, b, n);
    CHECK_NEAR(ref, want, 1e-5 * (1 + sqrt((double)n)), "dot reference vs double");
    for (int isa = BN_ISA_SCALAR + 1; isa < BN_ISA_COUNT; isa++)
        if (bn_cpu_isa_supported((bn_isa)isa)) {
            float got = bn_dot_f32_for((bn_isa)isa)(a, b, n);
            CHECK(memcmp(&got, &ref, sizeof got) == 0, "dot %s n=%d: %.9g vs %.9g",
                  bn_isa_name((bn_isa)isa), n, got, ref);
        }
    /* a in f16 / bf16: every path equals the f32 dot over the widened row */
    static uint16_t h[4100], bh[4100];
    static float wide[4100], bwide[4100];
    for (int i = 0; i < n; i++) {
        wide[i] = bn_f16_to_f32(h[i] = bn_f32_to_f16(a[i]));
        bwide[i] = bn_bf16_to_f32(bh[i] = bn_f32_to_bf16(a[i]));
    }
    float want16 = bn_dot_f32_scalar(wide, b, n), want_b16 = bn_dot_f32_scalar(bwide, b, n);
    for (int isa = BN_ISA_SCALAR; isa < BN_ISA_COUNT; isa++)
        if (bn_cpu_isa_supported((bn_isa)isa)) {
            float g16 = bn_dot_f16_for((bn_isa)isa)(h, b, n);
            float gb16 = bn_dot_bf16_for((bn_isa)isa)(bh, b, n);
            CHECK(memcmp(&g16, &want16, sizeof g16) == 0, "f16 dot %s n=%d",
                  bn_isa_name((bn_isa)isa), n);
            CHECK(memcmp(&gb16, &want_b16, sizeof gb16) == 0, "bf16 dot %s n=%d",
                  bn_isa_name((bn_isa)isa), n);
        }
}

int main(void) {
    bn_test_rng_state = 0xa77e;
    int sizes[] = {1, 2, 7, 64, 255, 256, 257, 299, 513, MAX_N};
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++)
        /* powers of two, and head sizes no multiple of 8 (1bitLLM-3B's 100; odd tails) */
        for (int di = 0; di < 10; di++) {
            const int ds[] = {8, 16, 32, 64, 128, 100, 2, 6, 12, 126};
            /* group sizes the eight-at-a-time scoring takes (1, 2, 4, 8) and one it does not */
            const int gs[] = {1, 2, 4, 7, 8};
            for (int gi = 0; gi < 5; gi++) {
                one_case(sizes[s], ds[di], gs[gi], false);
                one_case(sizes[s], ds[di], gs[gi], true);
            }
        }
    int lengths[] = {0, 1, 7, 8, 9, 31, 256, 2560, 4099};
    for (size_t i = 0; i < sizeof lengths / sizeof lengths[0]; i++)
        dot_case(lengths[i]);
    return bn_test_finish("test_attention");
}
