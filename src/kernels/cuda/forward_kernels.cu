/*
 * forward_kernels.cu - the kernels of one BitNet forward pass on the GPU (contract in
 * forward_kernels.h). Written for clarity first: one block per row where a row is reduced (the
 * norms and quantization, the attention of a head), one warp per output row where a row is
 * dotted (the ternary products, the head).
 */
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/forward_kernels.h"

#include <cuda_fp16.h>
#include <math.h>
#include <stdint.h>

#define BLOCK 256 /* threads of the row-reducing kernels */
#define WARPS 8   /* warps (output rows) per block of the row-dotting kernels */

/* Activation codes of bn_act (tensor/ops_ref.h). */
enum { ACT_RELU = 0, ACT_RELU2 = 1, ACT_SILU = 2 };

/* ---- block reductions ---------------------------------------------------------------------- */

/* A block-wide reduction of one value per thread with combine(a, b): a warp's lanes by
 * shuffles, then the warps' results by the first warp; identity fills the lanes past the last
 * warp. Every thread gets the total; shared (32 slots) is free again on return. */
#define BLOCK_REDUCE(name, T, combine)                                                         \
    __device__ static T name(T v, T identity, T *shared) {                                    \
        for (int o = 16; o > 0; o /= 2)                                                        \
            v = combine(v, __shfl_down_sync(0xffffffffu, v, o));                               \
        int warp = threadIdx.x / 32, lane = threadIdx.x % 32;                                  \
        if (lane == 0)                                                                         \
            shared[warp] = v;                                                                  \
        __syncthreads();                                                                       \
        if (warp == 0) {                                                                       \
            v = lane < (int)(blockDim.x / 32) ? shared[lane] : identity;                       \
            for (int o = 16; o > 0; o /= 2)                                                    \
                v = combine(v, __shfl_down_sync(0xffffffffu, v, o));                           \
            if (lane == 0)                                                                     \
                shared[0] = v;                                                                 \
        }                                                                                      \
        __syncthreads();                                                                       \
        T total = shared[0];                                                                   \
        __syncthreads();                                                                       \
        return total;                                                                          \
    }

#define ADD(a, b) ((a) + (b))
BLOCK_REDUCE(block_sum_double, double, ADD)
BLOCK_REDUCE(block_sum_float, float, ADD)
BLOCK_REDUCE(block_sum_int, int, ADD)
BLOCK_REDUCE(block_max, float, fmaxf) /* NaN never wins, as in the CPU's absmax */

/* 1 / sqrt(mean(x^2) + eps) of a row, the CPU's expression (sum in double). */
__device__ static float rms_inv(const float *x, int n, float eps, double *shared) {
    double s = 0.0;
    for (int i = threadIdx.x; i < n; i += blockDim.x)
        s += (double)x[i] * x[i];
    double ss = block_sum_double(s, 0.0, shared);
    return 1.0f / sqrtf((float)(ss / (double)n) + eps);
}

/* ---- kernels ------------------------------------------------------------------------------- */

__global__ static void embed_kernel(const __half *table, const int32_t *tokens, int dim,
                                    float *out) {
    const __half *row = table + (size_t)tokens[blockIdx.x] * dim;
    for (int d = threadIdx.x; d < dim; d += blockDim.x)
        out[(size_t)blockIdx.x * dim + d] = __half2float(row[d]);
}

__device__ static float activate(float g, int act) {
    if (act == ACT_SILU)
        return g / (1.0f + expf(-g));
    float r = fmaxf(g, 0.0f); /* 0 for NaN, as the CPU's max */
    return act == ACT_RELU2 ? r * r : r;
}

/* One block per row: the steps of bn_cuda_bitlinear_input. */
__global__ static void bitlinear_input_kernel(float *x, const float *src, const float *up, int act,
                                              const float *norm, float eps, int n, int kp,
                                              int8_t *xq, float *xs, int32_t *xsum) {
    __shared__ double dshared[32];
    __shared__ float fshared[32];
    __shared__ int ishared[32];
    float *row = x + (size_t)blockIdx.x * n;
    if (src != NULL)
        for (int i = threadIdx.x; i < n; i += blockDim.x)
            row[i] = src[(size_t)blockIdx.x * n + i];
    if (up != NULL)
        for (int i = threadIdx.x; i < n; i += blockDim.x)
            row[i] = activate(row[i], act) * up[(size_t)blockIdx.x * n + i];
    __syncthreads();
    if (norm != NULL) {
        float inv = rms_inv(row, n, eps, dshared);
        for (int i = threadIdx.x; i < n; i += blockDim.x)
            row[i] = row[i] * inv * norm[i];
        __syncthreads();
    }
    float amax = 0.0f;
    for (int i = threadIdx.x; i < n; i += blockDim.x)
        amax = fmaxf(amax, fabsf(row[i]));
    amax = block_max(amax, 0.0f, fshared);
    float s = 127.0f / (amax > 1e-5f ? amax : 1e-5f);
    int sum = 0;
    int8_t *q = xq + (size_t)blockIdx.x * kp;
    for (int i = threadIdx.x; i < kp; i += blockDim.x) {
        int v = 0;
        if (i < n) {
            float r = rintf(row[i] * s); /* round half to even, as nearbyintf */
            v = isnan(r) ? 0 : (r > 127.0f ? 127 : (r < -128.0f ? -128 : (int)r));
        }
        q[i] = (int8_t)v;
        sum += v;
    }
    sum = block_sum_int(sum, 0, ishared);
    if (threadIdx.x == 0) {
        xs[blockIdx.x] = s;
        xsum[blockIdx.x] = sum;
    }
}

/* Warp per weight row, grid.y = token. Block b (16 bytes) of a row: four 32-bit words; bits
 * 2p..2p+1 of byte j (j = 4 w + i in word w) code value 16 p + 4 w + i of the block, so
 * (word_w >> 2p) & 0x03030303 holds the codes of four consecutive values, which line up with
 * one 32-bit word of activations for __dp4a. */
__global__ static void ternary_gemv_kernel(const uint8_t *w, int n_rows, int kp, float w_scale,
                                           const int8_t *xq, const float *xs, const int32_t *xsum,
                                           float *y) {
    int row = blockIdx.x * WARPS + threadIdx.x / 32, lane = threadIdx.x % 32, t = blockIdx.y;
    if (row >= n_rows)
        return;
    const uint4 *wrow = (const uint4 *)(w + (size_t)row * (kp / 4));
    const int4 *x = (const int4 *)(xq + (size_t)t * kp);
    int acc = 0;
    for (int b = lane; b < kp / 64; b += 32) {
        uint4 packed = wrow[b];
        unsigned words[4] = {packed.x, packed.y, packed.z, packed.w};
        for (int p = 0; p < 4; p++) {
            int4 a = x[b * 4 + p]; /* values 64 b + 16 p .. + 15 */
            int acts[4] = {a.x, a.y, a.z, a.w};
            for (int k = 0; k < 4; k++)
                acc = __dp4a((int)((words[k] >> (2 * p)) & 0x03030303u), acts[k], acc);
        }
    }
    for (int o = 16; o > 0; o /= 2)
        acc += __shfl_down_sync(0xffffffffu, acc, o);
    if (lane == 0)
        y[(size_t)t * n_rows + row] = (float)(acc - xsum[t]) * (w_scale / xs[t]);
}

__global__ static void rope_kernel(float *q, float *k, const float *rope, const int32_t *pos,
                                   int n_heads, int n_kv_heads, int head_dim, int n_rot) {
    int half = n_rot / 2;
    const float *cs = rope + (size_t)pos[blockIdx.x] * n_rot;
    int total = (n_heads + n_kv_heads) * half;
    for (int i = threadIdx.x; i < total; i += blockDim.x) {
        int h = i / half, j = i % half;
        float *v = h < n_heads ? q + ((size_t)blockIdx.x * n_heads + h) * head_dim
                               : k + ((size_t)blockIdx.x * n_kv_heads + (h - n_heads)) * head_dim;
        float c = cs[j], s = cs[half + j], x0 = v[j], x1 = v[j + half];
        v[j] = x0 * c - x1 * s;
        v[j + half] = x1 * c + x0 * s;
    }
}

__device__ static size_t cache_at(int seq, int layer, int pos, int n_layers, int n_ctx,
                                  int kv_dim) {
    return (((size_t)seq * n_layers + layer) * n_ctx + pos) * kv_dim;
}

__global__ static void kv_store_kernel(const float *k, const float *v, void *k_cache,
                                       void *v_cache, bool f16, const int32_t *seq,
                                       const int32_t *pos, int layer, int n_layers, int n_ctx,
                                       int kv_dim) {
    size_t at = cache_at(seq[blockIdx.x], layer, pos[blockIdx.x], n_layers, n_ctx, kv_dim);
    for (int i = threadIdx.x; i < kv_dim; i += blockDim.x) {
        float kv = k[(size_t)blockIdx.x * kv_dim + i], vv = v[(size_t)blockIdx.x * kv_dim + i];
        if (f16) {
            ((__half *)k_cache)[at + i] = __float2half_rn(kv);
            ((__half *)v_cache)[at + i] = __float2half_rn(vv);
        } else {
            ((float *)k_cache)[at + i] = kv;
            ((float *)v_cache)[at + i] = vv;
        }
    }
}

__device__ static float cache_get(const void *cache, bool f16, size_t i) {
    return f16 ? __half2float(((const __half *)cache)[i]) : ((const float *)cache)[i];
}

/* Block per (head, row): scores of positions 0..pos, softmax, the weighted sum of values. */
__global__ static void attention_kernel(const float *q, const void *k_cache, const void *v_cache,
                                        bool f16, const int32_t *seq, const int32_t *pos,
                                        int layer, int n_layers, int n_ctx, int n_heads,
                                        int n_kv_heads, int head_dim, float scale, float *scores,
                                        float *out) {
    __shared__ float shared[32];
    int h = blockIdx.x, r = blockIdx.y, n = pos[r] + 1;
    int kvh = h / (n_heads / n_kv_heads), kv_dim = n_kv_heads * head_dim;
    const float *qh = q + ((size_t)r * n_heads + h) * head_dim;
    float *sc = scores + ((size_t)r * n_heads + h) * n_ctx;
    size_t base = cache_at(seq[r], layer, 0, n_layers, n_ctx, kv_dim) + (size_t)kvh * head_dim;
    float top = -INFINITY;
    for (int t = threadIdx.x; t < n; t += blockDim.x) {
        float dot = 0.0f;
        for (int d = 0; d < head_dim; d++)
            dot += qh[d] * cache_get(k_cache, f16, base + (size_t)t * kv_dim + d);
        sc[t] = dot * scale;
        top = fmaxf(top, sc[t]);
    }
    top = block_max(top, -INFINITY, shared);
    float sum = 0.0f;
    for (int t = threadIdx.x; t < n; t += blockDim.x) {
        sc[t] = expf(sc[t] - top);
        sum += sc[t];
    }
    sum = block_sum_float(sum, 0.0f, shared); /* also orders sc's writes before the reads */
    float *o = out + ((size_t)r * n_heads + h) * head_dim;
    for (int d = threadIdx.x; d < head_dim; d += blockDim.x) {
        float acc = 0.0f;
        for (int t = 0; t < n; t++)
            acc += sc[t] * cache_get(v_cache, f16, base + (size_t)t * kv_dim + d);
        o[d] = acc / sum;
    }
}

__global__ static void add_kernel(float *x, const float *y, size_t n) {
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n)
        x[i] += y[i];
}

__global__ static void rmsnorm_rows_kernel(const float *x, const int32_t *rows, int dim,
                                           const float *norm, float eps, float *out) {
    __shared__ double shared[32];
    const float *row = x + (size_t)rows[blockIdx.x] * dim;
    float inv = rms_inv(row, dim, eps, shared);
    for (int i = threadIdx.x; i < dim; i += blockDim.x)
        out[(size_t)blockIdx.x * dim + i] = row[i] * inv * norm[i];
}

/* Warp per vocabulary row, grid.y = token row. */
__global__ static void head_f16_kernel(const __half *head, int n_vocab, int dim, const float *xn,
                                       float *logits) {
    int v = blockIdx.x * WARPS + threadIdx.x / 32, lane = threadIdx.x % 32, j = blockIdx.y;
    if (v >= n_vocab)
        return;
    const __half *row = head + (size_t)v * dim;
    const float *x = xn + (size_t)j * dim;
    float acc = 0.0f;
    for (int d = lane; d < dim; d += 32)
        acc += __half2float(row[d]) * x[d];
    for (int o = 16; o > 0; o /= 2)
        acc += __shfl_down_sync(0xffffffffu, acc, o);
    if (lane == 0)
        logits[(size_t)j * n_vocab + v] = acc;
}

/* ---- launchers ----------------------------------------------------------------------------- */

#define LAUNCHED(what) bn_cuda_check_at(cudaGetLastError(), what, __FILE__, __LINE__)

static cudaStream_t as_stream(void *s) {
    return (cudaStream_t)s;
}

static bn_status bad_size(const char *what) {
    return BN_ERROR(BN_ERR_INVALID_ARG, "%s: sizes out of range", what);
}

extern "C" bn_status bn_cuda_embed_f16(const uint16_t *table, const int32_t *tokens, int m,
                                       int dim, float *out, void *stream) {
    if (m <= 0 || dim <= 0)
        return bad_size("cuda embed");
    embed_kernel<<<m, BLOCK, 0, as_stream(stream)>>>((const __half *)table, tokens, dim, out);
    return LAUNCHED("embed_kernel");
}

extern "C" bn_status bn_cuda_bitlinear_input(float *x, const float *src, const float *up, int act,
                                             const float *norm, float eps, int m, int n, int kp,
                                             int8_t *xq, float *xs, int32_t *xsum, void *stream) {
    if (m <= 0 || n <= 0 || kp < n || kp % 64 != 0)
        return bad_size("cuda bitlinear input");
    bitlinear_input_kernel<<<m, BLOCK, 0, as_stream(stream)>>>(x, src, up, act, norm, eps, n, kp,
                                                               xq, xs, xsum);
    return LAUNCHED("bitlinear_input_kernel");
}

extern "C" bn_status bn_cuda_ternary_gemv(const uint8_t *w, int n_rows, int kp, float w_scale,
                                          const int8_t *xq, const float *xs, const int32_t *xsum,
                                          int m, float *y, void *stream) {
    if (n_rows <= 0 || m <= 0 || m > 65535 || kp <= 0 || kp % 64 != 0)
        return bad_size("cuda ternary gemv");
    dim3 grid((unsigned)((n_rows + WARPS - 1) / WARPS), (unsigned)m);
    ternary_gemv_kernel<<<grid, 32 * WARPS, 0, as_stream(stream)>>>(w, n_rows, kp, w_scale, xq, xs,
                                                                    xsum, y);
    return LAUNCHED("ternary_gemv_kernel");
}

extern "C" bn_status bn_cuda_rope_neox(float *q, float *k, const float *rope, const int32_t *pos,
                                       int m, int n_heads, int n_kv_heads, int head_dim, int n_rot,
                                       void *stream) {
    if (m <= 0 || n_rot <= 0 || n_rot % 2 != 0 || n_rot > head_dim)
        return bad_size("cuda rope");
    rope_kernel<<<m, BLOCK, 0, as_stream(stream)>>>(q, k, rope, pos, n_heads, n_kv_heads, head_dim,
                                                    n_rot);
    return LAUNCHED("rope_kernel");
}

extern "C" bn_status bn_cuda_kv_store(const float *k, const float *v, void *k_cache, void *v_cache,
                                      bool f16, const int32_t *seq, const int32_t *pos, int m,
                                      int layer, int n_layers, int n_ctx, int kv_dim,
                                      void *stream) {
    if (m <= 0 || kv_dim <= 0 || layer < 0 || layer >= n_layers)
        return bad_size("cuda kv store");
    kv_store_kernel<<<m, BLOCK, 0, as_stream(stream)>>>(k, v, k_cache, v_cache, f16, seq, pos,
                                                        layer, n_layers, n_ctx, kv_dim);
    return LAUNCHED("kv_store_kernel");
}

extern "C" bn_status bn_cuda_attention(const float *q, const void *k_cache, const void *v_cache,
                                       bool f16, const int32_t *seq, const int32_t *pos, int m,
                                       int layer, int n_layers, int n_ctx, int n_heads,
                                       int n_kv_heads, int head_dim, float scale, float *scores,
                                       float *out, void *stream) {
    if (m <= 0 || m > 65535 || n_kv_heads <= 0 || n_heads % n_kv_heads != 0 || head_dim <= 0)
        return bad_size("cuda attention");
    dim3 grid((unsigned)n_heads, (unsigned)m);
    attention_kernel<<<grid, 128, 0, as_stream(stream)>>>(q, k_cache, v_cache, f16, seq, pos, layer,
                                                          n_layers, n_ctx, n_heads, n_kv_heads,
                                                          head_dim, scale, scores, out);
    return LAUNCHED("attention_kernel");
}

extern "C" bn_status bn_cuda_add(float *x, const float *y, size_t n, void *stream) {
    if (n == 0)
        return BN_OK;
    add_kernel<<<(unsigned)((n + BLOCK - 1) / BLOCK), BLOCK, 0, as_stream(stream)>>>(x, y, n);
    return LAUNCHED("add_kernel");
}

extern "C" bn_status bn_cuda_rmsnorm_rows(const float *x, const int32_t *rows, int k, int dim,
                                          const float *norm, float eps, float *out, void *stream) {
    if (k <= 0 || dim <= 0)
        return bad_size("cuda rmsnorm rows");
    rmsnorm_rows_kernel<<<k, BLOCK, 0, as_stream(stream)>>>(x, rows, dim, norm, eps, out);
    return LAUNCHED("rmsnorm_rows_kernel");
}

extern "C" bn_status bn_cuda_head_f16(const uint16_t *head, int n_vocab, int dim, const float *xn,
                                      int k, float *logits, void *stream) {
    if (n_vocab <= 0 || dim <= 0 || k <= 0 || k > 65535)
        return bad_size("cuda head");
    dim3 grid((unsigned)((n_vocab + WARPS - 1) / WARPS), (unsigned)k);
    head_f16_kernel<<<grid, 32 * WARPS, 0, as_stream(stream)>>>((const __half *)head, n_vocab, dim,
                                                                xn, logits);
    return LAUNCHED("head_f16_kernel");
}

extern "C" bn_status bn_cuda_copy_to_device_async(void *dst, const void *src, size_t bytes,
                                                  void *stream) {
    BN_CUDA_TRY(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, as_stream(stream)));
    return BN_OK;
}

extern "C" bn_status bn_cuda_copy_to_host_async(void *dst, const void *src, size_t bytes,
                                                void *stream) {
    BN_CUDA_TRY(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, as_stream(stream)));
    return BN_OK;
}

extern "C" bn_status bn_cuda_stream_create(void **stream) {
    cudaStream_t s;
    BN_CUDA_TRY(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
    *stream = s;
    return BN_OK;
}

extern "C" void bn_cuda_stream_destroy(void *stream) {
    if (stream != NULL)
        cudaStreamDestroy(as_stream(stream));
}

extern "C" bn_status bn_cuda_stream_sync(void *stream) {
    BN_CUDA_TRY(cudaStreamSynchronize(as_stream(stream)));
    return BN_OK;
}

extern "C" bn_status bn_cuda_memset(void *ptr, int value, size_t bytes) {
    BN_CUDA_TRY(cudaMemset(ptr, value, bytes));
    return BN_OK;
}
