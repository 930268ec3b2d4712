/*
 * ceiling.c - int8 multiply-add throughput (contract in ceiling.h).
 *
 * Each thread runs a fixed number of rounds of the kernel's multiply-add into independent
 * accumulators, enough to cover the instructions' latency at two per cycle, with one operand
 * loaded from a 2 KiB buffer (L1) as the kernels load activations, so the compiler cannot hoist
 * the products out of the loop. The accumulators wrap freely (vector lanes do not
 * trap); their sum is kept so the work cannot be dropped.
 */
#include "kernels/cpu/ceiling.h"

#include "base/alloc.h"
#include "base/timer.h"

#include <stdint.h>
#include <string.h>

#if defined(__x86_64__)
#include <immintrin.h>
#endif
#if defined(__aarch64__)
#include <arm_neon.h>
#endif

/* One operand comes from here: 2 KiB, so L1; each round moves 64 bytes along a 256-byte
 * window (every read stays inside the buffer). */
#define BUFFER_BYTES   2048
#define WINDOW(buf, r) ((buf) + ((r)&3) * 64)

typedef int64_t (*round_fn)(const int8_t *buf, int64_t rounds);

/* Named accumulators: GCC keeps an array of them on the stack (each add a load and a store),
 * which would measure the cache, not the multiply-adds. AVX2 uses the first eight (the chain
 * through an accumulator is a 1-cycle VPADDW, and twelve plus temporaries overflow the 16 YMM
 * registers); VPDPBUSD and SDOT chain through their accumulator (3-5 cycles), so AVX-512 and
 * NEON use twelve of their 32. */
#define ACC_DECLARE(type, zero)                                                                    \
    type a0 = zero, a1 = zero, a2 = zero, a3 = zero, a4 = zero, a5 = zero, a6 = zero, a7 = zero,   \
         a8 = zero, a9 = zero, a10 = zero, a11 = zero
#define ACC_FIRST8(STEP)                                                                           \
    STEP(a0, 0) STEP(a1, 1) STEP(a2, 2) STEP(a3, 3) STEP(a4, 4) STEP(a5, 5) STEP(a6, 6) STEP(a7, 7)
#define ACC_ALL(STEP) ACC_FIRST8(STEP) STEP(a8, 8) STEP(a9, 9) STEP(a10, 10) STEP(a11, 11)
/* The sum of the first eight and of all twelve, with add(x, y) of the accumulators' type. */
#define SUM8(add)  add(add(add(a0, a1), add(a2, a3)), add(add(a4, a5), add(a6, a7)))
#define SUM12(add) add(SUM8(add), add(add(a8, a9), add(a10, a11)))

#if defined(__x86_64__)
/* 8 x 32 multiply-adds per round. */
__attribute__((target("avx2"))) static int64_t rounds_avx2(const int8_t *buf, int64_t rounds) {
    const __m256i codes = _mm256_set1_epi8(1);
    __m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0,
            a7 = a0;
    for (int64_t r = 0; r < rounds; r++) {
        const int8_t *x = WINDOW(buf, r);
#define STEP_AVX2(a, j)                                                                            \
    a = _mm256_add_epi16(                                                                          \
        a, _mm256_maddubs_epi16(codes, _mm256_loadu_si256((const __m256i *)(x + 32 * (j)))));
        ACC_FIRST8(STEP_AVX2)
    }
    return _mm256_extract_epi16(SUM8(_mm256_add_epi16), 0);
}

/* 12 x 64 multiply-adds per round. */
__attribute__((target("avx512f,avx512bw,avx512vnni"))) static int64_t
rounds_avx512(const int8_t *buf, int64_t rounds) {
    const __m512i codes = _mm512_set1_epi8(1);
    ACC_DECLARE(__m512i, _mm512_setzero_si512());
    for (int64_t r = 0; r < rounds; r++) {
        const int8_t *x = WINDOW(buf, r);
#define STEP_AVX512(a, j)                                                                          \
    a = _mm512_dpbusd_epi32(a, codes, _mm512_loadu_si512((const void *)(x + 64 * (j))));
        ACC_ALL(STEP_AVX512)
    }
    return _mm512_reduce_add_epi32(SUM12(_mm512_add_epi32));
}
#endif

#if defined(__aarch64__)
#pragma GCC push_options
#pragma GCC target("arch=armv8.2-a+dotprod")
/* 12 x 16 multiply-adds per round. */
static int64_t rounds_neon(const int8_t *buf, int64_t rounds) {
    const int8x16_t codes = vdupq_n_s8(1);
    ACC_DECLARE(int32x4_t, vdupq_n_s32(0));
    for (int64_t r = 0; r < rounds; r++) {
        const int8_t *x = WINDOW(buf, r);
#define STEP_NEON(a, j) a = vdotq_s32(a, codes, vld1q_s8(x + 16 * (j)));
        ACC_ALL(STEP_NEON)
    }
    return vaddvq_s32(SUM12(vaddq_s32));
}
#pragma GCC pop_options
#endif

/* The round function of a path and its multiply-adds per round; NULL when there is none. */
static round_fn rounds_for(bn_isa isa, int *macs_per_round) {
    switch (isa) {
#if defined(__x86_64__)
    case BN_ISA_AVX2:
        *macs_per_round = 8 * 32;
        return rounds_avx2;
    case BN_ISA_AVX512:
        *macs_per_round = 12 * 64;
        return rounds_avx512;
#endif
#if defined(__aarch64__)
    case BN_ISA_NEON:
        *macs_per_round = 12 * 16;
        return rounds_neon;
#endif
    default:
        return NULL;
    }
}

typedef struct ceiling_job {
    /* First, so that with the job 64-byte aligned every load stays inside one cache line (a
     * load split across two would halve the rate measured, as a misaligned buffer did). */
    int8_t buf[BUFFER_BYTES];
    round_fn fn;
    int64_t rounds;
    int64_t sink[256]; /* per thread, so the work cannot be dropped */
} ceiling_job;

static void run_rounds(void *ctx, size_t begin, size_t end, int thread_id) {
    ceiling_job *j = ctx;
    for (size_t i = begin; i < end; i++)
        j->sink[thread_id & 255] += j->fn(j->buf, j->rounds);
}

double bn_measure_int8_ceiling(bn_isa isa, double seconds, int reps, bn_threadpool *pool) {
    int macs_per_round = 0;
    round_fn fn = rounds_for(isa, &macs_per_round);
    if (fn == NULL || !bn_cpu_isa_supported(isa))
        return 0.0;
    ceiling_job *job = bn_aligned_alloc(sizeof *job);
    if (job == NULL)
        return -1.0;
    memset(job, 0, sizeof *job);
    job->fn = fn;
    for (int i = 0; i < BUFFER_BYTES; i++)
        job->buf[i] = (int8_t)(i * 7 - 100);
    size_t threads = (size_t)(pool ? bn_threadpool_n_threads(pool) : 1);
    /* Calibrate on one thread: rounds that take about `seconds`. */
    job->rounds = 1 << 16;
    double t0 = bn_time_s();
    run_rounds(job, 0, 1, 0);
    double dt = bn_time_s() - t0;
    if (dt > 0)
        job->rounds = (int64_t)((double)job->rounds * seconds / dt) + 1;
    double best = 0.0;
    for (int r = 0; r < reps; r++) {
        t0 = bn_time_s();
        bn_parallel_for(pool, threads, 1, run_rounds, job);
        dt = bn_time_s() - t0;
        double gops =
            2.0 * (double)macs_per_round * (double)job->rounds * (double)threads / dt * 1e-9;
        if (gops > best)
            best = gops;
    }
    bn_aligned_free(job);
    return best;
}
