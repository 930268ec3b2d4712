/*
 * gguf.h - GGUF files (versions 2 and 3): a validating reader over mmap, and a streaming writer.
 *
 * Layout (facts §3.1): magic "GGUF", version u32, tensor_count u64, kv_count u64, the key/value
 * pairs, the tensor infos (name, n_dims, dims innermost-first, ggml type, offset relative to the
 * data section), padding to the alignment (general.alignment, default 32), then tensor data.
 * (Version 1 used u32 counts and is rejected with a clear message.)
 *
 * The reader trusts nothing: every count, length and offset is checked against the bytes that
 * remain before it is used, and a failure names the field and its byte offset.
 */
#ifndef BN_IO_GGUF_H
#define BN_IO_GGUF_H

#include "io/mapped_file.h"
#include "tensor/dtype.h"

#include <stdbool.h>
#include <stdint.h>

#define BN_GGUF_MAGIC             0x46554747u /* "GGUF" little-endian */
#define BN_GGUF_DEFAULT_ALIGNMENT 32
#define BN_GGUF_MAX_DIMS          4
#define BN_GGUF_MAX_NESTING       8  /* arrays of arrays deeper than this are refused */
#define BN_GGUF_MAX_NAME          64 /* tensor names, as ggml limits them (bytes, without NUL) */
#define BN_GGUF_MAX_KEY           65535

typedef enum bn_gguf_type {
    BN_GGUF_U8 = 0,
    BN_GGUF_I8 = 1,
    BN_GGUF_U16 = 2,
    BN_GGUF_I16 = 3,
    BN_GGUF_U32 = 4,
    BN_GGUF_I32 = 5,
    BN_GGUF_F32 = 6,
    BN_GGUF_BOOL = 7,
    BN_GGUF_STRING = 8,
    BN_GGUF_ARRAY = 9,
    BN_GGUF_U64 = 10,
    BN_GGUF_I64 = 11,
    BN_GGUF_F64 = 12,
    BN_GGUF_TYPE_COUNT
} bn_gguf_type;

/* A string: data is NUL-terminated for convenience, but len is the truth (GGUF strings may hold
 * NUL bytes). */
typedef struct bn_gguf_str {
    const char *data;
    uint64_t len;
} bn_gguf_str;

typedef struct bn_gguf_value bn_gguf_value;

/* An array. Elements of fixed-size types are left in the file as raw little-endian bytes
 * (possibly unaligned: read them with bn_gguf_arr_get_*); strings and nested arrays are parsed
 * into items[]. */
typedef struct bn_gguf_array {
    bn_gguf_type type; /* element type */
    uint64_t count;
    const void *raw;            /* fixed-size element types */
    const bn_gguf_value *items; /* BN_GGUF_STRING and BN_GGUF_ARRAY elements */
} bn_gguf_array;

struct bn_gguf_value {
    bn_gguf_type type;
    union {
        uint64_t u64; /* U8, U16, U32, U64 (widened) */
        int64_t i64;  /* I8, I16, I32, I64 (widened) */
        double f64;   /* F32, F64 (widened; F32 is exact in a double) */
        bool b;       /* BOOL */
        bn_gguf_str str;
        bn_gguf_array arr;
    };
};

typedef struct bn_gguf_kv {
    const char *key;
    bn_gguf_value value;
} bn_gguf_kv;

typedef struct bn_gguf_tensor {
    const char *name;
    uint32_t ggml_type; /* the id in the file */
    bn_dtype dtype;     /* our type, after resolving ids 36-39 from the architecture */
    int n_dims;
    uint64_t ne[BN_GGUF_MAX_DIMS]; /* innermost first, as in the file; unused dims are 1 */
    uint64_t offset;               /* relative to the data section */
    size_t size;                   /* bytes */
    const uint8_t *data;           /* inside the mapping */
} bn_gguf_tensor;

typedef struct bn_gguf {
    bn_mapped_file file;
    uint32_t version;
    uint32_t alignment;
    uint64_t n_kv;
    bn_gguf_kv *kv;
    uint64_t n_tensors;
    bn_gguf_tensor *tensors;
    size_t data_offset;       /* file offset of the data section */
    const char *architecture; /* general.architecture, or "" when absent */
    char type_note[256];      /* how ambiguous type ids 36-39 were read, "" when none occur */
    void *arena;              /* parsed strings and items (private) */
} bn_gguf;

/* Open and validate a file. On error *out is NULL and bn_last_error names the field at fault
 * and its byte offset. */
bn_status bn_gguf_open(bn_gguf **out, const char *path);

/* The same over bytes in memory (tests, fuzzers); data must outlive the handle. */
bn_status bn_gguf_open_memory(bn_gguf **out, const void *data, size_t size, const char *name);

/* The same over pages from bn_pages_alloc (bn_gguf_writer_finish_memory's), which the handle
 * owns from now on, failure included: closing frees them, and bn_mapped_file_release gives the
 * parts that were copied elsewhere back to the system early. */
bn_status bn_gguf_open_pages(bn_gguf **out, void *data, size_t size, const char *name);

void bn_gguf_close(bn_gguf *g);

/* Lookups: NULL when absent. */
const bn_gguf_kv *bn_gguf_find(const bn_gguf *g, const char *key);
const bn_gguf_tensor *bn_gguf_find_tensor(const bn_gguf *g, const char *name);

/* Typed getters. BN_ERR_NOT_FOUND naming the key when absent; BN_ERR_FORMAT naming the key and
 * both types when the stored type does not fit. Integer getters accept any integer type whose
 * value is in range (counts may be u32 or u64, as writers differ); a value out of the target's
 * range gives BN_ERR_RANGE naming key, value and type. */
bn_status bn_gguf_get_u32(const bn_gguf *g, const char *key, uint32_t *out);
bn_status bn_gguf_get_u64(const bn_gguf *g, const char *key, uint64_t *out);
bn_status bn_gguf_get_i64(const bn_gguf *g, const char *key, int64_t *out);
bn_status bn_gguf_get_f32(const bn_gguf *g, const char *key, float *out); /* F32 or F64 */
bn_status bn_gguf_get_bool(const bn_gguf *g, const char *key, bool *out);
bn_status bn_gguf_get_str(const bn_gguf *g, const char *key, const char **out);
bn_status bn_gguf_get_arr(const bn_gguf *g, const char *key, const bn_gguf_array **out);

/* Array elements (index checked: BN_ERR_RANGE). Integer/float element types widen as above;
 * the integer getters also read BOOL elements as 0/1. */
bn_status bn_gguf_arr_get_i64(const bn_gguf_array *a, uint64_t i, int64_t *out);
bn_status bn_gguf_arr_get_u64(const bn_gguf_array *a, uint64_t i, uint64_t *out);
bn_status bn_gguf_arr_get_f64(const bn_gguf_array *a, uint64_t i, double *out);
bn_status bn_gguf_arr_get_str(const bn_gguf_array *a, uint64_t i, bn_gguf_str *out);

/* "u32", "string", "array", ... */
const char *bn_gguf_type_name(bn_gguf_type t);

/* Size in bytes of one element of a fixed-size type, 0 for STRING/ARRAY/invalid. */
size_t bn_gguf_type_size(bn_gguf_type t);

/* ---- writer ------------------------------------------------------------------------------
 * Order of calls: create; set metadata and add tensor infos (any order); begin_data; write each
 * tensor's bytes in the order the tensors were added (one or many calls per tensor); finish.
 * Everything goes to a temporary file beside path, which is renamed onto path only by a
 * successful finish; abort (or any failure) removes it (io/outfile.h: symbolic links are
 * followed, only a regular file is replaced, the umask applies). The first failing call poisons
 * the writer: every later call fails with that error, and finish or abort must still free it. */
typedef struct bn_gguf_writer bn_gguf_writer;

/* alignment 0 means the default 32; others must be a power of two >= 8 and are recorded as
 * general.alignment (u32): after the caller's keys, unless the caller set it to the same value. */
bn_status bn_gguf_writer_create(bn_gguf_writer **out, const char *path, uint32_t alignment);

/* A writer that builds the file in memory instead (anonymous pages of exactly the file's size,
 * allocated at begin_data); name is used in messages. Finish it with
 * bn_gguf_writer_finish_memory. */
bn_status bn_gguf_writer_create_memory(bn_gguf_writer **out, const char *name, uint32_t alignment);

/* Set a key (replacing an earlier value of the same key). The value is deep-copied: arrays of
 * fixed-size types read count elements from raw (little-endian), arrays of strings/arrays read
 * items. */
bn_status bn_gguf_writer_set(bn_gguf_writer *w, const char *key, const bn_gguf_value *v);

/* Conveniences over bn_gguf_writer_set. */
bn_status bn_gguf_writer_set_u32(bn_gguf_writer *w, const char *key, uint32_t v);
bn_status bn_gguf_writer_set_i32(bn_gguf_writer *w, const char *key, int32_t v);
bn_status bn_gguf_writer_set_f32(bn_gguf_writer *w, const char *key, float v);
bn_status bn_gguf_writer_set_bool(bn_gguf_writer *w, const char *key, bool v);
bn_status bn_gguf_writer_set_str(bn_gguf_writer *w, const char *key, const char *v);
bn_status bn_gguf_writer_set_arr(bn_gguf_writer *w, const char *key, bn_gguf_type elem_type,
                                 const void *raw, uint64_t count);
bn_status bn_gguf_writer_set_arr_str(bn_gguf_writer *w, const char *key, const char *const *strs,
                                     uint64_t count);

/* Add a tensor info. ne is innermost first. The type must be in our dtype table (BN_ERR_DTYPE
 * otherwise: we write only types we know) and nbytes what the type and shape need (BN_ERR_SHAPE
 * otherwise). */
bn_status bn_gguf_writer_add_tensor(bn_gguf_writer *w, const char *name, uint32_t ggml_type,
                                    int n_dims, const uint64_t *ne, size_t nbytes);

/* Write the header, metadata and tensor infos. */
bn_status bn_gguf_writer_begin_data(bn_gguf_writer *w);

/* Append bytes of the current tensor; padding between tensors is written automatically. */
bn_status bn_gguf_writer_write(bn_gguf_writer *w, const void *data, size_t bytes);

/* Check every tensor got all its bytes, flush, fsync and rename into place. Frees w. */
bn_status bn_gguf_writer_finish(bn_gguf_writer *w);

/* Finish a memory writer: *data (pages: free with bn_pages_free(*data, *size), or hand them to
 * bn_gguf_open_pages) and *size are the file. Frees w. */
bn_status bn_gguf_writer_finish_memory(bn_gguf_writer *w, void **data, size_t *size);

/* Remove the temporary file and free w (NULL is ignored). */
void bn_gguf_writer_abort(bn_gguf_writer *w);

#endif /* BN_IO_GGUF_H */
