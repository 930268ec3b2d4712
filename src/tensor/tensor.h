/*
 * tensor.h - bn_tensor: a typed, strided view of memory with up to 4 dimensions.
 *
 * Shapes are written outermost first, as in PyTorch: a linear layer's weight is [out, in] and
 * shape[ndim-1] is the innermost dimension. Strides count elements. Packed (block) types keep
 * their innermost dimension contiguous and whole blocks per row; their outer strides still count
 * elements of that dimension. A tensor either owns its storage (malloc or pool) or borrows it
 * (a view of another tensor, an mmapped file, caller memory).
 */
#ifndef BN_TENSOR_TENSOR_H
#define BN_TENSOR_TENSOR_H

#include "base/alloc.h"
#include "tensor/dtype.h"

#include <stdbool.h>

#define BN_MAX_DIMS 4

/* bn_device (BN_DEVICE_CPU, BN_DEVICE_CUDA) is the public API's (bitnet.h). */

typedef enum bn_ownership {
    BN_OWN_BORROWED = 0, /* not ours to free: a view, an mmapped file, caller memory */
    BN_OWN_OWNED = 1,    /* bn_aligned_alloc'd, freed by bn_tensor_free */
    BN_OWN_POOL = 2,     /* from bn_pool, returned to it by bn_tensor_free */
} bn_ownership;

typedef struct bn_tensor {
    bn_dtype dtype;
    int ndim;                    /* 0 (a scalar) .. BN_MAX_DIMS */
    int64_t shape[BN_MAX_DIMS];  /* outermost first; unused dims are 1 */
    int64_t stride[BN_MAX_DIMS]; /* in elements; unused dims are 0 */
    bn_device device;
    void *data; /* first element of the view */
    bn_ownership ownership;
    bn_pool *pool; /* the pool that owns data, for BN_OWN_POOL */
} bn_tensor;

/* Describe caller memory (borrowed) laid out contiguously. Checks ndim, dims > 0, overflow and
 * that packed types have whole blocks in the innermost dimension. */
bn_status bn_tensor_wrap(bn_tensor *t, bn_dtype dtype, int ndim, const int64_t *shape, void *data);

/* Allocate contiguous storage (zeroed). pool may be NULL for a plain aligned allocation. */
bn_status bn_tensor_alloc(bn_tensor *t, bn_dtype dtype, int ndim, const int64_t *shape,
                          bn_pool *pool);

/* Free owned storage; borrowed tensors are only reset. */
void bn_tensor_free(bn_tensor *t);

int64_t bn_tensor_numel(const bn_tensor *t);

/* Bytes spanned by a contiguous tensor of this shape and type. */
size_t bn_tensor_nbytes(const bn_tensor *t);

/* Row-major contiguous (strides are those of a fresh tensor of the same shape). */
bool bn_tensor_is_contiguous(const bn_tensor *t);

/* View of [start, start+len) along dim. Packed types: slicing the innermost dim must keep
 * whole blocks. */
bn_status bn_tensor_slice(const bn_tensor *src, int dim, int64_t start, int64_t len,
                          bn_tensor *out);

/* View with a new shape of the same element count; src must be contiguous. */
bn_status bn_tensor_reshape(const bn_tensor *src, int ndim, const int64_t *shape, bn_tensor *out);

/* View with dimensions reordered: out.shape[i] = src.shape[perm[i]]. Packed types must keep
 * their innermost dimension innermost. */
bn_status bn_tensor_permute(const bn_tensor *src, const int *perm, bn_tensor *out);

/* Swap two dimensions (a permute). */
bn_status bn_tensor_transpose(const bn_tensor *src, int dim0, int dim1, bn_tensor *out);

/* Copy into a new contiguous tensor (owned, or from pool when pool != NULL). */
bn_status bn_tensor_contiguous(const bn_tensor *src, bn_tensor *out, bn_pool *pool);

/* Element at idx (one index per dim) as float; plain (non-packed) types only. For tests and
 * debugging, not for hot loops. */
float bn_tensor_get_f32(const bn_tensor *t, const int64_t *idx);

/* Decode a whole tensor (any layout, any type with to_f32) into dst[numel], row-major. */
bn_status bn_tensor_to_f32(const bn_tensor *t, float *dst);

/* "f32[2,3,4]" into buf; returns buf. */
const char *bn_tensor_describe(const bn_tensor *t, char *buf, size_t size);

#endif /* BN_TENSOR_TENSOR_H */
