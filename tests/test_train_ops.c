/*
 * test_train_ops.c - every training op's backward against central finite differences of a
 * float64 reference forward written here, on random small inputs.
 *
 * For an op y = f(x1, x2, ...) the check takes a random projection L = sum(y * R): the op's
 * backward, seeded with dL/dy = R, must give dL/dxi equal to (L(xi + h) - L(xi - h)) / 2h of the
 * float64 reference, element by element (h = 1e-5, so the differences are exact to ~1e-10 and
 * what is measured is the float32 backward's own error). The forward is held to the reference
 * too. BitLinear is checked against its defined surrogate (ops.h): y = a B^T at a = x~, B = W~
 * (the quantized values, computed here in float64), whose gradient the straight-through
 * estimator passes to x and W.
 */
#include "test.h"
#include "base/rng.h"

#include "tensor/ops_ref.h"
#include "train/ops.h"

#include <string.h>

enum { MAX_IN = 4 };

typedef struct gcase {
    const char *name;
    int n_in;
    int64_t rows[MAX_IN], cols[MAX_IN];
    bool no_grad[MAX_IN]; /* inputs that get no gradient check (integer-like ids) */
    bn_status (*op)(bn_tape *t, bn_var **in, bn_var **out, const void *ctx);
    /* float64 forward: out (n_out values) from the inputs */
    void (*ref)(double *const *in, double *out, const void *ctx);
    const void *ctx;
    double scale; /* inputs uniform in [-scale, scale] */
} gcase;

static double ref_loss(const gcase *g, double *const *in, double *out, const double *r, int64_t n) {
    g->ref(in, out, g->ctx);
    double l = 0.0;
    for (int64_t i = 0; i < n; i++)
        l += out[i] * r[i];
    return l;
}

static double rel_err(const float *got, const double *want, int64_t n) {
    double num = 0.0, den = 0.0;
    for (int64_t i = 0; i < n; i++) {
        num += (got[i] - want[i]) * (got[i] - want[i]);
        den += want[i] * want[i];
    }
    return den > 0.0 ? sqrt(num / den) : sqrt(num);
}

/* Run one case: forward against the reference, backward against finite differences. */
static void check_case(const gcase *g, double fwd_tol, double grad_tol) {
    bn_tape *t;
    CHECK_OK(bn_tape_create(&t, 1 << 20, NULL));
    bn_var *in[MAX_IN];
    double *din[MAX_IN];
    bn_rng rng;
    bn_rng_seed(&rng, 42);
    for (int i = 0; i < g->n_in; i++) {
        int64_t shape[2] = {g->rows[i], g->cols[i]};
        in[i] = bn_tape_var(t, 2, shape, !g->no_grad[i]);
        din[i] = malloc((size_t)in[i]->numel * sizeof(double));
        for (int64_t j = 0; j < in[i]->numel; j++) {
            in[i]->data[j] = (float)((2.0 * bn_rng_uniform(&rng) - 1.0) * g->scale);
            din[i][j] = in[i]->data[j];
        }
    }
    bn_var *out = NULL;
    CHECK_OK(g->op(t, in, &out, g->ctx));
    int64_t n = out->numel;
    double *r = malloc((size_t)n * sizeof(double)), *ref = malloc((size_t)n * sizeof(double));
    for (int64_t i = 0; i < n; i++) {
        r[i] = 2.0 * bn_rng_uniform(&rng) - 1.0;
        out->grad[i] = (float)r[i];
    }
    ref_loss(g, din, ref, r, n);
    double fe = rel_err(out->data, ref, n);
    CHECK(fe <= fwd_tol, "%s: forward relative error %.3g > %.3g", g->name, fe, fwd_tol);
    CHECK_OK(bn_tape_backward_from(t, out));
    const double h = 1e-5;
    for (int i = 0; i < g->n_in; i++) {
        if (g->no_grad[i])
            continue;
        double *fd = malloc((size_t)in[i]->numel * sizeof(double));
        for (int64_t j = 0; j < in[i]->numel; j++) {
            double x = din[i][j];
            din[i][j] = x + h;
            double lp = ref_loss(g, din, ref, r, n);
            din[i][j] = x - h;
            double lm = ref_loss(g, din, ref, r, n);
            din[i][j] = x;
            fd[j] = (lp - lm) / (2.0 * h);
        }
        double ge = rel_err(in[i]->grad, fd, in[i]->numel);
        CHECK(ge <= grad_tol, "%s: input %d gradient relative error %.3g > %.3g", g->name, i, ge,
              grad_tol);
        free(fd);
    }
    for (int i = 0; i < g->n_in; i++)
        free(din[i]);
    free(r);
    free(ref);
    bn_tape_free(t);
}

/* ---- the ops and their float64 references ------------------------------------------------- */

enum { N = 6, D = 8, V = 11 };

static const int32_t ids[N] = {3, 0, 3, 10, 7, 3}; /* repeats: the backward must add */

static bn_status op_embedding(bn_tape *t, bn_var **in, bn_var **out, const void *ctx) {
    (void)ctx;
    return bn_op_embedding(t, in[0], ids, N, out);
}

static void ref_embedding(double *const *in, double *out, const void *ctx) {
    (void)ctx;
    for (int i = 0; i < N; i++)
        memcpy(out + i * D, in[0] + ids[i] * D, D * sizeof(double));
}

static const float norm_eps = 1e-5f;

static bn_status op_rmsnorm(bn_tape *t, bn_var **in, bn_var **out, const void *ctx) {
    (void)ctx;
    int64_t shape = D;
    bn_var *w = bn_tape_param(t, in[1]->data, in[1]->grad, 1, &shape);
    return bn_op_rmsnorm(t, in[0], w, norm_eps, out);
}

static void ref_rmsnorm(double *const *in, double *out, const void *ctx) {
    (void)ctx;
    for (int i = 0; i < N; i++) {
        double ss = 0.0;
        for (int j = 0; j < D; j++)
            ss += in[0][i * D + j] * in[0][i * D + j];
        double inv = 1.0 / sqrt(ss / D + norm_eps);
        for (int j = 0; j < D; j++)
            out[i * D + j] = in[0][i * D + j] * inv * in[1][j];
    }
}

/* Two weights sharing the input, the output their concatenation: [N, M0 + M1]. */
enum { M0 = 5, M1 = 3 };

static bn_status concat(bn_tape *t, bn_var *const *parts, bn_var **out);

static bn_status op_linear(bn_tape *t, bn_var **in, bn_var **out, const void *ctx) {
    (void)ctx;
    bn_var *y[2];
    BN_TRY(bn_op_linear(t, in[0], &in[1], 2, y));
    return concat(t, y, out);
}

static void matmul_t(const double *a, const double *b, double *c, int n, int m, int k, int ldc) {
    for (int i = 0; i < n; i++)
        for (int j = 0; j < m; j++) {
            double s = 0.0;
            for (int l = 0; l < k; l++)
                s += a[i * k + l] * b[j * k + l];
            c[i * ldc + j] = s;
        }
}

static void ref_linear(double *const *in, double *out, const void *ctx) {
    (void)ctx;
    matmul_t(in[0], in[1], out, N, M0, D, M0 + M1);
    matmul_t(in[0], in[2], out + M0, N, M1, D, M0 + M1);
}

/* A node that copies two [N, *] outputs side by side, so one projection covers both. */
static void concat_backward(bn_tape *t, const bn_node *n) {
    (void)t;
    int64_t w0 = n->in[0]->shape[1], w1 = n->in[1]->shape[1], rows = n->in[0]->shape[0];
    for (int64_t i = 0; i < rows; i++) {
        for (int64_t j = 0; j < w0; j++)
            n->in[0]->grad[i * w0 + j] += n->out->grad[i * (w0 + w1) + j];
        for (int64_t j = 0; j < w1; j++)
            n->in[1]->grad[i * w1 + j] += n->out->grad[i * (w0 + w1) + w0 + j];
    }
}

static bn_status concat(bn_tape *t, bn_var *const *parts, bn_var **out) {
    int64_t rows = parts[0]->shape[0], w0 = parts[0]->shape[1], w1 = parts[1]->shape[1];
    int64_t shape[2] = {rows, w0 + w1};
    bn_var *o = bn_tape_var(t, 2, shape, true);
    for (int64_t i = 0; i < rows; i++) {
        memcpy(o->data + i * (w0 + w1), parts[0]->data + i * w0, (size_t)w0 * sizeof(float));
        memcpy(o->data + i * (w0 + w1) + w0, parts[1]->data + i * w1, (size_t)w1 * sizeof(float));
    }
    *out = o;
    return bn_tape_push(t, concat_backward, o, parts, 2, NULL);
}

/* BitLinear's surrogate: the quantizers in float64, then a B^T. */
static void quant_weights(const double *w, int64_t n, double *wq) {
    double sum = 0.0;
    for (int64_t i = 0; i < n; i++)
        sum += fabs(w[i]);
    double gamma = fmax(sum / (double)n, 1e-5);
    for (int64_t i = 0; i < n; i++)
        wq[i] = fmin(fmax(nearbyint(w[i] / gamma), -1.0), 1.0) * gamma;
}

static void quant_acts(const double *x, int rows, int cols, double *xq) {
    for (int i = 0; i < rows; i++) {
        double mx = 0.0;
        for (int j = 0; j < cols; j++)
            mx = fmax(mx, fabs(x[i * cols + j]));
        double s = 127.0 / fmax(mx, 1e-5);
        for (int j = 0; j < cols; j++)
            xq[i * cols + j] = fmin(fmax(nearbyint(x[i * cols + j] * s), -128.0), 127.0) / s;
    }
}

/* The surrogate's point: the float inputs x0, W0, W1 the op saw and their quantized values
 * (a, B0, B1), recorded by op_bitlinear (which runs first) for ref_bitlinear. */
typedef struct surrogate {
    double x0[N * D], w00[M0 * D], w10[M1 * D];
    double a[N * D], b0[M0 * D], b1[M1 * D];
} surrogate;

static void to_double(const float *x, double *y, int n) {
    for (int i = 0; i < n; i++)
        y[i] = x[i];
}

static bn_status op_bitlinear(bn_tape *t, bn_var **in, bn_var **out, const void *ctx) {
    surrogate *s = (surrogate *)ctx;
    to_double(in[0]->data, s->x0, N * D);
    to_double(in[1]->data, s->w00, M0 * D);
    to_double(in[2]->data, s->w10, M1 * D);
    quant_acts(s->x0, N, D, s->a);
    quant_weights(s->w00, M0 * D, s->b0);
    quant_weights(s->w10, M1 * D, s->b1);
    bn_var *y[2];
    BN_TRY(bn_op_bitlinear(t, in[0], &in[1], 2, y));
    return concat(t, y, out);
}

/* y = a B^T at a = x~ + (x - x0) and so on: the finite differences move a, B0, B1 by what they
 * put on x, W0, W1, so they measure d/da at a = x~, the gradient the estimator passes on. */
static void ref_bitlinear(double *const *in, double *out, const void *ctx) {
    const surrogate *s = ctx;
    double a[N * D], b0[M0 * D], b1[M1 * D];
    for (int i = 0; i < N * D; i++)
        a[i] = s->a[i] + (in[0][i] - s->x0[i]);
    for (int i = 0; i < M0 * D; i++)
        b0[i] = s->b0[i] + (in[1][i] - s->w00[i]);
    for (int i = 0; i < M1 * D; i++)
        b1[i] = s->b1[i] + (in[2][i] - s->w10[i]);
    matmul_t(a, b0, out, N, M0, D, M0 + M1);
    matmul_t(a, b1, out + M0, N, M1, D, M0 + M1);
}

static bn_status op_matmul(bn_tape *t, bn_var **in, bn_var **out, const void *ctx) {
    (void)ctx;
    return bn_op_matmul(t, in[0], in[1], out);
}

static void ref_matmul(double *const *in, double *out, const void *ctx) {
    (void)ctx;
    for (int i = 0; i < N; i++)
        for (int j = 0; j < M0; j++) {
            double s = 0.0;
            for (int l = 0; l < D; l++)
                s += in[0][i * D + l] * in[1][l * M0 + j];
            out[i * M0 + j] = s;
        }
}

/* RoPE and attention: B sequences of T positions, H query heads over KV heads of size HD. */
enum { B = 2, T = 5, H = 4, KV = 2, HD = 4 };

typedef struct rope_ctx {
    float cs[T * HD];
} rope_ctx;

static bn_status op_rope(bn_tape *t, bn_var **in, bn_var **out, const void *ctx) {
    const rope_ctx *r = ctx;
    return bn_op_rope(t, in[0], T, H, HD, r->cs, out);
}

static void ref_rope(double *const *in, double *out, const void *ctx) {
    (void)ctx;
    for (int row = 0; row < B * T; row++)
        for (int h = 0; h < H; h++)
            for (int i = 0; i < HD / 2; i++) {
                double ang = (row % T) * pow(10000.0, -2.0 * i / HD);
                const double *x = in[0] + row * H * HD + h * HD;
                double *y = out + row * H * HD + h * HD;
                y[i] = x[i] * cos(ang) - x[i + HD / 2] * sin(ang);
                y[i + HD / 2] = x[i + HD / 2] * cos(ang) + x[i] * sin(ang);
            }
}

static bn_status op_attention(bn_tape *t, bn_var **in, bn_var **out, const void *ctx) {
    (void)ctx;
    return bn_op_attention(t, in[0], in[1], in[2], B, T, H, KV, HD, out);
}

static void ref_attention(double *const *in, double *out, const void *ctx) {
    (void)ctx;
    for (int b = 0; b < B; b++)
        for (int h = 0; h < H; h++) {
            int g = h / (H / KV);
            for (int i = 0; i < T; i++) {
                const double *q = in[0] + (b * T + i) * H * HD + h * HD;
                double s[T], mx = -INFINITY, sum = 0.0;
                for (int j = 0; j <= i; j++) {
                    const double *k = in[1] + (b * T + j) * KV * HD + g * HD;
                    s[j] = 0.0;
                    for (int d = 0; d < HD; d++)
                        s[j] += q[d] * k[d];
                    s[j] /= sqrt((double)HD);
                    mx = fmax(mx, s[j]);
                }
                for (int j = 0; j <= i; j++)
                    sum += (s[j] = exp(s[j] - mx));
                double *o = out + (b * T + i) * H * HD + h * HD;
                for (int d = 0; d < HD; d++) {
                    o[d] = 0.0;
                    for (int j = 0; j <= i; j++)
                        o[d] += s[j] / sum * in[2][(b * T + j) * KV * HD + g * HD + d];
                }
            }
        }
}

static bn_status op_gate(bn_tape *t, bn_var **in, bn_var **out, const void *ctx) {
    return bn_op_gate(t, in[0], in[1], *(const bn_act *)ctx, out);
}

static void ref_gate(double *const *in, double *out, const void *ctx) {
    bn_act act = *(const bn_act *)ctx;
    for (int i = 0; i < N * D; i++) {
        double x = in[0][i];
        double a = act == BN_ACT_RELU2 ? (x > 0 ? x * x : 0.0) : x / (1.0 + exp(-x));
        out[i] = a * in[1][i];
    }
}

static bn_status op_add(bn_tape *t, bn_var **in, bn_var **out, const void *ctx) {
    (void)ctx;
    return bn_op_add(t, in[0], in[1], out);
}

static void ref_add(double *const *in, double *out, const void *ctx) {
    (void)ctx;
    for (int i = 0; i < N * D; i++)
        out[i] = in[0][i] + in[1][i];
}

static const int32_t targets[N] = {1, 10, 0, 4, 4, 7};

static bn_status op_ce(bn_tape *t, bn_var **in, bn_var **out, const void *ctx) {
    (void)ctx;
    return bn_op_cross_entropy(t, in[0], in[1], targets, N, out);
}

static void ref_ce(double *const *in, double *out, const void *ctx) {
    (void)ctx;
    double total = 0.0;
    for (int i = 0; i < N; i++) {
        double l[V], mx = -INFINITY, sum = 0.0;
        matmul_t(in[0] + i * D, in[1], l, 1, V, D, V);
        for (int v = 0; v < V; v++)
            mx = fmax(mx, l[v]);
        for (int v = 0; v < V; v++)
            sum += exp(l[v] - mx);
        total += mx + log(sum) - l[targets[i]];
    }
    out[0] = total / N;
}

int main(void) {
    check_case(&(gcase){"embedding", 1, {V}, {D}, {false}, op_embedding, ref_embedding, NULL, 1.0},
               1e-7, 1e-6);
    check_case(&(gcase){"rmsnorm", 2, {N, 1}, {D, D}, {false}, op_rmsnorm, ref_rmsnorm, NULL, 1.0},
               1e-6, 1e-5);
    check_case(
        &(gcase){"linear", 3, {N, M0, M1}, {D, D, D}, {false}, op_linear, ref_linear, NULL, 1.0},
        1e-6, 1e-5);
    check_case(&(gcase){"matmul", 2, {N, D}, {D, M0}, {false}, op_matmul, ref_matmul, NULL, 1.0},
               1e-6, 1e-5);

    static surrogate sur;
    check_case(&(gcase){"bitlinear",
                        3,
                        {N, M0, M1},
                        {D, D, D},
                        {false},
                        op_bitlinear,
                        ref_bitlinear,
                        &sur,
                        1.0},
               1e-6, 1e-5);

    static rope_ctx rc;
    for (int p = 0; p < T; p++)
        bn_rope_table(rc.cs + p * HD, HD, (float)p, 10000.0f);
    check_case(&(gcase){"rope", 1, {B * T}, {H * HD}, {false}, op_rope, ref_rope, &rc, 1.0}, 1e-6,
               1e-5);
    check_case(&(gcase){"attention",
                        3,
                        {B * T, B * T, B * T},
                        {H * HD, KV * HD, KV * HD},
                        {false},
                        op_attention,
                        ref_attention,
                        NULL,
                        1.5},
               1e-6, 1e-5);
    bn_act relu2 = BN_ACT_RELU2, silu = BN_ACT_SILU;
    check_case(&(gcase){"gate relu2", 2, {N, N}, {D, D}, {false}, op_gate, ref_gate, &relu2, 2.0},
               1e-6, 1e-5);
    check_case(&(gcase){"gate silu", 2, {N, N}, {D, D}, {false}, op_gate, ref_gate, &silu, 2.0},
               1e-6, 1e-5);
    check_case(&(gcase){"add", 2, {N, N}, {D, D}, {false}, op_add, ref_add, NULL, 1.0}, 1e-7, 1e-6);
    check_case(&(gcase){"cross-entropy", 2, {N, V}, {D, D}, {false}, op_ce, ref_ce, NULL, 1.0},
               1e-6, 1e-5);
    return bn_test_finish("test_train_ops");
}
