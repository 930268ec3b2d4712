/*
 * bandwidth.c - streaming-read bandwidth. Each thread sums its share of a large buffer with
 * independent chains so the loop is limited by memory, not by the adds. On x86 with AVX2 the
 * loop uses 32-byte loads and software prefetch, as the kernels do: a roofline the kernels can
 * beat (they prefetch) would flatter them, so the probe must read as fast as this CPU can.
 */
#include "kernels/cpu/bandwidth.h"

#include "base/alloc.h"
#include "base/cpu.h"
#include "base/timer.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

typedef struct read_job {
    const uint64_t *words;
    size_t n_words;
    uint64_t sums[256]; /* per thread, so the reads cannot be optimised away */
} read_job;

#if defined(__x86_64__)
/* begin/end in 64-bit words; 16 words (128 bytes) per step, prefetching 1 KiB ahead. */
__attribute__((target("avx2"))) static uint64_t read_avx2(const uint64_t *p, size_t begin,
                                                          size_t end) {
    __m256i s0 = _mm256_setzero_si256(), s1 = s0, s2 = s0, s3 = s0;
    size_t i = begin;
    for (; i + 16 <= end; i += 16) {
        _mm_prefetch((const char *)(p + i) + 1024, _MM_HINT_T0);
        s0 = _mm256_add_epi64(s0, _mm256_loadu_si256((const __m256i *)(p + i)));
        s1 = _mm256_add_epi64(s1, _mm256_loadu_si256((const __m256i *)(p + i + 4)));
        s2 = _mm256_add_epi64(s2, _mm256_loadu_si256((const __m256i *)(p + i + 8)));
        s3 = _mm256_add_epi64(s3, _mm256_loadu_si256((const __m256i *)(p + i + 12)));
    }
    s0 = _mm256_add_epi64(_mm256_add_epi64(s0, s1), _mm256_add_epi64(s2, s3));
    uint64_t s = (uint64_t)_mm256_extract_epi64(s0, 0) + (uint64_t)_mm256_extract_epi64(s0, 3);
    for (; i < end; i++)
        s += p[i];
    return s;
}
#endif

static void read_range(void *ctx, size_t begin, size_t end, int thread_id) {
    read_job *j = ctx;
    const uint64_t *p = j->words;
#if defined(__x86_64__)
    if (bn_cpu_isa_supported(BN_ISA_AVX2)) {
        j->sums[thread_id & 255] += read_avx2(p, begin, end);
        return;
    }
#endif
    uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0, s4 = 0, s5 = 0, s6 = 0, s7 = 0;
    size_t i = begin;
    for (; i + 8 <= end; i += 8) {
        s0 += p[i];
        s1 += p[i + 1];
        s2 += p[i + 2];
        s3 += p[i + 3];
        s4 += p[i + 4];
        s5 += p[i + 5];
        s6 += p[i + 6];
        s7 += p[i + 7];
    }
    for (; i < end; i++)
        s0 += p[i];
    j->sums[thread_id & 255] += s0 + s1 + s2 + s3 + s4 + s5 + s6 + s7;
}

double bn_measure_read_bandwidth(size_t bytes, int reps, bn_threadpool *pool) {
    size_t n = bytes / sizeof(uint64_t);
    uint64_t *buf = bn_aligned_alloc(n * sizeof(uint64_t));
    if (buf == NULL)
        return -1.0;
    for (size_t i = 0; i < n; i++) /* touch every page so no zero-page mapping is measured */
        buf[i] = i * 0x9E3779B97F4A7C15ull;
    read_job job;
    memset(&job, 0, sizeof job);
    job.words = buf;
    job.n_words = n;
    int threads = pool ? bn_threadpool_n_threads(pool) : 1;
    size_t chunk = n / (size_t)threads + 1; /* one contiguous stream per thread */
    double best = 0.0;
    for (int r = 0; r <= reps; r++) {
        double t0 = bn_time_s();
        bn_parallel_for(pool, n, chunk, read_range, &job);
        double dt = bn_time_s() - t0;
        double gbs = (double)(n * sizeof(uint64_t)) / dt * 1e-9;
        if (r > 0 && gbs > best) /* the first pass is a warm-up */
            best = gbs;
    }
    bn_aligned_free(buf);
    volatile uint64_t sink = job.sums[0];
    (void)sink;
    return best;
}

size_t bn_llc_bytes(void) {
#ifdef _SC_LEVEL3_CACHE_SIZE
    long l3 = sysconf(_SC_LEVEL3_CACHE_SIZE);
    if (l3 > 0)
        return (size_t)l3;
#endif
    /* /sys: the largest cache level of cpu0 */
    size_t best = 0;
    for (int idx = 0; idx < 8; idx++) {
        char path[128], text[64];
        snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu0/cache/index%d/size", idx);
        FILE *f = fopen(path, "r");
        if (f == NULL)
            break;
        if (fgets(text, sizeof text, f) != NULL) {
            size_t v = 0;
            char unit = 0;
            if (sscanf(text, "%zu%c", &v, &unit) >= 1) {
                v *= unit == 'K' ? 1024u : (unit == 'M' ? 1024u * 1024u : 1u);
                if (v > best)
                    best = v;
            }
        }
        fclose(f);
    }
    return best ? best : (size_t)32 << 20;
}

size_t bn_bandwidth_probe_bytes(void) {
    size_t bytes = 4 * bn_llc_bytes();
    if (bytes < ((size_t)512 << 20))
        bytes = (size_t)512 << 20;
    if (bytes > ((size_t)2 << 30))
        bytes = (size_t)2 << 30;
    return bytes;
}
