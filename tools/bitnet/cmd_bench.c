/*
 * cmd_bench.c - `bitnet bench kernels`: the ternary GEMV/GEMM kernels on the 2B-4T shapes,
 * beside the machine's read bandwidth and int8 multiply-add ceiling, measured in the same run
 * with the same threads: GEMVs are judged against the first (%bw), GEMMs against the second
 * (%peak).
 *
 * GEMVs cycle through enough distinct copies of the weights that the working set is several
 * times the last-level cache, as in a real decode step where each weight is read once per
 * token; GEMMs are compute-bound and reuse one copy.
 */
#include "cli.h"

#include "base/alloc.h"
#include "base/timer.h"
#include "kernels/cpu/bandwidth.h"
#include "kernels/cpu/ceiling.h"
#include "kernels/cpu/kq_gemm.h"
#include "kernels/cpu/q8_gemm.h"
#include "kernels/cpu/ternary_gemm.h"
#include "tensor/formats.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct shape {
    int64_t n, k;
    const char *what;
} shape;

/* microsoft/bitnet-b1.58-2B-4T: q/o, k/v, gate/up, down. */
static const shape shapes[] = {
    {2560, 2560, "attn q/o"},
    {640, 2560, "attn k/v"},
    {6912, 2560, "ffn gate/up"},
    {2560, 6912, "ffn down"},
};
static const int64_t batch_sizes[] = {1, 8, 32, 128, 512};

typedef struct bench_opts {
    int threads;
    bool json, quick;
    bool isas[BN_ISA_COUNT];
} bench_opts;

typedef struct result {
    const char *op;
    int64_t n, k, m;
    bn_isa isa;
    const char *layout;
    double bits;
    double ms, gops, gbs;
} result;

/* The output head: 128256 x 2560 in Q8_0 (not ternary; a third of a decode step's bytes). */
static const shape head_shape = {128256, 2560, "head (q8_0)"};

/* Inputs for one shape and path: packed copies of one random ternary matrix, activations. */
typedef struct workload {
    bn_ternary_matrix *copies;
    int n_copies;
    int8_t *xq;
    float *xs, *y;
    int32_t *sums;
} workload;

static uint64_t rng = 0x2545F4914F6CDD1Dull;
static uint32_t next_rand(void) {
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return (uint32_t)(rng >> 32);
}

static bn_status make_workload(workload *w, const shape *s, bn_isa isa, bn_ternary_layout layout,
                               int64_t max_m, size_t working_set) {
    memset(w, 0, sizeof *w);
    int8_t *t = malloc((size_t)(s->n * s->k));
    if (t == NULL)
        return BN_ERROR(BN_ERR_OUT_OF_MEMORY, "bench: %lld weights", (long long)(s->n * s->k));
    for (int64_t i = 0; i < s->n * s->k; i++)
        t[i] = (int8_t)(next_rand() % 3) - 1;
    bn_ternary_matrix first;
    bn_status st = bn_ternary_matrix_pack_layout(&first, t, s->n, s->k, 0.5f, isa, layout);
    free(t);
    BN_TRY(st);
    w->n_copies = (int)(working_set / first.bytes + 1);
    w->copies = calloc((size_t)w->n_copies, sizeof *w->copies);
    if (w->copies == NULL)
        return BN_ERROR(BN_ERR_OUT_OF_MEMORY, "bench: copies");
    w->copies[0] = first;
    for (int c = 1; c < w->n_copies; c++) { /* same values, distinct memory */
        w->copies[c] = first;
        w->copies[c].data = bn_aligned_alloc(first.bytes);
        if (w->copies[c].data == NULL)
            return BN_ERR_OUT_OF_MEMORY;
        memcpy(w->copies[c].data, first.data, first.bytes);
    }
    int64_t kp = first.cols_padded;
    w->xq = bn_aligned_alloc((size_t)(max_m * kp));
    w->xs = bn_aligned_alloc((size_t)max_m * sizeof(float));
    w->sums = bn_aligned_alloc((size_t)max_m * sizeof(int32_t));
    w->y = bn_aligned_alloc((size_t)(max_m * s->n) * sizeof(float));
    if (!w->xq || !w->xs || !w->sums || !w->y)
        return BN_ERR_OUT_OF_MEMORY;
    for (int64_t i = 0; i < max_m * kp; i++)
        w->xq[i] = (int8_t)(next_rand() % 255 - 127);
    for (int64_t i = 0; i < max_m; i++) {
        w->xs[i] = 1.0f + (float)i;
        w->sums[i] = 0;
    }
    return BN_OK;
}

static void free_workload(workload *w) {
    for (int c = 0; c < w->n_copies; c++)
        bn_ternary_matrix_free(&w->copies[c]);
    free(w->copies);
    bn_aligned_free(w->xq);
    bn_aligned_free(w->xs);
    bn_aligned_free(w->sums);
    bn_aligned_free(w->y);
    memset(w, 0, sizeof *w);
}

/* One product of m tokens, on weight copy c. */
typedef bn_status (*product_fn)(void *ctx, int c, int64_t m);

/* Median seconds of one product over enough repetitions to fill min_seconds (at least 3). A
 * GEMV cycles through the weight copies (so it streams from memory, as in decode), a GEMM
 * reuses the first. */
static bn_status median_seconds(product_fn fn, void *ctx, int copies, int64_t m, double min_seconds,
                                double *sec) {
    double times[4096];
    int reps = 0;
    double start = bn_time_s();
    while (reps < 4096 && (reps < 3 || bn_time_s() - start < min_seconds)) {
        double t0 = bn_time_s();
        BN_TRY(fn(ctx, m == 1 ? reps % copies : 0, m));
        times[reps++] = bn_time_s() - t0;
    }
    for (int i = 1; i < reps; i++) /* insertion sort: reps is small */
        for (int j = i; j > 0 && times[j] < times[j - 1]; j--) {
            double tmp = times[j];
            times[j] = times[j - 1];
            times[j - 1] = tmp;
        }
    *sec = times[reps / 2];
    return BN_OK;
}

typedef struct ternary_call {
    workload *w;
    bn_threadpool *pool;
} ternary_call;

static bn_status ternary_product(void *ctx, int c, int64_t m) {
    const ternary_call *t = ctx;
    return bn_ternary_gemm(&t->w->copies[c], t->w->xq, t->w->xs, t->w->sums, m, t->w->y, t->pool);
}

/* A head of another type than the ternary layers (128256 x 2560): Q8_0 (the generation default
 * for float heads) and Q6_K / Q4_K (what llama-quantize writes for a tied head and an untied
 * token_embd), each with int8 activations: GEMV over distinct copies (one is already 280-350
 * MB), GEMM on one. Weights are random bytes with small f16 scales: the products' cost does not
 * depend on the values. */
typedef struct head_call {
    bn_dtype type;
    const shape *s;
    uint8_t *w[8];
    int8_t *xq; /* q8_0: codes and block scales */
    float *xd;
    bn_kq_act_block *acts; /* q6_k, q4_k */
    float *y;
    bn_threadpool *pool;
} head_call;

static bn_status head_product(void *ctx, int c, int64_t m) {
    const head_call *h = ctx;
    if (h->type == BN_DTYPE_Q8_0)
        return bn_q8_gemm(h->w[c], h->s->n, h->s->k, h->xq, h->xd, m, h->y, h->pool);
    return bn_kq_gemm(h->type, h->w[c], h->s->n, h->s->k, h->acts, m, h->y, h->pool);
}

/* Random blocks whose f16 scales are all 2^-7, so products stay finite. */
static void random_blocks(bn_dtype type, uint8_t *w, size_t bytes) {
    const bn_dtype_traits *tr = bn_dtype_get(type);
    for (size_t i = 0; i < bytes; i++)
        w[i] = (uint8_t)next_rand();
    for (size_t b = 0; b < bytes / tr->block_bytes; b++) {
        if (type == BN_DTYPE_Q8_0) {
            ((bn_block_q8_0 *)w)[b].d = 0x2000;
        } else if (type == BN_DTYPE_Q6_K) {
            ((bn_block_q6_k *)w)[b].d = 0x2000;
        } else {
            ((bn_block_q4_k *)w)[b].d = 0x2000;
            ((bn_block_q4_k *)w)[b].dmin = 0x2000;
        }
    }
}

static bn_status head_inputs(head_call *h, int64_t max_m, int copies, size_t bytes) {
    const shape *s = h->s;
    float *x = bn_aligned_alloc((size_t)(max_m * s->k) * sizeof(float));
    h->y = bn_aligned_alloc((size_t)(max_m * s->n) * sizeof(float));
    h->xq = bn_aligned_alloc((size_t)(max_m * s->k));
    h->xd = bn_aligned_alloc((size_t)(max_m * s->k / BN_Q8_BLOCK) * sizeof(float));
    size_t act_bytes = 0;
    bn_status st = bn_kq_acts_bytes(max_m, s->k, &act_bytes);
    if (st == BN_OK && (h->acts = bn_aligned_alloc(act_bytes)) == NULL)
        st = BN_ERR_OUT_OF_MEMORY;
    if (st == BN_OK && !(x && h->y && h->xq && h->xd))
        st = BN_ERR_OUT_OF_MEMORY;
    for (int c = 0; st == BN_OK && c < copies; c++) {
        if ((h->w[c] = bn_aligned_alloc(bytes)) == NULL)
            st = BN_ERR_OUT_OF_MEMORY;
        else
            random_blocks(h->type, h->w[c], bytes);
    }
    for (int64_t i = 0; st == BN_OK && i < max_m * s->k; i++)
        x[i] = (float)((int)(next_rand() % 255) - 127) / 127.0f;
    if (st == BN_OK) {
        bn_q8_quantize_acts(x, max_m, s->k, h->xq, h->xd);
        st = bn_kq_quantize_acts(x, max_m, s->k, h->acts);
    }
    bn_aligned_free(x);
    return st;
}

static bn_status bench_head(const bench_opts *o, bn_isa isa, bn_dtype type, size_t working_set,
                            bn_threadpool *pool, result *out, int *n_out) {
    const bn_dtype_traits *tr = bn_dtype_get(type);
    head_call h = {.type = type, .s = &head_shape, .pool = pool};
    size_t bytes = (size_t)(h.s->n * h.s->k / tr->block_size) * tr->block_bytes;
    int copies = (int)(working_set / bytes) + 1, max_m = o->quick ? 8 : 32;
    copies = copies > 8 ? 8 : copies;
    bn_status st = head_inputs(&h, max_m, copies, bytes);
    bn_isa saved = bn_cpu_isa();
    if (st == BN_OK)
        st = bn_cpu_set_isa(isa);
    for (int64_t m = 1; st == BN_OK && m <= max_m; m *= (m == 1 ? 8 : 4)) {
        if (isa == BN_ISA_SCALAR && m > 8)
            break;
        double sec = 0;
        st = median_seconds(head_product, &h, copies, m, o->quick ? 0.2 : 0.6, &sec);
        if (st == BN_OK)
            out[(*n_out)++] = (result){m == 1 ? "gemv" : "gemm",
                                       h.s->n,
                                       h.s->k,
                                       m,
                                       isa,
                                       tr->name,
                                       8.0 * (double)tr->block_bytes / (double)tr->block_size,
                                       sec * 1e3,
                                       2.0 * (double)(h.s->n * h.s->k) * (double)m / sec * 1e-9,
                                       (double)bytes / sec * 1e-9};
    }
    bn_cpu_set_isa(saved);
    for (int c = 0; c < copies; c++)
        bn_aligned_free(h.w[c]);
    bn_aligned_free(h.xq);
    bn_aligned_free(h.xd);
    bn_aligned_free(h.acts);
    bn_aligned_free(h.y);
    return st;
}

/* Every shape and batch size on one path in one runtime layout. */
static bn_status bench_layout(const bench_opts *o, bn_isa isa, bn_ternary_layout layout,
                              size_t working_set, bn_threadpool *pool, result *out, int *n_out) {
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        int64_t max_m = o->quick ? 8 : batch_sizes[sizeof batch_sizes / sizeof batch_sizes[0] - 1];
        workload w;
        bn_status st = make_workload(&w, &shapes[s], isa, layout, max_m, working_set);
        for (size_t b = 0; st == BN_OK && b < sizeof batch_sizes / sizeof batch_sizes[0]; b++) {
            int64_t m = batch_sizes[b];
            if (m > max_m || (isa == BN_ISA_SCALAR && m > 32))
                continue; /* scalar GEMMs this large take minutes and prove nothing */
            double sec = 0;
            ternary_call call = {&w, pool};
            st = median_seconds(ternary_product, &call, w.n_copies, m, o->quick ? 0.1 : 0.4, &sec);
            if (st != BN_OK)
                break;
            result *r = &out[(*n_out)++];
            *r = (result){m == 1 ? "gemv" : "gemm",
                          shapes[s].n,
                          shapes[s].k,
                          m,
                          isa,
                          bn_ternary_layout_name(layout, isa),
                          8.0 * (double)w.copies[0].bytes / (double)(shapes[s].n * shapes[s].k),
                          sec * 1e3,
                          0,
                          0};
            r->gops = 2.0 * (double)(shapes[s].n * shapes[s].k) * (double)m / sec * 1e-9;
            r->gbs = (double)w.copies[0].bytes / sec * 1e-9;
        }
        free_workload(&w);
        BN_TRY(st);
    }
    return BN_OK;
}

/* Both runtime layouts where the path has a kernel for them: which is faster is the machine's
 * to say (t5v64 reads 20% fewer bytes but decodes with more instructions). */
static bn_status bench_path(const bench_opts *o, bn_isa isa, size_t working_set,
                            bn_threadpool *pool, result *out, int *n_out) {
    const bn_ternary_layout layouts[] = {BN_TERNARY_I2V, BN_TERNARY_T5V};
    for (size_t l = 0; l < sizeof layouts / sizeof layouts[0]; l++)
        if (bn_ternary_layout_runs_on(layouts[l], isa))
            BN_TRY(bench_layout(o, isa, layouts[l], working_set, pool, out, n_out));
    return BN_OK;
}

static void print_text(const bench_opts *o, double bw, const double *peak, const result *r, int n) {
    printf("threads %d, read bandwidth %.1f GB/s (streaming, measured now)\n", o->threads, bw);
    for (int p = 0; p < BN_ISA_COUNT; p++)
        if (o->isas[p] && peak[p] > 0)
            printf("%s int8 multiply-add ceiling %.1f GOP/s (operands in L1, measured now)\n",
                   bn_isa_name((bn_isa)p), peak[p]);
    printf("\n%-5s %6s %6s %4s %-7s %-6s %5s %10s %9s %8s %7s %7s\n", "op", "N", "K", "M", "isa",
           "layout", "bits", "ms", "GOP/s", "GB/s", "%bw", "%peak");
    for (int i = 0; i < n; i++) {
        double p = peak[r[i].isa];
        printf("%-5s %6lld %6lld %4lld %-7s %-6s %5.2f %10.4f %9.1f %8.2f %6.1f%% %6.1f%%\n",
               r[i].op, (long long)r[i].n, (long long)r[i].k, (long long)r[i].m,
               bn_isa_name(r[i].isa), r[i].layout, r[i].bits, r[i].ms, r[i].gops, r[i].gbs,
               r[i].m == 1 ? 100.0 * r[i].gbs / bw : 0.0,
               r[i].m > 1 && p > 0 ? 100.0 * r[i].gops / p : 0.0);
    }
}

static int print_json(const bench_opts *o, double bw, const double *peak, const result *r, int n) {
    cJSON *root = cJSON_CreateObject();
    cJSON_AddNumberToObject(root, "threads", o->threads);
    cJSON_AddNumberToObject(root, "read_bandwidth_gbs", bw);
    cJSON *ceilings = cJSON_AddObjectToObject(root, "int8_ceiling_gops");
    for (int p = 0; p < BN_ISA_COUNT; p++)
        if (o->isas[p] && peak[p] > 0)
            cJSON_AddNumberToObject(ceilings, bn_isa_name((bn_isa)p), peak[p]);
    cJSON *arr = cJSON_AddArrayToObject(root, "results");
    for (int i = 0; i < n; i++) {
        cJSON *x = cJSON_CreateObject();
        cJSON_AddStringToObject(x, "op", r[i].op);
        cJSON_AddNumberToObject(x, "n", (double)r[i].n);
        cJSON_AddNumberToObject(x, "k", (double)r[i].k);
        cJSON_AddNumberToObject(x, "m", (double)r[i].m);
        cJSON_AddStringToObject(x, "isa", bn_isa_name(r[i].isa));
        cJSON_AddStringToObject(x, "layout", r[i].layout);
        cJSON_AddNumberToObject(x, "bits_per_weight", r[i].bits);
        cJSON_AddNumberToObject(x, "ms", r[i].ms);
        cJSON_AddNumberToObject(x, "gops", r[i].gops);
        cJSON_AddNumberToObject(x, "gbs", r[i].gbs);
        cJSON_AddItemToArray(arr, x);
    }
    return bn_cli_print_json(root);
}

static int usage(void) {
    printf("usage: bitnet bench kernels [--threads T] [--isa best|all|scalar|avx2|avx512|neon]\n"
           "                            [--quick] [--json]\n\n"
           "Time the ternary GEMV (M = 1) and GEMM (M = 8, 32, 128, 512) kernels on the shapes of\n"
           "microsoft/bitnet-b1.58-2B-4T, and the output head (128256 x 2560; M = 1, 8, 32) in\n"
           "Q8_0, Q6_K and Q4_K (bits 8.50, 6.56, 4.50), beside the read bandwidth (%%bw: GEMVs)\n"
           "and the int8 multiply-add ceiling of each path (%%peak: GEMMs) measured in the same\n"
           "run.\n"
           "GEMVs stream distinct weight copies several times the last-level cache.\n"
           "--quick: M up to 8 and shorter timings. Scalar GEMMs stop at M = 32.\n");
    return 0;
}

static int parse(int argc, char **argv, bench_opts *o) {
    o->threads = bn_cpu_count();
    bool any = false;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        if (bn_cli_is_help(a))
            return usage() - 1;
        if (strcmp(a, "--json") == 0) {
            o->json = true;
        } else if (strcmp(a, "--quick") == 0) {
            o->quick = true;
        } else if (strcmp(a, "--isa") == 0 && i + 1 < argc) {
            const char *name = argv[++i];
            bn_isa isa;
            if (strcmp(name, "all") == 0) {
                for (int p = 0; p < BN_ISA_COUNT; p++)
                    o->isas[p] = bn_cpu_isa_supported((bn_isa)p) &&
                                 bn_ternary_kernel_for((bn_isa)p, BN_TERNARY_I2V);
            } else if (strcmp(name, "best") == 0) {
                o->isas[bn_cpu_isa()] = true;
            } else if (bn_isa_parse(name, &isa) == BN_OK && bn_cpu_isa_supported(isa)) {
                o->isas[isa] = true;
            } else {
                return bn_cli_usage_error("bench", "--isa %s: not a path this CPU can run", name);
            }
            any = true;
        } else {
            bn_cli_opt t = bn_cli_threads_option("bench", argc, argv, &i, &o->threads);
            if (t == BN_CLI_BAD)
                return 2;
            if (t == BN_CLI_NOT_MINE)
                return bn_cli_usage_error("bench", "unknown option '%s'", a);
        }
    }
    if (!any)
        o->isas[bn_cpu_isa()] = true;
    return 0;
}

static int bench_kernels(int argc, char **argv) {
    bench_opts o;
    memset(&o, 0, sizeof o);
    int rc = parse(argc, argv, &o);
    if (rc != 0)
        return rc < 0 ? 0 : rc;
    bn_threadpool *pool = NULL;
    bn_status st = bn_threadpool_create(o.threads, &pool);
    if (st != BN_OK)
        return bn_cli_fail(st);
    size_t working_set = bn_bandwidth_probe_bytes();
    double bw = bn_measure_read_bandwidth(working_set, o.quick ? 3 : 8, pool);
    result results[256];
    double peak[BN_ISA_COUNT] = {0};
    int n = 0;
    for (int p = 0; p < BN_ISA_COUNT && bw > 0 && st == BN_OK; p++) {
        if (!o.isas[p])
            continue;
        peak[p] = bn_measure_int8_ceiling((bn_isa)p, o.quick ? 0.02 : 0.05, o.quick ? 5 : 10, pool);
        st = bench_path(&o, (bn_isa)p, working_set, pool, results, &n);
        if (st == BN_OK)
            st = bench_head(&o, (bn_isa)p, BN_DTYPE_Q8_0, working_set, pool, results, &n);
        if (st == BN_OK)
            st = bench_head(&o, (bn_isa)p, BN_DTYPE_Q6_K, working_set, pool, results, &n);
        if (st == BN_OK)
            st = bench_head(&o, (bn_isa)p, BN_DTYPE_Q4_K, working_set, pool, results, &n);
    }
    bn_threadpool_destroy(pool);
    if (bw <= 0)
        return bn_cli_fail(BN_ERR_OUT_OF_MEMORY);
    if (st != BN_OK)
        return bn_cli_fail(st);
    if (o.json)
        return print_json(&o, bw, peak, results, n);
    print_text(&o, bw, peak, results, n);
    return 0;
}

int bn_cmd_bench(int argc, char **argv) {
    if (argc >= 2 && strcmp(argv[1], "kernels") == 0)
        return bench_kernels(argc, argv);
    if (argc >= 2 && strcmp(argv[1], "model") == 0)
        return bn_bench_model(argc - 1, argv + 1);
    if (argc >= 2 && strcmp(argv[1], "tokenizer") == 0)
        return bn_bench_tokenizer(argc, argv);
    if (argc >= 2 && strcmp(argv[1], "train") == 0) {
        bn_cli_choose_blas_core(argv);
        return bn_bench_train(argc - 1, argv + 1);
    }
    if (argc >= 2 && bn_cli_is_help(argv[1])) {
        printf("usage: bitnet bench model|kernels|tokenizer|train [options]   (bitnet bench <name> "
               "--help)\n");
        return 0;
    }
    return bn_cli_usage_error("bench", "want a benchmark: model, kernels, tokenizer, train");
}
