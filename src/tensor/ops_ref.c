/*
 * ops_ref.c - scalar reference operations: the specification fast kernels are held to.
 *
 * Written for clarity, in float32 as the models run, in a fixed order of accumulation.
 */
#include "tensor/ops_ref.h"

#include <math.h>
#include <string.h>

void bn_ref_add(float *out, const float *a, const float *b, size_t n) {
    for (size_t i = 0; i < n; i++)
        out[i] = a[i] + b[i];
}

void bn_ref_mul(float *out, const float *a, const float *b, size_t n) {
    for (size_t i = 0; i < n; i++)
        out[i] = a[i] * b[i];
}

void bn_ref_scale(float *out, const float *x, float s, size_t n) {
    for (size_t i = 0; i < n; i++)
        out[i] = s * x[i];
}

void bn_ref_matmul(float *out, const float *x, const float *w, int64_t M, int64_t N, int64_t K) {
    for (int64_t m = 0; m < M; m++) {
        for (int64_t n = 0; n < N; n++) {
            float acc = 0.0f;
            for (int64_t k = 0; k < K; k++)
                acc += x[m * K + k] * w[n * K + k];
            out[m * N + n] = acc;
        }
    }
}

void bn_ref_softmax(float *x, size_t n) {
    float max = x[0];
    for (size_t i = 1; i < n; i++)
        if (x[i] > max)
            max = x[i];
    float sum = 0.0f;
    for (size_t i = 0; i < n; i++) {
        x[i] = expf(x[i] - max);
        sum += x[i];
    }
    for (size_t i = 0; i < n; i++)
        x[i] /= sum;
}

/* The mean of squares is summed in double: torch sums in a tree, so a plain float running sum
 * drifts from it by more than the double sum does, and every drift can flip the int8 rounding of
 * the activation quantization that follows a norm in BitNet. */
/* The squares are exact in double; they are summed in four interleaved partial sums (element i
 * into sum i % 4, then (s0 + s1) + (s2 + s3)), so the additions are four independent chains the
 * compiler vectorizes instead of one chain of n dependent adds (3.6% of a prompt's time); any
 * path that sums otherwise must use this order to give the same bits. */
float bn_ref_rmsnorm_inv(const float *x, size_t n, float eps) {
    double s[4] = {0.0, 0.0, 0.0, 0.0};
    size_t i = 0;
    for (; i + 4 <= n; i += 4)
        for (int l = 0; l < 4; l++)
            s[l] += (double)x[i + l] * x[i + l];
    for (; i < n; i++)
        s[i % 4] += (double)x[i] * x[i];
    double ss = (s[0] + s[1]) + (s[2] + s[3]);
    return 1.0f / sqrtf((float)(ss / (double)n) + eps);
}

void bn_ref_rmsnorm(float *out, const float *x, const float *w, size_t n, float eps) {
    float inv = bn_ref_rmsnorm_inv(x, n, eps);
    for (size_t i = 0; i < n; i++)
        out[i] = w ? x[i] * inv * w[i] : x[i] * inv;
}

bool bn_all_finite(const float *x, size_t n) {
    uint32_t inf_or_nan = 0; /* the exponent's bits all set: the add carries into bit 31 */
    for (size_t i = 0; i < n; i++) {
        uint32_t b;
        memcpy(&b, &x[i], sizeof b);
        inf_or_nan |= (b & 0x7f800000u) + 0x00800000u;
    }
    return (inf_or_nan & 0x80000000u) == 0;
}

/* inv_freq[i] = theta^(-2i/n_rot), computed as HF does in float32: 1 / theta^(2i/n_rot). */
static float rope_angle(float pos, int i, int n_rot, float theta) {
    float inv_freq = 1.0f / powf(theta, (float)(2 * i) / (float)n_rot);
    return pos * inv_freq;
}

void bn_rope_table(float *cs, int n_rot, float pos, float theta) {
    int half = n_rot / 2;
    for (int i = 0; i < half; i++) {
        float a = rope_angle(pos, i, n_rot, theta);
        cs[i] = cosf(a);
        cs[half + i] = sinf(a);
    }
}

void bn_rope_neox_apply(float *x, int n_heads, int head_dim, int n_rot, const float *cs) {
    int half = n_rot / 2;
    for (int h = 0; h < n_heads; h++) {
        float *v = x + (size_t)h * (size_t)head_dim;
        for (int i = 0; i < half; i++) {
            float c = cs[i], s = cs[half + i];
            float x0 = v[i], x1 = v[i + half];
            v[i] = x0 * c - x1 * s;
            v[i + half] = x1 * c + x0 * s;
        }
    }
}

void bn_ref_rope_neox(float *x, int n_heads, int head_dim, int n_rot, int pos, float theta) {
    float cs[1024];
    bn_rope_table(cs, n_rot, (float)pos, theta);
    bn_rope_neox_apply(x, n_heads, head_dim, n_rot, cs);
}

void bn_ref_rope_gptj(float *x, int n_heads, int head_dim, int n_rot, int pos, float theta) {
    for (int h = 0; h < n_heads; h++) {
        float *v = x + (size_t)h * (size_t)head_dim;
        for (int i = 0; i < n_rot / 2; i++) {
            float a = rope_angle((float)pos, i, n_rot, theta);
            float c = cosf(a), s = sinf(a);
            float x0 = v[2 * i], x1 = v[2 * i + 1];
            v[2 * i] = x0 * c - x1 * s;
            v[2 * i + 1] = x1 * c + x0 * s;
        }
    }
}

static float relu1(float x) {
    return x > 0.0f ? x : 0.0f;
}

static float relu2_1(float x) {
    float r = relu1(x);
    return r * r;
}

static float silu1(float x) {
    return x / (1.0f + expf(-x));
}

static float activate(float x, bn_act act) {
    switch (act) {
    case BN_ACT_RELU:
        return relu1(x);
    case BN_ACT_RELU2:
        return relu2_1(x);
    case BN_ACT_SILU:
        return silu1(x);
    }
    return x;
}

void bn_ref_relu(float *out, const float *x, size_t n) {
    for (size_t i = 0; i < n; i++)
        out[i] = relu1(x[i]);
}

void bn_ref_relu2(float *out, const float *x, size_t n) {
    for (size_t i = 0; i < n; i++)
        out[i] = relu2_1(x[i]);
}

void bn_ref_silu(float *out, const float *x, size_t n) {
    for (size_t i = 0; i < n; i++)
        out[i] = silu1(x[i]);
}

void bn_ref_gated(float *out, const float *gate, const float *up, size_t n, bn_act act) {
    /* One loop per activation, so the compiler vectorizes the ReLU ones (a switch inside the
     * loop kept it scalar: 4% of a prompt's time); the values are the same. */
    switch (act) {
    case BN_ACT_RELU2:
        for (size_t i = 0; i < n; i++)
            out[i] = relu2_1(gate[i]) * up[i];
        return;
    case BN_ACT_RELU:
        for (size_t i = 0; i < n; i++)
            out[i] = relu1(gate[i]) * up[i];
        return;
    default:
        for (size_t i = 0; i < n; i++)
            out[i] = activate(gate[i], act) * up[i];
    }
}

size_t bn_ref_argmax(const float *x, size_t n) {
    size_t best = 0;
    while (best < n && isnan(x[best]))
        best++;
    if (best == n)
        return 0;
    for (size_t i = best + 1; i < n; i++)
        if (x[i] > x[best])
            best = i;
    return best;
}

bn_status bn_ref_embedding(float *out, const bn_tensor *table, const int32_t *ids, size_t n_ids) {
    const bn_dtype_traits *tr = bn_dtype_get(table->dtype);
    if (table->ndim != 2)
        return BN_ERROR(BN_ERR_SHAPE, "embedding: table has %d dimensions, want 2 [vocab, dim]",
                        table->ndim);
    if (tr == NULL || tr->to_f32 == NULL)
        return BN_ERROR(BN_ERR_DTYPE, "embedding: type %s cannot be decoded",
                        bn_dtype_name(table->dtype));
    if (table->stride[1] != 1)
        return BN_ERROR(BN_ERR_UNSUPPORTED, "embedding: table rows must be contiguous");
    int64_t vocab = table->shape[0], dim = table->shape[1];
    for (size_t i = 0; i < n_ids; i++) {
        if (ids[i] < 0 || ids[i] >= vocab)
            return BN_ERROR(BN_ERR_RANGE,
                            "embedding: token id %d at position %zu is outside [0, %lld)", ids[i],
                            i, (long long)vocab);
        int64_t off = (int64_t)ids[i] * table->stride[0];
        const char *row =
            (const char *)table->data + (size_t)(off / tr->block_size) * tr->block_bytes;
        tr->to_f32(row, out + i * (size_t)dim, dim);
    }
    return BN_OK;
}
