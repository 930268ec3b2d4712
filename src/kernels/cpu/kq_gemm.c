/*
 * kq_gemm.c - activation quantization, the reference and scalar kernels, the tile loop and the
 * multithreaded dispatcher of the Q6_K / Q4_K products (contract in kq_gemm.h). ISA variants
 * live in kq_<isa>.c.
 */
#include "kernels/cpu/kq_gemm.h"

#include "tensor/half.h"

#include <math.h>
#include <string.h>

static_assert(BN_KQ_BLOCK == BN_QKK, "activation blocks match the weight super-blocks");

bn_status bn_kq_acts_bytes(int64_t m, int64_t k, size_t *out) {
    if (m <= 0 || k <= 0 || k % BN_KQ_BLOCK != 0)
        return BN_ERROR(BN_ERR_SHAPE,
                        "k-quant activations [%lld, %lld]: dimensions must be > 0 and K a "
                        "multiple of %d",
                        (long long)m, (long long)k, BN_KQ_BLOCK);
    uint64_t blocks = (uint64_t)(k / BN_KQ_BLOCK);
    if (blocks > SIZE_MAX / sizeof(bn_kq_act_block) / (uint64_t)m)
        return BN_ERROR(BN_ERR_RANGE, "k-quant activations [%lld, %lld] overflow size_t",
                        (long long)m, (long long)k);
    *out = (size_t)((uint64_t)m * blocks) * sizeof(bn_kq_act_block);
    return BN_OK;
}

/* One block: the same float32 operations as bn_q8_quantize_acts (d = absmax / 127, id = 1/d,
 * q = roundf(x * id), half away from zero), with the clamp and NaN test that keep the
 * conversion defined for any input; then the integer sums. */
static void quantize_block(const float *x, bn_kq_act_block *a) {
    float amax = 0.0f;
    for (int j = 0; j < BN_KQ_BLOCK; j++) {
        float v = fabsf(x[j]);
        if (v > amax)
            amax = v;
    }
    float d = amax / 127.0f;
    float id = d != 0.0f ? 1.0f / d : 0.0f;
    for (int j = 0; j < BN_KQ_BLOCK; j++) {
        float v = x[j] * id;
        float r = isnan(v) ? 0.0f : roundf(v);
        a->q[j] = (int8_t)(r < -127.0f ? -127 : (r > 127.0f ? 127 : (int)r));
    }
    for (int i = 0; i < BN_KQ_BLOCK / 2; i++)
        a->pair32[i] = (int16_t)(32 * (a->q[2 * i] + a->q[2 * i + 1]));
    for (int j = 0; j < BN_KQ_BLOCK / 32; j++) {
        int s = 0;
        for (int e = 32 * j; e < 32 * j + 32; e++)
            s += a->q[e];
        a->sum32[j] = (int16_t)s;
    }
    a->d = d;
    memset(a->pad, 0, sizeof a->pad);
}

bn_status bn_kq_quantize_acts(const float *x, int64_t m, int64_t k, bn_kq_act_block *acts) {
    size_t bytes;
    BN_TRY(bn_kq_acts_bytes(m, k, &bytes));
    int64_t blocks = m * (k / BN_KQ_BLOCK);
    for (int64_t i = 0; i < blocks; i++)
        quantize_block(x + i * BN_KQ_BLOCK, &acts[i]);
    return BN_OK;
}

bool bn_kq_gemm_supports(bn_dtype type) {
    return type == BN_DTYPE_Q6_K || type == BN_DTYPE_Q4_K;
}

/* ---- the specification, one output at a time --------------------------------------------- */

/* H(a) of kq_gemm.h. */
static float hsum8(const float a[8]) {
    return ((a[0] + a[4]) + (a[2] + a[6])) + ((a[1] + a[5]) + (a[3] + a[7]));
}

static float q6_k_dot(const bn_block_q6_k *row, const bn_kq_act_block *x, int64_t nb) {
    float acc[8] = {0};
    uint8_t u[BN_QKK];
    for (int64_t b = 0; b < nb; b++) {
        bn_q6_k_codes(&row[b], u);
        int32_t p[8] = {0};
        for (int e = 0; e < BN_QKK; e++)
            p[(e >> 2) & 7] += (int32_t)row[b].scales[e >> 4] * (u[e] - 32) * x[b].q[e];
        float s = bn_f16_to_f32(row[b].d) * x[b].d;
        for (int l = 0; l < 8; l++)
            acc[l] = fmaf(s, (float)p[l], acc[l]);
    }
    return hsum8(acc);
}

/* The sums S_j come from the codes here, not from the block's sum32, so that the reference
 * also checks what bn_kq_quantize_acts stored. */
static float q4_k_dot(const bn_block_q4_k *row, const bn_kq_act_block *x, int64_t nb) {
    float acc[8] = {0}, mac[8] = {0};
    uint8_t u[BN_QKK], sc[8], mn[8];
    for (int64_t b = 0; b < nb; b++) {
        bn_q4_k_codes(&row[b], u);
        bn_q4_k_scale_min(row[b].scales, sc, mn);
        int32_t p[8] = {0}, s_sum[8] = {0};
        for (int e = 0; e < BN_QKK; e++) {
            p[(e >> 2) & 7] += (int32_t)sc[e >> 5] * u[e] * x[b].q[e];
            s_sum[e >> 5] += x[b].q[e];
        }
        float s = bn_f16_to_f32(row[b].d) * x[b].d;
        float t = bn_f16_to_f32(row[b].dmin) * x[b].d;
        for (int l = 0; l < 8; l++) {
            acc[l] = fmaf(s, (float)p[l], acc[l]);
            mac[l] = fmaf(t, (float)(mn[l] * s_sum[l]), mac[l]);
        }
    }
    return hsum8(acc) - hsum8(mac);
}

void bn_q6_k_kernel_scalar(const void *w, int64_t n, int64_t k, const bn_kq_act_block *acts,
                           int64_t m, int64_t n0, int64_t n1, float *y) {
    int64_t nb = k / BN_KQ_BLOCK;
    const bn_block_q6_k *blocks = w;
    for (int64_t row = n0; row < n1; row++)
        for (int64_t mi = 0; mi < m; mi++)
            y[mi * n + row] = q6_k_dot(blocks + row * nb, acts + mi * nb, nb);
}

void bn_q4_k_kernel_scalar(const void *w, int64_t n, int64_t k, const bn_kq_act_block *acts,
                           int64_t m, int64_t n0, int64_t n1, float *y) {
    int64_t nb = k / BN_KQ_BLOCK;
    const bn_block_q4_k *blocks = w;
    for (int64_t row = n0; row < n1; row++)
        for (int64_t mi = 0; mi < m; mi++)
            y[mi * n + row] = q4_k_dot(blocks + row * nb, acts + mi * nb, nb);
}

void bn_kq_gemm_ref(bn_dtype type, const void *w, int64_t n, int64_t k, const bn_kq_act_block *acts,
                    int64_t m, float *y) {
    if (type == BN_DTYPE_Q6_K)
        bn_q6_k_kernel_scalar(w, n, k, acts, m, 0, n, y);
    else
        bn_q4_k_kernel_scalar(w, n, k, acts, m, 0, n, y);
}

/* ---- tiles and dispatch ------------------------------------------------------------------- */

static int64_t min64(int64_t a, int64_t b) {
    return a < b ? a : b;
}

/* A GEMM walks rows in groups of ROW_GROUP: every token tile runs over the group's row tiles
 * before the next group, so the group's weights (34 KB of Q6_K at K = 2560) stay in L1/L2 while
 * all tokens pass, and a token tile's activations (4 x 5.8 KB) stay in L1 across the group's
 * rows. Walking all tokens per row tile instead streams every token's activations from L2 once
 * per row tile, which at M = 32 made the 1-row Q6_K tile half as fast. */
enum { ROW_GROUP = 16 };

void bn_kq_run_tiles(const bn_kq_tiles *tiles, const void *w, int64_t n, int64_t k,
                     const bn_kq_act_block *acts, int64_t m, int64_t n0, int64_t n1, float *y) {
    const uint8_t *base = w;
    int64_t nb = k / BN_KQ_BLOCK;
    size_t row_bytes = (size_t)nb * tiles->block_bytes;
    bool gemv = m == 1;
    int rows = gemv ? tiles->gemv_rows : tiles->gemm_rows, tokens = gemv ? 1 : tiles->gemm_tokens;
    bn_kq_tile_fn run = gemv ? tiles->gemv : tiles->gemm;
    int64_t group = gemv ? n1 - n0 : ROW_GROUP;
    for (int64_t g0 = n0; g0 < n1; g0 += group) {
        int64_t g1 = min64(g0 + group, n1);
        for (int64_t t0 = 0; t0 < m; t0 += tokens) {
            const bn_kq_act_block *xr[BN_KQ_MAX_TILE_SIDE];
            for (int t = 0; t < tokens; t++)
                xr[t] = acts + min64(t0 + t, m - 1) * nb;
            for (int64_t row0 = g0; row0 < g1; row0 += rows) {
                const uint8_t *wr[BN_KQ_MAX_TILE_SIDE], *ahead[BN_KQ_MAX_TILE_SIDE];
                for (int r = 0; r < rows; r++) {
                    wr[r] = base + (size_t)min64(row0 + r, g1 - 1) * row_bytes;
                    ahead[r] =
                        base + (size_t)min64(row0 + r + tiles->prefetch_rows, n1 - 1) * row_bytes;
                }
                float out[BN_KQ_MAX_TILE_SIDE * BN_KQ_MAX_TILE_SIDE];
                run(wr, ahead, xr, nb, out);
                for (int r = 0; r < rows && row0 + r < g1; r++)
                    for (int t = 0; t < tokens && t0 + t < m; t++)
                        y[(t0 + t) * n + row0 + r] = out[r * tokens + t];
            }
        }
    }
}

bn_kq_kernel_fn bn_kq_kernel_for(bn_dtype type, bn_isa isa) {
    bool q6 = type == BN_DTYPE_Q6_K;
    if (!bn_kq_gemm_supports(type))
        return NULL;
    switch (isa) {
    case BN_ISA_SCALAR:
        return q6 ? bn_q6_k_kernel_scalar : bn_q4_k_kernel_scalar;
#if defined(__x86_64__)
    case BN_ISA_AVX2:
        return q6 ? bn_q6_k_kernel_avx2 : bn_q4_k_kernel_avx2;
    case BN_ISA_AVX512:
        return q6 ? bn_q6_k_kernel_avx512 : bn_q4_k_kernel_avx512;
#endif
    default:
        return NULL;
    }
}

typedef struct kq_job {
    bn_kq_kernel_fn kernel;
    const void *w;
    int64_t n, k;
    const bn_kq_act_block *acts;
    int64_t m;
    float *y;
} kq_job;

static void run_rows(void *ctx, size_t begin, size_t end, int thread_id) {
    (void)thread_id;
    const kq_job *j = ctx;
    j->kernel(j->w, j->n, j->k, j->acts, j->m, (int64_t)begin, (int64_t)end, j->y);
}

bn_status bn_kq_gemm(bn_dtype type, const void *w, int64_t n, int64_t k,
                     const bn_kq_act_block *acts, int64_t m, float *y, bn_threadpool *pool) {
    if (!bn_kq_gemm_supports(type))
        return BN_ERROR(BN_ERR_DTYPE, "k-quant gemm: weights of type %s (want q6_k or q4_k)",
                        bn_dtype_name(type));
    if (n <= 0 || k <= 0 || m <= 0 || k % BN_KQ_BLOCK != 0)
        return BN_ERROR(BN_ERR_SHAPE,
                        "%s gemm: W [%lld, %lld] x [%lld, %lld]: dimensions must be > 0 and K a "
                        "multiple of %d",
                        bn_dtype_name(type), (long long)n, (long long)k, (long long)m, (long long)k,
                        BN_KQ_BLOCK);
    bn_kq_kernel_fn kernel = bn_kq_kernel_for(type, bn_cpu_isa());
    if (kernel == NULL)
        kernel = bn_kq_kernel_for(type, BN_ISA_SCALAR);
    kq_job job = {kernel, w, n, k, acts, m, y};
    /* Rows per chunk: 256 (501 chunks of 537 KB for a Q6_K head, plenty to balance 16
     * threads). Each kernel call prefetches a few rows ahead (its ISA file's PREFETCH_ROWS) but
     * stops at the end of
     * its range, so small chunks leave the first rows of each one to the hardware prefetchers;
     * a GEMM gains nothing from small chunks either, since the tiles run all tokens over one
     * row tile before the next (the rows stay in L1). 16-row chunks made the Q6_K GEMM at M = 8
     * about 40% slower on the 2-core CI machine. A multiple of every variant's row tile. */
    size_t chunk = 256;
    bn_parallel_for(pool, (size_t)n, chunk, run_rows, &job);
    return BN_OK;
}
