/*
 * tensor.c - shapes, strides, views and copies of bn_tensor.
 *
 * The one subtle point is packed types (block_size > 1): an element offset is turned into bytes
 * as (offset / block_size) * block_bytes, which is only meaningful at block boundaries. We keep
 * that true by construction: the innermost dimension stays contiguous with whole blocks, so
 * every outer stride is a multiple of the block size.
 */
#include "tensor/tensor.h"

#include <stdio.h>
#include <string.h>

static const bn_dtype_traits *traits_of(const bn_tensor *t) {
    return bn_dtype_get(t->dtype);
}

/* Bytes from the start of a tensor's storage to the element at offset `elems`. */
static size_t byte_offset(const bn_dtype_traits *tr, int64_t elems) {
    return (size_t)(elems / tr->block_size) * tr->block_bytes;
}

static bn_status check_shape(bn_dtype dtype, int ndim, const int64_t *shape) {
    const bn_dtype_traits *tr = bn_dtype_get(dtype);
    if (tr == NULL)
        return BN_ERROR(BN_ERR_DTYPE, "tensor: invalid data type id %d", (int)dtype);
    if (ndim < 0 || ndim > BN_MAX_DIMS)
        return BN_ERROR(BN_ERR_SHAPE, "tensor: %d dimensions (at most %d)", ndim, BN_MAX_DIMS);
    int64_t numel = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] <= 0)
            return BN_ERROR(BN_ERR_SHAPE, "tensor: dimension %d is %lld (must be > 0)", i,
                            (long long)shape[i]);
        if (numel > INT64_MAX / shape[i])
            return BN_ERROR(BN_ERR_RANGE, "tensor: element count overflows at dimension %d", i);
        numel *= shape[i];
    }
    int64_t inner = ndim > 0 ? shape[ndim - 1] : 1;
    if (inner % tr->block_size != 0)
        return BN_ERROR(BN_ERR_SHAPE,
                        "tensor: innermost dimension %lld is not a whole number of %s blocks "
                        "(%lld values each)",
                        (long long)inner, tr->name, (long long)tr->block_size);
    if ((uint64_t)(numel / tr->block_size) > SIZE_MAX / tr->block_bytes)
        return BN_ERROR(BN_ERR_RANGE, "tensor: %lld %s values overflow size_t", (long long)numel,
                        tr->name);
    return BN_OK;
}

static void set_contiguous(bn_tensor *t, bn_dtype dtype, int ndim, const int64_t *shape) {
    t->dtype = dtype;
    t->ndim = ndim;
    int64_t stride = 1;
    for (int i = BN_MAX_DIMS - 1; i >= 0; i--) {
        if (i < ndim) {
            t->shape[i] = shape[i];
            t->stride[i] = stride;
            stride *= shape[i];
        } else {
            t->shape[i] = 1;
            t->stride[i] = 0;
        }
    }
}

bn_status bn_tensor_wrap(bn_tensor *t, bn_dtype dtype, int ndim, const int64_t *shape, void *data) {
    BN_TRY(check_shape(dtype, ndim, shape));
    memset(t, 0, sizeof *t);
    set_contiguous(t, dtype, ndim, shape);
    t->device = BN_DEVICE_CPU;
    t->data = data;
    t->ownership = BN_OWN_BORROWED;
    return BN_OK;
}

bn_status bn_tensor_alloc(bn_tensor *t, bn_dtype dtype, int ndim, const int64_t *shape,
                          bn_pool *pool) {
    BN_TRY(bn_tensor_wrap(t, dtype, ndim, shape, NULL));
    size_t bytes = bn_tensor_nbytes(t);
    void *data = pool ? bn_pool_alloc(pool, bytes) : bn_aligned_alloc(bytes);
    if (data == NULL)
        return BN_ERR_OUT_OF_MEMORY; /* the allocator set the message */
    memset(data, 0, bytes);
    t->data = data;
    t->ownership = pool ? BN_OWN_POOL : BN_OWN_OWNED;
    t->pool = pool;
    return BN_OK;
}

void bn_tensor_free(bn_tensor *t) {
    if (t == NULL)
        return;
    if (t->ownership == BN_OWN_OWNED)
        bn_aligned_free(t->data);
    else if (t->ownership == BN_OWN_POOL)
        bn_pool_free(t->pool, t->data);
    memset(t, 0, sizeof *t);
}

int64_t bn_tensor_numel(const bn_tensor *t) {
    int64_t n = 1;
    for (int i = 0; i < t->ndim; i++)
        n *= t->shape[i];
    return n;
}

size_t bn_tensor_nbytes(const bn_tensor *t) {
    const bn_dtype_traits *tr = traits_of(t);
    return byte_offset(tr, bn_tensor_numel(t)) + tr->tensor_tail_bytes;
}

bool bn_tensor_is_contiguous(const bn_tensor *t) {
    int64_t stride = 1;
    for (int i = t->ndim - 1; i >= 0; i--) {
        if (t->shape[i] != 1 && t->stride[i] != stride)
            return false;
        stride *= t->shape[i];
    }
    return true;
}

static bn_status check_dim(const bn_tensor *t, int dim, const char *op) {
    if (dim < 0 || dim >= t->ndim)
        return BN_ERROR(BN_ERR_INVALID_ARG, "%s: dimension %d of a %d-dimensional tensor", op, dim,
                        t->ndim);
    return BN_OK;
}

bn_status bn_tensor_slice(const bn_tensor *src, int dim, int64_t start, int64_t len,
                          bn_tensor *out) {
    BN_TRY(check_dim(src, dim, "slice"));
    if (start < 0 || len <= 0 || start > src->shape[dim] - len)
        return BN_ERROR(BN_ERR_RANGE, "slice: [%lld, %lld) is outside dimension %d of size %lld",
                        (long long)start, (long long)(start + len), dim,
                        (long long)src->shape[dim]);
    const bn_dtype_traits *tr = traits_of(src);
    if (dim == src->ndim - 1 && (start % tr->block_size != 0 || len % tr->block_size != 0))
        return BN_ERROR(BN_ERR_SHAPE,
                        "slice: [%lld, %lld) of the innermost dimension cuts %s blocks",
                        (long long)start, (long long)(start + len), tr->name);
    bn_tensor v = *src;
    v.shape[dim] = len;
    v.data = (char *)src->data + byte_offset(tr, start * src->stride[dim]);
    v.ownership = BN_OWN_BORROWED;
    v.pool = NULL;
    *out = v;
    return BN_OK;
}

bn_status bn_tensor_reshape(const bn_tensor *src, int ndim, const int64_t *shape, bn_tensor *out) {
    if (!bn_tensor_is_contiguous(src))
        return BN_ERROR(BN_ERR_INVALID_ARG,
                        "reshape: the source is not contiguous (copy it first)");
    bn_tensor v;
    BN_TRY(bn_tensor_wrap(&v, src->dtype, ndim, shape, src->data));
    if (bn_tensor_numel(&v) != bn_tensor_numel(src))
        return BN_ERROR(BN_ERR_SHAPE, "reshape: %lld elements into a shape of %lld",
                        (long long)bn_tensor_numel(src), (long long)bn_tensor_numel(&v));
    v.device = src->device;
    *out = v;
    return BN_OK;
}

bn_status bn_tensor_permute(const bn_tensor *src, const int *perm, bn_tensor *out) {
    bool seen[BN_MAX_DIMS] = {false};
    for (int i = 0; i < src->ndim; i++) {
        if (perm[i] < 0 || perm[i] >= src->ndim || seen[perm[i]])
            return BN_ERROR(BN_ERR_INVALID_ARG,
                            "permute: entry %d (%d) is not a permutation of 0..%d", i, perm[i],
                            src->ndim - 1);
        seen[perm[i]] = true;
    }
    const bn_dtype_traits *tr = traits_of(src);
    if (tr->block_size > 1 && src->ndim > 0 && perm[src->ndim - 1] != src->ndim - 1)
        return BN_ERROR(BN_ERR_UNSUPPORTED,
                        "permute: %s is packed in blocks along its innermost dimension, which "
                        "must stay innermost",
                        tr->name);
    bn_tensor v = *src;
    for (int i = 0; i < src->ndim; i++) {
        v.shape[i] = src->shape[perm[i]];
        v.stride[i] = src->stride[perm[i]];
    }
    v.ownership = BN_OWN_BORROWED;
    v.pool = NULL;
    *out = v;
    return BN_OK;
}

bn_status bn_tensor_transpose(const bn_tensor *src, int dim0, int dim1, bn_tensor *out) {
    BN_TRY(check_dim(src, dim0, "transpose"));
    BN_TRY(check_dim(src, dim1, "transpose"));
    int perm[BN_MAX_DIMS] = {0, 1, 2, 3};
    perm[dim0] = dim1;
    perm[dim1] = dim0;
    return bn_tensor_permute(src, perm, out);
}

/* Calls fn once per innermost row of t (in row-major order of the outer indices), with the
 * row's byte address. Rows are the unit every copy and conversion works on. */
typedef void (*row_fn)(const bn_tensor *t, const char *row, int64_t row_index, void *ctx);

static void for_each_row(const bn_tensor *t, row_fn fn, void *ctx) {
    const bn_dtype_traits *tr = traits_of(t);
    int outer = t->ndim > 0 ? t->ndim - 1 : 0;
    int64_t idx[BN_MAX_DIMS] = {0};
    int64_t rows = 1;
    for (int i = 0; i < outer; i++)
        rows *= t->shape[i];
    for (int64_t r = 0; r < rows; r++) {
        int64_t off = 0;
        for (int i = 0; i < outer; i++)
            off += idx[i] * t->stride[i];
        fn(t, (const char *)t->data + byte_offset(tr, off), r, ctx);
        for (int i = outer - 1; i >= 0; i--) { /* odometer increment */
            if (++idx[i] < t->shape[i])
                break;
            idx[i] = 0;
        }
    }
}

static int64_t row_length(const bn_tensor *t) {
    return t->ndim > 0 ? t->shape[t->ndim - 1] : 1;
}

static int64_t inner_stride(const bn_tensor *t) {
    return t->ndim > 0 ? t->stride[t->ndim - 1] : 1;
}

static void copy_row(const bn_tensor *t, const char *row, int64_t r, void *ctx) {
    const bn_dtype_traits *tr = traits_of(t);
    int64_t n = row_length(t), s = inner_stride(t);
    char *dst = (char *)ctx + (size_t)r * byte_offset(tr, n);
    if (s == 1) {
        memcpy(dst, row, byte_offset(tr, n));
        return;
    }
    for (int64_t i = 0; i < n; i++) /* plain types only: packed rows are always contiguous */
        memcpy(dst + (size_t)i * tr->block_bytes, row + (size_t)(i * s) * tr->block_bytes,
               tr->block_bytes);
}

bn_status bn_tensor_contiguous(const bn_tensor *src, bn_tensor *out, bn_pool *pool) {
    if (src->device != BN_DEVICE_CPU)
        return BN_ERROR(BN_ERR_UNSUPPORTED, "contiguous: only CPU tensors can be copied here");
    bn_tensor t;
    BN_TRY(bn_tensor_alloc(&t, src->dtype, src->ndim, src->shape, pool));
    for_each_row(src, copy_row, t.data);
    *out = t;
    return BN_OK;
}

float bn_tensor_get_f32(const bn_tensor *t, const int64_t *idx) {
    const bn_dtype_traits *tr = traits_of(t);
    int64_t off = 0;
    for (int i = 0; i < t->ndim; i++)
        off += idx[i] * t->stride[i];
    float v;
    tr->to_f32((const char *)t->data + (size_t)off * tr->block_bytes, &v, 1);
    return v;
}

static void decode_row(const bn_tensor *t, const char *row, int64_t r, void *ctx) {
    const bn_dtype_traits *tr = traits_of(t);
    int64_t n = row_length(t), s = inner_stride(t);
    float *dst = (float *)ctx + r * n;
    if (s == 1) {
        tr->to_f32(row, dst, n);
        return;
    }
    for (int64_t i = 0; i < n; i++)
        tr->to_f32(row + (size_t)(i * s) * tr->block_bytes, &dst[i], 1);
}

bn_status bn_tensor_to_f32(const bn_tensor *t, float *dst) {
    const bn_dtype_traits *tr = traits_of(t);
    if (tr == NULL || tr->to_f32 == NULL)
        return BN_ERROR(BN_ERR_UNSUPPORTED, "to_f32: type %s cannot be decoded",
                        bn_dtype_name(t->dtype));
    if (t->device != BN_DEVICE_CPU)
        return BN_ERROR(BN_ERR_UNSUPPORTED, "to_f32: only CPU tensors can be decoded here");
    for_each_row(t, decode_row, dst);
    return BN_OK;
}

const char *bn_tensor_describe(const bn_tensor *t, char *buf, size_t size) {
    int n = snprintf(buf, size, "%s[", bn_dtype_name(t->dtype));
    for (int i = 0; i < t->ndim && n > 0 && (size_t)n < size; i++)
        n += snprintf(buf + n, size - (size_t)n, i ? ",%lld" : "%lld", (long long)t->shape[i]);
    if (n > 0 && (size_t)n < size)
        snprintf(buf + n, size - (size_t)n, "]");
    return buf;
}
