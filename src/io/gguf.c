/*
 * gguf.c - the GGUF reader: validate the whole structure at open, then serve lookups.
 *
 * Parsing walks one cursor (gguf_reader) through the mapping. Every field goes through a helper
 * that first checks the bytes remain, so no read leaves the mapping (past its end lies SIGBUS,
 * not an error code). Counts are checked against the bytes left before anything proportional to
 * them is allocated, so a 100-byte file cannot make us allocate gigabytes.
 *
 * Order of validation: header (magic, version, counts against the bytes left); each KV pair
 * (key, duplicate, value type, value; general.alignment and general.architecture as soon as they
 * are read, because tensor infos depend on them); each tensor info (name, duplicate, n_dims,
 * dims, type resolved with the architecture, whole blocks per row, byte size, offset alignment);
 * then the data section (its start after padding, every tensor inside the file, no overlaps).
 *
 * Memory: the kv and tensor arrays, every parsed string, array items and the two hash indexes
 * come from one arena (a list of chunks) freed at once by bn_gguf_close. Arrays of fixed-size
 * elements stay in the mapping. Chunks come from bn_aligned_alloc so tests can inject failures.
 */
#include "io/gguf.h"

#include "base/alloc.h"

#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Smallest encodings, used to reject counts that cannot fit before allocating for them. A KV
 * pair is a key length (8), a value type (4) and at least a one-byte value; a tensor info is a
 * name length (8), n_dims (4), at least one dim (8), a type (4) and an offset (8). */
#define KV_MIN_BYTES     13
#define TENSOR_MIN_BYTES 32
/* Elements of arrays of strings (a length) and of arrays of arrays (a type and a count). */
#define STRING_MIN_BYTES 8
#define ARRAY_MIN_BYTES  12

/* general.alignment must fit the u32 field of bn_gguf; the largest power of two that does. */
#define MAX_ALIGNMENT ((uint64_t)1 << 31)

/* ---- value types ------------------------------------------------------------------------ */

static const struct {
    const char *name;
    size_t size; /* bytes of one value; 0 for the variable-size string and array */
} value_types[BN_GGUF_TYPE_COUNT] = {
    [BN_GGUF_U8] = {"u8", 1},       [BN_GGUF_I8] = {"i8", 1},     [BN_GGUF_U16] = {"u16", 2},
    [BN_GGUF_I16] = {"i16", 2},     [BN_GGUF_U32] = {"u32", 4},   [BN_GGUF_I32] = {"i32", 4},
    [BN_GGUF_F32] = {"f32", 4},     [BN_GGUF_BOOL] = {"bool", 1}, [BN_GGUF_STRING] = {"string", 0},
    [BN_GGUF_ARRAY] = {"array", 0}, [BN_GGUF_U64] = {"u64", 8},   [BN_GGUF_I64] = {"i64", 8},
    [BN_GGUF_F64] = {"f64", 8},
};

const char *bn_gguf_type_name(bn_gguf_type t) {
    return (int)t >= 0 && t < BN_GGUF_TYPE_COUNT ? value_types[t].name : "?";
}

size_t bn_gguf_type_size(bn_gguf_type t) {
    return (int)t >= 0 && t < BN_GGUF_TYPE_COUNT ? value_types[t].size : 0;
}

/* Upstream ggml_type names (ggml include/ggml.h), only to make messages say what an id we do
 * not read means. Retired ids keep their old name, as upstream keeps them as comments. */
#define GGML_ID_COUNT 42
static const char *const ggml_names[GGML_ID_COUNT] = {
    "F32",   "F16",        "Q4_0",       "Q4_1",       "Q4_2",     "Q4_3",     "Q5_0",
    "Q5_1",  "Q8_0",       "Q8_1",       "Q2_K",       "Q3_K",     "Q4_K",     "Q5_K",
    "Q6_K",  "Q8_K",       "IQ2_XXS",    "IQ2_XS",     "IQ3_XXS",  "IQ1_S",    "IQ4_NL",
    "IQ3_S", "IQ2_S",      "IQ4_XS",     "I8",         "I16",      "I32",      "I64",
    "F64",   "IQ1_M",      "BF16",       "Q4_0_4_4",   "Q4_0_4_8", "Q4_0_8_8", "TQ1_0",
    "TQ2_0", "IQ4_NL_4_4", "IQ4_NL_4_8", "IQ4_NL_8_8", "MXFP4",    "NVFP4",    "Q1_0"};

static bool ggml_retired(uint32_t id) {
    return id == 4 || id == 5 || (id >= 31 && id <= 33) || (id >= 36 && id <= 38);
}

/* ---- little-endian decoding ------------------------------------------------------------- */

static uint16_t le16(const uint8_t *p) {
    return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t le32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t le64(const uint8_t *p) {
    return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32;
}

/* One fixed-size value, widened into the union as gguf.h documents. */
static void decode_scalar(const uint8_t *p, bn_gguf_type type, bn_gguf_value *v) {
    uint32_t u32;
    uint64_t u64;
    float f;
    v->type = type;
    switch (type) {
    case BN_GGUF_U8:
        v->u64 = p[0];
        break;
    case BN_GGUF_I8:
        v->i64 = (int8_t)p[0];
        break;
    case BN_GGUF_U16:
        v->u64 = le16(p);
        break;
    case BN_GGUF_I16:
        v->i64 = (int16_t)le16(p);
        break;
    case BN_GGUF_U32:
        v->u64 = le32(p);
        break;
    case BN_GGUF_I32:
        v->i64 = (int32_t)le32(p);
        break;
    case BN_GGUF_U64:
        v->u64 = le64(p);
        break;
    case BN_GGUF_I64:
        v->i64 = (int64_t)le64(p);
        break;
    case BN_GGUF_BOOL:
        v->b = p[0] != 0;
        break;
    case BN_GGUF_F32:
        u32 = le32(p);
        memcpy(&f, &u32, sizeof f);
        v->f64 = f;
        break;
    case BN_GGUF_F64:
        u64 = le64(p);
        memcpy(&v->f64, &u64, sizeof v->f64);
        break;
    default:
        v->u64 = 0;
        break; /* strings and arrays are not scalars; callers never ask */
    }
}

/* ---- arena ------------------------------------------------------------------------------ */

typedef struct arena_chunk {
    struct arena_chunk *next;
    size_t used, cap;
} arena_chunk;

/* Payload starts one cache line into a chunk, so it keeps bn_aligned_alloc's alignment. */
#define ARENA_HEADER    ((size_t)BN_ALIGN)
#define ARENA_CHUNK_MIN ((size_t)64 << 10)

static arena_chunk *arena_new_chunk(size_t cap) {
    if (cap > SIZE_MAX - ARENA_HEADER)
        return NULL;
    arena_chunk *c = bn_aligned_alloc(ARENA_HEADER + cap);
    if (c != NULL) {
        c->next = NULL;
        c->used = 0;
        c->cap = cap;
    }
    return c;
}

/* n bytes, 16-byte aligned, or NULL. A big request gets a chunk of its own, linked behind the
 * current one so the current chunk's free space is not abandoned. */
static void *arena_alloc(arena_chunk **head, size_t n) {
    n = bn_align_up(n == 0 ? 1 : n, 16);
    if (n == 0)
        return NULL;
    arena_chunk *c = *head;
    if (c != NULL && c->cap - c->used >= n) {
        c->used += n;
        return (uint8_t *)c + ARENA_HEADER + c->used - n;
    }
    bool own = n > ARENA_CHUNK_MIN / 4;
    arena_chunk *fresh = arena_new_chunk(own ? n : ARENA_CHUNK_MIN);
    if (fresh == NULL)
        return NULL;
    if (own && c != NULL) {
        fresh->next = c->next;
        c->next = fresh;
    } else {
        fresh->next = c;
        *head = fresh;
    }
    fresh->used = n;
    return (uint8_t *)fresh + ARENA_HEADER;
}

/* count zeroed elements of size bytes, or NULL (also on overflow). */
static void *arena_array(arena_chunk **head, uint64_t count, size_t size) {
    if (count > SIZE_MAX / size)
        return NULL;
    void *p = arena_alloc(head, (size_t)count * size);
    if (p != NULL)
        memset(p, 0, (size_t)count * size);
    return p;
}

static void arena_free(arena_chunk *c) {
    while (c != NULL) {
        arena_chunk *next = c->next;
        bn_aligned_free(c);
        c = next;
    }
}

/* ---- hash indexes (keys and tensor names) ------------------------------------------------ */

typedef struct gguf_index {
    uint64_t *slots; /* entry number + 1; 0 marks an empty slot. NULL when there are no entries */
    uint64_t mask;   /* slot count - 1; the count is a power of two at least twice the entries */
} gguf_index;

typedef struct gguf_private {
    arena_chunk *arena;
    gguf_index kv_index, tensor_index;
    unsigned notes_seen; /* bit (id - 36) set once type_note explains id 36..39 */
} gguf_private;

/* The handle and its private part in one allocation; pub.arena points at priv. */
typedef struct gguf_handle {
    bn_gguf pub;
    gguf_private priv;
} gguf_handle;

typedef const char *(*entry_name_fn)(const bn_gguf *g, uint64_t i);

static const char *kv_name(const bn_gguf *g, uint64_t i) {
    return g->kv[i].key;
}

static const char *tensor_name(const bn_gguf *g, uint64_t i) {
    return g->tensors[i].name;
}

static uint64_t hash_str(const char *s) {
    uint64_t h = 14695981039346656037u; /* FNV-1a */
    for (; *s != '\0'; s++)
        h = (h ^ (uint8_t)*s) * 1099511628211u;
    return h;
}

static bool index_init(arena_chunk **arena, gguf_index *ix, uint64_t entries) {
    ix->slots = NULL;
    ix->mask = 0;
    if (entries == 0)
        return true;
    uint64_t cap = 16;
    while (cap < 2 * entries) /* entries <= file size / 13, so this cannot overflow */
        cap *= 2;
    ix->slots = arena_array(arena, cap, sizeof *ix->slots);
    ix->mask = cap - 1;
    return ix->slots != NULL;
}

/* The slot holding name, or the empty slot where it would go (there always is one: the table
 * is at most half full). */
static uint64_t *index_probe(const gguf_index *ix, const bn_gguf *g, entry_name_fn name_of,
                             const char *name) {
    uint64_t i = hash_str(name) & ix->mask;
    while (ix->slots[i] != 0 && strcmp(name_of(g, ix->slots[i] - 1), name) != 0)
        i = (i + 1) & ix->mask;
    return &ix->slots[i];
}

static uint64_t index_find(const gguf_index *ix, const bn_gguf *g, entry_name_fn name_of,
                           const char *name) {
    return ix->slots == NULL ? 0 : *index_probe(ix, g, name_of, name);
}

/* ---- the reader cursor and its errors ---------------------------------------------------- */

typedef struct gguf_reader {
    const uint8_t *data;
    size_t size, pos;
    const char *path;
    gguf_private *priv;
    char ctx[192]; /* the item being read, for messages: "kv 5 ('general.name')" */
    int depth;     /* how many array element indexes below apply to the current read */
    uint64_t elem[BN_GGUF_MAX_NESTING];
} gguf_reader;

static bn_status gguf_fail(const gguf_reader *r, int line, bn_status code, const char *fmt, ...)
    BN_PRINTF(4, 5);

/* Raise code with "<file>: <item>[i][j]: <message>", recording the detecting line. */
#define GGUF_FAIL(r, code, ...) gguf_fail((r), __LINE__, (code), __VA_ARGS__)

static bn_status gguf_fail(const gguf_reader *r, int line, bn_status code, const char *fmt, ...) {
    char msg[BN_ERROR_MAX / 2], where[BN_ERROR_MAX / 4];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    size_t n = (size_t)snprintf(where, sizeof where, "%s", r->ctx);
    for (int d = 0; d < r->depth && n < sizeof where; d++)
        n += (size_t)snprintf(where + n, sizeof where - n, "[%" PRIu64 "]", r->elem[d]);
    return bn_error_at(__FILE__, line, code, "%s: %s%s%s", r->path, where, where[0] ? ": " : "",
                       msg);
}

/* Name an item in r->ctx, with non-printable bytes shown as '?' and long names cut. */
static void set_ctx(gguf_reader *r, const char *what, uint64_t i, const char *name) {
    char shown[100];
    size_t n = 0;
    for (; name[n] != '\0' && n < sizeof shown - 4; n++)
        shown[n] = (name[n] >= 0x20 && name[n] < 0x7f) ? name[n] : '?';
    if (name[n] != '\0') {
        memcpy(shown + n, "...", 3);
        n += 3;
    }
    shown[n] = '\0';
    snprintf(r->ctx, sizeof r->ctx, "%s %" PRIu64 " ('%s')", what, i, shown);
}

static size_t bytes_left(const gguf_reader *r) {
    return r->size - r->pos;
}

static bn_status need(const gguf_reader *r, uint64_t n, const char *what) {
    if (n > bytes_left(r))
        return GGUF_FAIL(r, BN_ERR_FORMAT,
                         "%s at byte %zu needs %" PRIu64 " bytes but the file ends at byte %zu",
                         what, r->pos, n, r->size);
    return BN_OK;
}

static bn_status rd_u32(gguf_reader *r, const char *what, uint32_t *out) {
    BN_TRY(need(r, 4, what));
    *out = le32(r->data + r->pos);
    r->pos += 4;
    return BN_OK;
}

static bn_status rd_u64(gguf_reader *r, const char *what, uint64_t *out) {
    BN_TRY(need(r, 8, what));
    *out = le64(r->data + r->pos);
    r->pos += 8;
    return BN_OK;
}

/* A string (u64 length, then bytes) copied NUL-terminated into the arena. */
static bn_status rd_str(gguf_reader *r, const char *what, uint64_t max_len, bn_gguf_str *out) {
    size_t at = r->pos;
    uint64_t len;
    BN_TRY(rd_u64(r, what, &len));
    if (len > max_len)
        return GGUF_FAIL(r, BN_ERR_FORMAT,
                         "%s length %" PRIu64 " at byte %zu (must be <= %" PRIu64 ")", what, len,
                         at, max_len);
    if (len > bytes_left(r))
        return GGUF_FAIL(r, BN_ERR_FORMAT,
                         "%s length %" PRIu64 " at byte %zu runs past the end of the file (%zu "
                         "bytes left)",
                         what, len, at, bytes_left(r));
    char *s = arena_alloc(&r->priv->arena, (size_t)len + 1);
    if (s == NULL)
        return GGUF_FAIL(r, BN_ERR_OUT_OF_MEMORY, "no memory for a %s of %" PRIu64 " bytes", what,
                         len);
    memcpy(s, r->data + r->pos, (size_t)len);
    s[len] = '\0';
    r->pos += (size_t)len;
    out->data = s;
    out->len = len;
    return BN_OK;
}

/* A key or tensor name: looked up as a C string, so it may not hold a NUL byte. */
static bn_status rd_name(gguf_reader *r, const char *what, uint64_t max_len, bn_gguf_str *out) {
    size_t at = r->pos;
    BN_TRY(rd_str(r, what, max_len, out));
    if (memchr(out->data, '\0', (size_t)out->len) != NULL)
        return GGUF_FAIL(r, BN_ERR_FORMAT, "%s at byte %zu contains a NUL byte", what, at);
    return BN_OK;
}

/* ---- values ----------------------------------------------------------------------------- */

static bn_status rd_array(gguf_reader *r, int depth, bn_gguf_array *a);

/* One value of a known type; depth is the array nesting level it sits at (0 for a KV value). */
static bn_status rd_value(gguf_reader *r, bn_gguf_type type, int depth, bn_gguf_value *v) {
    v->type = type;
    if (type == BN_GGUF_STRING)
        return rd_str(r, "string", UINT64_MAX, &v->str);
    if (type == BN_GGUF_ARRAY)
        return rd_array(r, depth + 1, &v->arr);
    size_t at = r->pos;
    BN_TRY(need(r, value_types[type].size, value_types[type].name));
    if (type == BN_GGUF_BOOL && r->data[at] > 1)
        return GGUF_FAIL(r, BN_ERR_FORMAT, "bool = %u at byte %zu (must be 0 or 1)", r->data[at],
                         at);
    decode_scalar(r->data + at, type, v);
    r->pos += value_types[type].size;
    return BN_OK;
}

/* Fixed-size elements stay in the mapping; only bools need their bytes checked. */
static bn_status rd_fixed_elems(gguf_reader *r, bn_gguf_array *a) {
    size_t at = r->pos, esize = value_types[a->type].size;
    if (a->count > bytes_left(r) / esize)
        return GGUF_FAIL(r, BN_ERR_FORMAT,
                         "array of %" PRIu64 " %s at byte %zu runs past the end of the file "
                         "(%zu bytes left)",
                         a->count, value_types[a->type].name, at, bytes_left(r));
    const uint8_t *raw = r->data + at;
    for (uint64_t i = 0; a->type == BN_GGUF_BOOL && i < a->count; i++)
        if (raw[i] > 1)
            return GGUF_FAIL(r, BN_ERR_FORMAT,
                             "array element %" PRIu64 " (bool) = %u at byte %zu (must be 0 or 1)",
                             i, raw[i], at + (size_t)i);
    a->raw = raw;
    r->pos += (size_t)a->count * esize;
    return BN_OK;
}

/* Strings and nested arrays are parsed into items[]. The count is checked against the bytes
 * left (each element takes at least min bytes) before items[] is allocated. */
static bn_status rd_item_elems(gguf_reader *r, int depth, bn_gguf_array *a) {
    size_t at = r->pos, min = a->type == BN_GGUF_STRING ? STRING_MIN_BYTES : ARRAY_MIN_BYTES;
    if (a->count > bytes_left(r) / min)
        return GGUF_FAIL(r, BN_ERR_FORMAT,
                         "array of %" PRIu64 " %s elements at byte %zu cannot fit in the %zu "
                         "bytes left (each takes at least %zu)",
                         a->count, value_types[a->type].name, at, bytes_left(r), min);
    if (a->count == 0)
        return BN_OK;
    bn_gguf_value *items = arena_array(&r->priv->arena, a->count, sizeof *items);
    if (items == NULL)
        return GGUF_FAIL(r, BN_ERR_OUT_OF_MEMORY, "no memory for %" PRIu64 " array elements",
                         a->count);
    a->items = items;
    for (uint64_t i = 0; i < a->count; i++) {
        r->depth = depth;
        r->elem[depth - 1] = i;
        BN_TRY(rd_value(r, a->type, depth, &items[i]));
    }
    r->depth = depth - 1;
    return BN_OK;
}

/* An array body: element type, count, elements. depth counts arrays from 1 (a KV's array). */
static bn_status rd_array(gguf_reader *r, int depth, bn_gguf_array *a) {
    size_t at = r->pos;
    if (depth > BN_GGUF_MAX_NESTING)
        return GGUF_FAIL(r, BN_ERR_FORMAT, "array nesting depth %d at byte %zu (must be <= %d)",
                         depth, at, BN_GGUF_MAX_NESTING);
    uint32_t type;
    BN_TRY(rd_u32(r, "array element type", &type));
    if (type >= BN_GGUF_TYPE_COUNT)
        return GGUF_FAIL(r, BN_ERR_FORMAT, "array element type %u at byte %zu (must be < %d)", type,
                         at, BN_GGUF_TYPE_COUNT);
    a->type = (bn_gguf_type)type;
    a->raw = NULL;
    a->items = NULL;
    BN_TRY(rd_u64(r, "array count", &a->count));
    if (value_types[type].size != 0)
        return rd_fixed_elems(r, a);
    return rd_item_elems(r, depth, a);
}

/* ---- integers of any width ------------------------------------------------------------- */

/* An integer value as sign and magnitude, so one range check serves every target type. */
typedef struct gguf_int {
    bool neg;
    uint64_t mag;
} gguf_int;

static bool as_int(const bn_gguf_value *v, gguf_int *out) {
    switch (v->type) {
    case BN_GGUF_U8:
    case BN_GGUF_U16:
    case BN_GGUF_U32:
    case BN_GGUF_U64:
        out->neg = false;
        out->mag = v->u64;
        return true;
    case BN_GGUF_I8:
    case BN_GGUF_I16:
    case BN_GGUF_I32:
    case BN_GGUF_I64:
        out->neg = v->i64 < 0;
        out->mag = out->neg ? (uint64_t)0 - (uint64_t)v->i64 : (uint64_t)v->i64;
        return true;
    default:
        return false;
    }
}

static bool int_to_i64(gguf_int x, int64_t *out) {
    if (x.neg ? x.mag > (uint64_t)INT64_MAX + 1 : x.mag > (uint64_t)INT64_MAX)
        return false;
    *out =
        x.neg ? (x.mag == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)x.mag) : (int64_t)x.mag;
    return true;
}

/* ---- key/value pairs -------------------------------------------------------------------- */

/* general.alignment: upstream requires a u32; we accept any integer type holding a power of
 * two from 8 to 2^31, since writers differ in integer widths and the value is what matters. */
static bn_status check_alignment(gguf_reader *r, bn_gguf *g, const bn_gguf_value *v, size_t at) {
    gguf_int x = {false, 0};
    if (!as_int(v, &x))
        return GGUF_FAIL(r, BN_ERR_FORMAT,
                         "general.alignment has type %s at byte %zu (must be an integer, "
                         "normally u32)",
                         value_types[v->type].name, at);
    if (x.neg || x.mag < 8 || x.mag > MAX_ALIGNMENT || (x.mag & (x.mag - 1)) != 0)
        return GGUF_FAIL(r, BN_ERR_FORMAT,
                         "general.alignment = %s%" PRIu64 " at byte %zu (must be a power of two "
                         "from 8 to 2^31)",
                         x.neg ? "-" : "", x.mag, at);
    g->alignment = (uint32_t)x.mag;
    return BN_OK;
}

/* Keys the reader itself depends on are checked as soon as they are read. */
static bn_status check_known_key(gguf_reader *r, bn_gguf *g, const bn_gguf_kv *kv, size_t at) {
    if (strcmp(kv->key, "general.alignment") == 0)
        return check_alignment(r, g, &kv->value, at);
    if (strcmp(kv->key, "general.architecture") == 0) {
        if (kv->value.type != BN_GGUF_STRING)
            return GGUF_FAIL(r, BN_ERR_FORMAT,
                             "general.architecture has type %s at byte %zu (must be string)",
                             value_types[kv->value.type].name, at);
        g->architecture = kv->value.str.data;
    }
    return BN_OK;
}

static bn_status rd_kv(gguf_reader *r, bn_gguf *g, uint64_t i) {
    bn_gguf_kv *kv = &g->kv[i];
    size_t at = r->pos;
    snprintf(r->ctx, sizeof r->ctx, "kv %" PRIu64, i);
    bn_gguf_str key;
    BN_TRY(rd_name(r, "key", BN_GGUF_MAX_KEY, &key));
    kv->key = key.data;
    set_ctx(r, "kv", i, kv->key);
    uint64_t *slot = index_probe(&r->priv->kv_index, g, kv_name, kv->key);
    if (*slot != 0)
        return GGUF_FAIL(r, BN_ERR_FORMAT, "duplicate key at byte %zu (kv %" PRIu64 " has it)", at,
                         *slot - 1);
    *slot = i + 1;
    size_t type_at = r->pos;
    uint32_t type;
    BN_TRY(rd_u32(r, "value type", &type));
    if (type >= BN_GGUF_TYPE_COUNT)
        return GGUF_FAIL(r, BN_ERR_FORMAT, "value type %u at byte %zu (must be < %d)", type,
                         type_at, BN_GGUF_TYPE_COUNT);
    size_t value_at = r->pos;
    BN_TRY(rd_value(r, (bn_gguf_type)type, 0, &kv->value));
    return check_known_key(r, g, kv, value_at);
}

/* ---- tensor infos ----------------------------------------------------------------------- */

static bool is_bitnet_cpp_arch(const char *arch) {
    return strcmp(arch, "bitnet-b1.58") == 0 || strcmp(arch, "bitnet-25") == 0;
}

/* What an id in 36..39 means in this file (facts §3.2): 36-38 only have bitnet.cpp meanings
 * (upstream retired them); 39 is bitnet.cpp's TL2 in files of its architectures, else MXFP4. */
static const char *ambiguous_type_name(const bn_gguf *g, uint32_t id) {
    static const char *const fork[] = {"I2_S", "I8_S", "TL1", "TL2"};
    if (id == 39 && !is_bitnet_cpp_arch(g->architecture))
        return "MXFP4";
    return fork[id - 36];
}

/* Explain, once per id, how an ambiguous id was read. */
static void note_type(bn_gguf *g, gguf_private *p, uint32_t id) {
    if (p->notes_seen & (1u << (id - 36)))
        return;
    p->notes_seen |= 1u << (id - 36);
    char note[160];
    const char *name = ambiguous_type_name(g, id);
    if (id == 39 && strcmp(name, "MXFP4") == 0)
        snprintf(note, sizeof note,
                 "type 39 read as upstream ggml MXFP4 (architecture '%.40s' is not bitnet.cpp's; "
                 "its fork uses 39 for TL2)",
                 g->architecture);
    else if (id == 39)
        snprintf(note, sizeof note,
                 "type 39 read as bitnet.cpp TL2 (architecture '%s'; upstream ggml 39 is MXFP4)",
                 g->architecture);
    else
        snprintf(note, sizeof note, "type %u read as bitnet.cpp %s (upstream ggml retired %u, %s)",
                 id, name, id, ggml_names[id]);
    size_t used = strlen(g->type_note);
    snprintf(g->type_note + used, sizeof g->type_note - used, "%s%s", used ? "; " : "", note);
}

/* Map the file's id to our dtype, or say why the tensor cannot be read. */
static bn_status resolve_type(gguf_reader *r, bn_gguf *g, uint32_t id, size_t at, bn_dtype *out) {
    if (id >= 36 && id <= 39)
        note_type(g, r->priv, id);
    if (id <= (uint32_t)INT32_MAX && bn_dtype_from_gguf((int)id, out) == BN_OK)
        return BN_OK;
    if (id >= 36 && id <= 39)
        return GGUF_FAIL(r, BN_ERR_DTYPE, "type %u at byte %zu is %s, which is not supported (%s)",
                         id, at, ambiguous_type_name(g, id), g->type_note);
    if (id < GGML_ID_COUNT)
        return GGUF_FAIL(r, BN_ERR_DTYPE,
                         "type %u at byte %zu is upstream ggml %s%s, which BitNet-C does not read",
                         id, at, ggml_names[id], ggml_retired(id) ? " (retired upstream)" : "");
    return GGUF_FAIL(r, BN_ERR_DTYPE, "type %u at byte %zu is not a known ggml type id", id, at);
}

static bn_status rd_shape(gguf_reader *r, bn_gguf_tensor *t) {
    size_t at = r->pos;
    uint32_t n_dims;
    BN_TRY(rd_u32(r, "n_dims", &n_dims));
    if (n_dims < 1 || n_dims > BN_GGUF_MAX_DIMS)
        return GGUF_FAIL(r, BN_ERR_FORMAT, "n_dims = %u at byte %zu (must be 1..%d)", n_dims, at,
                         BN_GGUF_MAX_DIMS);
    t->n_dims = (int)n_dims;
    uint64_t numel = 1;
    for (int d = 0; d < BN_GGUF_MAX_DIMS; d++)
        t->ne[d] = 1;
    for (int d = 0; d < t->n_dims; d++) {
        size_t dim_at = r->pos;
        BN_TRY(rd_u64(r, "dims", &t->ne[d]));
        if (t->ne[d] == 0)
            return GGUF_FAIL(r, BN_ERR_FORMAT, "dims[%d] = 0 at byte %zu (must be > 0)", d, dim_at);
        if (t->ne[d] > (uint64_t)INT64_MAX / numel)
            return GGUF_FAIL(r, BN_ERR_FORMAT,
                             "dims[%d] = %" PRIu64 " at byte %zu makes the element count "
                             "overflow int64",
                             d, t->ne[d], dim_at);
        numel *= t->ne[d];
    }
    return BN_OK;
}

static uint64_t numel_of(const bn_gguf_tensor *t) {
    uint64_t n = 1;
    for (int d = 0; d < t->n_dims; d++)
        n *= t->ne[d];
    return n;
}

/* The type, then what it implies: whole blocks per row and the tensor's byte size. */
static bn_status rd_tensor_type(gguf_reader *r, bn_gguf *g, bn_gguf_tensor *t) {
    size_t at = r->pos;
    BN_TRY(rd_u32(r, "type", &t->ggml_type));
    BN_TRY(resolve_type(r, g, t->ggml_type, at, &t->dtype));
    const bn_dtype_traits *tr = bn_dtype_get(t->dtype);
    /* (a ternary packing checks its shape itself: I2_S's groups run over the whole tensor) */
    if (tr->ternary_bytes == NULL && t->ne[0] % (uint64_t)tr->block_size != 0)
        return GGUF_FAIL(r, BN_ERR_FORMAT,
                         "dims[0] = %" PRIu64 " is not a multiple of the %s block size %" PRId64
                         " (type at byte %zu)",
                         t->ne[0], tr->name, tr->block_size, at);
    uint64_t numel = numel_of(t);
    if (bn_dtype_tensor_bytes(t->dtype, (int64_t)t->ne[0], (int64_t)numel, &t->size) != BN_OK)
        return GGUF_FAIL(r, BN_ERR_FORMAT,
                         "a %s tensor of %" PRIu64 " elements (type at byte %zu) has no valid "
                         "size: %s",
                         tr->name, numel, at, bn_last_error());
    return BN_OK;
}

static bn_status rd_tensor_info(gguf_reader *r, bn_gguf *g, uint64_t i, size_t *offset_at) {
    bn_gguf_tensor *t = &g->tensors[i];
    size_t at = r->pos;
    snprintf(r->ctx, sizeof r->ctx, "tensor info %" PRIu64, i);
    bn_gguf_str name;
    BN_TRY(rd_name(r, "tensor name", BN_GGUF_MAX_NAME, &name));
    t->name = name.data;
    set_ctx(r, "tensor info", i, t->name);
    uint64_t *slot = index_probe(&r->priv->tensor_index, g, tensor_name, t->name);
    if (*slot != 0)
        return GGUF_FAIL(r, BN_ERR_FORMAT,
                         "duplicate tensor name at byte %zu (tensor info %" PRIu64 " has it)", at,
                         *slot - 1);
    *slot = i + 1;
    BN_TRY(rd_shape(r, t));
    BN_TRY(rd_tensor_type(r, g, t));
    *offset_at = r->pos;
    BN_TRY(rd_u64(r, "offset", &t->offset));
    if (t->offset % g->alignment != 0)
        return GGUF_FAIL(r, BN_ERR_FORMAT,
                         "offset %" PRIu64 " at byte %zu is not a multiple of the alignment %u",
                         t->offset, *offset_at, g->alignment);
    return BN_OK;
}

/* ---- the data section ------------------------------------------------------------------- */

typedef struct span {
    uint64_t begin, end, index;
} span;

static int span_cmp(const void *a, const void *b) {
    const span *x = a, *y = b;
    return x->begin < y->begin ? -1 : x->begin > y->begin;
}

/* Sort the tensors' byte ranges; each must begin at or after the end of the one before. */
static bn_status check_overlaps(gguf_reader *r, bn_gguf *g, const size_t *offset_at) {
    span *s = arena_array(&r->priv->arena, g->n_tensors, sizeof *s);
    if (s == NULL)
        return GGUF_FAIL(r, BN_ERR_OUT_OF_MEMORY, "no memory to sort %" PRIu64 " tensors",
                         g->n_tensors);
    for (uint64_t i = 0; i < g->n_tensors; i++)
        s[i] = (span){g->tensors[i].offset, g->tensors[i].offset + g->tensors[i].size, i};
    qsort(s, (size_t)g->n_tensors, sizeof *s, span_cmp);
    for (uint64_t k = 1; k < g->n_tensors; k++) {
        if (s[k].begin >= s[k - 1].end)
            continue;
        const bn_gguf_tensor *t = &g->tensors[s[k].index];
        set_ctx(r, "tensor info", s[k].index, t->name);
        return GGUF_FAIL(r, BN_ERR_FORMAT,
                         "offset %" PRIu64 " at byte %zu overlaps tensor '%.64s', which spans "
                         "[%" PRIu64 ", %" PRIu64 ") of the data section",
                         t->offset, offset_at[s[k].index], g->tensors[s[k - 1].index].name,
                         s[k - 1].begin, s[k - 1].end);
    }
    return BN_OK;
}

/* The data section starts at the next multiple of the alignment. Without tensors it may be
 * missing (the file may end right after the infos); data_offset then stops at the file's end. */
static bn_status check_data(gguf_reader *r, bn_gguf *g, const size_t *offset_at) {
    r->ctx[0] = '\0';
    r->depth = 0;
    size_t start = bn_align_up(r->pos, g->alignment); /* pos > 0: 0 means overflow */
    if (g->n_tensors == 0) {
        g->data_offset = start == 0 || start > r->size ? r->size : start;
        return BN_OK;
    }
    if (start == 0 || start > r->size)
        return GGUF_FAIL(r, BN_ERR_FORMAT,
                         "data section: the tensor infos end at byte %zu, so the data would "
                         "start past the end of the file (%zu bytes, alignment %u)",
                         r->pos, r->size, g->alignment);
    g->data_offset = start;
    size_t avail = r->size - start;
    for (uint64_t i = 0; i < g->n_tensors; i++) {
        const bn_gguf_tensor *t = &g->tensors[i];
        if (t->offset <= avail && t->size <= avail - t->offset)
            continue;
        set_ctx(r, "tensor info", i, t->name);
        return GGUF_FAIL(r, BN_ERR_FORMAT,
                         "offset %" PRIu64 " at byte %zu + size %zu runs past the end of the "
                         "file (the data section at byte %zu holds %zu bytes)",
                         t->offset, offset_at[i], t->size, start, avail);
    }
    BN_TRY(check_overlaps(r, g, offset_at));
    for (uint64_t i = 0; i < g->n_tensors; i++)
        g->tensors[i].data = r->data + start + g->tensors[i].offset;
    return BN_OK;
}

/* ---- open ------------------------------------------------------------------------------- */

static uint32_t bswap32(uint32_t x) {
    return x >> 24 | (x >> 8 & 0xff00u) | (x << 8 & 0xff0000u) | x << 24;
}

static bn_status check_version(const gguf_reader *r, uint32_t v) {
    if (v == 2 || v == 3)
        return BN_OK;
    if (v == 1)
        return GGUF_FAIL(r, BN_ERR_FORMAT, "GGUF version 1 is not supported (version at byte 4)");
    if (bswap32(v) >= 1 && bswap32(v) <= 3)
        return GGUF_FAIL(r, BN_ERR_FORMAT,
                         "version 0x%08x at byte 4 reads as %u byte-swapped: big-endian GGUF "
                         "files are not supported",
                         v, bswap32(v));
    return GGUF_FAIL(r, BN_ERR_FORMAT, "version %u at byte 4 (must be 2 or 3)", v);
}

/* Each count alone, then both together, must fit in the bytes that follow. */
static bn_status check_counts(const gguf_reader *r, const bn_gguf *g) {
    size_t rest = bytes_left(r);
    if (g->n_tensors > rest / TENSOR_MIN_BYTES)
        return GGUF_FAIL(r, BN_ERR_FORMAT,
                         "tensor_count %" PRIu64 " at byte 8 cannot fit in the %zu bytes left "
                         "(each tensor info takes at least %d)",
                         g->n_tensors, rest, TENSOR_MIN_BYTES);
    if (g->n_kv > rest / KV_MIN_BYTES)
        return GGUF_FAIL(r, BN_ERR_FORMAT,
                         "kv_count %" PRIu64 " at byte 16 cannot fit in the %zu bytes left (each "
                         "key/value pair takes at least %d)",
                         g->n_kv, rest, KV_MIN_BYTES);
    if (g->n_kv * KV_MIN_BYTES > rest - g->n_tensors * TENSOR_MIN_BYTES)
        return GGUF_FAIL(r, BN_ERR_FORMAT,
                         "kv_count %" PRIu64 " at byte 16 and tensor_count %" PRIu64
                         " at byte 8 cannot both fit in the %zu bytes left",
                         g->n_kv, g->n_tensors, rest);
    return BN_OK;
}

static bn_status rd_header(gguf_reader *r, bn_gguf *g) {
    uint32_t magic;
    BN_TRY(rd_u32(r, "magic", &magic));
    if (magic != BN_GGUF_MAGIC)
        return GGUF_FAIL(r, BN_ERR_FORMAT,
                         "magic 0x%08x at byte 0 (must be 0x%08x, \"GGUF\"): not a GGUF file",
                         magic, BN_GGUF_MAGIC);
    BN_TRY(rd_u32(r, "version", &g->version));
    BN_TRY(check_version(r, g->version));
    BN_TRY(rd_u64(r, "tensor_count", &g->n_tensors));
    BN_TRY(rd_u64(r, "kv_count", &g->n_kv));
    return check_counts(r, g);
}

/* The kv and tensor arrays and their indexes, sized by counts already checked to fit. */
static bn_status alloc_tables(gguf_reader *r, bn_gguf *g, size_t **offset_at) {
    gguf_private *p = r->priv;
    g->kv = arena_array(&p->arena, g->n_kv, sizeof *g->kv);
    g->tensors = arena_array(&p->arena, g->n_tensors, sizeof *g->tensors);
    *offset_at = arena_array(&p->arena, g->n_tensors, sizeof **offset_at);
    if (g->kv == NULL || g->tensors == NULL || *offset_at == NULL ||
        !index_init(&p->arena, &p->kv_index, g->n_kv) ||
        !index_init(&p->arena, &p->tensor_index, g->n_tensors))
        return GGUF_FAIL(r, BN_ERR_OUT_OF_MEMORY,
                         "no memory for %" PRIu64 " key/value pairs and %" PRIu64 " tensors",
                         g->n_kv, g->n_tensors);
    return BN_OK;
}

static bn_status parse(bn_gguf *g) {
    gguf_reader r = {
        .data = g->file.data, .size = g->file.size, .path = g->file.path, .priv = g->arena};
    size_t *offset_at;
    BN_TRY(rd_header(&r, g));
    BN_TRY(alloc_tables(&r, g, &offset_at));
    for (uint64_t i = 0; i < g->n_kv; i++)
        BN_TRY(rd_kv(&r, g, i));
    for (uint64_t i = 0; i < g->n_tensors; i++)
        BN_TRY(rd_tensor_info(&r, g, i, &offset_at[i]));
    return check_data(&r, g, offset_at);
}

static gguf_handle *new_handle(void) {
    gguf_handle *h = bn_aligned_alloc(sizeof *h);
    if (h == NULL)
        return NULL;
    memset(h, 0, sizeof *h);
    h->pub.alignment = BN_GGUF_DEFAULT_ALIGNMENT;
    h->pub.architecture = "";
    h->pub.arena = &h->priv;
    return h;
}

/* Parse a handle whose file is set; it is closed on failure. */
static bn_status open_handle(bn_gguf **out, gguf_handle *h) {
    bn_status st = parse(&h->pub);
    if (st != BN_OK) {
        bn_gguf_close(&h->pub);
        return st;
    }
    *out = &h->pub;
    return BN_OK;
}

bn_status bn_gguf_open(bn_gguf **out, const char *path) {
    if (out == NULL || path == NULL)
        return BN_ERROR(BN_ERR_INVALID_ARG, "bn_gguf_open: NULL argument");
    *out = NULL;
    gguf_handle *h = new_handle();
    if (h == NULL)
        return BN_ERROR(BN_ERR_OUT_OF_MEMORY, "%s: no memory for a GGUF handle", path);
    bn_status st = bn_mapped_file_open(&h->pub.file, path);
    if (st != BN_OK) {
        bn_aligned_free(h);
        return st;
    }
    return open_handle(out, h);
}

bn_status bn_gguf_open_memory(bn_gguf **out, const void *data, size_t size, const char *name) {
    if (out == NULL || (data == NULL && size != 0))
        return BN_ERROR(BN_ERR_INVALID_ARG, "bn_gguf_open_memory: NULL argument");
    *out = NULL;
    name = name != NULL ? name : "<memory>";
    gguf_handle *h = new_handle();
    if (h == NULL)
        return BN_ERROR(BN_ERR_OUT_OF_MEMORY, "%s: no memory for a GGUF handle", name);
    bn_mapped_file_from_memory(&h->pub.file, size != 0 ? data : NULL, size, name);
    return open_handle(out, h);
}

bn_status bn_gguf_open_pages(bn_gguf **out, void *data, size_t size, const char *name) {
    *out = NULL;
    name = name != NULL ? name : "<memory>";
    gguf_handle *h = new_handle();
    if (h == NULL) {
        bn_pages_free(data, size);
        return BN_ERROR(BN_ERR_OUT_OF_MEMORY, "%s: no memory for a GGUF handle", name);
    }
    bn_mapped_file_adopt_pages(&h->pub.file, data, size, name);
    return open_handle(out, h);
}

void bn_gguf_close(bn_gguf *g) {
    if (g == NULL)
        return;
    gguf_private *p = g->arena;
    arena_free(p->arena);
    bn_mapped_file_close(&g->file);
    bn_aligned_free(g); /* g is the first member of its gguf_handle */
}

/* ---- lookups and getters ---------------------------------------------------------------- */

const bn_gguf_kv *bn_gguf_find(const bn_gguf *g, const char *key) {
    if (g == NULL || key == NULL)
        return NULL;
    const gguf_private *p = g->arena;
    uint64_t slot = index_find(&p->kv_index, g, kv_name, key);
    return slot != 0 ? &g->kv[slot - 1] : NULL;
}

const bn_gguf_tensor *bn_gguf_find_tensor(const bn_gguf *g, const char *name) {
    if (g == NULL || name == NULL)
        return NULL;
    const gguf_private *p = g->arena;
    uint64_t slot = index_find(&p->tensor_index, g, tensor_name, name);
    return slot != 0 ? &g->tensors[slot - 1] : NULL;
}

static bn_status find_value(const bn_gguf *g, const char *key, const bn_gguf_value **out) {
    if (g == NULL || key == NULL)
        return BN_ERROR(BN_ERR_INVALID_ARG, "GGUF getter: NULL argument");
    const bn_gguf_kv *kv = bn_gguf_find(g, key);
    if (kv == NULL)
        return BN_ERROR(BN_ERR_NOT_FOUND, "%s: key '%s' not found", g->file.path, key);
    *out = &kv->value;
    return BN_OK;
}

static bn_status wrong_type(const bn_gguf *g, const char *key, bn_gguf_type have,
                            const char *want) {
    return BN_ERROR(BN_ERR_FORMAT, "%s: key '%s' has type %s, not %s", g->file.path, key,
                    bn_gguf_type_name(have), want);
}

static bn_status out_of_range(const bn_gguf *g, const char *key, bn_gguf_type have, gguf_int x,
                              const char *want) {
    return BN_ERROR(BN_ERR_RANGE, "%s: key '%s' = %s%" PRIu64 " (%s) is out of range for %s",
                    g->file.path, key, x.neg ? "-" : "", x.mag, bn_gguf_type_name(have), want);
}

/* The value of key as an integer of any type. */
static bn_status get_int(const bn_gguf *g, const char *key, const char *want, gguf_int *x,
                         bn_gguf_type *type) {
    const bn_gguf_value *v = NULL;
    BN_TRY(find_value(g, key, &v));
    *type = v->type;
    if (!as_int(v, x))
        return wrong_type(g, key, v->type, want);
    return BN_OK;
}

bn_status bn_gguf_get_u32(const bn_gguf *g, const char *key, uint32_t *out) {
    gguf_int x = {false, 0};
    bn_gguf_type type;
    BN_TRY(get_int(g, key, "u32", &x, &type));
    if (x.neg || x.mag > UINT32_MAX)
        return out_of_range(g, key, type, x, "u32");
    *out = (uint32_t)x.mag;
    return BN_OK;
}

bn_status bn_gguf_get_u64(const bn_gguf *g, const char *key, uint64_t *out) {
    gguf_int x = {false, 0};
    bn_gguf_type type;
    BN_TRY(get_int(g, key, "u64", &x, &type));
    if (x.neg)
        return out_of_range(g, key, type, x, "u64");
    *out = x.mag;
    return BN_OK;
}

bn_status bn_gguf_get_i64(const bn_gguf *g, const char *key, int64_t *out) {
    gguf_int x = {false, 0};
    bn_gguf_type type;
    BN_TRY(get_int(g, key, "i64", &x, &type));
    if (!int_to_i64(x, out))
        return out_of_range(g, key, type, x, "i64");
    return BN_OK;
}

/* A double as a float, or false when it is finite but beyond float's range (converting it would
 * be undefined behaviour). Infinities and NaN carry over. */
static bool f64_to_f32(double d, float *out) {
    if (isfinite(d) && fabs(d) > FLT_MAX)
        return false;
    *out = (float)d;
    return true;
}

bn_status bn_gguf_get_f32(const bn_gguf *g, const char *key, float *out) {
    const bn_gguf_value *v = NULL;
    BN_TRY(find_value(g, key, &v));
    if (v->type != BN_GGUF_F32 && v->type != BN_GGUF_F64)
        return wrong_type(g, key, v->type, "f32 or f64");
    if (!f64_to_f32(v->f64, out))
        return BN_ERROR(BN_ERR_RANGE, "%s: key '%s' = %g (f64) is out of range for f32",
                        g->file.path, key, v->f64);
    return BN_OK;
}

bn_status bn_gguf_get_bool(const bn_gguf *g, const char *key, bool *out) {
    const bn_gguf_value *v = NULL;
    BN_TRY(find_value(g, key, &v));
    if (v->type != BN_GGUF_BOOL)
        return wrong_type(g, key, v->type, "bool");
    *out = v->b;
    return BN_OK;
}

bn_status bn_gguf_get_str(const bn_gguf *g, const char *key, const char **out) {
    const bn_gguf_value *v = NULL;
    BN_TRY(find_value(g, key, &v));
    if (v->type != BN_GGUF_STRING)
        return wrong_type(g, key, v->type, "string");
    *out = v->str.data;
    return BN_OK;
}

bn_status bn_gguf_get_arr(const bn_gguf *g, const char *key, const bn_gguf_array **out) {
    const bn_gguf_value *v = NULL;
    BN_TRY(find_value(g, key, &v));
    if (v->type != BN_GGUF_ARRAY)
        return wrong_type(g, key, v->type, "array");
    *out = &v->arr;
    return BN_OK;
}

/* ---- array elements --------------------------------------------------------------------- */

/* Element i, decoded (fixed-size types) or copied (items). Checks the index. */
static bn_status arr_elem(const bn_gguf_array *a, uint64_t i, bn_gguf_value *out) {
    if (a == NULL || out == NULL)
        return BN_ERROR(BN_ERR_INVALID_ARG, "GGUF array getter: NULL argument");
    if (i >= a->count)
        return BN_ERROR(BN_ERR_RANGE,
                        "GGUF array index %" PRIu64 " out of range (%" PRIu64 " %s elements)", i,
                        a->count, bn_gguf_type_name(a->type));
    size_t esize = bn_gguf_type_size(a->type);
    if (esize != 0)
        decode_scalar((const uint8_t *)a->raw + (size_t)i * esize, a->type, out);
    else
        *out = a->items[i];
    return BN_OK;
}

static bn_status elem_wrong_type(const bn_gguf_array *a, uint64_t i, const char *want) {
    return BN_ERROR(BN_ERR_FORMAT, "GGUF array element %" PRIu64 " has type %s, not %s", i,
                    bn_gguf_type_name(a->type), want);
}

static bn_status elem_out_of_range(const bn_gguf_array *a, uint64_t i, gguf_int x,
                                   const char *want) {
    return BN_ERROR(BN_ERR_RANGE,
                    "GGUF array element %" PRIu64 " = %s%" PRIu64 " (%s) is out of range for %s", i,
                    x.neg ? "-" : "", x.mag, bn_gguf_type_name(a->type), want);
}

/* Elements also read bools as 0 and 1, so one integer loop can walk any flag array. */
static bool elem_as_int(const bn_gguf_value *v, gguf_int *x) {
    if (v->type == BN_GGUF_BOOL) {
        *x = (gguf_int){false, v->b ? 1u : 0u};
        return true;
    }
    return as_int(v, x);
}

bn_status bn_gguf_arr_get_i64(const bn_gguf_array *a, uint64_t i, int64_t *out) {
    bn_gguf_value v = {.type = BN_GGUF_U8};
    gguf_int x = {false, 0};
    BN_TRY(arr_elem(a, i, &v));
    if (!elem_as_int(&v, &x))
        return elem_wrong_type(a, i, "an integer");
    if (!int_to_i64(x, out))
        return elem_out_of_range(a, i, x, "i64");
    return BN_OK;
}

bn_status bn_gguf_arr_get_u64(const bn_gguf_array *a, uint64_t i, uint64_t *out) {
    bn_gguf_value v = {.type = BN_GGUF_U8};
    gguf_int x = {false, 0};
    BN_TRY(arr_elem(a, i, &v));
    if (!elem_as_int(&v, &x))
        return elem_wrong_type(a, i, "an integer");
    if (x.neg)
        return elem_out_of_range(a, i, x, "u64");
    *out = x.mag;
    return BN_OK;
}

bn_status bn_gguf_arr_get_f64(const bn_gguf_array *a, uint64_t i, double *out) {
    bn_gguf_value v = {.type = BN_GGUF_U8};
    BN_TRY(arr_elem(a, i, &v));
    if (v.type != BN_GGUF_F32 && v.type != BN_GGUF_F64)
        return elem_wrong_type(a, i, "f32 or f64");
    *out = v.f64;
    return BN_OK;
}

bn_status bn_gguf_arr_get_str(const bn_gguf_array *a, uint64_t i, bn_gguf_str *out) {
    bn_gguf_value v = {.type = BN_GGUF_U8};
    BN_TRY(arr_elem(a, i, &v));
    if (v.type != BN_GGUF_STRING)
        return elem_wrong_type(a, i, "string");
    *out = v.str;
    return BN_OK;
}
