/*
 * cmd_selftest.c - `bitnet selftest [--json]`: run each fast path this machine has against its
 * scalar reference, and the runtime's own invariants, in a second or two. A user's first check
 * that the build is sound on their CPU; `make run` runs it.
 */
#include "cli.h"

#include "base/alloc.h"
#include "base/cpu.h"
#include "base/threadpool.h"
#include "base/timer.h"
#include "kernels/cpu/q8_gemm.h"
#include "kernels/cpu/ternary_gemm.h"
#include "kernels/cuda/cuda.h"
#include "tensor/formats.h"
#include "tensor/half.h"
#include "tensor/ops_ref.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct result {
    char name[96];
    bool passed;
    char detail[160];
    double ms;
} result;

typedef struct report {
    result items[32];
    int n;
} report;

static result *begin(report *r, const char *name) {
    result *it = &r->items[r->n++];
    memset(it, 0, sizeof *it);
    snprintf(it->name, sizeof it->name, "%s", name);
    it->ms = bn_time_s() * 1e3;
    return it;
}

static void end(result *it, bool passed, const char *detail) {
    it->ms = bn_time_s() * 1e3 - it->ms;
    it->passed = passed;
    snprintf(it->detail, sizeof it->detail, "%s", detail);
}

/* All 65,536 half codes, and a sweep of f32 bit patterns, on one path versus scalar. */
static void check_half_path(report *r, bn_isa isa) {
    char name[96], detail[160];
    snprintf(name, sizeof name, "f16/bf16 conversion, %s path vs scalar", bn_isa_name(isa));
    result *it = begin(r, name);
    enum { N = 65536 };
    uint16_t *codes = malloc(N * sizeof *codes), *h_fast = malloc(N * 2), *h_ref = malloc(N * 2);
    float *fast = malloc(N * sizeof *fast), *ref = malloc(N * sizeof *ref);
    if (!codes || !h_fast || !h_ref || !fast || !ref) {
        end(it, false, "out of memory");
        goto out;
    }
    for (int i = 0; i < N; i++)
        codes[i] = (uint16_t)i;
    long bad = 0;
    bn_isa saved = bn_cpu_isa();
    bn_cpu_set_isa(isa);
    for (int kind = 0; kind < 2; kind++) {
        if (kind == 0) {
            bn_f16_to_f32_row(codes, fast, N);
            bn_f16_to_f32_row_ref(codes, ref, N);
        } else {
            bn_bf16_to_f32_row(codes, fast, N);
            bn_bf16_to_f32_row_ref(codes, ref, N);
        }
        bad += memcmp(fast, ref, sizeof(float) * N) != 0;
    }
    uint32_t x = 0x12345678u; /* xorshift over f32 bit patterns, NaNs and Infs included */
    for (int round = 0; round < 16; round++) {
        for (int i = 0; i < N; i++) {
            x ^= x << 13, x ^= x >> 17, x ^= x << 5;
            memcpy(&fast[i], &x, 4);
        }
        bn_f32_to_f16_row(fast, h_fast, N);
        bn_f32_to_f16_row_ref(fast, h_ref, N);
        bad += memcmp(h_fast, h_ref, 2 * N) != 0;
        bn_f32_to_bf16_row(fast, h_fast, N);
        bn_f32_to_bf16_row_ref(fast, h_ref, N);
        bad += memcmp(h_fast, h_ref, 2 * N) != 0;
    }
    bn_cpu_set_isa(saved);
    snprintf(detail, sizeof detail, "%s",
             bad ? "bits differ from the scalar reference"
                 : "65536 codes + 1M random f32, bit-identical");
    end(it, bad == 0, detail);
out:
    free(codes), free(h_fast), free(h_ref), free(fast), free(ref);
}

/* Ternary and Q8_0 products on one path against their references, on awkward sizes. */
static void check_gemm_path(report *r, bn_isa isa) {
    char name[96];
    snprintf(name, sizeof name, "ternary + q8_0 GEMV/GEMM, %s path vs reference", bn_isa_name(isa));
    result *it = begin(r, name);
    enum { N = 67, K = 320, M = 3 };
    static int8_t t[N * K], xq_ref[M * K], xq8[M * K];
    static float x[M * K], y_ref[M * N], y[M * N], xs[M], xd[M * K / 32];
    static int32_t sums[M];
    static bn_block_q8_0 wq[N * K / 32];
    uint32_t s = 0x9E3779B9u;
    for (int i = 0; i < N * K; i++) {
        s = s * 1664525u + 1013904223u;
        t[i] = (int8_t)((s >> 24) % 3) - 1;
    }
    for (int i = 0; i < M * K; i++) {
        s = s * 1664525u + 1013904223u;
        x[i] = (float)((int)(s >> 16) % 2001 - 1000) / 250.0f;
    }
    bn_ternary_matrix w;
    bool packed = bn_ternary_matrix_pack(&w, t, N, K, 0.75f, isa) == BN_OK, ok = packed;
    int8_t *xq = ok ? malloc((size_t)(M * w.cols_padded)) : NULL;
    ok = ok && xq != NULL;
    if (ok) {
        bn_ternary_quantize_acts(&w, x, M, xq, xs, sums);
        for (int m = 0; m < M; m++)
            memcpy(xq_ref + m * K, xq + m * w.cols_padded, K);
        bn_ternary_gemm_ref(t, 0.75f, N, K, xq_ref, xs, M, y_ref);
        ok = bn_ternary_gemm(&w, xq, xs, sums, M, y, NULL) == BN_OK &&
             memcmp(y, y_ref, sizeof y) == 0;
    }
    free(xq);
    if (packed)
        bn_ternary_matrix_free(&w);
    bn_q8_0_from_f32(x, wq, K); /* a few Q8_0 rows, from activations as weights */
    for (int n = 1; n < N; n++)
        memcpy(wq + n * (K / 32), wq, (K / 32) * sizeof *wq);
    bn_q8_quantize_acts(x, M, K, xq8, xd);
    bn_q8_gemm_ref(wq, N, K, xq8, xd, M, y_ref);
    bn_q8_kernel_fn q8 = bn_q8_kernel_for(isa);
    if (ok && q8 != NULL) {
        q8(wq, N, K, xq8, xd, M, 0, N, y);
        ok = memcmp(y, y_ref, sizeof y) == 0;
    }
    end(it, ok, ok ? "bit-identical to the scalar reference" : "results differ from the reference");
}

typedef struct visit_ctx {
    atomic_int *hits;
} visit_ctx;

static void visit(void *ctx, size_t begin_i, size_t end_i, int thread_id) {
    (void)thread_id;
    visit_ctx *v = ctx;
    for (size_t i = begin_i; i < end_i; i++)
        atomic_fetch_add(&v->hits[i], 1);
}

static void check_threadpool(report *r, int threads) {
    char name[96], detail[160];
    snprintf(name, sizeof name, "thread pool, %d threads, parallel_for", threads);
    result *it = begin(r, name);
    enum { N = 100003, CALLS = 200 };
    bn_threadpool *pool = NULL;
    atomic_int *hits = calloc(N, sizeof *hits);
    if (hits == NULL || bn_threadpool_create(threads, &pool) != BN_OK) {
        end(it, false, hits ? bn_last_error() : "out of memory");
        free(hits);
        return;
    }
    visit_ctx ctx = {hits};
    for (int c = 0; c < CALLS; c++)
        bn_parallel_for(pool, N, (size_t)(c % 7) * 97, visit, &ctx);
    long bad = 0;
    for (int i = 0; i < N; i++)
        bad += atomic_load(&hits[i]) != CALLS;
    bn_threadpool_destroy(pool);
    free(hits);
    snprintf(detail, sizeof detail, "%d calls over %d indices: %ld indices visited wrongly", CALLS,
             N, bad);
    end(it, bad == 0, detail);
}

static void check_pool(report *r) {
    result *it = begin(r, "memory pool, alloc/free/reuse statistics");
    bn_pool *pool = bn_pool_create();
    if (pool == NULL) {
        end(it, false, bn_last_error());
        return;
    }
    void *blocks[64];
    bool ok = true;
    for (int round = 0; round < 2 && ok; round++) {
        for (int i = 0; i < 64; i++) {
            blocks[i] = bn_pool_alloc(pool, (size_t)(i * 977 + 1));
            ok = ok && blocks[i] != NULL && ((uintptr_t)blocks[i] % BN_ALIGN) == 0;
            if (blocks[i])
                memset(blocks[i], i, (size_t)(i * 977 + 1));
        }
        for (int i = 0; i < 64; i++)
            bn_pool_free(pool, blocks[i]);
    }
    bn_pool_stats st;
    bn_pool_stats_get(pool, &st);
    ok = ok && st.live_blocks == 0 && st.bytes_in_use == 0 && st.allocations == 128 &&
         st.reuse_hits >= 64;
    char detail[160];
    snprintf(detail, sizeof detail, "128 allocations, %llu reused, %llu live",
             (unsigned long long)st.reuse_hits, (unsigned long long)st.live_blocks);
    ok = bn_pool_destroy(pool) == 0 && ok;
    end(it, ok, detail);
}

static void check_reference_ops(report *r) {
    result *it = begin(r, "reference ops: rmsnorm, softmax, rope identities");
    float x[4] = {1, 2, 3, 4}, o[4];
    bn_ref_rmsnorm(o, x, NULL, 4, 0.0f);
    bool ok = fabsf(o[3] - 4.0f / sqrtf(7.5f)) < 1e-6f;
    float s[3] = {1000.0f, 1000.0f, 1000.0f};
    bn_ref_softmax(s, 3);
    ok = ok && fabsf(s[0] - 1.0f / 3.0f) < 1e-6f;
    float v[4] = {3, -1, 2, 5}, w[4];
    memcpy(w, v, sizeof v);
    bn_ref_rope_neox(w, 1, 4, 4, 7, 10000.0f);
    float norm_before = v[0] * v[0] + v[2] * v[2], norm_after = w[0] * w[0] + w[2] * w[2];
    ok = ok && fabsf(norm_before - norm_after) < 1e-4f; /* a rotation keeps each pair's norm */
    end(it, ok, ok ? "known answers hold" : "a known answer failed");
}

static void check_cuda(report *r) {
    int count = 0;
    const char *why = "";
    if (!bn_cuda_compiled() || bn_cuda_device_count(&count, &why) != BN_OK || count == 0)
        return; /* nothing to test; sysinfo says why */
    result *it = begin(r, "CUDA f16/bf16 conversion vs CPU (65536 codes)");
    enum { N = 65536 };
    uint16_t codes[N];
    static float gpu[N], cpu[N];
    for (int i = 0; i < N; i++)
        codes[i] = (uint16_t)i;
    void *d_src = NULL, *d_dst = NULL;
    bool ok = bn_cuda_malloc(&d_src, sizeof codes) == BN_OK &&
              bn_cuda_malloc(&d_dst, sizeof gpu) == BN_OK &&
              bn_cuda_copy_to_device(d_src, codes, sizeof codes) == BN_OK &&
              bn_cuda_f16_to_f32(d_src, d_dst, N, NULL) == BN_OK &&
              bn_cuda_copy_to_host(gpu, d_dst, sizeof gpu) == BN_OK;
    bn_f16_to_f32_row_ref(codes, cpu, N);
    ok = ok && memcmp(gpu, cpu, sizeof gpu) == 0;
    bn_cuda_free(d_src);
    bn_cuda_free(d_dst);
    end(it, ok, ok ? "bit-identical" : bn_last_error());
}

static int print_report(const report *r, bool json) {
    int failed = 0;
    for (int i = 0; i < r->n; i++)
        failed += !r->items[i].passed;
    if (json) {
        cJSON *root = cJSON_CreateObject();
        cJSON *arr = cJSON_AddArrayToObject(root, "checks");
        for (int i = 0; i < r->n; i++) {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "name", r->items[i].name);
            cJSON_AddBoolToObject(o, "passed", r->items[i].passed);
            cJSON_AddStringToObject(o, "detail", r->items[i].detail);
            cJSON_AddNumberToObject(o, "ms", r->items[i].ms);
            cJSON_AddItemToArray(arr, o);
        }
        cJSON_AddNumberToObject(root, "passed", r->n - failed);
        cJSON_AddNumberToObject(root, "failed", failed);
        if (bn_cli_print_json(root) != 0)
            return 1;
    } else {
        for (int i = 0; i < r->n; i++)
            printf("%-4s %-52s %8.1f ms  %s\n", r->items[i].passed ? "ok" : "FAIL",
                   r->items[i].name, r->items[i].ms, r->items[i].detail);
        printf("%d passed, %d failed\n", r->n - failed, failed);
    }
    return failed ? 1 : 0;
}

int bn_cmd_selftest(int argc, char **argv) {
    bool json = false;
    int threads = bn_cpu_count();
    for (int i = 1; i < argc; i++) {
        if (bn_cli_is_help(argv[i])) {
            printf("usage: bitnet selftest [--json] [-t THREADS]\n\n"
                   "Check each fast path this CPU (and GPU) can run against its scalar reference,\n"
                   "and the thread pool and memory pool invariants. Exit status 1 on a failure.\n");
            return 0;
        } else if (strcmp(argv[i], "--json") == 0) {
            json = true;
        } else {
            bn_cli_opt t = bn_cli_threads_option("selftest", argc, argv, &i, &threads);
            if (t == BN_CLI_BAD)
                return 2;
            if (t == BN_CLI_NOT_MINE)
                return bn_cli_usage_error("selftest", "unknown option '%s'", argv[i]);
        }
    }
    report r = {.n = 0};
    /* Every path up to the one in force (BITNET_CPU caps what is exercised too). */
    for (int isa = BN_ISA_SCALAR + 1; isa <= (int)bn_cpu_isa(); isa++)
        if (bn_cpu_isa_supported((bn_isa)isa))
            check_half_path(&r, (bn_isa)isa);
    for (int isa = BN_ISA_SCALAR; isa <= (int)bn_cpu_isa(); isa++)
        if (bn_cpu_isa_supported((bn_isa)isa) &&
            bn_ternary_kernel_for((bn_isa)isa, BN_TERNARY_I2V) != NULL)
            check_gemm_path(&r, (bn_isa)isa);
    check_threadpool(&r, threads);
    check_pool(&r);
    check_reference_ops(&r);
    check_cuda(&r);
    return print_report(&r, json);
}
