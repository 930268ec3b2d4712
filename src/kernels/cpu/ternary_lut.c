/*
 * ternary_lut.c - the lookup-table ternary product (layout and contract in ternary_lut.h):
 * packing, table building, the scalar model, the AVX2 kernel and the threaded driver.
 *
 * AVX2 kernel. Per step (two groups, 4 values) and chunk of 32 rows it loads 32 weight bytes
 * and the step's two 32-byte tables (low and high bytes; lane 0 group 2s, lane 1 group 2s+1),
 * splits the bytes into the nibbles of rows 0-15 and rows 16-31 (AND, shift + AND), looks up
 * low and high bytes with four VPSHUFB, and interleaves them into int16 with four VPUNPCK*:
 * rows 0-7, 8-15, 16-23, 24-31, each lane one group. Four VPADDW accumulate. That is 15 vector
 * operations besides the three loads for 128 weight-activation products, the same count as the
 * i2v multiply-add kernel per 128 products of one row; but nine of them (VPSHUFB, VPUNPCK*, the
 * shift) are shuffle-class, which public instruction tables put on two of Zen 3's four vector
 * pipes, so a step costs at least about 4.5 cycles. Tables differ per token, so unlike i2v
 * (whose unpacked codes serve 4 tokens) nothing is shared across tokens when M > 1.
 *
 * Decode prefetch: the first token's pass prefetches PREFETCH_BYTES ahead once per 64-byte line
 * (without it, one noisy run took 1.2-1.6x as long); measured on Zen 3, this loop shape (two
 * steps per iteration, no branch around the prefetch) ran 5-20% faster than one step with a
 * guarded prefetch.
 *
 * Overflow bound. A table entry lies in [-256, 256], and each int16 lane of an accumulator gets
 * one entry per step, so after s steps a lane (and every partial sum) lies in [-256 s, 256 s];
 * int16 holds that for s <= 127 (32512); WIDEN_STEPS = 126 (504 values of K), the largest even
 * count, as the loop takes two steps (one 64-byte line of weights) per iteration. The lanes
 * are then widened to int32 (the two groups' lanes separately, as their sum could overflow).
 * The int32 sums are exact for any K the activation quantizer accepts.
 */
#include "kernels/cpu/ternary_lut.h"

#include "base/alloc.h"

#include <string.h>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

/* Steps whose int16 sums may be added before widening (the overflow bound above). */
#define WIDEN_STEPS 126

/* Decode prefetch distance in bytes of weights (one stream per thread). */
#define PREFETCH_BYTES 2048

bn_status bn_ternary_lut_pack(bn_ternary_lut_matrix *m, const int8_t *t, int64_t rows, int64_t cols,
                              float scale) {
    memset(m, 0, sizeof *m);
    if (rows < 1 || cols < 1)
        return BN_ERROR(BN_ERR_INVALID_ARG, "ternary lut matrix of %lld x %lld", (long long)rows,
                        (long long)cols);
    for (int64_t i = 0; i < rows * cols; i++)
        if (t[i] < -1 || t[i] > 1)
            return BN_ERROR(BN_ERR_RANGE, "ternary value %d at index %lld", t[i], (long long)i);
    int64_t chunks = (rows + BN_LUT_CHUNK_ROWS - 1) / BN_LUT_CHUNK_ROWS;
    int64_t steps = (cols + BN_LUT_STEP_VALUES - 1) / BN_LUT_STEP_VALUES;
    size_t bytes = (size_t)(chunks * steps * BN_LUT_STEP_BYTES);
    uint8_t *data = bn_aligned_alloc(bytes);
    if (data == NULL)
        return BN_ERR_OUT_OF_MEMORY;
    memset(data, 0, bytes); /* the loop below ORs nibbles in */
    for (int64_t c = 0; c < chunks; c++)
        for (int64_t s = 0; s < steps; s++) {
            uint8_t *rec = data + (c * steps + s) * BN_LUT_STEP_BYTES;
            for (int j = 0; j < 2; j++)
                for (int r = 0; r < BN_LUT_CHUNK_ROWS; r++) {
                    int64_t n = c * BN_LUT_CHUNK_ROWS + r, k = 4 * s + 2 * j;
                    /* Code c = w + 1; padding has w = 0. */
                    int c0 = 1, c1 = 1;
                    if (n < rows && k < cols)
                        c0 = t[n * cols + k] + 1;
                    if (n < rows && k + 1 < cols)
                        c1 = t[n * cols + k + 1] + 1;
                    uint8_t index = (uint8_t)(c0 | c1 << 2);
                    uint8_t *byte = rec + 16 * j + (r % 16);
                    *byte |= (uint8_t)(r < 16 ? index : index << 4);
                }
        }
    m->rows = rows;
    m->cols = cols;
    m->chunks = chunks;
    m->steps = steps;
    m->scale = scale;
    m->data = data;
    m->bytes = bytes;
    return BN_OK;
}

void bn_ternary_lut_free(bn_ternary_lut_matrix *m) {
    bn_aligned_free(m->data);
    memset(m, 0, sizeof *m);
}

size_t bn_ternary_lut_tables_bytes(const bn_ternary_lut_matrix *w, int64_t tokens) {
    return (size_t)(tokens * w->steps * BN_LUT_TABLE_BYTES);
}

/* The table record of step s of one token row x (cols values; missing ones are 0). */
static void table_record(const int8_t *x, int64_t cols, int64_t s, uint8_t *rec) {
    for (int j = 0; j < 2; j++) {
        int64_t k = 4 * s + 2 * j;
        int x0 = k < cols ? x[k] : 0, x1 = k + 1 < cols ? x[k + 1] : 0;
        for (int i = 0; i < 16; i++) {
            int c0 = i & 3, c1 = i >> 2;
            int v = c0 < 3 && c1 < 3 ? (c0 - 1) * x0 + (c1 - 1) * x1 : 0;
            uint16_t u = (uint16_t)v;
            rec[16 * j + i] = (uint8_t)(u & 0xff);
            rec[32 + 16 * j + i] = (uint8_t)(u >> 8);
        }
    }
}

void bn_ternary_lut_build_tables_scalar(const bn_ternary_lut_matrix *w, const int8_t *xq,
                                        int64_t x_stride, int64_t m, uint8_t *tables) {
    for (int64_t mi = 0; mi < m; mi++)
        for (int64_t s = 0; s < w->steps; s++)
            table_record(xq + mi * x_stride, w->cols, s,
                         tables + (mi * w->steps + s) * BN_LUT_TABLE_BYTES);
}

/* Scalar model: the same tables and the same lookups, accumulated in int32. */
void bn_ternary_lut_kernel_scalar(const bn_ternary_lut_matrix *w, const uint8_t *tables,
                                  const float *x_scale, int64_t m, int64_t n0, int64_t n1,
                                  float *y) {
    for (int64_t c = n0 / BN_LUT_CHUNK_ROWS; c * BN_LUT_CHUNK_ROWS < n1; c++)
        for (int64_t mi = 0; mi < m; mi++) {
            int32_t acc[BN_LUT_CHUNK_ROWS] = {0};
            for (int64_t s = 0; s < w->steps; s++) {
                const uint8_t *rec = w->data + (c * w->steps + s) * BN_LUT_STEP_BYTES;
                const uint8_t *tab = tables + (mi * w->steps + s) * BN_LUT_TABLE_BYTES;
                for (int j = 0; j < 2; j++)
                    for (int r = 0; r < BN_LUT_CHUNK_ROWS; r++) {
                        uint8_t byte = rec[16 * j + (r % 16)];
                        int index = r < 16 ? byte & 15 : byte >> 4;
                        uint16_t u = (uint16_t)(tab[16 * j + index] |
                                                (uint16_t)tab[32 + 16 * j + index] << 8);
                        acc[r] += (int16_t)u;
                    }
            }
            for (int r = 0; r < BN_LUT_CHUNK_ROWS; r++) {
                int64_t n = c * BN_LUT_CHUNK_ROWS + r;
                if (n < n1 && n < w->rows)
                    y[mi * w->rows + n] = (float)acc[r] * (w->scale / x_scale[mi]);
            }
        }
}

#if defined(__x86_64__)

__attribute__((target("avx2,fma,f16c"))) void
bn_ternary_lut_build_tables_avx2(const bn_ternary_lut_matrix *w, const int8_t *xq, int64_t x_stride,
                                 int64_t m, uint8_t *tables) {
    /* Entry i = a_i x0 + b_i x1 with a_i = c0 - 1, b_i = c1 - 1 (0 for the unused entries);
     * VPSIGNW applies the coefficients in {-1, 0, 1}. */
    const __m256i a = _mm256_setr_epi16(-1, 0, 1, 0, -1, 0, 1, 0, -1, 0, 1, 0, 0, 0, 0, 0);
    const __m256i b = _mm256_setr_epi16(-1, -1, -1, 0, 0, 0, 0, 0, 1, 1, 1, 0, 0, 0, 0, 0);
    const __m256i low = _mm256_set1_epi16(0xff);
    const int64_t full = w->cols / BN_LUT_STEP_VALUES; /* steps without padding */
    for (int64_t mi = 0; mi < m; mi++) {
        const int8_t *x = xq + mi * x_stride;
        uint8_t *tab = tables + mi * w->steps * BN_LUT_TABLE_BYTES;
        for (int64_t s = 0; s < full; s++) {
            const int8_t *xs = x + 4 * s;
            __m256i v0 = _mm256_add_epi16(_mm256_sign_epi16(_mm256_set1_epi16(xs[0]), a),
                                          _mm256_sign_epi16(_mm256_set1_epi16(xs[1]), b));
            __m256i v1 = _mm256_add_epi16(_mm256_sign_epi16(_mm256_set1_epi16(xs[2]), a),
                                          _mm256_sign_epi16(_mm256_set1_epi16(xs[3]), b));
            /* Packing works per lane: lane 0 gets entries 0-7 of v0 then of v1, lane 1 entries
             * 8-15; the permutation puts v0's 16 bytes before v1's. High bytes are -1, 0 or 1,
             * which the signed pack keeps. */
            __m256i lo = _mm256_packus_epi16(_mm256_and_si256(v0, low), _mm256_and_si256(v1, low));
            __m256i hi = _mm256_packs_epi16(_mm256_srai_epi16(v0, 8), _mm256_srai_epi16(v1, 8));
            uint8_t *rec = tab + s * BN_LUT_TABLE_BYTES;
            _mm256_storeu_si256((__m256i *)rec, _mm256_permute4x64_epi64(lo, 0xd8));
            _mm256_storeu_si256((__m256i *)(rec + 32), _mm256_permute4x64_epi64(hi, 0xd8));
        }
        for (int64_t s = full; s < w->steps; s++)
            table_record(x, w->cols, s, tab + s * BN_LUT_TABLE_BYTES);
    }
}

/* The 16 int16 lanes of a (rows r..r+7 of two groups) added as int32 to the 8 rows of acc. */
__attribute__((target("avx2,fma,f16c"))) static inline __m256i widen_add(__m256i acc, __m256i a) {
    acc = _mm256_add_epi32(acc, _mm256_cvtepi16_epi32(_mm256_castsi256_si128(a)));
    return _mm256_add_epi32(acc, _mm256_cvtepi16_epi32(_mm256_extracti128_si256(a, 1)));
}

/* One step: 32 rows x 4 values looked up and added to the int16 sums of rows 0-7, 8-15, 16-23,
 * 24-31 (lane 0 group 2s, lane 1 group 2s + 1). */
__attribute__((target("avx2,fma,f16c"), always_inline)) static inline void
step(const uint8_t *rec, const uint8_t *tab, __m256i *acc0, __m256i *acc1, __m256i *acc2,
     __m256i *acc3) {
    const __m256i nibble = _mm256_set1_epi8(15);
    __m256i idx = _mm256_loadu_si256((const __m256i *)rec);
    __m256i tlo = _mm256_loadu_si256((const __m256i *)tab);
    __m256i thi = _mm256_loadu_si256((const __m256i *)(tab + 32));
    __m256i ilo = _mm256_and_si256(idx, nibble);
    __m256i ihi = _mm256_and_si256(_mm256_srli_epi16(idx, 4), nibble);
    __m256i l = _mm256_shuffle_epi8(tlo, ilo), h = _mm256_shuffle_epi8(thi, ilo);
    *acc0 = _mm256_add_epi16(*acc0, _mm256_unpacklo_epi8(l, h));
    *acc1 = _mm256_add_epi16(*acc1, _mm256_unpackhi_epi8(l, h));
    l = _mm256_shuffle_epi8(tlo, ihi);
    h = _mm256_shuffle_epi8(thi, ihi);
    *acc2 = _mm256_add_epi16(*acc2, _mm256_unpacklo_epi8(l, h));
    *acc3 = _mm256_add_epi16(*acc3, _mm256_unpackhi_epi8(l, h));
}

__attribute__((target("avx2,fma,f16c"))) void
bn_ternary_lut_kernel_avx2(const bn_ternary_lut_matrix *w, const uint8_t *tables,
                           const float *x_scale, int64_t m, int64_t n0, int64_t n1, float *y) {
    const int64_t steps = w->steps, chunk_bytes = steps * BN_LUT_STEP_BYTES;
    const int64_t c0 = n0 / BN_LUT_CHUNK_ROWS;
    const int64_t c1 = (n1 + BN_LUT_CHUNK_ROWS - 1) / BN_LUT_CHUNK_ROWS;
    /* The range's weights are contiguous: the first token's pass streams them from memory. */
    for (int64_t off = 0; off < PREFETCH_BYTES && off < (c1 - c0) * chunk_bytes; off += 64)
        _mm_prefetch((const char *)(w->data + c0 * chunk_bytes + off), _MM_HINT_T0);
    for (int64_t c = c0; c < c1; c++) {
        const uint8_t *wc = w->data + c * chunk_bytes;
        for (int64_t mi = 0; mi < m; mi++) {
            const uint8_t *tab = tables + mi * steps * BN_LUT_TABLE_BYTES;
            /* The first token's pass prefetches ahead; later ones find the chunk in cache (the
             * prefetch then touches the line being read, which costs one instruction). */
            const int64_t pf = mi == 0 ? PREFETCH_BYTES : 0;
            __m256i acc32[4] = {_mm256_setzero_si256(), _mm256_setzero_si256(),
                                _mm256_setzero_si256(), _mm256_setzero_si256()};
            for (int64_t s0 = 0; s0 < steps; s0 += WIDEN_STEPS) {
                int64_t s1 = s0 + WIDEN_STEPS < steps ? s0 + WIDEN_STEPS : steps;
                __m256i acc0 = _mm256_setzero_si256(), acc1 = _mm256_setzero_si256();
                __m256i acc2 = _mm256_setzero_si256(), acc3 = _mm256_setzero_si256();
                int64_t s = s0;
                for (; s + 2 <= s1; s += 2) {
                    const uint8_t *rec = wc + s * BN_LUT_STEP_BYTES;
                    _mm_prefetch((const char *)(rec + pf), _MM_HINT_T0);
                    step(rec, tab + s * BN_LUT_TABLE_BYTES, &acc0, &acc1, &acc2, &acc3);
                    step(rec + BN_LUT_STEP_BYTES, tab + (s + 1) * BN_LUT_TABLE_BYTES, &acc0, &acc1,
                         &acc2, &acc3);
                }
                if (s < s1)
                    step(wc + s * BN_LUT_STEP_BYTES, tab + s * BN_LUT_TABLE_BYTES, &acc0, &acc1,
                         &acc2, &acc3);
                acc32[0] = widen_add(acc32[0], acc0);
                acc32[1] = widen_add(acc32[1], acc1);
                acc32[2] = widen_add(acc32[2], acc2);
                acc32[3] = widen_add(acc32[3], acc3);
            }
            int32_t acc[BN_LUT_CHUNK_ROWS];
            for (int i = 0; i < 4; i++)
                _mm256_storeu_si256((__m256i *)(acc + 8 * i), acc32[i]);
            /* The reference's expression, so the floats match it bit for bit. */
            const float factor = w->scale / x_scale[mi];
            for (int r = 0; r < BN_LUT_CHUNK_ROWS; r++) {
                int64_t n = c * BN_LUT_CHUNK_ROWS + r;
                if (n < n1 && n < w->rows)
                    y[mi * w->rows + n] = (float)acc[r] * factor;
            }
        }
    }
}

#endif /* __x86_64__ */

typedef struct lut_job {
    bn_ternary_lut_kernel_fn kernel;
    const bn_ternary_lut_matrix *w;
    const uint8_t *tables;
    const float *x_scale;
    int64_t m;
    float *y;
} lut_job;

static void run_chunks(void *ctx, size_t begin, size_t end, int thread_id) {
    (void)thread_id;
    const lut_job *j = ctx;
    int64_t n0 = (int64_t)begin * BN_LUT_CHUNK_ROWS, n1 = (int64_t)end * BN_LUT_CHUNK_ROWS;
    j->kernel(j->w, j->tables, j->x_scale, j->m, n0, n1 < j->w->rows ? n1 : j->w->rows, j->y);
}

bn_status bn_ternary_lut_gemm(const bn_ternary_lut_matrix *w, const int8_t *xq, int64_t x_stride,
                              const float *x_scale, int64_t m, uint8_t *tables, float *y,
                              bn_threadpool *pool, bn_isa isa) {
    lut_job job = {NULL, w, tables, x_scale, m, y};
    if (isa == BN_ISA_SCALAR) {
        job.kernel = bn_ternary_lut_kernel_scalar;
        bn_ternary_lut_build_tables_scalar(w, xq, x_stride, m, tables);
    }
#if defined(__x86_64__)
    if (isa == BN_ISA_AVX2 && bn_cpu_isa_supported(BN_ISA_AVX2)) {
        job.kernel = bn_ternary_lut_kernel_avx2;
        bn_ternary_lut_build_tables_avx2(w, xq, x_stride, m, tables);
    }
#endif
    if (job.kernel == NULL)
        return BN_ERROR(BN_ERR_UNSUPPORTED, "no ternary lut kernel for the %s path here",
                        bn_isa_name(isa));
    /* As bn_ternary_gemm: decode streams memory, so long runs of chunks per thread (two per
     * thread for balance); prefill is compute-bound, so single chunks balance best. */
    size_t threads = (size_t)(pool ? bn_threadpool_n_threads(pool) : 1);
    size_t chunk = 1;
    if (m <= 8) {
        chunk = ((size_t)w->chunks + 2 * threads - 1) / (2 * threads);
        if (chunk < 2)
            chunk = 2;
    }
    bn_parallel_for(pool, (size_t)w->chunks, chunk, run_chunks, &job);
    return BN_OK;
}
