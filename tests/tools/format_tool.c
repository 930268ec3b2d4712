/*
 * format_tool.c - test tool: the dtype table's row encoders/decoders and ternary pack/unpack on
 * raw files, for tests/py/test_formats_reference.py to compare with gguf-py, llama-quantize's
 * bytes (tests/fixtures/llamacpp), transformers' pack_weights and bitnet.cpp's quantize_i2_s.
 *
 *   format_tool encode TYPE N IN.f32 OUT.bin              N float32 -> one row, via from_f32
 *   format_tool decode TYPE N IN.bin OUT.f32              one row of N values, via to_f32
 *   format_tool pack TYPE ROWS COLS SCALE IN.i8 OUT.bin   int8 t [ROWS, COLS], via pack_ternary
 *   format_tool unpack TYPE ROWS COLS IN.bin OUT.i8       via unpack_ternary: t, then the scale
 *                                                         as 4 bytes of float32
 *   format_tool types                                     the table: one line per row with a
 *                                                         GGUF id, "NAME GGUF_ID BLOCK_SIZE
 *                                                         BLOCK_BYTES ENCODER(0/1) DECODER(0/1)"
 * SCALE is parsed by strtof, so hex floats (Python's float.hex()) pass exactly. Exit 0 on
 * success, 1 with the library's message on stderr otherwise, 2 on bad usage.
 */
#include "base/status.h"
#include "tensor/dtype.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void *read_file(const char *path, size_t *size) {
    FILE *f = fopen(path, "rb");
    long len = -1;
    if (f != NULL && fseek(f, 0, SEEK_END) == 0)
        len = ftell(f);
    char *buf = len >= 0 && fseek(f, 0, SEEK_SET) == 0 ? malloc((size_t)len + 1) : NULL;
    if (buf == NULL || fread(buf, 1, (size_t)len, f) != (size_t)len) {
        fprintf(stderr, "format_tool: cannot read %s: %s\n", path, strerror(errno));
        free(buf);
        buf = NULL;
    }
    if (f != NULL)
        fclose(f);
    *size = (size_t)len;
    return buf;
}

static int write_file(const char *path, const void *data, size_t size) {
    FILE *f = fopen(path, "wb");
    if (f == NULL || fwrite(data, 1, size, f) != size || fclose(f) != 0) {
        fprintf(stderr, "format_tool: cannot write %s: %s\n", path, strerror(errno));
        return 1;
    }
    return 0;
}

static int fail(void) {
    fprintf(stderr, "format_tool: %s\n", bn_last_error());
    return 1;
}

static bool parse_int(const char *s, int64_t *out) {
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    *out = v;
    return errno == 0 && end != s && *end == '\0';
}

/* encode / decode: one row of n values through from_f32 / to_f32. */
static int convert_row(bool encode, bn_dtype id, int64_t n, const char *in, const char *out) {
    const bn_dtype_traits *tr = bn_dtype_get(id);
    if (encode ? tr->from_f32 == NULL : tr->to_f32 == NULL) {
        fprintf(stderr, "format_tool: %s has no row %s\n", tr->name,
                encode ? "encoder" : "decoder");
        return 1;
    }
    size_t row_bytes, got;
    if (bn_dtype_row_bytes(id, n, &row_bytes) != BN_OK)
        return fail();
    size_t in_bytes = encode ? (size_t)n * sizeof(float) : row_bytes;
    size_t out_bytes = encode ? row_bytes : (size_t)n * sizeof(float);
    void *src = read_file(in, &got);
    if (src == NULL)
        return 1;
    if (got != in_bytes) {
        fprintf(stderr, "format_tool: %s has %zu bytes, want %zu\n", in, got, in_bytes);
        free(src);
        return 1;
    }
    void *dst = malloc(out_bytes ? out_bytes : 1);
    if (encode)
        tr->from_f32(src, dst, n);
    else
        tr->to_f32(src, dst, n);
    int rc = write_file(out, dst, out_bytes);
    free(src);
    free(dst);
    return rc;
}

static int pack(const bn_dtype_traits *tr, int64_t rows, int64_t cols, float scale, const char *in,
                const char *out) {
    size_t bytes, got;
    if (tr->ternary_bytes(rows, cols, &bytes) != BN_OK)
        return fail();
    int8_t *t = read_file(in, &got);
    if (t == NULL)
        return 1;
    if (got != (size_t)(rows * cols)) {
        fprintf(stderr, "format_tool: %s has %zu bytes, want %lld\n", in, got,
                (long long)(rows * cols));
        free(t);
        return 1;
    }
    void *dst = malloc(bytes);
    int rc = tr->pack_ternary(t, rows, cols, scale, dst, bytes) == BN_OK
                 ? write_file(out, dst, bytes)
                 : fail();
    free(t);
    free(dst);
    return rc;
}

static int unpack(const bn_dtype_traits *tr, int64_t rows, int64_t cols, const char *in,
                  const char *out) {
    size_t bytes, got;
    if (tr->ternary_bytes(rows, cols, &bytes) != BN_OK) /* the shape, before sizing t by it */
        return fail();
    void *src = read_file(in, &got);
    if (src == NULL)
        return 1;
    size_t n = (size_t)(rows * cols);
    int8_t *t = malloc(n + sizeof(float));
    float scale = 0.0f;
    int rc = tr->unpack_ternary(src, got, rows, cols, t, &scale) == BN_OK ? 0 : fail();
    if (rc == 0) {
        memcpy(t + n, &scale, sizeof scale);
        rc = write_file(out, t, n + sizeof scale);
    }
    free(src);
    free(t);
    return rc;
}

/* Every row that has a GGUF id, for the test to hold against gguf-py's GGML_QUANT_SIZES. */
static int list_types(void) {
    for (int i = 0; i < BN_DTYPE_COUNT; i++) {
        const bn_dtype_traits *tr = bn_dtype_get((bn_dtype)i);
        if (tr == NULL || tr->gguf_type == BN_GGUF_TYPE_NONE)
            continue;
        printf("%s %d %lld %zu %d %d\n", tr->name, tr->gguf_type, (long long)tr->block_size,
               tr->block_bytes, tr->from_f32 != NULL, tr->to_f32 != NULL);
    }
    return 0;
}

static int usage(void) {
    fprintf(stderr, "usage: format_tool encode TYPE N IN.f32 OUT.bin\n"
                    "       format_tool decode TYPE N IN.bin OUT.f32\n"
                    "       format_tool pack TYPE ROWS COLS SCALE IN.i8 OUT.bin\n"
                    "       format_tool unpack TYPE ROWS COLS IN.bin OUT.i8\n"
                    "       format_tool types\n");
    return 2;
}

int main(int argc, char **argv) {
    if (argc == 2 && strcmp(argv[1], "types") == 0)
        return list_types();
    if (argc < 3)
        return usage();
    const char *cmd = argv[1];
    bn_dtype id;
    if (bn_dtype_from_name(argv[2], &id) != BN_OK)
        return fail();
    const bn_dtype_traits *tr = bn_dtype_get(id);
    int64_t a, b;
    if ((strcmp(cmd, "encode") == 0 || strcmp(cmd, "decode") == 0) && argc == 6 &&
        parse_int(argv[3], &a) && a >= 0)
        return convert_row(cmd[0] == 'e', id, a, argv[4], argv[5]);
    bool two_dims = argc >= 5 && parse_int(argv[3], &a) && parse_int(argv[4], &b);
    if ((strcmp(cmd, "pack") == 0 || strcmp(cmd, "unpack") == 0) && two_dims &&
        tr->pack_ternary == NULL) {
        fprintf(stderr, "format_tool: %s is not a ternary type\n", tr->name);
        return 1;
    }
    if (strcmp(cmd, "pack") == 0 && argc == 8 && two_dims) {
        char *end;
        float scale = strtof(argv[5], &end);
        if (end == argv[5] || *end != '\0')
            return usage();
        return pack(tr, a, b, scale, argv[6], argv[7]);
    }
    if (strcmp(cmd, "unpack") == 0 && argc == 7 && two_dims)
        return unpack(tr, a, b, argv[5], argv[6]);
    return usage();
}
