/*
 * test_tokenizer.c - our tokenizers against Hugging Face `tokenizers`, string by string.
 *
 * tests/fixtures/tokenizer/cases.json (scripts/make_tokenizer_fixtures.py) holds, for ~500
 * strings and five vocabularies, the ids tokenizers 0.23 gives with and without BOS and with and
 * without special-token parsing, and its decoded text. Each vocabulary is checked as loaded from
 * tokenizer.json, and again after a round trip through GGUF (the converter's writer and our
 * GGUF reader), and SentencePiece-style once more with merges dropped (the score-driven merging
 * llama.cpp's files need).
 */
#include "test.h"

#include "io/gguf.h"
#include "text/tokenizer.h"
#include "text/utf8.h"
#include "tools/json_spec.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define FIXTURES BN_SOURCE_DIR "/tests/fixtures/tokenizer"

/* memcmp that accepts the NULL data of an empty buffer. */
static bool same_bytes(const void *a, size_t an, const void *b, size_t bn) {
    return an == bn && (an == 0 || memcmp(a, b, an) == 0);
}

/* A JSON array of ids as a malloc'd int32 array. */
static int32_t *json_ids(const cJSON *arr, size_t *n) {
    *n = (size_t)cJSON_GetArraySize(arr);
    int32_t *ids = malloc((*n + 1) * sizeof *ids);
    size_t k = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, arr) ids[k++] = (int32_t)e->valuedouble;
    return ids;
}

typedef struct fixture_string {
    uint8_t *input, *text;
    size_t input_len, text_len;
} fixture_string;

static fixture_string *g_strings;
static int g_n_strings;

static void load_strings(const cJSON *arr) {
    g_n_strings = cJSON_GetArraySize(arr);
    g_strings = calloc((size_t)g_n_strings, sizeof *g_strings);
    int i = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, arr) {
        const char *in = cJSON_GetObjectItem(e, "input_hex")->valuestring;
        const char *tx = cJSON_GetObjectItem(e, "text_hex")->valuestring;
        g_strings[i].input = spec_unhex(in, &g_strings[i].input_len);
        g_strings[i].text = spec_unhex(tx, &g_strings[i].text_len);
        i++;
    }
}

/* The invalid-UTF-8 policy equals Python's errors="replace". */
static void test_sanitize(void) {
    for (int i = 0; i < g_n_strings; i++) {
        fixture_string *s = &g_strings[i];
        uint8_t *out = malloc(3 * s->input_len + 1);
        size_t n = bn_utf8_sanitize(s->input, s->input_len, out);
        CHECK(n == s->text_len && memcmp(out, s->text, n) == 0, "string %d: sanitized text", i);
        CHECK(bn_utf8_is_valid(out, n), "string %d: sanitized text is valid", i);
        free(out);
    }
}

static bool ids_equal(const bn_tokens *got, const cJSON *want) {
    if (got->n != (size_t)cJSON_GetArraySize(want))
        return false;
    size_t i = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, want) {
        if (got->ids[i++] != (int32_t)e->valuedouble)
            return false;
    }
    return true;
}

static void show_ids(const char *what, const bn_tokens *got, const cJSON *want) {
    char *w = cJSON_PrintUnformatted(want);
    fprintf(stderr, "  %s want %s\n  got ", what, w);
    for (size_t i = 0; i < got->n; i++)
        fprintf(stderr, "%d,", got->ids[i]);
    fprintf(stderr, "\n");
    free(w);
}

static void check_encode(const bn_tokenizer *t, const char *name, int i, unsigned flags,
                         const cJSON *want, const char *what) {
    bn_tokens ids = {0};
    CHECK_OK(bn_tokenizer_encode(t, (const char *)g_strings[i].input, g_strings[i].input_len, flags,
                                 &ids));
    bool ok = ids_equal(&ids, want);
    CHECK(ok, "%s string %d: %s ids differ from tokenizers", name, i, what);
    if (!ok && bn_test_failures <= 10)
        show_ids(what, &ids, want);
    bn_tokens_free(&ids);
}

static void check_decode(const bn_tokenizer *t, const char *name, int i, const cJSON *ids_json,
                         bool skip, const char *want_hex) {
    size_t n, want_len = 0;
    int32_t *ids = json_ids(ids_json, &n);
    uint8_t *want = spec_unhex(want_hex, &want_len);
    bn_bytes got = {0};
    CHECK_OK(bn_tokenizer_decode(t, ids, n, skip, &got));
    CHECK(same_bytes(got.data, got.n, want, want_len),
          "%s string %d: decode(skip_special=%d) differs from tokenizers", name, i, skip);
    bn_bytes text = {0};
    CHECK_OK(bn_tokenizer_decode_text(t, ids, n, skip, &text));
    CHECK(same_bytes(text.data, text.n, want, want_len),
          "%s string %d: decode_text(skip_special=%d) differs from tokenizers", name, i, skip);
    bn_bytes_free(&text);
    if (!skip) { /* streaming, token by token, gives the same bytes */
        bn_detokenizer d;
        bn_bytes streamed = {0};
        bn_detokenizer_init(&d, t, false);
        for (size_t j = 0; j < n; j++) {
            size_t before = streamed.n;
            CHECK_OK(bn_detokenizer_push(&d, ids[j], &streamed));
            CHECK(bn_utf8_is_valid((const uint8_t *)streamed.data + before, streamed.n - before),
                  "%s string %d: streamed chunk %zu is not whole UTF-8", name, i, j);
        }
        CHECK_OK(bn_detokenizer_flush(&d, &streamed));
        CHECK(same_bytes(streamed.data, streamed.n, want, want_len),
              "%s string %d: streaming decode differs", name, i);
        bn_bytes_free(&streamed);
    }
    bn_bytes_free(&got);
    free(want);
    free(ids);
}

static void check_vocab(const bn_tokenizer *t, const char *name, const cJSON *cases,
                        bool with_decode) {
    int i = 0;
    const cJSON *c;
    cJSON_ArrayForEach(c, cases) {
        const cJSON *ids = cJSON_GetObjectItem(c, "ids");
        check_encode(t, name, i, BN_TOK_ADD_SPECIAL | BN_TOK_PARSE_SPECIAL, ids, "ids");
        check_encode(t, name, i, BN_TOK_PARSE_SPECIAL, cJSON_GetObjectItem(c, "ids_nobos"),
                     "ids_nobos");
        check_encode(t, name, i, 0, cJSON_GetObjectItem(c, "ids_plain"), "ids_plain");
        if (with_decode) {
            check_decode(t, name, i, ids, false,
                         cJSON_GetObjectItem(c, "decoded_hex")->valuestring);
            check_decode(t, name, i, ids, true,
                         cJSON_GetObjectItem(c, "decoded_skip_hex")->valuestring);
        }
        i++;
    }
}

/* tokenizer.json -> spec -> GGUF (vocabulary only) -> tokenizer. */
static bn_tokenizer *via_gguf(const bn_tokenizer *t, const char *name) {
    char path[256];
    snprintf(path, sizeof path, "/tmp/bn_test_tok_%d_%s.gguf", (int)getpid(), name);
    bn_gguf_writer *w = NULL;
    bn_tokenizer *back = NULL;
    CHECK_OK(bn_gguf_writer_create(&w, path, 0));
    if (w == NULL)
        return NULL;
    CHECK_OK(bn_gguf_writer_set_str(w, "general.architecture", "bitnet"));
    CHECK_OK(bn_tokenizer_spec_write_gguf(bn_tokenizer_spec_of(t), w));
    CHECK_OK(bn_gguf_writer_begin_data(w));
    CHECK_OK(bn_gguf_writer_finish(w));
    CHECK_OK(bn_tokenizer_load(&back, path));
    unlink(path);
    return back;
}

/* The same GGUF vocabulary without its merges: merging by score must agree. */
static bn_tokenizer *scores_only(const bn_tokenizer *t) {
    const bn_tokenizer_spec *s = bn_tokenizer_spec_of(t);
    char path[256];
    snprintf(path, sizeof path, "/tmp/bn_test_tok_%d_scores.gguf", (int)getpid());
    bn_gguf_writer *w = NULL;
    CHECK_OK(bn_gguf_writer_create(&w, path, 0));
    CHECK_OK(bn_tokenizer_spec_write_gguf(s, w));
    CHECK_OK(bn_gguf_writer_begin_data(w));
    CHECK_OK(bn_gguf_writer_finish(w));
    bn_gguf *g = NULL;
    bn_tokenizer_spec *spec = NULL;
    bn_tokenizer *back = NULL;
    CHECK_OK(bn_gguf_open(&g, path));
    CHECK_OK(bn_tokenizer_spec_load_gguf(&spec, g));
    bn_gguf_close(g);
    unlink(path);
    if (spec == NULL)
        return NULL;
    CHECK(spec->scores != NULL && spec->n_merges > 0, "SentencePiece GGUF has scores and merges");
    for (int32_t r = 0; r < spec->n_merges; r++)
        free(spec->merges[r]);
    spec->n_merges = 0;
    CHECK_OK(bn_tokenizer_create(&back, spec));
    return back;
}

static void test_vocab(const cJSON *vocabs, const char *name) {
    char dir[512];
    snprintf(dir, sizeof dir, FIXTURES "/%s", name);
    const cJSON *cases = cJSON_GetObjectItem(vocabs, name);
    CHECK(cJSON_GetArraySize(cases) == g_n_strings, "%s: one case per string", name);
    bn_tokenizer *t = NULL;
    CHECK_OK(bn_tokenizer_load(&t, dir));
    if (t == NULL)
        return;
    check_vocab(t, name, cases, true);
    bn_tokenizer *g = via_gguf(t, name);
    if (g != NULL) {
        char what[64];
        snprintf(what, sizeof what, "%s (GGUF)", name);
        check_vocab(g, what, cases, true);
        bn_tokenizer_free(g);
    }
    if (bn_tokenizer_spec_of(t)->model == BN_TOK_SPM_BPE) {
        bn_tokenizer *sc = scores_only(t);
        if (sc != NULL) {
            char what[64];
            snprintf(what, sizeof what, "%s (GGUF, scores only)", name);
            check_vocab(sc, what, cases, false);
            bn_tokenizer_free(sc);
        }
    }
    bn_tokenizer_free(t);
}

/* The ignore_merges cases give other ids when the flag is off: the flag is really exercised. */
static void test_ignore_merges(const cJSON *list) {
    bn_tokenizer_spec *spec = NULL;
    bn_tokenizer *on = NULL, *off = NULL;
    CHECK_OK(bn_tokenizer_spec_load_hf(&spec, FIXTURES "/bpe"));
    CHECK(spec != NULL && spec->ignore_merges, "bpe fixture has ignore_merges");
    if (spec == NULL)
        return;
    spec->ignore_merges = false;
    CHECK_OK(bn_tokenizer_create(&off, spec));
    CHECK_OK(bn_tokenizer_load(&on, FIXTURES "/bpe"));
    CHECK(cJSON_GetArraySize(list) >= 1, "at least one ignore_merges case");
    const cJSON *c;
    cJSON_ArrayForEach(c, list) {
        int i = (int)cJSON_GetObjectItem(c, "string_index")->valuedouble;
        const cJSON *want = cJSON_GetObjectItem(c, "ids_without_ignore_merges");
        check_encode(off, "bpe without ignore_merges", i, 0, want, "ids");
        bn_tokens with = {0};
        CHECK_OK(bn_tokenizer_encode(on, (const char *)g_strings[i].input, g_strings[i].input_len,
                                     0, &with));
        CHECK(!ids_equal(&with, want), "string %d: ignore_merges changes the ids", i);
        bn_tokens_free(&with);
    }
    bn_tokenizer_free(on);
    bn_tokenizer_free(off);
}

/* Id sequences no encoding produces (half characters, byte tokens split by specials): the text
 * decode equals tokenizers' lossy decode. */
static void test_decode_only(const cJSON *rows) {
    int i = 0;
    const cJSON *r;
    cJSON_ArrayForEach(r, rows) {
        char dir[512];
        snprintf(dir, sizeof dir, FIXTURES "/%s", cJSON_GetObjectItem(r, "vocab")->valuestring);
        bn_tokenizer *t = NULL;
        CHECK_OK(bn_tokenizer_load(&t, dir));
        if (t == NULL)
            continue;
        for (int skip = 0; skip < 2; skip++) {
            const cJSON *ids_json = cJSON_GetObjectItem(r, "ids");
            size_t n, want_len = 0;
            int32_t *ids = json_ids(ids_json, &n);
            const char *hex =
                cJSON_GetObjectItem(r, skip ? "decoded_skip_hex" : "decoded_hex")->valuestring;
            uint8_t *want = spec_unhex(hex, &want_len);
            bn_bytes got = {0};
            CHECK_OK(bn_tokenizer_decode_text(t, ids, n, skip, &got));
            CHECK(same_bytes(got.data, got.n, want, want_len),
                  "decode_only row %d (skip %d): text differs from tokenizers", i, skip);
            bn_bytes_free(&got);
            free(want);
            free(ids);
        }
        bn_tokenizer_free(t);
        i++;
    }
    CHECK(i >= 20, "%d decode-only rows", i);
}

/* Every malformed file fails to load with a message containing the expected phrase. */
static void test_bad_files(void) {
    size_t len;
    char *manifest = spec_read_file(FIXTURES "/bad/MANIFEST.txt", &len);
    CHECK(manifest != NULL, "bad/MANIFEST.txt");
    int n = 0;
    for (char *line = manifest ? strtok(manifest, "\n") : NULL; line; line = strtok(NULL, "\n")) {
        char *tab = strchr(line, '\t');
        if (line[0] == '#' || tab == NULL)
            continue;
        *tab = '\0';
        char dir[512];
        snprintf(dir, sizeof dir, FIXTURES "/bad/%s", line);
        bn_tokenizer *t = NULL;
        bn_status st = bn_tokenizer_load(&t, dir);
        CHECK(st != BN_OK && t == NULL, "bad/%s loads", line);
        CHECK(strstr(bn_last_error(), tab + 1) != NULL, "bad/%s: error '%s' lacks '%s'", line,
              bn_last_error(), tab + 1);
        bn_tokenizer_free(t);
        n++;
    }
    CHECK(n >= 15, "%d bad files", n);
    free(manifest);
}

/* Streaming across a character split between tokens: hold back, then complete. */
static void test_stream_holdback(void) {
    bn_tokenizer *t = NULL;
    CHECK_OK(bn_tokenizer_load(&t, FIXTURES "/spm"));
    if (t == NULL)
        return;
    bn_tokens ids = {0};
    CHECK_OK(bn_tokenizer_encode(t, "\xe4\xbd\xa0", 3, 0, &ids)); /* 你: three byte tokens */
    bn_detokenizer d;
    bn_bytes out = {0};
    bn_detokenizer_init(&d, t, false);
    size_t emitted_before_last = 0;
    for (size_t i = 0; i < ids.n; i++) {
        CHECK_OK(bn_detokenizer_push(&d, ids.ids[i], &out));
        if (i + 1 < ids.n)
            emitted_before_last = out.n;
    }
    CHECK(ids.n >= 3, "你 falls back to bytes (%zu tokens)", ids.n);
    CHECK(emitted_before_last <= 1, "nothing of 你 before its last byte (%zu)",
          emitted_before_last);
    CHECK(out.n >= 3 && memcmp(out.data + out.n - 3, "\xe4\xbd\xa0", 3) == 0, "你 at the end");
    int32_t bad = bn_tokenizer_n_vocab(t);
    CHECK(bn_tokenizer_decode(t, &bad, 1, false, &out) == BN_ERR_RANGE, "id out of range");
    bn_bytes_free(&out);
    bn_tokens_free(&ids);
    bn_tokenizer_free(t);
}

static void test_utf8_units(void) {
    const uint8_t ok4[] = {0xF0, 0x9F, 0x98, 0x80};
    CHECK(bn_utf8_valid_len(ok4, 4) == 4, "4-byte sequence");
    CHECK(bn_utf8_incomplete_tail(ok4, 3) == 3, "3 of 4 bytes held back");
    CHECK(bn_utf8_incomplete_tail(ok4, 4) == 0, "complete");
    const uint8_t overlong[] = {0xC0, 0xAF};
    CHECK(bn_utf8_valid_len(overlong, 2) == 0 && bn_utf8_bad_len(overlong, 2) == 1, "overlong");
    const uint8_t surrogate[] = {0xED, 0xA0, 0x80};
    CHECK(bn_utf8_valid_len(surrogate, 3) == 0, "surrogate");
    const uint8_t trunc[] = {0xE2, 0x82, 'a'};
    uint8_t out[16];
    CHECK(bn_utf8_sanitize(trunc, 3, out) == 4 && memcmp(out,
                                                         "\xef\xbf\xbd"
                                                         "a",
                                                         4) == 0,
          "truncated E2 82 is one U+FFFD");
    CHECK(bn_utf8_incomplete_tail((const uint8_t *)"\x80", 1) == 0, "lone continuation");
}

int main(void) {
    size_t len;
    char *json = spec_read_file(FIXTURES "/cases.json", &len);
    if (json == NULL)
        return bn_test_skip("test_tokenizer", "no tests/fixtures/tokenizer/cases.json");
    cJSON *root = cJSON_ParseWithLength(json, len);
    free(json);
    CHECK(root != NULL, "cases.json parses");
    if (root == NULL)
        return bn_test_finish("test_tokenizer");
    load_strings(cJSON_GetObjectItem(root, "strings"));
    CHECK(g_n_strings >= 300, "%d fixture strings", g_n_strings);
    test_utf8_units();
    test_sanitize();
    const cJSON *vocabs = cJSON_GetObjectItem(root, "vocabs");
    const cJSON *v;
    cJSON_ArrayForEach(v, vocabs) test_vocab(vocabs, v->string);
    CHECK(cJSON_GetArraySize(vocabs) >= 2, "at least two vocabularies");
    test_ignore_merges(cJSON_GetObjectItem(root, "ignore_merges"));
    test_decode_only(cJSON_GetObjectItem(root, "decode_only"));
    test_bad_files();
    test_stream_holdback();
    for (int i = 0; i < g_n_strings; i++) {
        free(g_strings[i].input);
        free(g_strings[i].text);
    }
    free(g_strings);
    cJSON_Delete(root);
    return bn_test_finish("test_tokenizer");
}
