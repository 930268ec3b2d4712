/*
 * fuzz_tokenizer.c - libFuzzer harness for the tokenizer.json loader, the encoder, the decoders
 * and the chat formats.
 *
 * Input layout (0x00 never occurs in JSON text, so it is a safe separator):
 *   JSON                      no 0x00: the whole input is tokenizer.json, the text is empty
 *   JSON 0x00 TEXT            one 0x00: no tokenizer_config.json
 *   JSON 0x00 CONFIG 0x00 TEXT  two or more: CONFIG is tokenizer_config.json (empty: none) and
 *                             TEXT is the rest, further 0x00 bytes included
 * so a bare tokenizer.json (the bad fixtures) is an input as it stands. TEXT is cut to
 * FUZZ_TOK_MAX_TEXT bytes to keep each run short; the JSON and CONFIG are taken whole, except
 * that a JSON with an id of FUZZ_TOK_MAX_ID or more is skipped (see fuzz_tok_too_many_ids).
 *
 * When the loader refuses the JSON, the output pointer must stay NULL and bn_last_error() must
 * say why. When it accepts it, the text is encoded with every flag combination and these must
 * hold for any tokenizer (a violation prints which one and aborts, which is how a fuzzer reports
 * a bug):
 *   - every id is in [0, n_vocab), and encode appends after what the caller's array held;
 *   - encode with BN_TOK_ADD_SPECIAL is the spec's prefix + encode without it + the suffix
 *     (the second encode of the same text goes through the BPE word cache: this also checks the
 *     cache against the uncached result);
 *   - a failing encode leaves a message;
 *   - decode succeeds, with skip_special either way, and equals the pieces of the ids joined
 *     (special ones left out when skipped), less one leading space when the decoder strips it;
 *   - the streaming decoder (push every id, then flush) gives the same bytes as decode;
 *   - decode_text succeeds and appends valid UTF-8: decode's bytes with each ill-formed subpart
 *     replaced by U+FFFD, unless <0xXX> tokens are decoded as bytes (ByteFallback);
 *   - ids outside the vocabulary are refused by decode, the streaming decoder and piece;
 *   - each added token (the first FUZZ_TOK_MAX_ADDED) with valid UTF-8 content, given alone as
 *     text with BN_TOK_PARSE_SPECIAL, encodes to one id whose piece is its content;
 *   - the text rendered by a chat format (the template's, else one picked from the input) as a
 *     user message encodes, with BN_TOK_PARSE_SPECIAL, to ids that pass the checks above.
 * tests/test_fuzz_replay_tokenizer.c includes this file to replay the corpus in `make test`.
 */
#include "io/tokenizer_spec.h"
#include "text/chat.h"
#include "text/tokenizer.h"
#include "text/utf8.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_TOK_MAX_TEXT  4096
#define FUZZ_TOK_MAX_ADDED 64
#define FUZZ_TOK_MAX_ID    (1 << 12)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_tok_require(bool ok, const char *what) {
    if (!ok) {
        fprintf(stderr, "fuzz_tokenizer: invariant broken: %s (last error: '%s')\n", what,
                bn_last_error());
        abort();
    }
}

static bool fuzz_tok_bytes_equal(const bn_bytes *a, const bn_bytes *b) {
    return a->n == b->n && (a->n == 0 || memcmp(a->data, b->data, a->n) == 0);
}

/* Decode ids both ways (one call, streaming) and against the pieces, for one skip_special. */
static void fuzz_tok_check_decode(const bn_tokenizer *t, const int32_t *ids, size_t n,
                                  bool skip_special) {
    const bn_tokenizer_spec *spec = bn_tokenizer_spec_of(t);
    bn_bytes whole = {0}, streamed = {0}, pieces = {0};

    bn_clear_error();
    fuzz_tok_require(bn_tokenizer_decode(t, ids, n, skip_special, &whole) == BN_OK,
                     "decode of encoded ids fails");

    bn_detokenizer d;
    bn_detokenizer_init(&d, t, skip_special);
    for (size_t i = 0; i < n; i++)
        fuzz_tok_require(bn_detokenizer_push(&d, ids[i], &streamed) == BN_OK,
                         "streaming decode push fails");
    fuzz_tok_require(bn_detokenizer_flush(&d, &streamed) == BN_OK, "streaming flush fails");
    fuzz_tok_require(fuzz_tok_bytes_equal(&whole, &streamed),
                     "streaming decode differs from one-shot decode");

    for (size_t i = 0; i < n; i++) {
        size_t len = 0;
        const char *p = bn_tokenizer_piece(t, ids[i], &len);
        fuzz_tok_require(p != NULL || len == 0, "piece of an id in range is NULL");
        if (skip_special && bn_tokenizer_is_special(t, ids[i]))
            continue;
        if (len > 0)
            fuzz_tok_require(bn_bytes_append(&pieces, p, len) == BN_OK, "out of memory");
    }
    size_t skip = spec->strip_leading_space && pieces.n > 0 && pieces.data[0] == ' ';
    fuzz_tok_require(whole.n == pieces.n - skip &&
                         (whole.n == 0 || memcmp(whole.data, pieces.data + skip, whole.n) == 0),
                     "decode differs from the pieces of the ids joined");

    /* decode_text: appends valid UTF-8; where no <0xXX> tokens are decoded as bytes it is
     * decode with each ill-formed subpart replaced (what bn_utf8_sanitize does) */
    bn_bytes text = {0};
    fuzz_tok_require(bn_bytes_append(&text, "#", 1) == BN_OK, "out of memory");
    fuzz_tok_require(bn_tokenizer_decode_text(t, ids, n, skip_special, &text) == BN_OK,
                     "decode_text of encoded ids fails");
    fuzz_tok_require(text.n >= 1 && text.data[0] == '#', "decode_text overwrote the caller's text");
    fuzz_tok_require(bn_utf8_is_valid((const uint8_t *)text.data, text.n),
                     "decode_text gave ill-formed UTF-8");
    if (spec->model == BN_TOK_BYTE_BPE || !spec->decode_byte_tokens) {
        uint8_t *lossy = malloc(3 * whole.n + 1);
        fuzz_tok_require(lossy != NULL, "out of memory");
        size_t k = bn_utf8_sanitize((const uint8_t *)whole.data, whole.n, lossy);
        fuzz_tok_require(text.n - 1 == k && memcmp(text.data + 1, lossy, k) == 0,
                         "decode_text is not decode with ill-formed UTF-8 replaced");
        free(lossy);
    }

    bn_bytes_free(&text);
    bn_bytes_free(&whole);
    bn_bytes_free(&streamed);
    bn_bytes_free(&pieces);
}

static void fuzz_tok_check_ids(const bn_tokenizer *t, const int32_t *ids, size_t n) {
    int32_t n_vocab = bn_tokenizer_n_vocab(t);
    for (size_t i = 0; i < n; i++)
        fuzz_tok_require(ids[i] >= 0 && ids[i] < n_vocab, "encode gave an id outside the vocab");
    fuzz_tok_check_decode(t, ids, n, false);
    fuzz_tok_check_decode(t, ids, n, true);
}

/* Encode text into out (emptied first), a sentinel in front to check that encode appends.
 * Returns false when encode failed (allowed, with a message: a regex can hit PCRE2's limits). */
static bool fuzz_tok_encode(const bn_tokenizer *t, const char *text, size_t len, unsigned flags,
                            bn_tokens *out) {
    out->n = 0;
    fuzz_tok_require(bn_tokens_push(out, -7) == BN_OK, "out of memory");
    bn_clear_error();
    if (bn_tokenizer_encode(t, text, len, flags, out) != BN_OK) {
        fuzz_tok_require(bn_last_error()[0] != '\0', "failed encode left no message");
        return false;
    }
    fuzz_tok_require(out->n >= 1 && out->ids[0] == -7, "encode overwrote the caller's ids");
    fuzz_tok_check_ids(t, out->ids + 1, out->n - 1);
    return true;
}

/* ids(ADD_SPECIAL | f) == prefix + ids(f) + suffix. */
static void fuzz_tok_check_affixes(const bn_tokenizer_spec *spec, const bn_tokens *plain,
                                   const bn_tokens *added) {
    size_t n = plain->n - 1, np = (size_t)spec->n_prefix, ns = (size_t)spec->n_suffix;
    const int32_t *a = added->ids + 1;
    fuzz_tok_require(added->n - 1 == np + n + ns, "ADD_SPECIAL changed more than the affixes");
    fuzz_tok_require(memcmp(a, spec->prefix, np * sizeof *a) == 0 &&
                         (n == 0 || memcmp(a + np, plain->ids + 1, n * sizeof *a) == 0) &&
                         memcmp(a + np + n, spec->suffix, ns * sizeof *a) == 0,
                     "ADD_SPECIAL encode is not prefix + plain encode + suffix");
}

static void fuzz_tok_check_out_of_range(const bn_tokenizer *t) {
    int32_t bad[2] = {-1, bn_tokenizer_n_vocab(t)};
    for (int i = 0; i < 2; i++) {
        bn_bytes out = {0};
        size_t len = 1;
        bn_clear_error();
        fuzz_tok_require(bn_tokenizer_decode(t, &bad[i], 1, false, &out) == BN_ERR_RANGE &&
                             bn_last_error()[0] != '\0',
                         "decode accepted an id outside the vocab");
        bn_detokenizer d;
        bn_detokenizer_init(&d, t, false);
        fuzz_tok_require(bn_detokenizer_push(&d, bad[i], &out) != BN_OK,
                         "streaming decode accepted an id outside the vocab");
        fuzz_tok_require(bn_tokenizer_piece(t, bad[i], &len) == NULL && len == 0,
                         "piece of an id outside the vocab");
        fuzz_tok_require(!bn_tokenizer_is_special(t, bad[i]) && !bn_tokenizer_is_eog(t, bad[i]),
                         "flags of an id outside the vocab");
        bn_bytes_free(&out);
    }
}

/* An added token alone in the text, special ones parsed, is that token (or one of the same
 * text). Content that is not valid UTF-8 is skipped: encode replaces it before matching. */
static void fuzz_tok_check_added(const bn_tokenizer *t, bn_tokens *ids) {
    const bn_tokenizer_spec *spec = bn_tokenizer_spec_of(t);
    for (int32_t a = 0; a < spec->n_added && a < FUZZ_TOK_MAX_ADDED; a++) {
        const char *content = spec->tokens[spec->added[a].id];
        size_t n = strlen(content), len;
        if (!bn_utf8_is_valid((const uint8_t *)content, n))
            continue;
        fuzz_tok_require(fuzz_tok_encode(t, content, n, BN_TOK_PARSE_SPECIAL, ids),
                         "encode of an added token alone fails");
        fuzz_tok_require(ids->n == 2, "an added token alone does not encode to one id");
        const char *p = bn_tokenizer_piece(t, ids->ids[1], &len);
        fuzz_tok_require(len == n && memcmp(p, content, n) == 0,
                         "an added token alone encodes to a token of other text");
    }
}

static void fuzz_tok_check_chat(const bn_tokenizer *t, const char *text, size_t len,
                                bn_tokens *ids) {
    const bn_tokenizer_spec *spec = bn_tokenizer_spec_of(t);
    bn_chat_format f = bn_chat_detect(spec->chat_template);
    if (f == BN_CHAT_UNKNOWN)
        f = (bn_chat_format)(1 + len % 3);
    char *content = malloc(len + 1); /* the message is a C string: cut at the first 0x00 */
    fuzz_tok_require(content != NULL, "out of memory");
    memcpy(content, text, len);
    content[len] = '\0';
    bn_chat_message msgs[2] = {{"system", "Be brief."}, {"user", content}};
    const char *bos = spec->bos_id >= 0 ? spec->tokens[spec->bos_id] : NULL;
    bn_bytes prompt = {0};
    bn_clear_error();
    fuzz_tok_require(bn_chat_render(f, msgs, 2, true, bos, &prompt, NULL) == BN_OK,
                     "chat render fails");
    fuzz_tok_encode(t, prompt.data, prompt.n, BN_TOK_PARSE_SPECIAL, ids);
    bn_bytes_free(&prompt);
    free(content);
}

static void fuzz_tok_run(const bn_tokenizer *t, const char *text, size_t len) {
    const bn_tokenizer_spec *spec = bn_tokenizer_spec_of(t);
    fuzz_tok_require(spec != NULL && bn_tokenizer_n_vocab(t) == spec->n_tokens &&
                         spec->n_tokens > 0,
                     "vocab size");
    bn_tokens plain = {0}, added = {0};
    static const unsigned flags[2] = {0, BN_TOK_PARSE_SPECIAL};
    for (int i = 0; i < 2; i++) {
        bool ok_plain = fuzz_tok_encode(t, text, len, flags[i], &plain);
        bool ok_added = fuzz_tok_encode(t, text, len, flags[i] | BN_TOK_ADD_SPECIAL, &added);
        if (ok_plain && ok_added)
            fuzz_tok_check_affixes(spec, &plain, &added);
    }
    fuzz_tok_check_out_of_range(t);
    fuzz_tok_check_added(t, &plain);
    fuzz_tok_check_chat(t, text, len, &plain);
    bn_tokens_free(&plain);
    bn_tokens_free(&added);
}

/* The loader takes any id below 2^24, however short the file, and gives every hole its own
 * "[PAD<id>]" string: {"a": 16777215} alone costs a minute and 1.5 GB under ASan, and with the
 * fuzzer's instrumentation each token costs ~10 us. Files with larger ids are skipped (the
 * largest id is read here with cJSON) so that every run stays within tens of milliseconds. */
static bool fuzz_tok_too_many_ids(const char *json, size_t len) {
    cJSON *root = cJSON_ParseWithLength(json, len);
    double top = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(
                               cJSON_GetObjectItemCaseSensitive(root, "model"), "vocab")) {
        if (cJSON_IsNumber(it) && it->valuedouble > top)
            top = it->valuedouble;
    }
    cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(root, "added_tokens")) {
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(it, "id");
        if (cJSON_IsNumber(id) && id->valuedouble > top)
            top = id->valuedouble;
    }
    cJSON_Delete(root);
    return top >= FUZZ_TOK_MAX_ID;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *json = (const char *)data, *config = NULL, *text = "";
    size_t json_len = size, config_len = 0, text_len = 0;
    const uint8_t *nul = memchr(data, 0, size);
    if (nul != NULL) {
        json_len = (size_t)(nul - data);
        const uint8_t *rest = nul + 1, *end = data + size;
        const uint8_t *nul2 = memchr(rest, 0, (size_t)(end - rest));
        if (nul2 != NULL) {
            config = (const char *)rest;
            config_len = (size_t)(nul2 - rest);
            rest = nul2 + 1;
            if (config_len == 0)
                config = NULL;
        }
        text = (const char *)rest;
        text_len = (size_t)(end - rest);
    }
    if (text_len > FUZZ_TOK_MAX_TEXT)
        text_len = FUZZ_TOK_MAX_TEXT;

    if (fuzz_tok_too_many_ids(json, json_len))
        return 0;

    bn_tokenizer_spec *spec = (bn_tokenizer_spec *)&spec; /* must be reset to NULL on failure */
    bn_clear_error();
    if (bn_tokenizer_spec_parse_hf(&spec, json, json_len, config, config_len, "fuzz.json") !=
        BN_OK) {
        fuzz_tok_require(spec == NULL, "failed parse left a spec");
        fuzz_tok_require(bn_last_error()[0] != '\0', "failed parse left no message");
        return 0;
    }
    fuzz_tok_require(spec != NULL, "parse gave no spec");
    bn_tokenizer *t = (bn_tokenizer *)&t;
    bn_clear_error();
    if (bn_tokenizer_create(&t, spec) != BN_OK) { /* spec is freed by create */
        fuzz_tok_require(t == NULL, "failed create left a tokenizer");
        fuzz_tok_require(bn_last_error()[0] != '\0', "failed create left no message");
        return 0;
    }
    fuzz_tok_run(t, text, text_len);
    bn_tokenizer_free(t);
    return 0;
}
