/*
 * safetensors.h - safetensors files: a validating reader over mmap (single files and sharded
 * checkpoints with model.safetensors.index.json) and an atomic writer.
 *
 * Layout: u64 little-endian header length N, then N bytes of JSON
 *   {"name": {"dtype": "BF16", "shape": [2560, 2560], "data_offsets": [begin, end]}, ...,
 *    "__metadata__": {"format": "pt"}}
 * then the byte buffer; data_offsets are relative to the buffer. Shapes are outermost first
 * (PyTorch order). The JSON header is parsed with cJSON.
 */
#ifndef BN_IO_SAFETENSORS_H
#define BN_IO_SAFETENSORS_H

#include "io/mapped_file.h"

#include <stdbool.h>
#include <stdint.h>

#define BN_ST_MAX_DIMS   8
#define BN_ST_MAX_HEADER (100u << 20) /* headers above 100 MiB are refused (as upstream does) */

typedef enum bn_st_dtype {
    BN_ST_F64,
    BN_ST_F32,
    BN_ST_F16,
    BN_ST_BF16,
    BN_ST_I64,
    BN_ST_I32,
    BN_ST_I16,
    BN_ST_I8,
    BN_ST_U8,
    BN_ST_BOOL,
    BN_ST_DTYPE_COUNT
} bn_st_dtype;

typedef struct bn_st_tensor {
    const char *name;
    bn_st_dtype dtype;
    int n_dims;                    /* 0 for a scalar */
    int64_t shape[BN_ST_MAX_DIMS]; /* outermost first */
    size_t size;                   /* bytes = numel * element size (checked) */
    const uint8_t *data;           /* inside the mapping of its shard */
    int shard;                     /* which file of a sharded checkpoint */
} bn_st_tensor;

typedef struct bn_st_meta {
    const char *key;
    const char *value;
} bn_st_meta;

typedef struct bn_safetensors {
    int n_shards;
    bn_mapped_file *shards;
    int64_t n_tensors;
    bn_st_tensor *tensors; /* sorted by name */
    int64_t n_meta;
    bn_st_meta *meta; /* __metadata__ of the first shard, in file order */
    void *arena;      /* private */
} bn_safetensors;

/* Open one .safetensors file. Errors name the file, the tensor/field and what is wrong. */
bn_status bn_st_open(bn_safetensors **out, const char *path);

/* Open a Hugging Face folder: model.safetensors, or the shards listed in
 * model.safetensors.index.json ("weight_map"); every tensor must be in the shard the index
 * names, and no tensor may appear twice. */
bn_status bn_st_open_dir(bn_safetensors **out, const char *dir);

/* Parse a header from memory (tests, fuzzers): bytes are the whole file. */
bn_status bn_st_open_memory(bn_safetensors **out, const void *bytes, size_t size, const char *name);

void bn_st_close(bn_safetensors *st);

const bn_st_tensor *bn_st_find(const bn_safetensors *st, const char *name);

/* "F32", "BF16", ... and bytes per element. */
const char *bn_st_dtype_name(bn_st_dtype t);
size_t bn_st_dtype_size(bn_st_dtype t);
bn_status bn_st_dtype_parse(const char *name, bn_st_dtype *out);

/* ---- writer: add tensors (data is copied only when written), then write. The file goes to a
 * temporary name beside path and is renamed into place only when complete. The layout is the
 * Python library's, byte for byte: compact JSON with "__metadata__" first (keys in the order
 * added), then tensors by descending dtype alignment (I64, F64, F32, I32, BF16, F16, I16, I8,
 * U8, BOOL) and by name within a dtype, with contiguous data_offsets; the header is padded with
 * spaces so that 8 + N is a multiple of 8. So every tensor starts at a multiple of its element
 * size from the (8-aligned) buffer start. */
typedef struct bn_st_writer bn_st_writer;

bn_status bn_st_writer_create(bn_st_writer **out);
bn_status bn_st_writer_add_meta(bn_st_writer *w, const char *key, const char *value);
/* data must stay valid until bn_st_writer_write returns. */
bn_status bn_st_writer_add(bn_st_writer *w, const char *name, bn_st_dtype dtype, int n_dims,
                           const int64_t *shape, const void *data, size_t size);
bn_status bn_st_writer_write(bn_st_writer *w, const char *path);
void bn_st_writer_free(bn_st_writer *w);

#endif /* BN_IO_SAFETENSORS_H */
