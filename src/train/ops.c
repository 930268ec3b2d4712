/* ops.c - forwards and backwards of ops.h. */
#include "train/ops.h"

#include "base/cpu.h"
#include "kernels/cpu/ternary_gemm.h"
#include "quant/ternary.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

/* ---- helpers ------------------------------------------------------------------------------ */

static int64_t rows_of(const bn_var *v) {
    return v->ndim > 1 ? v->numel / v->shape[v->ndim - 1] : 1;
}

static int64_t cols_of(const bn_var *v) {
    return v->shape[v->ndim - 1];
}

/* A new [rows, cols] variable that carries a gradient when any input does (and grads are on). */
static bn_var *new_rows(bn_tape *t, int64_t rows, int64_t cols, bool grad) {
    int64_t shape[2] = {rows, cols};
    return bn_tape_var(t, 2, shape, grad);
}

static bool any_grad(bn_var *const *v, int n) {
    for (int i = 0; i < n; i++)
        if (v[i] != NULL && v[i]->grad != NULL)
            return true;
    return false;
}

static bn_status out_of_memory(const char *what) {
    return BN_ERROR(BN_ERR_OUT_OF_MEMORY, "train: %s", what);
}

/* C[m, n] (+)= op(A) op(B), row-major, with leading dimensions, on this thread (OpenBLAS runs
 * single-threaded: the trainer sets it so, and splits work itself, see below). */
static void gemm1(bool ta, bool tb, int64_t m, int64_t n, int64_t k, const float *a, int64_t lda,
                  const float *b, int64_t ldb, float beta, float *c, int64_t ldc) {
    if (m > 0 && n > 0)
        cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
                    (int)m, (int)n, (int)k, 1.0f, a, (int)lda, b, (int)ldb, beta, c, (int)ldc);
}

/* The same GEMM cut into one slab of C per thread of the pool: rows of C when it has more rows
 * than columns, else columns. OpenBLAS's own threads would do this too, but between calls they
 * spin on sched_yield and take the cores our pool's threads need for the element-wise ops (10 to
 * 15% of a step on 2 cores); so OpenBLAS keeps one thread and the pool cuts the work. */
typedef struct gemm_job {
    bool ta, tb, by_rows;
    int64_t m, n, k, lda, ldb, ldc, step; /* step: rows or columns per part */
    const float *a, *b;
    float beta, *c;
} gemm_job;

static void gemm_part(void *ctx, size_t begin, size_t end, int thread_id) {
    (void)thread_id;
    const gemm_job *g = ctx;
    for (size_t part = begin; part < end; part++) {
        int64_t lo = (int64_t)part * g->step;
        if (g->by_rows) { /* rows of op(A) and C */
            int64_t rows = g->m - lo < g->step ? g->m - lo : g->step;
            const float *a = g->ta ? g->a + lo : g->a + lo * g->lda;
            gemm1(g->ta, g->tb, rows, g->n, g->k, a, g->lda, g->b, g->ldb, g->beta,
                  g->c + lo * g->ldc, g->ldc);
        } else { /* columns of op(B) and C */
            int64_t cols = g->n - lo < g->step ? g->n - lo : g->step;
            const float *b = g->tb ? g->b + lo * g->ldb : g->b + lo;
            gemm1(g->ta, g->tb, g->m, cols, g->k, g->a, g->lda, b, g->ldb, g->beta, g->c + lo,
                  g->ldc);
        }
    }
}

static void gemm(bn_threadpool *pool, bool ta, bool tb, int64_t m, int64_t n, int64_t k,
                 const float *a, int64_t lda, const float *b, int64_t ldb, float beta, float *c,
                 int64_t ldc) {
    int threads = pool != NULL ? bn_threadpool_n_threads(pool) : 1;
    bool by_rows = m >= n;
    int64_t len = by_rows ? m : n;
    if (threads < 2 || len < 32 || m * n * k < (int64_t)1 << 18) {
        gemm1(ta, tb, m, n, k, a, lda, b, ldb, beta, c, ldc);
        return;
    }
    /* parts of whole 16s, one per thread */
    int64_t step = ((len + threads - 1) / threads + 15) / 16 * 16;
    gemm_job g = {ta, tb, by_rows, m, n, k, lda, ldb, ldc, step, a, b, beta, c};
    bn_parallel_for(pool, (size_t)((len + step - 1) / step), 1, gemm_part, &g);
}

/* y[i] += a * x[i]: restrict lets the compiler vectorize it without alias checks. */
static inline void axpy(float *restrict y, float a, const float *restrict x, int64_t n) {
    for (int64_t i = 0; i < n; i++)
        y[i] += a * x[i];
}

/* ---- embedding ---------------------------------------------------------------------------- */

typedef struct embed_saved {
    const int32_t *ids;
} embed_saved;

static void embedding_backward(bn_tape *t, const bn_node *n) {
    (void)t;
    const embed_saved *s = n->saved;
    bn_var *table = n->in[0], *out = n->out;
    int64_t d = cols_of(table);
    if (table->grad == NULL)
        return;
    for (int64_t i = 0; i < rows_of(out); i++) /* in order: ids repeat */
        axpy(table->grad + (int64_t)s->ids[i] * d, 1.0f, out->grad + i * d, d);
}

bn_status bn_op_embedding(bn_tape *t, bn_var *table, const int32_t *ids, int64_t n, bn_var **out) {
    int64_t v = rows_of(table), d = cols_of(table);
    for (int64_t i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= v)
            return BN_ERROR(BN_ERR_RANGE,
                            "train: token id %d at %lld is outside the vocabulary "
                            "of %lld",
                            ids[i], (long long)i, (long long)v);
    bn_var *o = new_rows(t, n, d, table->grad != NULL);
    if (o == NULL)
        return out_of_memory("embedding");
    for (int64_t i = 0; i < n; i++)
        memcpy(o->data + i * d, table->data + (int64_t)ids[i] * d, (size_t)d * sizeof(float));
    embed_saved *s = NULL;
    if (o->grad != NULL) {
        int32_t *copy = bn_tape_alloc(t, (size_t)n * sizeof *copy);
        s = bn_tape_alloc(t, sizeof *s);
        if (copy == NULL || s == NULL)
            return out_of_memory("embedding");
        memcpy(copy, ids, (size_t)n * sizeof *copy);
        s->ids = copy;
    }
    *out = o;
    return bn_tape_push(t, embedding_backward, o, (bn_var *[]){table}, 1, s);
}

/* ---- RMSNorm ------------------------------------------------------------------------------ */

typedef struct rms_job {
    bn_var *x, *w, *out;
    float eps;
    float *inv; /* [rows] */
} rms_job;

static void rms_rows(void *ctx, size_t begin, size_t end, int thread_id) {
    (void)thread_id;
    const rms_job *j = ctx;
    int64_t d = cols_of(j->x);
    for (size_t r = begin; r < end; r++) {
        const float *x = j->x->data + r * d;
        float *y = j->out->data + r * d, inv = bn_ref_rmsnorm_inv(x, (size_t)d, j->eps);
        j->inv[r] = inv;
        for (int64_t i = 0; i < d; i++) /* bn_ref_rmsnorm's expression, so the bits match */
            y[i] = x[i] * inv * j->w->data[i];
    }
}

/* dx_i = inv w_i dy_i - inv^3 x_i (sum_k dy_k w_k x_k) / D, a row at a time. */
static void rms_back_rows(void *ctx, size_t begin, size_t end, int thread_id) {
    (void)thread_id;
    const rms_job *j = ctx;
    int64_t d = cols_of(j->x);
    for (size_t r = begin; r < end; r++) {
        const float *x = j->x->data + r * d, *dy = j->out->grad + r * d, *w = j->w->data;
        float *dx = j->x->grad + r * d, inv = j->inv[r];
        double dot = 0.0;
        for (int64_t i = 0; i < d; i++)
            dot += (double)dy[i] * w[i] * x[i];
        float c = (float)(dot / (double)d) * inv * inv * inv;
        for (int64_t i = 0; i < d; i++)
            dx[i] += inv * w[i] * dy[i] - c * x[i];
    }
}

static void rmsnorm_backward(bn_tape *t, const bn_node *n) {
    rms_job *j = n->saved;
    if (j->x->grad != NULL)
        bn_parallel_for(bn_tape_pool(t), (size_t)rows_of(j->x), 0, rms_back_rows, j);
    if (j->w->grad != NULL) {
        int64_t d = cols_of(j->x);
        for (int64_t r = 0; r < rows_of(j->x); r++) {
            const float *x = j->x->data + r * d, *dy = j->out->grad + r * d;
            float inv = j->inv[r];
            for (int64_t i = 0; i < d; i++)
                j->w->grad[i] += dy[i] * x[i] * inv;
        }
    }
}

bn_status bn_op_rmsnorm(bn_tape *t, bn_var *x, bn_var *w, float eps, bn_var **out) {
    if (cols_of(x) != w->numel)
        return BN_ERROR(BN_ERR_SHAPE, "train: rmsnorm of rows of %lld with %lld weights",
                        (long long)cols_of(x), (long long)w->numel);
    int64_t rows = rows_of(x);
    bn_var *o = new_rows(t, rows, cols_of(x), any_grad((bn_var *[]){x, w}, 2));
    rms_job *j = bn_tape_alloc(t, sizeof *j);
    float *inv = bn_tape_alloc(t, (size_t)rows * sizeof(float));
    if (o == NULL || j == NULL || inv == NULL)
        return out_of_memory("rmsnorm");
    *j = (rms_job){x, w, o, eps, inv};
    bn_parallel_for(bn_tape_pool(t), (size_t)rows, 0, rms_rows, j);
    *out = o;
    return bn_tape_push(t, rmsnorm_backward, o, (bn_var *[]){x, w}, 2, j);
}

/* ---- BitLinear ---------------------------------------------------------------------------- */

enum { MAX_SHARED = 4 }; /* weights reading one input: q, k, v */

typedef struct linear_saved {
    bn_var *x;                   /* the input (its gradient) */
    const float *xq;             /* what the products read: x~ for BitLinear, x for float */
    bn_var *w[MAX_SHARED];       /* latent weights (their gradients) */
    const float *wq[MAX_SHARED]; /* what the products used: W~, or W itself */
    bn_var *out[MAX_SHARED];
    int n_w;
} linear_saved;

/* dx += sum_i dy_i Wq_i; dW_i += dy_i^T xq. */
static void linear_backward(bn_tape *t, const bn_node *n) {
    (void)t;
    const linear_saved *s = n->saved;
    int64_t rows = rows_of(s->x), k = cols_of(s->x);
    for (int i = 0; i < s->n_w; i++) {
        int64_t m = rows_of(s->w[i]);
        const float *dy = s->out[i]->grad;
        if (s->x->grad != NULL)
            gemm(bn_tape_pool(t), false, false, rows, k, m, dy, m, s->wq[i], k, 1.0f, s->x->grad,
                 k);
        if (s->w[i]->grad != NULL)
            gemm(bn_tape_pool(t), true, false, m, k, rows, dy, m, s->xq, k, 1.0f, s->w[i]->grad, k);
    }
}

static bn_status check_linear(const bn_var *x, bn_var *const *w, int n_w) {
    if (n_w < 1 || n_w > MAX_SHARED)
        return BN_ERROR(BN_ERR_INVALID_ARG, "train: %d weights on one input (1..%d)", n_w,
                        MAX_SHARED);
    for (int i = 0; i < n_w; i++)
        if (w[i]->ndim != 2 || cols_of(w[i]) != cols_of(x))
            return BN_ERROR(BN_ERR_SHAPE, "train: a linear layer of [%lld, %lld] on rows of %lld",
                            (long long)rows_of(w[i]), (long long)cols_of(w[i]),
                            (long long)cols_of(x));
    return BN_OK;
}

/* The outputs, and the saved record of a linear op (NULL when no gradient flows). */
static bn_status linear_outputs(bn_tape *t, bn_var *x, bn_var *const *w, int n_w, bn_var **out,
                                linear_saved **saved) {
    bool grad = any_grad(&x, 1) || any_grad(w, n_w);
    for (int i = 0; i < n_w; i++)
        if ((out[i] = new_rows(t, rows_of(x), rows_of(w[i]), grad)) == NULL)
            return out_of_memory("linear output");
    *saved = NULL;
    if (!grad || !bn_tape_grad_enabled(t))
        return BN_OK;
    if ((*saved = bn_tape_alloc(t, sizeof **saved)) == NULL)
        return out_of_memory("linear");
    **saved = (linear_saved){.x = x, .n_w = n_w};
    for (int i = 0; i < n_w; i++) {
        (*saved)->w[i] = w[i];
        (*saved)->out[i] = out[i];
    }
    return BN_OK;
}

static bn_status push_linear(bn_tape *t, linear_saved *s) {
    if (s == NULL)
        return BN_OK;
    bn_var *in[MAX_SHARED] = {s->x};
    return bn_tape_push(t, linear_backward, s->out[0], in, 1, s);
}

bn_status bn_op_linear(bn_tape *t, bn_var *x, bn_var *const *w, int n_w, bn_var **out) {
    BN_TRY(check_linear(x, w, n_w));
    linear_saved *s;
    BN_TRY(linear_outputs(t, x, w, n_w, out, &s));
    int64_t rows = rows_of(x), k = cols_of(x);
    for (int i = 0; i < n_w; i++) {
        int64_t m = rows_of(w[i]);
        gemm(bn_tape_pool(t), false, true, rows, m, k, x->data, k, w[i]->data, k, 0.0f,
             out[i]->data, m);
        if (s != NULL)
            s->wq[i] = w[i]->data;
    }
    if (s != NULL)
        s->xq = x->data;
    return push_linear(t, s);
}

typedef struct act_job {
    const bn_ternary_matrix *w;
    const float *x;
    int8_t *xq;
    float *xs;
    int32_t *xsum;
    float *xdq; /* x~ = xq / xs, or NULL */
} act_job;

/* Per-token int8 quantization, as inference does it (bn_ternary_quantize_acts), by rows. */
static void act_rows(void *ctx, size_t begin, size_t end, int thread_id) {
    (void)thread_id;
    const act_job *j = ctx;
    int64_t k = j->w->cols, kp = j->w->cols_padded;
    bn_ternary_quantize_acts(j->w, j->x + begin * k, (int64_t)(end - begin), j->xq + begin * kp,
                             j->xs + begin, j->xsum + begin);
    for (size_t r = begin; j->xdq != NULL && r < end; r++)
        for (int64_t i = 0; i < k; i++) /* torch's q / s */
            j->xdq[r * k + i] = (float)j->xq[r * kp + i] / j->xs[r];
}

typedef struct code_job {
    const float *w;
    int8_t *codes;
    float *wq, gamma; /* wq: W~ = codes * gamma, or NULL */
    int64_t n;
} code_job;

enum { CODES_PER_PART = 65536 };

static void code_part(void *ctx, size_t begin, size_t end, int thread_id) {
    (void)thread_id;
    const code_job *j = ctx;
    int64_t lo = (int64_t)begin * CODES_PER_PART;
    int64_t hi = (int64_t)end * CODES_PER_PART < j->n ? (int64_t)end * CODES_PER_PART : j->n;
    bn_ternary_absmean_codes(j->w + lo, hi - lo, j->gamma, j->codes + lo);
    for (int64_t i = lo; j->wq != NULL && i < hi; i++)
        j->wq[i] = (float)j->codes[i] * j->gamma;
}

/* The latent weight ternarized (absmean per tensor, bn_ternary_quantize's arithmetic: the
 * export writes these codes) and packed for this CPU's kernel; wq gets W~ = codes * gamma for
 * the backward when not NULL. gamma's sum runs in order on one thread; the codes in parallel. */
static bn_status ternarize(bn_tape *t, const bn_var *w, bn_ternary_matrix *m, float *wq) {
    int64_t rows = rows_of(w), cols = cols_of(w);
    code_job j = {w->data, bn_tape_alloc(t, (size_t)(rows * cols)), wq, 0.0f, rows * cols};
    if (j.codes == NULL)
        return out_of_memory("ternary codes");
    j.gamma = bn_ternary_absmean_gamma(w->data, j.n);
    if (!isfinite(j.gamma))
        return BN_ERROR(BN_ERR_RANGE,
                        "train: a weight of [%lld, %lld] is not finite (the "
                        "training diverged: lower optim.lr)",
                        (long long)rows, (long long)cols);
    bn_parallel_for(bn_tape_pool(t), (size_t)((j.n + CODES_PER_PART - 1) / CODES_PER_PART), 1,
                    code_part, &j);
    return bn_ternary_matrix_pack(m, j.codes, rows, cols, j.gamma, bn_cpu_isa());
}

bn_status bn_op_bitlinear(bn_tape *t, bn_var *x, bn_var *const *w, int n_w, bn_var **out) {
    BN_TRY(check_linear(x, w, n_w));
    linear_saved *s;
    BN_TRY(linear_outputs(t, x, w, n_w, out, &s));
    int64_t rows = rows_of(x), k = cols_of(x);
    bn_ternary_matrix m[MAX_SHARED];
    memset(m, 0, sizeof m);
    bn_status st = BN_OK;
    for (int i = 0; st == BN_OK && i < n_w; i++) {
        float *wq = NULL;
        if (s != NULL && (wq = bn_tape_alloc(t, (size_t)w[i]->numel * sizeof(float))) == NULL)
            st = out_of_memory("ternary weights");
        if (st == BN_OK)
            st = ternarize(t, w[i], &m[i], wq);
        if (s != NULL)
            s->wq[i] = wq;
    }
    int64_t kp = m[0].cols_padded;
    int8_t *xq = bn_tape_alloc(t, (size_t)(rows * kp));
    float *xs = bn_tape_alloc(t, (size_t)rows * sizeof(float));
    int32_t *xsum = bn_tape_alloc(t, (size_t)rows * sizeof(int32_t));
    float *xdq = s != NULL ? bn_tape_alloc(t, (size_t)(rows * k) * sizeof(float)) : NULL;
    if (st == BN_OK && (xq == NULL || xs == NULL || xsum == NULL || (s != NULL && xdq == NULL)))
        st = out_of_memory("int8 activations");
    if (st == BN_OK) {
        act_job j = {&m[0], x->data, xq, xs, xsum, xdq};
        bn_parallel_for(bn_tape_pool(t), (size_t)rows, 16, act_rows, &j);
    }
    for (int i = 0; st == BN_OK && i < n_w; i++)
        st = bn_ternary_gemm(&m[i], xq, xs, xsum, rows, out[i]->data, bn_tape_pool(t));
    for (int i = 0; i < n_w; i++)
        bn_ternary_matrix_free(&m[i]);
    BN_TRY(st);
    if (s != NULL)
        s->xq = xdq;
    return push_linear(t, s);
}

/* ---- matmul ------------------------------------------------------------------------------- */

static void matmul_backward(bn_tape *t, const bn_node *n) {
    (void)t;
    bn_var *a = n->in[0], *b = n->in[1], *o = n->out;
    int64_t rows = rows_of(a), k = cols_of(a), m = cols_of(b);
    if (a->grad != NULL) /* da += dout b^T */
        gemm(bn_tape_pool(t), false, true, rows, k, m, o->grad, m, b->data, m, 1.0f, a->grad, k);
    if (b->grad != NULL) /* db += a^T dout */
        gemm(bn_tape_pool(t), true, false, k, m, rows, a->data, k, o->grad, m, 1.0f, b->grad, m);
}

bn_status bn_op_matmul(bn_tape *t, bn_var *a, bn_var *b, bn_var **out) {
    int64_t rows = rows_of(a), k = cols_of(a), m = cols_of(b);
    if (rows_of(b) != k)
        return BN_ERROR(BN_ERR_SHAPE, "train: matmul of [%lld, %lld] and [%lld, %lld]",
                        (long long)rows, (long long)k, (long long)rows_of(b), (long long)m);
    bn_var *o = new_rows(t, rows, m, any_grad((bn_var *[]){a, b}, 2));
    if (o == NULL)
        return out_of_memory("matmul");
    gemm(bn_tape_pool(t), false, false, rows, m, k, a->data, k, b->data, m, 0.0f, o->data, m);
    *out = o;
    return bn_tape_push(t, matmul_backward, o, (bn_var *[]){a, b}, 2, NULL);
}

/* ---- RoPE --------------------------------------------------------------------------------- */

typedef struct rope_saved {
    int64_t T;
    int heads, head_dim;
    const float *cs;
} rope_saved;

/* The rotation by each position's angles, forward (sign 1) or back (sign -1: the transpose). */
static void rotate(const rope_saved *r, const float *x, float *y, int64_t rows, float sign) {
    int half = r->head_dim / 2;
    int64_t width = (int64_t)r->heads * r->head_dim;
    for (int64_t row = 0; row < rows; row++) {
        const float *cs = r->cs + (row % r->T) * r->head_dim;
        for (int h = 0; h < r->heads; h++) {
            const float *a = x + row * width + (int64_t)h * r->head_dim;
            float *b = y + row * width + (int64_t)h * r->head_dim;
            for (int i = 0; i < half; i++) {
                float c = cs[i], s = sign * cs[half + i];
                float x0 = a[i], x1 = a[i + half];
                b[i] += x0 * c - x1 * s;
                b[i + half] += x1 * c + x0 * s;
            }
        }
    }
}

static void rope_backward(bn_tape *t, const bn_node *n) {
    (void)t;
    if (n->in[0]->grad != NULL)
        rotate(n->saved, n->out->grad, n->in[0]->grad, rows_of(n->out), -1.0f);
}

bn_status bn_op_rope(bn_tape *t, bn_var *x, int64_t T, int heads, int head_dim, const float *cs,
                     bn_var **out) {
    if (cols_of(x) != (int64_t)heads * head_dim || head_dim % 2 != 0 || rows_of(x) % T != 0)
        return BN_ERROR(BN_ERR_SHAPE, "train: rope on rows of %lld for %d heads of %d",
                        (long long)cols_of(x), heads, head_dim);
    bn_var *o = new_rows(t, rows_of(x), cols_of(x), x->grad != NULL);
    rope_saved *r = bn_tape_alloc(t, sizeof *r);
    if (o == NULL || r == NULL)
        return out_of_memory("rope");
    *r = (rope_saved){T, heads, head_dim, cs};
    memset(o->data, 0, (size_t)o->numel * sizeof(float));
    rotate(r, x->data, o->data, rows_of(x), 1.0f); /* bn_rope_neox_apply's arithmetic */
    *out = o;
    return bn_tape_push(t, rope_backward, o, (bn_var *[]){x}, 1, r);
}

/* ---- attention ---------------------------------------------------------------------------- */

/* Per (sequence, query head), as GEMMs: S = s Q K^T over all T x T pairs, the causal softmax
 * row by row (the upper triangle becomes exact zeros), O = P V. Computing the masked half costs
 * twice the arithmetic of a hand loop over j <= i, yet BLAS runs it several times faster. The
 * forward runs the (sequence, head) pairs in parallel; the backward runs (sequence, KV group)
 * pairs, so that the group's key and value gradients have one writer. */
typedef struct attn_saved {
    bn_var *q, *k, *v, *out;
    int64_t B, T;
    int H, KV, hd;
    float *p;       /* [B][H][T][T] probabilities (zero above the diagonal), or, without
                       gradients, one T x T matrix per thread */
    float *scratch; /* [threads][T][T]: dP in the backward */
    bool keep;      /* p holds every head's probabilities (for the backward) */
} attn_saved;

/* Views of one (sequence b, head h): its query rows, and its KV group's key and value rows. */
static const float *attn_q(const attn_saved *a, const float *q, int64_t b, int h) {
    return q + b * a->T * a->H * a->hd + (int64_t)h * a->hd;
}

static const float *attn_kv(const attn_saved *a, const float *kv, int64_t b, int h) {
    return kv + b * a->T * a->KV * a->hd + (int64_t)(h / (a->H / a->KV)) * a->hd;
}

static void causal_softmax(float *p, int64_t T) {
    for (int64_t i = 0; i < T; i++) {
        float *row = p + i * T, mx = -INFINITY, sum = 0.0f;
        for (int64_t j = 0; j <= i; j++)
            mx = row[j] > mx ? row[j] : mx;
        for (int64_t j = 0; j <= i; j++)
            sum += (row[j] = expf(row[j] - mx));
        float inv = 1.0f / sum;
        for (int64_t j = 0; j <= i; j++)
            row[j] *= inv;
        memset(row + i + 1, 0, (size_t)(T - i - 1) * sizeof(float));
    }
}

static void attn_heads(void *ctx, size_t begin, size_t end, int thread_id) {
    const attn_saved *a = ctx;
    int64_t T = a->T, qw = (int64_t)a->H * a->hd, kw = (int64_t)a->KV * a->hd;
    float scale = 1.0f / sqrtf((float)a->hd);
    for (size_t item = begin; item < end; item++) {
        int64_t b = (int64_t)item / a->H;
        int h = (int)(item % (size_t)a->H);
        float *p = a->keep ? a->p + (int64_t)item * T * T : a->p + (int64_t)thread_id * T * T;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)T, (int)T, a->hd, scale,
                    attn_q(a, a->q->data, b, h), (int)qw, attn_kv(a, a->k->data, b, h), (int)kw,
                    0.0f, p, (int)T);
        causal_softmax(p, T);
        gemm1(false, false, T, a->hd, T, p, T, attn_kv(a, a->v->data, b, h), kw, 0.0f,
              (float *)attn_q(a, a->out->data, b, h), qw);
    }
}

/* dP = dO V^T; dS = P (dP - rowsum(P dP)) s; dQ += dS K; dK += dS^T Q; dV += P^T dO. */
static void attn_back_group(void *ctx, size_t begin, size_t end, int thread_id) {
    const attn_saved *a = ctx;
    int64_t T = a->T, qw = (int64_t)a->H * a->hd, kw = (int64_t)a->KV * a->hd;
    float scale = 1.0f / sqrtf((float)a->hd), *dp = a->scratch + (int64_t)thread_id * T * T;
    int group = a->H / a->KV;
    for (size_t item = begin; item < end; item++) {
        int64_t b = (int64_t)item / a->KV;
        for (int h = (int)(item % (size_t)a->KV) * group, last = h + group; h < last; h++) {
            const float *p = a->p + (b * a->H + h) * T * T;
            const float *dout = attn_q(a, a->out->grad, b, h);
            gemm1(false, true, T, T, a->hd, dout, qw, attn_kv(a, a->v->data, b, h), kw, 0.0f, dp,
                  T);
            for (int64_t i = 0; i < T; i++) {
                const float *pi = p + i * T;
                float *ds = dp + i * T, rowsum = 0.0f;
                for (int64_t j = 0; j <= i; j++)
                    rowsum += pi[j] * ds[j];
                for (int64_t j = 0; j < T; j++) /* zero above the diagonal, as p is */
                    ds[j] = pi[j] * (ds[j] - rowsum) * scale;
            }
            if (a->q->grad != NULL)
                gemm1(false, false, T, a->hd, T, dp, T, attn_kv(a, a->k->data, b, h), kw, 1.0f,
                      (float *)attn_q(a, a->q->grad, b, h), qw);
            if (a->k->grad != NULL)
                gemm1(true, false, T, a->hd, T, dp, T, attn_q(a, a->q->data, b, h), qw, 1.0f,
                      (float *)attn_kv(a, a->k->grad, b, h), kw);
            if (a->v->grad != NULL)
                gemm1(true, false, T, a->hd, T, p, T, dout, qw, 1.0f,
                      (float *)attn_kv(a, a->v->grad, b, h), kw);
        }
    }
}

static void attention_backward(bn_tape *t, const bn_node *n) {
    attn_saved *a = n->saved;
    bn_parallel_for(bn_tape_pool(t), (size_t)(a->B * a->KV), 1, attn_back_group, a);
}

bn_status bn_op_attention(bn_tape *t, bn_var *q, bn_var *k, bn_var *v, int64_t B, int64_t T, int H,
                          int KV, int hd, bn_var **out) {
    if (H % KV != 0 || cols_of(q) != (int64_t)H * hd || cols_of(k) != (int64_t)KV * hd ||
        cols_of(v) != (int64_t)KV * hd || rows_of(q) != B * T || rows_of(k) != B * T ||
        rows_of(v) != B * T || T > 4096)
        return BN_ERROR(BN_ERR_SHAPE,
                        "train: attention shapes (B %lld, T %lld, H %d, KV %d, "
                        "hd %d; T at most 4096)",
                        (long long)B, (long long)T, H, KV, hd);
    bool grad = bn_tape_grad_enabled(t) && any_grad((bn_var *[]){q, k, v}, 3);
    int threads = bn_tape_pool(t) != NULL ? bn_threadpool_n_threads(bn_tape_pool(t)) : 1;
    bn_var *o = new_rows(t, B * T, (int64_t)H * hd, grad);
    attn_saved *a = bn_tape_alloc(t, sizeof *a);
    size_t square = (size_t)(T * T) * sizeof(float);
    float *p = bn_tape_alloc(t, (size_t)(grad ? B * H : threads) * square);
    float *scratch = grad ? bn_tape_alloc(t, (size_t)threads * square) : NULL;
    if (o == NULL || a == NULL || p == NULL || (grad && scratch == NULL))
        return out_of_memory("attention");
    *a = (attn_saved){q, k, v, o, B, T, H, KV, hd, p, scratch, grad};
    bn_parallel_for(bn_tape_pool(t), (size_t)(B * H), 1, attn_heads, a);
    *out = o;
    return bn_tape_push(t, attention_backward, o, (bn_var *[]){q, k, v}, 3, a);
}

/* ---- gated activation, residual ----------------------------------------------------------- */

typedef struct gate_saved {
    bn_var *gate, *up, *out;
    bn_act act;
} gate_saved;

static float sigmoid(float x) {
    return 1.0f / (1.0f + expf(-x));
}

enum { ELEMENTS_PER_PART = 16384 }; /* element-wise ops: values per parallel part */

static void gate_forward_part(void *ctx, size_t begin, size_t end, int thread_id) {
    (void)thread_id;
    const gate_saved *s = ctx;
    size_t lo = begin * ELEMENTS_PER_PART, n = (size_t)s->out->numel;
    size_t hi = end * ELEMENTS_PER_PART < n ? end * ELEMENTS_PER_PART : n;
    bn_ref_gated(s->out->data + lo, s->gate->data + lo, s->up->data + lo, hi - lo,
                 s->act); /* inference's op */
}

/* relu2: d gate = 2 max(g, 0) up dy, d up = max(g, 0)^2 dy; silu: sigmoid's derivative. */
static void gate_backward_part(void *ctx, size_t begin, size_t end, int thread_id) {
    (void)thread_id;
    const gate_saved *s = ctx;
    int64_t lo = (int64_t)begin * ELEMENTS_PER_PART, n = s->out->numel;
    int64_t hi = (int64_t)end * ELEMENTS_PER_PART < n ? (int64_t)end * ELEMENTS_PER_PART : n;
    const float *restrict x = s->gate->data, *restrict u = s->up->data, *restrict dy = s->out->grad;
    float *restrict dg = s->gate->grad, *restrict du = s->up->grad;
    if (s->act == BN_ACT_RELU2 && dg != NULL && du != NULL) { /* the common case, vectorized */
        for (int64_t i = lo; i < hi; i++) {
            float r = x[i] > 0.0f ? x[i] : 0.0f;
            dg[i] += 2.0f * r * u[i] * dy[i];
            du[i] += r * r * dy[i];
        }
        return;
    }
    for (int64_t i = lo; i < hi; i++) {
        float a, da;
        if (s->act == BN_ACT_RELU2) {
            float r = x[i] > 0.0f ? x[i] : 0.0f;
            a = r * r;
            da = 2.0f * r;
        } else {
            float sg = sigmoid(x[i]);
            a = x[i] * sg;
            da = sg * (1.0f + x[i] * (1.0f - sg));
        }
        if (dg != NULL)
            dg[i] += da * u[i] * dy[i];
        if (du != NULL)
            du[i] += a * dy[i];
    }
}

static size_t parts_of(int64_t numel) {
    return (size_t)((numel + ELEMENTS_PER_PART - 1) / ELEMENTS_PER_PART);
}

static void gate_backward(bn_tape *t, const bn_node *n) {
    gate_saved *s = n->saved;
    bn_parallel_for(bn_tape_pool(t), parts_of(s->out->numel), 1, gate_backward_part, s);
}

bn_status bn_op_gate(bn_tape *t, bn_var *gate, bn_var *up, bn_act act, bn_var **out) {
    if (gate->numel != up->numel || (act != BN_ACT_RELU2 && act != BN_ACT_SILU))
        return BN_ERROR(BN_ERR_INVALID_ARG, "train: gate of %lld and %lld values, activation %d",
                        (long long)gate->numel, (long long)up->numel, (int)act);
    bn_var *o = new_rows(t, rows_of(gate), cols_of(gate), any_grad((bn_var *[]){gate, up}, 2));
    gate_saved *s = bn_tape_alloc(t, sizeof *s);
    if (o == NULL || s == NULL)
        return out_of_memory("gate");
    *s = (gate_saved){gate, up, o, act};
    bn_parallel_for(bn_tape_pool(t), parts_of(o->numel), 1, gate_forward_part, s);
    *out = o;
    return bn_tape_push(t, gate_backward, o, (bn_var *[]){gate, up}, 2, s);
}

static void add_backward(bn_tape *t, const bn_node *n) {
    (void)t;
    for (int k = 0; k < 2; k++)
        if (n->in[k]->grad != NULL)
            axpy(n->in[k]->grad, 1.0f, n->out->grad, n->out->numel);
}

bn_status bn_op_add(bn_tape *t, bn_var *a, bn_var *b, bn_var **out) {
    if (a->numel != b->numel)
        return BN_ERROR(BN_ERR_SHAPE, "train: add of %lld and %lld values", (long long)a->numel,
                        (long long)b->numel);
    bn_var *o = new_rows(t, rows_of(a), cols_of(a), any_grad((bn_var *[]){a, b}, 2));
    if (o == NULL)
        return out_of_memory("add");
    for (int64_t i = 0; i < o->numel; i++)
        o->data[i] = a->data[i] + b->data[i];
    *out = o;
    return bn_tape_push(t, add_backward, o, (bn_var *[]){a, b}, 2, NULL);
}

/* ---- head and cross-entropy ---------------------------------------------------------------- */

enum { CE_CHUNK = 256 }; /* rows of logits at a time: [256, V] floats */

typedef struct ce_saved {
    float *dh, *dtable; /* d loss / d h and d loss / d table, computed in the forward */
} ce_saved;

typedef struct ce_job {
    float *logits; /* [rows, V]: replaced by d loss / d logits when grad */
    const int32_t *targets;
    int64_t v, n;
    double *loss; /* [rows] */
    bool grad;
} ce_job;

/* Per row: the log-sum-exp (exponentials in float32, summed in float64), the loss, and in
 * place of the logits their gradient softmax - onehot(target), scaled by the mean's 1/n. */
static void ce_rows(void *ctx, size_t begin, size_t end, int thread_id) {
    (void)thread_id;
    const ce_job *j = ctx;
    for (size_t r = begin; r < end; r++) {
        float *l = j->logits + r * j->v, mx = -INFINITY, target = l[j->targets[r]];
        for (int64_t i = 0; i < j->v; i++)
            mx = l[i] > mx ? l[i] : mx;
        double sum = 0.0;
        for (int64_t i = 0; i < j->v; i++) {
            l[i] = expf(l[i] - mx);
            sum += l[i];
        }
        j->loss[r] = (double)mx + log(sum) - (double)target;
        if (!j->grad)
            continue;
        float scale = (float)(1.0 / (sum * (double)j->n)), inv_n = 1.0f / (float)j->n;
        for (int64_t i = 0; i < j->v; i++)
            l[i] *= scale;
        l[j->targets[r]] -= inv_n;
    }
}

static void ce_backward(bn_tape *t, const bn_node *n) {
    (void)t;
    const ce_saved *s = n->saved;
    float g = n->out->grad[0];
    bn_var *h = n->in[0], *table = n->in[1];
    if (h->grad != NULL)
        axpy(h->grad, g, s->dh, h->numel);
    if (table->grad != NULL)
        axpy(table->grad, g, s->dtable, table->numel);
}

bn_status bn_op_cross_entropy(bn_tape *t, bn_var *h, bn_var *table, const int32_t *targets,
                              int64_t n, bn_var **loss) {
    int64_t d = cols_of(h), v = rows_of(table);
    if (rows_of(h) != n || cols_of(table) != d)
        return BN_ERROR(BN_ERR_SHAPE,
                        "train: cross-entropy of [%lld, %lld] rows against a head "
                        "of [%lld, %lld] for %lld targets",
                        (long long)rows_of(h), (long long)d, (long long)v,
                        (long long)cols_of(table), (long long)n);
    for (int64_t i = 0; i < n; i++)
        if (targets[i] < 0 || targets[i] >= v)
            return BN_ERROR(BN_ERR_RANGE,
                            "train: target %d at %lld is outside the vocabulary "
                            "of %lld",
                            targets[i], (long long)i, (long long)v);
    bool grad = bn_tape_grad_enabled(t) && any_grad((bn_var *[]){h, table}, 2);
    int64_t one = 1;
    bn_var *o = bn_tape_var(t, 1, &one, grad);
    float *logits = bn_tape_alloc(t, (size_t)(CE_CHUNK * v) * sizeof(float));
    double *rl = bn_tape_alloc(t, (size_t)CE_CHUNK * sizeof(double));
    ce_saved *s = grad ? bn_tape_alloc(t, sizeof *s) : NULL;
    if (o == NULL || logits == NULL || rl == NULL || (grad && s == NULL))
        return out_of_memory("cross-entropy");
    if (grad) {
        s->dh = bn_tape_alloc(t, (size_t)h->numel * sizeof(float));
        s->dtable = bn_tape_alloc(t, (size_t)table->numel * sizeof(float));
        if (s->dh == NULL || s->dtable == NULL)
            return out_of_memory("cross-entropy gradients");
        memset(s->dtable, 0, (size_t)table->numel * sizeof(float));
    }
    double total = 0.0;
    for (int64_t r0 = 0; r0 < n; r0 += CE_CHUNK) {
        int64_t rows = n - r0 < CE_CHUNK ? n - r0 : CE_CHUNK;
        const float *hc = h->data + r0 * d;
        gemm(bn_tape_pool(t), false, true, rows, v, d, hc, d, table->data, d, 0.0f, logits, v);
        ce_job j = {logits, targets + r0, v, n, rl, grad};
        bn_parallel_for(bn_tape_pool(t), (size_t)rows, 8, ce_rows, &j);
        for (int64_t r = 0; r < rows; r++)
            total += rl[r];
        if (grad) { /* dh = G table, dtable += G^T h, G = d loss / d logits */
            gemm(bn_tape_pool(t), false, false, rows, d, v, logits, v, table->data, d, 0.0f,
                 s->dh + r0 * d, d);
            gemm(bn_tape_pool(t), true, false, v, d, rows, logits, v, hc, d, 1.0f, s->dtable, d);
        }
    }
    o->data[0] = (float)(total / (double)n);
    *loss = o;
    return bn_tape_push(t, ce_backward, o, (bn_var *[]){h, table}, 2, s);
}
