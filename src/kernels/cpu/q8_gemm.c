/*
 * q8_gemm.c - activation quantization, the reference and scalar kernel, and the multithreaded
 * dispatcher of the Q8_0 products (contract in q8_gemm.h). ISA variants live in q8_<isa>.c.
 */
#include "kernels/cpu/q8_gemm.h"

#include "tensor/formats.h"
#include "tensor/half.h"

#include <math.h>
#include <string.h>

static_assert(BN_Q8_BLOCK == BN_QK8_0, "activation blocks match the weight blocks");

/* Codes of one block, as bn_q8_0_from_f32 computes them: the same float32 operations in the
 * same order (d = absmax / 127, id = 1/d, q = roundf(x * id)), so the codes agree bit for bit.
 * roundf rounds half away from zero like ggml's. For finite x, |x * id| cannot exceed 127 by
 * more than a rounding error; the clamp and the NaN test keep the float-to-int conversion
 * defined for any input. */
static float quantize_block(const float *x, int8_t *q) {
    float amax = 0.0f;
    for (int j = 0; j < BN_Q8_BLOCK; j++) {
        float a = fabsf(x[j]);
        if (a > amax)
            amax = a;
    }
    float d = amax / 127.0f;
    float id = d != 0.0f ? 1.0f / d : 0.0f;
    for (int j = 0; j < BN_Q8_BLOCK; j++) {
        float v = x[j] * id;
        float r = isnan(v) ? 0.0f : roundf(v);
        q[j] = (int8_t)(r < -127.0f ? -127 : (r > 127.0f ? 127 : (int)r));
    }
    return d;
}

void bn_q8_quantize_acts(const float *x, int64_t m, int64_t k, int8_t *xq, float *xd) {
    int64_t blocks = m * (k / BN_Q8_BLOCK);
    for (int64_t i = 0; i < blocks; i++)
        xd[i] = quantize_block(x + i * BN_Q8_BLOCK, xq + i * BN_Q8_BLOCK);
}

/* One output of the specification in q8_gemm.h: W row `row` (nb blocks) against one
 * activation row. */
static float dot_row(const bn_block_q8_0 *row, const int8_t *x, const float *xd, int64_t nb) {
    float acc[8] = {0};
    for (int64_t b = 0; b < nb; b++) {
        float s = bn_f16_to_f32(row[b].d) * xd[b];
        const int8_t *xb = x + b * BN_Q8_BLOCK;
        for (int l = 0; l < 8; l++) {
            int32_t p = 0;
            for (int j = 4 * l; j < 4 * l + 4; j++)
                p += (int32_t)row[b].qs[j] * xb[j];
            acc[l] = fmaf(s, (float)p, acc[l]);
        }
    }
    return ((acc[0] + acc[4]) + (acc[2] + acc[6])) + ((acc[1] + acc[5]) + (acc[3] + acc[7]));
}

void bn_q8_kernel_scalar(const void *w, int64_t n, int64_t k, const int8_t *xq, const float *xd,
                         int64_t m, int64_t n0, int64_t n1, float *y) {
    int64_t nb = k / BN_Q8_BLOCK;
    const bn_block_q8_0 *blocks = w;
    for (int64_t row = n0; row < n1; row++)
        for (int64_t mi = 0; mi < m; mi++)
            y[mi * n + row] = dot_row(blocks + row * nb, xq + mi * k, xd + mi * nb, nb);
}

void bn_q8_gemm_ref(const void *w, int64_t n, int64_t k, const int8_t *xq, const float *xd,
                    int64_t m, float *y) {
    bn_q8_kernel_scalar(w, n, k, xq, xd, m, 0, n, y);
}

static int64_t min64(int64_t a, int64_t b) {
    return a < b ? a : b;
}

void bn_q8_run_tiles(const bn_q8_tiles *tiles, const void *w, int64_t n, int64_t k,
                     const int8_t *xq, const float *xd, int64_t m, int64_t n0, int64_t n1,
                     float *y) {
    const bn_block_q8_0 *blocks = w;
    int64_t nb = k / BN_Q8_BLOCK;
    bool gemv = m == 1;
    int rows = gemv ? tiles->gemv_rows : tiles->gemm_rows, tokens = gemv ? 1 : tiles->gemm_tokens;
    bn_q8_tile_fn run = gemv ? tiles->gemv : tiles->gemm;
    for (int64_t row0 = n0; row0 < n1; row0 += rows) {
        const bn_block_q8_0 *wr[BN_Q8_MAX_TILE_SIDE], *ahead[BN_Q8_MAX_TILE_SIDE];
        for (int r = 0; r < rows; r++) {
            wr[r] = blocks + min64(row0 + r, n1 - 1) * nb;
            ahead[r] = blocks + min64(row0 + r + tiles->prefetch_rows, n1 - 1) * nb;
        }
        for (int64_t t0 = 0; t0 < m; t0 += tokens) {
            const int8_t *xr[BN_Q8_MAX_TILE_SIDE];
            const float *dr[BN_Q8_MAX_TILE_SIDE];
            for (int t = 0; t < tokens; t++) {
                int64_t ti = min64(t0 + t, m - 1);
                xr[t] = xq + ti * k;
                dr[t] = xd + ti * nb;
            }
            float out[BN_Q8_MAX_TILE_SIDE * BN_Q8_MAX_TILE_SIDE];
            run(wr, ahead, xr, dr, nb, out);
            for (int r = 0; r < rows && row0 + r < n1; r++)
                for (int t = 0; t < tokens && t0 + t < m; t++)
                    y[(t0 + t) * n + row0 + r] = out[r * tokens + t];
        }
    }
}

bn_q8_kernel_fn bn_q8_kernel_for(bn_isa isa) {
    switch (isa) {
    case BN_ISA_SCALAR:
        return bn_q8_kernel_scalar;
#if defined(__x86_64__)
    case BN_ISA_AVX2:
        return bn_q8_kernel_avx2;
    case BN_ISA_AVX512:
        return bn_q8_kernel_avx512;
#endif
    default:
        return NULL;
    }
}

typedef struct q8_job {
    bn_q8_kernel_fn kernel;
    const void *w;
    int64_t n, k;
    const int8_t *xq;
    const float *xd;
    int64_t m;
    float *y;
} q8_job;

static void run_rows(void *ctx, size_t begin, size_t end, int thread_id) {
    (void)thread_id;
    const q8_job *j = ctx;
    j->kernel(j->w, j->n, j->k, j->xq, j->xd, j->m, (int64_t)begin, (int64_t)end, j->y);
}

bn_status bn_q8_gemm(const void *w, int64_t n, int64_t k, const int8_t *xq, const float *xd,
                     int64_t m, float *y, bn_threadpool *pool) {
    if (n <= 0 || k <= 0 || m <= 0 || k % BN_Q8_BLOCK != 0)
        return BN_ERROR(BN_ERR_SHAPE,
                        "q8_0 gemm: W [%lld, %lld] x [%lld, %lld]: dimensions must be > 0 and "
                        "K a multiple of %d",
                        (long long)n, (long long)k, (long long)m, (long long)k, BN_Q8_BLOCK);
    bn_q8_kernel_fn kernel = bn_q8_kernel_for(bn_cpu_isa());
    if (kernel == NULL)
        kernel = bn_q8_kernel_scalar;
    q8_job job = {kernel, w, n, k, xq, xd, m, y};
    /* Rows per chunk. A GEMV streams W once: large chunks, because each kernel call's
     * software prefetch runs a few rows ahead and stops at the end of its range (256 rows of
     * 2720 bytes for the output head: 501 chunks, plenty to balance 16 threads). A GEMM rereads
     * a chunk's rows for every token, so 16 rows (43 KB) stay in L1/L2 meanwhile. Multiples of
     * 4, the row tile of every variant. */
    size_t chunk = m == 1 ? 256 : 16;
    bn_parallel_for(pool, (size_t)n, chunk, run_rows, &job);
    return BN_OK;
}
