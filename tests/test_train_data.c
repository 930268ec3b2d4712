/*
 * test_train_data.c - the data side of training:
 *   - token files (train/data.h): write and read back at both widths; refusals of a truncated
 *     file (every length), a bad magic, version, width, vocabulary, end-of-text id, reserved
 *     byte, trailing byte and an id outside the vocabulary; the tokenizer check;
 *   - the corpus convention: documents split at form-feed lines, files read and repaired;
 *   - batches: the same seed gives the same batches, windows lie inside the file with targets
 *     one token ahead, every start is reachable, a saved and restored state continues exactly as
 *     an uninterrupted run, restoring into another setup is refused;
 *   - evaluation windows: fixed, non-overlapping, in order, the same every time;
 *   - the BPE trainer (text/bpe_train.h) against a direct implementation of its definition
 *     (recount every pair of the running text each round), and its several-texts form;
 *   - the tokenizer.json writer (io/tokenizer_spec.h): a synthetic tokenizer and the HF-made
 *     fixtures read back through our loader as the same spec and the same ids.
 */
#include "test.h"

#include "base/rng.h"
#include "model/synth.h"
#include "text/bpe_train.h"
#include "text/tokenizer_impl.h"
#include "train/data.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char tmp_dir[512];

static void tmp_path(char *buf, size_t size, const char *name) {
    snprintf(buf, size, "%s/%s", tmp_dir, name);
}

static bool write_bytes(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    if (f == NULL)
        return false;
    bool ok = fwrite(data, 1, n, f) == n;
    return fclose(f) == 0 && ok;
}

/* A token file of n ids, id i = (i * 7 + 3) % n_vocab. */
static bn_status write_tokens(const char *path, uint64_t n, uint32_t n_vocab, uint32_t eot) {
    bn_token_writer w;
    BN_TRY(bn_token_writer_open(&w, path, n_vocab, eot, 0x1234567890abcdefull));
    for (uint64_t i = 0; i < n; i++) {
        int32_t id = (int32_t)((i * 7 + 3) % n_vocab);
        bn_status st = bn_token_writer_append(&w, &id, 1);
        if (st != BN_OK) {
            bn_token_writer_discard(&w);
            return st;
        }
    }
    return bn_token_writer_commit(&w);
}

/* ---- token files ------------------------------------------------------------------------ */

static void check_round_trip(uint32_t n_vocab, uint32_t width) {
    char path[600];
    tmp_path(path, sizeof path, "round.tok");
    uint64_t n = 100003; /* more than the writer's buffer holds at width 4 is not needed */
    CHECK_OK(write_tokens(path, n, n_vocab, n_vocab - 1));
    bn_token_file f;
    CHECK_OK(bn_token_file_open(&f, path));
    CHECK(f.width == width && f.n_tokens == n && f.n_vocab == n_vocab && f.eot_id == n_vocab - 1 &&
              f.vocab_hash == 0x1234567890abcdefull,
          "header: width %u count %llu vocab %u eot %u", f.width, (unsigned long long)f.n_tokens,
          f.n_vocab, f.eot_id);
    CHECK(f.map.size == BN_TOKEN_FILE_HEADER + n * width, "file size %zu", f.map.size);
    int bad = 0;
    for (uint64_t i = 0; i < n; i++)
        bad += bn_token_file_id(&f, i) != (int32_t)((i * 7 + 3) % n_vocab);
    CHECK(bad == 0, "vocab %u: %d ids differ", n_vocab, bad);
    int32_t some[5];
    CHECK_OK(bn_token_file_read(&f, n - 5, 5, some));
    CHECK(some[4] == (int32_t)(((n - 1) * 7 + 3) % n_vocab), "read the last ids");
    CHECK(bn_token_file_read(&f, n - 4, 5, some) == BN_ERR_RANGE, "read past the end refused");
    CHECK(bn_token_file_read(&f, UINT64_MAX, 1, some) == BN_ERR_RANGE, "huge start refused");
    bn_token_file_close(&f);

    /* the header bytes, as the format says */
    size_t size;
    uint8_t *b = (uint8_t *)bn_test_read_file(path, &size);
    CHECK(b != NULL && memcmp(b, "BNTOKENS", 8) == 0 && b[8] == 1 && b[12] == width &&
              b[16] == (uint8_t)n && b[17] == (uint8_t)(n >> 8) && b[18] == (uint8_t)(n >> 16) &&
              b[32] == 0xef && b[39] == 0x12,
          "header layout");
    bool zero = true;
    for (int i = 40; b && i < 64; i++)
        zero &= b[i] == 0;
    CHECK(zero, "reserved bytes are zero");
    /* ids little-endian: id 0 = 3, id 1 = 10 */
    CHECK(b && b[64] == 3 && b[64 + width] == 10, "first ids little-endian");
    free(b);
    unlink(path);
}

/* Open a copy of good with bytes [at, at + n) replaced by repl (NULL: truncated to `at`). */
static bn_status open_damaged(const uint8_t *good, size_t size, size_t at, const void *repl,
                              size_t n) {
    char path[600];
    tmp_path(path, sizeof path, "bad.tok");
    uint8_t *copy = malloc(size + 1);
    memcpy(copy, good, size);
    size_t len = size;
    if (repl == NULL)
        len = at;
    else
        memcpy(copy + at, repl, n);
    write_bytes(path, copy, len);
    free(copy);
    bn_token_file f;
    bn_status st = bn_token_file_open(&f, path);
    if (st == BN_OK)
        bn_token_file_close(&f);
    unlink(path);
    return st;
}

static void put32(uint8_t *p, uint32_t v) {
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void check_refusals(void) {
    char path[600];
    tmp_path(path, sizeof path, "good.tok");
    CHECK_OK(write_tokens(path, 50, 1000, 999));
    size_t size;
    uint8_t *good = (uint8_t *)bn_test_read_file(path, &size);
    CHECK(good != NULL && size == 64 + 100, "good file %zu bytes", size);
    if (good == NULL)
        return;
    int refused = 0;
    for (size_t cut = 0; cut < size; cut++)
        refused += open_damaged(good, size, cut, NULL, 0) == BN_ERR_FORMAT;
    CHECK(refused == (int)size, "every truncation refused: %d of %zu", refused, size);
    CHECK(open_damaged(good, size, 70, NULL, 0) == BN_ERR_FORMAT &&
              strstr(bn_last_error(), "truncated") != NULL,
          "truncated body named: %s", bn_last_error());
    CHECK(open_damaged(good, size, 0, "BNTOKENZ", 8) == BN_ERR_FORMAT &&
              strstr(bn_last_error(), "magic") != NULL,
          "bad magic: %s", bn_last_error());
    uint8_t v[4];
    put32(v, 2);
    CHECK(open_damaged(good, size, 8, v, 4) == BN_ERR_FORMAT &&
              strstr(bn_last_error(), "version 2") != NULL,
          "version: %s", bn_last_error());
    put32(v, 3);
    CHECK(open_damaged(good, size, 12, v, 4) == BN_ERR_FORMAT &&
              strstr(bn_last_error(), "3 bytes per token") != NULL,
          "width 3: %s", bn_last_error());
    put32(v, 4); /* a width of 4 with a body sized for 2 */
    CHECK(open_damaged(good, size, 12, v, 4) == BN_ERR_FORMAT &&
              strstr(bn_last_error(), "50 tokens of 4 bytes") != NULL,
          "width 4 on a 2-byte body: %s", bn_last_error());
    put32(v, 100000); /* ids of 2 bytes cannot cover that vocabulary */
    CHECK(open_damaged(good, size, 24, v, 4) == BN_ERR_FORMAT &&
              strstr(bn_last_error(), "2 bytes per token cannot hold") != NULL,
          "wide vocabulary in 2 bytes: %s", bn_last_error());
    put32(v, 0);
    CHECK(open_damaged(good, size, 24, v, 4) == BN_ERR_FORMAT, "vocabulary 0");
    put32(v, 1000);
    CHECK(open_damaged(good, size, 28, v, 4) == BN_ERR_FORMAT &&
              strstr(bn_last_error(), "end-of-text id 1000") != NULL,
          "eot outside: %s", bn_last_error());
    CHECK(open_damaged(good, size, 50, "\x01", 1) == BN_ERR_FORMAT &&
              strstr(bn_last_error(), "reserved header byte 50") != NULL,
          "reserved: %s", bn_last_error());
    uint8_t id[2] = {0xE8, 0x03}; /* 1000 at token 7 */
    CHECK(open_damaged(good, size, 64 + 14, id, 2) == BN_ERR_FORMAT &&
              strstr(bn_last_error(), "token 7 is id 1000") != NULL,
          "id outside the vocabulary: %s", bn_last_error());
    uint8_t *longer = malloc(size + 1);
    memcpy(longer, good, size);
    longer[size] = 0;
    write_bytes(path, longer, size + 1);
    bn_token_file f;
    CHECK(bn_token_file_open(&f, path) == BN_ERR_FORMAT, "a trailing byte refused");
    free(longer);
    free(good);
    CHECK(bn_token_file_open(&f, "/nonexistent/x.tok") == BN_ERR_IO, "missing file");
    CHECK(f.map.data == NULL && f.n_tokens == 0, "a failed open leaves nothing");

    /* the writer refuses what it cannot write, and leaves no file */
    bn_token_writer w;
    unlink(path);
    CHECK(bn_token_writer_open(&w, path, 10, 10, 0) == BN_ERR_INVALID_ARG, "eot == vocab");
    CHECK_OK(bn_token_writer_open(&w, path, 10, 9, 0));
    int32_t ids[3] = {1, 10, 2};
    CHECK(bn_token_writer_append(&w, ids, 3) == BN_ERR_RANGE &&
              strstr(bn_last_error(), "token id 10") != NULL,
          "id outside refused: %s", bn_last_error());
    int32_t neg = -1;
    CHECK(bn_token_writer_append(&w, &neg, 1) == BN_ERR_RANGE, "negative id refused");
    bn_token_writer_discard(&w);
    CHECK(access(path, F_OK) != 0, "discard leaves no file");
    char dir_out[600];
    tmp_path(dir_out, sizeof dir_out, "no-such-dir/x.tok");
    CHECK(bn_token_writer_open(&w, dir_out, 10, 9, 0) != BN_OK, "missing folder refused");
}

static void check_tokenizer_match(void) {
    bn_tokenizer *a = NULL, *b = NULL;
    CHECK_OK(bn_synth_tokenizer(&a, 512, 16));
    CHECK_OK(bn_synth_tokenizer(&b, 600, 16));
    if (a == NULL || b == NULL)
        return;
    const bn_tokenizer_spec *sa = bn_tokenizer_spec_of(a), *sb = bn_tokenizer_spec_of(b);
    uint64_t ha = bn_token_vocab_hash(sa);
    CHECK(ha == bn_token_vocab_hash(sa) && ha != bn_token_vocab_hash(sb), "hash tells them apart");
    char path[600];
    tmp_path(path, sizeof path, "match.tok");
    bn_token_writer w;
    CHECK_OK(bn_token_writer_open(&w, path, 512, (uint32_t)sa->eos_id, ha));
    int32_t ids[3] = {sa->bos_id, 70, sa->eos_id};
    CHECK_OK(bn_token_writer_append(&w, ids, 3));
    CHECK_OK(bn_token_writer_commit(&w));
    bn_token_file f;
    CHECK_OK(bn_token_file_open(&f, path));
    CHECK_OK(bn_token_file_check_tokenizer(&f, sa));
    CHECK(bn_token_file_check_tokenizer(&f, sb) == BN_ERR_INVALID_ARG &&
              strstr(bn_last_error(), "another tokenizer") != NULL,
          "another tokenizer refused: %s", bn_last_error());
    bn_token_file_close(&f);
    unlink(path);
    bn_tokenizer_free(a);
    bn_tokenizer_free(b);
}

/* ---- the corpus convention -------------------------------------------------------------- */

/* The documents of text joined by "|". */
static void docs_of(const char *text, char *out, size_t size) {
    size_t pos = 0, s, e, k = 0, len = strlen(text);
    out[0] = '\0';
    while (bn_corpus_next_document(text, len, &pos, &s, &e))
        k += (size_t)snprintf(out + k, size - k, "%s%.*s", k ? "|" : "", (int)(e - s), text + s);
}

static void check_documents(void) {
    static const struct {
        const char *text, *docs;
    } cases[] = {
        {"one\n\f\ntwo\n", "one|two"},
        {"\f\none\n\f\n\f\n\n\f\ntwo", "one|two"}, /* empty documents skipped */
        {"a\r\n\f\r\nb", "a|b"},                   /* CRLF lines */
        {"a\fb\n\f x\nc", "a\fb\n\f x\nc"},        /* form feeds that are text */
        {"\n\nfirst line\n\n  second\n\n\f", "first line\n\n  second"}, /* outer newlines */
        {"x\n\f", "x"},
        {"", ""},
        {"\f", ""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char got[256];
        docs_of(cases[i].text, got, sizeof got);
        CHECK(strcmp(got, cases[i].docs) == 0, "case %zu: got [%s] want [%s]", i, got,
              cases[i].docs);
    }
    char p1[600], p2[600];
    tmp_path(p1, sizeof p1, "c1.txt");
    tmp_path(p2, sizeof p2, "c2.txt");
    write_bytes(p1, "alpha\n\f\nbad \xff byte", 18); /* a file's end ends a document */
    write_bytes(p2, "gamma\n", 6);
    const char *paths[2] = {p1, p2};
    bn_corpus c;
    CHECK_OK(bn_corpus_read(&c, paths, 2));
    CHECK(c.n_docs == 3, "3 documents, got %zu", c.n_docs);
    if (c.n_docs == 3) {
        CHECK(c.doc_len[0] == 5 && memcmp(c.text + c.doc_start[0], "alpha", 5) == 0, "doc 0");
        CHECK(c.doc_len[1] == 12 &&
                  memcmp(c.text + c.doc_start[1], "bad \xEF\xBF\xBD byte", 12) == 0,
              "doc 1: invalid UTF-8 replaced by U+FFFD");
        CHECK(c.doc_len[2] == 5 && memcmp(c.text + c.doc_start[2], "gamma", 5) == 0, "doc 2");
    }
    bn_corpus_free(&c);
    const char *missing[1] = {"/nonexistent/corpus.txt"};
    CHECK(bn_corpus_read(&c, missing, 1) == BN_ERR_IO &&
              strstr(bn_last_error(), "/nonexistent/corpus.txt") != NULL,
          "missing file named: %s", bn_last_error());
    unlink(p1);
    unlink(p2);
}

/* ---- batches ---------------------------------------------------------------------------- */

/* A file whose token i is i (n < 65536), so that ids show positions. */
static bool open_positions(bn_token_file *f, const char *name, uint64_t n) {
    char path[600];
    tmp_path(path, sizeof path, name);
    bn_token_writer w;
    bn_status st = bn_token_writer_open(&w, path, 65536, 0, 0);
    for (uint64_t i = 0; st == BN_OK && i < n; i++) {
        int32_t id = (int32_t)i;
        st = bn_token_writer_append(&w, &id, 1);
    }
    if (st == BN_OK)
        st = bn_token_writer_commit(&w);
    else
        bn_token_writer_discard(&w);
    if (st == BN_OK)
        st = bn_token_file_open(f, path);
    unlink(path); /* the mapping stays valid */
    CHECK(st == BN_OK, "positions file: %s", bn_last_error());
    return st == BN_OK;
}

static void check_batches(void) {
    bn_token_file f;
    if (!open_positions(&f, "pos.tok", 1000))
        return;
    enum { B = 4, T = 16, N = 12 };
    int32_t in[B * T], tg[B * T], all_a[N][2][B * T], all_b[N][2][B * T];
    bn_batcher a, b, c;
    CHECK_OK(bn_batcher_init(&a, &f, B, T, 42));
    CHECK_OK(bn_batcher_init(&b, &f, B, T, 42));
    CHECK_OK(bn_batcher_init(&c, &f, B, T, 43));
    int same = 0, differ = 0, bad_window = 0;
    for (int k = 0; k < N; k++) {
        CHECK_OK(bn_batcher_next(&a, all_a[k][0], all_a[k][1]));
        CHECK_OK(bn_batcher_next(&b, all_b[k][0], all_b[k][1]));
        CHECK_OK(bn_batcher_next(&c, in, tg));
        same += memcmp(all_a[k], all_b[k], sizeof all_a[k]) == 0;
        differ += memcmp(all_a[k][0], in, sizeof in) != 0;
        for (int r = 0; r < B; r++) {
            int32_t s = all_a[k][0][r * T];
            for (int t = 0; t < T; t++)
                bad_window +=
                    all_a[k][0][r * T + t] != s + t || all_a[k][1][r * T + t] != s + t + 1;
            bad_window += s < 0 || s + T > 999; /* the last target is token s + T <= n - 1 */
        }
    }
    CHECK(same == N, "same seed, same batches: %d of %d", same, N);
    CHECK(differ == N, "another seed, other batches: %d of %d", differ, N);
    CHECK(bad_window == 0, "%d window errors (contiguous, targets one ahead, in bounds)",
          bad_window);

    /* resume: a fresh batcher (another seed even) given the state after 5 batches draws what the
     * uninterrupted one drew from the 6th on; the state goes through its byte form */
    bn_batcher first, resumed;
    CHECK_OK(bn_batcher_init(&first, &f, B, T, 42));
    for (int k = 0; k < 5; k++)
        CHECK_OK(bn_batcher_next(&first, in, tg));
    bn_batcher_state st, back;
    bn_batcher_get_state(&first, &st);
    CHECK(st.n_batches == 5 && st.batch == B && st.seq_len == T && st.n_tokens == 1000,
          "state fields");
    uint8_t bytes[BN_BATCHER_STATE_BYTES];
    bn_batcher_state_encode(&st, bytes);
    bn_batcher_state_decode(&back, bytes);
    CHECK(memcmp(&st, &back, sizeof st) == 0, "state bytes round trip");
    CHECK_OK(bn_batcher_init(&resumed, &f, B, T, 7));
    CHECK_OK(bn_batcher_set_state(&resumed, &back));
    int resumed_same = 0;
    for (int k = 5; k < N; k++) {
        CHECK_OK(bn_batcher_next(&resumed, in, tg));
        resumed_same +=
            memcmp(in, all_a[k][0], sizeof in) == 0 && memcmp(tg, all_a[k][1], sizeof tg) == 0;
    }
    CHECK(resumed_same == N - 5, "resumed run: %d of %d batches as uninterrupted", resumed_same,
          N - 5);
    CHECK(resumed.n_batches == N, "count carried: %llu", (unsigned long long)resumed.n_batches);

    /* restoring into another setup */
    bn_batcher other;
    CHECK_OK(bn_batcher_init(&other, &f, B, T + 1, 42));
    CHECK(bn_batcher_set_state(&other, &st) == BN_ERR_INVALID_ARG &&
              strstr(bn_last_error(), "other batches") != NULL,
          "another shape refused: %s", bn_last_error());
    bn_batcher_state zero = st;
    memset(zero.rng, 0, sizeof zero.rng);
    CHECK(bn_batcher_set_state(&resumed, &zero) == BN_ERR_INVALID_ARG, "zero generator refused");
    bn_batcher_state fewer = st;
    fewer.n_tokens = 999;
    CHECK(bn_batcher_set_state(&resumed, &fewer) == BN_ERR_INVALID_ARG, "other file refused");
    uint8_t huge[BN_BATCHER_STATE_BYTES];
    memcpy(huge, bytes, sizeof huge);
    huge[52] = 1; /* batch above 2^32 */
    bn_batcher_state_decode(&back, huge);
    CHECK(bn_batcher_set_state(&resumed, &back) == BN_ERR_INVALID_ARG, "batch above 2^32 refused");

    CHECK(bn_batcher_init(&other, &f, 0, T, 1) == BN_ERR_INVALID_ARG, "batch 0 refused");
    CHECK(bn_batcher_init(&other, &f, B, 1000, 1) == BN_ERR_INVALID_ARG &&
              strstr(bn_last_error(), "fewer than one window") != NULL,
          "a file shorter than a window refused: %s", bn_last_error());
    CHECK_OK(bn_batcher_init(&other, &f, 1, 999, 1)); /* exactly one window: start 0 */
    int32_t big_in[999], big_tg[999];
    CHECK_OK(bn_batcher_next(&other, big_in, big_tg));
    CHECK(big_in[0] == 0 && big_tg[998] == 999, "the only window");
    bn_token_file_close(&f);

    /* every start is drawn, uniformly: 3 starts over 3000 rows */
    if (!open_positions(&f, "small.tok", 7))
        return;
    int seen[3] = {0};
    bn_batcher u;
    CHECK_OK(bn_batcher_init(&u, &f, 1, 4, 5));
    for (int k = 0; k < 3000; k++) {
        int32_t i4[4], t4[4];
        CHECK_OK(bn_batcher_next(&u, i4, t4));
        if (i4[0] >= 0 && i4[0] < 3)
            seen[i4[0]]++;
    }
    CHECK(seen[0] > 900 && seen[1] > 900 && seen[2] > 900 && seen[0] + seen[1] + seen[2] == 3000,
          "starts 0..2 drawn %d %d %d times", seen[0], seen[1], seen[2]);
    bn_token_file_close(&f);
}

static void check_eval(void) {
    bn_token_file f;
    if (!open_positions(&f, "eval.tok", 103))
        return;
    enum { B = 4, T = 10 };
    int32_t in[B * T], tg[B * T];
    bn_eval_walk w;
    CHECK_OK(bn_eval_walk_init(&w, &f, B, T, 0));
    CHECK(w.n_windows == 10 && w.n_used == 10, "(103 - 1) / 10 = 10 windows, got %llu",
          (unsigned long long)w.n_windows);
    int rows, total = 0, bad = 0, batches = 0;
    int sizes[8] = {0};
    do {
        CHECK_OK(bn_eval_walk_next(&w, in, tg, &rows));
        for (int r = 0; r < rows; r++)
            for (int t = 0; t < T; t++)
                bad += in[r * T + t] != (total + r) * T + t ||
                       tg[r * T + t] != (total + r) * T + t + 1;
        if (batches < 8)
            sizes[batches] = rows;
        batches++;
        total += rows;
    } while (rows > 0);
    CHECK(total == 10 && sizes[0] == 4 && sizes[1] == 4 && sizes[2] == 2 && sizes[3] == 0,
          "batches of 4, 4, 2 then the end: %d %d %d %d", sizes[0], sizes[1], sizes[2], sizes[3]);
    CHECK(bad == 0, "%d tokens off the fixed windows", bad);

    /* a subset spread evenly: windows 0, 3, 6 of 10 (floor(i * 10 / 3)), twice the same */
    for (int pass = 0; pass < 2; pass++) {
        CHECK_OK(bn_eval_walk_init(&w, &f, B, T, 3));
        CHECK_OK(bn_eval_walk_next(&w, in, tg, &rows));
        CHECK(rows == 3 && in[0] == 0 && in[T] == 30 && in[2 * T] == 60 && tg[2 * T + T - 1] == 70,
              "spread windows: rows %d starts %d %d %d", rows, in[0], in[T], in[2 * T]);
        CHECK_OK(bn_eval_walk_next(&w, in, tg, &rows));
        CHECK(rows == 0, "then the end");
    }
    CHECK_OK(bn_eval_walk_init(&w, &f, B, 200, 0));
    CHECK_OK(bn_eval_walk_next(&w, in, tg, &rows));
    CHECK(w.n_windows == 0 && rows == 0, "a file shorter than a window: an empty walk");
    CHECK(bn_eval_walk_init(&w, &f, 0, T, 0) == BN_ERR_INVALID_ARG, "batch 0 refused");
    bn_token_file_close(&f);
}

/* ---- the BPE trainer against its definition ---------------------------------------------- */

/* bn_bpe_train's definition written the plain way: recount every adjacent pair of the running
 * text each round, merge the most frequent (ties to the lowest pair of ids) while it occurs at
 * least twice; a merge whose bytes exist already adds no token. The merges come out as
 * "left right" in byte-level form, as the spec holds them. */
#define ORACLE_MAX 2048
typedef struct oracle {
    uint8_t tok[ORACLE_MAX][128];
    int len[ORACLE_MAX];
    int n;
    char merges[ORACLE_MAX][520];
    int n_merges;
} oracle;

static int byte_level(const uint8_t *s, int n, char *out) {
    int k = 0;
    for (int i = 0; i < n; i++) {
        uint32_t cp = bn_byte_to_cp(s[i]);
        if (cp < 0x80) {
            out[k++] = (char)cp;
        } else {
            out[k++] = (char)(0xC0 | (cp >> 6));
            out[k++] = (char)(0x80 | (cp & 0x3F));
        }
    }
    out[k] = '\0';
    return k;
}

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static void oracle_train(oracle *o, int cap, const char *text, size_t len) {
    o->n = o->n_merges = 0;
    int byte_id[256];
    for (int pass = 0; pass < 2; pass++) /* GPT-2's order: the bytes that print first */
        for (int b = 0; b < 256; b++)
            if ((bn_byte_to_cp((uint8_t)b) < 0x100) == (pass == 0)) {
                o->tok[o->n][0] = (uint8_t)b;
                o->len[o->n] = 1;
                byte_id[b] = o->n++;
            }
    int err;
    PCRE2_SIZE eo;
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)BN_LLAMA3_SPLIT_REGEX, PCRE2_ZERO_TERMINATED,
                                   PCRE2_UTF | PCRE2_UCP, &err, &eo, NULL);
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(re, NULL);
    int32_t *sym = malloc((2 * len + 1) * sizeof *sym);
    uint64_t *keys = malloc((2 * len + 1) * sizeof *keys);
    size_t n = 0, at = 0;
    while (at < len) { /* LLaMA-3's regex matches every character */
        int rc = pcre2_match(re, (PCRE2_SPTR)text, len, at, 0, md, NULL);
        const PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
        size_t s = rc >= 0 ? ov[0] : len, e = rc >= 0 && ov[1] > ov[0] ? ov[1] : len;
        for (size_t i = s; i < e; i++)
            sym[n++] = byte_id[(uint8_t)text[i]];
        sym[n++] = -1;
        at = e;
    }
    pcre2_match_data_free(md);
    pcre2_code_free(re);
    while (o->n < cap && o->n_merges < ORACLE_MAX) {
        size_t k = 0, best = 0;
        uint64_t best_key = 0;
        for (size_t i = 0; i + 1 < n; i++)
            if (sym[i] >= 0 && sym[i + 1] >= 0)
                keys[k++] = (uint64_t)sym[i] << 32 | (uint32_t)sym[i + 1];
        qsort(keys, k, sizeof *keys, cmp_u64);
        for (size_t i = 0, j; i < k; i = j) {
            for (j = i; j < k && keys[j] == keys[i]; j++)
                ;
            if (j - i > best) { /* strictly more: the lowest key wins a tie */
                best = j - i;
                best_key = keys[i];
            }
        }
        if (best < 2)
            break;
        int a = (int)(best_key >> 32), b = (int)(uint32_t)best_key, la = o->len[a], lb = o->len[b];
        if (la + lb > 128)
            break; /* longer than the oracle keeps: stop comparing here */
        uint8_t cat[128];
        memcpy(cat, o->tok[a], (size_t)la);
        memcpy(cat + la, o->tok[b], (size_t)lb);
        int id = -1;
        for (int i = 0; i < o->n && id < 0; i++)
            if (o->len[i] == la + lb && memcmp(o->tok[i], cat, (size_t)(la + lb)) == 0)
                id = i;
        if (id < 0) {
            id = o->n++;
            memcpy(o->tok[id], cat, (size_t)(la + lb));
            o->len[id] = la + lb;
        }
        int m = byte_level(o->tok[a], la, o->merges[o->n_merges]);
        o->merges[o->n_merges][m] = ' ';
        byte_level(o->tok[b], lb, o->merges[o->n_merges] + m + 1);
        o->n_merges++;
        size_t w = 0;
        for (size_t i = 0; i < n; i++) {
            if (i + 1 < n && sym[i] == a && sym[i + 1] == b) {
                sym[w++] = id;
                i++;
            } else {
                sym[w++] = sym[i];
            }
        }
        n = w;
    }
    free(sym);
    free(keys);
}

static bn_tokenizer_spec *trained(int n_normal, const char *const *texts, const size_t *lens,
                                  size_t n_texts) {
    bn_tokenizer_spec *s = calloc(1, sizeof *s);
    bn_status st = bn_tokenizer_spec_alloc(s, n_normal, "test");
    if (st == BN_OK)
        st = bn_bpe_train_texts(s, n_normal, texts, lens, n_texts);
    CHECK(st == BN_OK, "training: %s", bn_last_error());
    return s;
}

static int first_difference(const bn_tokenizer_spec *a, const bn_tokenizer_spec *b) {
    if (a->n_merges != b->n_merges)
        return -2;
    for (int32_t r = 0; r < a->n_merges; r++)
        if (strcmp(a->merges[r], b->merges[r]) != 0)
            return r;
    for (int32_t i = 0; i < a->n_tokens; i++)
        if (strcmp(a->tokens[i], b->tokens[i]) != 0)
            return -3;
    return -1;
}

static void check_trainer_on(const char *text, int n_normal, const char *what) {
    static oracle o;
    oracle_train(&o, n_normal, text, strlen(text));
    size_t len = strlen(text);
    bn_tokenizer_spec *s = trained(n_normal, &text, &len, 1);
    int differ = -1;
    for (int r = 0; r < o.n_merges && differ < 0; r++)
        if (r >= s->n_merges || strcmp(s->merges[r], o.merges[r]) != 0)
            differ = r;
    CHECK(differ < 0, "%s: merge %d is '%s', the definition gives '%s'", what, differ,
          differ >= 0 && differ < s->n_merges ? s->merges[differ] : "(none)",
          differ >= 0 ? o.merges[differ] : "");
    CHECK(o.n_merges >= 100, "%s: %d merges learned (a real test)", what, o.n_merges);
    bn_tokenizer_spec_free(s);
}

/* Text from a seeded stream: words over a few letters (many overlapping pairs and ties), digits,
 * punctuation, accented and CJK characters, spaces and newlines. */
static char *random_text(uint64_t seed, size_t n_words, const char *const *pieces, int n_pieces) {
    bn_rng r;
    bn_rng_seed(&r, seed);
    size_t cap = n_words * 40 + 1, k = 0;
    char *t = malloc(cap);
    for (size_t w = 0; w < n_words; w++) {
        int parts = 1 + (int)(bn_rng_next(&r) % 4);
        for (int p = 0; p < parts; p++) {
            const char *piece = pieces[bn_rng_next(&r) % (uint64_t)n_pieces];
            size_t pl = strlen(piece);
            memcpy(t + k, piece, pl);
            k += pl;
        }
        uint64_t sep = bn_rng_next(&r) % 16;
        t[k++] = sep == 0 ? '\n' : sep == 1 ? '.' : ' ';
    }
    t[k] = '\0';
    return t;
}

static void check_trainer(void) {
    static const char *const ab[] = {"a", "b", "ab", "ba", "aa"};
    static const char *const mixed[] = {"th", "e", "an", "d",  "ing", "é",  "ö", "日本", "語", "12",
                                        "3",  ",", "!",  "'s", "  ",  "\t", "ü", "x",    "q",  "z"};
    for (uint64_t seed = 1; seed <= 3; seed++) {
        char what[64];
        char *t = random_text(seed, 3000, ab, 5);
        snprintf(what, sizeof what, "a/b text %llu", (unsigned long long)seed);
        check_trainer_on(t, 700, what);
        free(t);
        t = random_text(seed + 10, 4000, mixed, 20);
        snprintf(what, sizeof what, "mixed text %llu", (unsigned long long)seed);
        check_trainer_on(t, 900, what);
        free(t);
    }

    /* several texts: the order does not matter, and no pre-token spans two of them */
    const char *texts[3] = {"hello there hello", "abc abc abc", "x y z hello"};
    size_t lens[3] = {17, 11, 11};
    const char *reversed[3] = {texts[2], texts[1], texts[0]};
    size_t rlens[3] = {11, 11, 17};
    bn_tokenizer_spec *a = trained(300, texts, lens, 3), *b = trained(300, reversed, rlens, 3);
    CHECK(first_difference(a, b) == -1, "order of the texts changes nothing");
    bn_tokenizer_spec_free(a);
    bn_tokenizer_spec_free(b);
    /* "ab", "cd" as texts never pair b with c; joined ("abcd") they would */
    const char *twice[4] = {"ab", "cd", "ab", "cd"};
    size_t twice_lens[4] = {2, 2, 2, 2};
    a = trained(300, twice, twice_lens, 4);
    bool bc = false;
    for (int32_t r = 0; r < a->n_merges; r++)
        bc |= strncmp(a->merges[r], "b c", 3) == 0;
    CHECK(!bc && strcmp(a->merges[0], "a b") == 0 && strcmp(a->merges[1], "c d") == 0,
          "separate texts: merges '%s', '%s'", a->merges[0], a->merges[1]);
    bn_tokenizer_spec_free(a);

    bn_tokenizer_spec *s = calloc(1, sizeof *s);
    CHECK_OK(bn_tokenizer_spec_alloc(s, 300, "test"));
    CHECK(bn_bpe_train(s, 300, "bad \xff", 5) == BN_ERR_INVALID_ARG &&
              strstr(bn_last_error(), "UTF-8") != NULL,
          "invalid UTF-8 refused: %s", bn_last_error());
    bn_tokenizer_spec_free(s);
}

/* ---- the tokenizer.json writer ---------------------------------------------------------- */

static const char *const samples[] = {
    "Hello world",
    "It is a truth universally acknowledged, that a single man in possession",
    "  12345 numbers 3.14159!! and     spaces\n\n\ttabs\r\n",
    "na\xc3\xafve caf\xc3\xa9 \xe2\x80\x94 \xe2\x80\x9cquotes\xe2\x80\x9d \xe6\x97\xa5\xe6\x9c\xac "
    "\xf0\x9f\x99\x82",
    "a<|eot_id|>b <|begin_of_text|>x <tool> y",
    "",
};

/* Same tokens, types, merges, added tokens, affixes, ids and template. */
static void compare_specs(const bn_tokenizer_spec *a, const bn_tokenizer_spec *b,
                          const char *what) {
    CHECK(a->model == b->model && a->n_tokens == b->n_tokens && a->n_merges == b->n_merges &&
              a->ignore_merges == b->ignore_merges && a->n_splits == b->n_splits &&
              a->gpt2_regex == b->gpt2_regex && a->add_prefix_space == b->add_prefix_space,
          "%s: model %d/%d, %d/%d tokens, %d/%d merges", what, a->model, b->model, a->n_tokens,
          b->n_tokens, a->n_merges, b->n_merges);
    if (a->n_tokens != b->n_tokens || a->n_merges != b->n_merges || a->n_splits != b->n_splits)
        return;
    int bad = 0;
    for (int32_t i = 0; i < a->n_tokens; i++)
        bad += strcmp(a->tokens[i], b->tokens[i]) != 0 || a->types[i] != b->types[i];
    for (int32_t r = 0; r < a->n_merges; r++)
        bad += strcmp(a->merges[r], b->merges[r]) != 0;
    for (int i = 0; i < a->n_splits; i++)
        bad += strcmp(a->splits[i].regex, b->splits[i].regex) != 0 ||
               a->splits[i].behavior != b->splits[i].behavior;
    CHECK(bad == 0, "%s: %d tokens, types, merges or splits differ", what, bad);
    CHECK(a->n_added == b->n_added, "%s: %d/%d added tokens", what, a->n_added, b->n_added);
    for (int32_t i = 0; i < a->n_added && i < b->n_added; i++) {
        const bn_tok_added *x = &a->added[i], *y = NULL;
        for (int32_t k = 0; k < b->n_added; k++)
            if (b->added[k].id == x->id)
                y = &b->added[k];
        CHECK(y != NULL && x->special == y->special && x->lstrip == y->lstrip &&
                  x->rstrip == y->rstrip && x->single_word == y->single_word,
              "%s: added token %d", what, x->id);
    }
    CHECK(a->n_prefix == b->n_prefix && a->n_suffix == b->n_suffix &&
              (a->n_prefix == 0 || a->prefix[0] == b->prefix[0]) && a->bos_id == b->bos_id &&
              a->eos_id == b->eos_id && a->eot_id == b->eot_id && a->n_eog == b->n_eog,
          "%s: affixes and bos %d/%d eos %d/%d eot %d/%d", what, a->bos_id, b->bos_id, a->eos_id,
          b->eos_id, a->eot_id, b->eot_id);
    CHECK((a->chat_template == NULL) == (b->chat_template == NULL) &&
              (a->chat_template == NULL || strcmp(a->chat_template, b->chat_template) == 0),
          "%s: chat template", what);
}

static void compare_ids(const bn_tokenizer *a, const bn_tokenizer *b, const char *what) {
    for (size_t i = 0; i < sizeof samples / sizeof samples[0]; i++)
        for (unsigned flags = 0; flags < 4; flags++) {
            bn_tokens x = {0}, y = {0};
            CHECK_OK(bn_tokenizer_encode(a, samples[i], strlen(samples[i]), flags, &x));
            CHECK_OK(bn_tokenizer_encode(b, samples[i], strlen(samples[i]), flags, &y));
            CHECK(x.n == y.n && (x.n == 0 || memcmp(x.ids, y.ids, x.n * sizeof *x.ids) == 0),
                  "%s: sample %zu flags %u: %zu vs %zu ids", what, i, flags, x.n, y.n);
            bn_tokens_free(&x);
            bn_tokens_free(&y);
        }
}

/* Write t's spec to a folder, load it back, compare. */
static void check_written(const bn_tokenizer *t, const char *name) {
    char dir[600];
    tmp_path(dir, sizeof dir, name);
    mkdir(dir, 0777);
    CHECK_OK(bn_tokenizer_spec_write_hf(bn_tokenizer_spec_of(t), dir));
    bn_tokenizer *back = NULL;
    CHECK_OK(bn_tokenizer_load(&back, dir));
    if (back != NULL) {
        compare_specs(bn_tokenizer_spec_of(t), bn_tokenizer_spec_of(back), name);
        compare_ids(t, back, name);
    }
    bn_tokenizer_free(back);
    char path[700];
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    unlink(path);
    snprintf(path, sizeof path, "%s/tokenizer_config.json", dir);
    unlink(path);
    rmdir(dir);
}

static void check_writer(void) {
    bn_tokenizer *t = NULL;
    CHECK_OK(bn_synth_tokenizer(&t, 4096, 16));
    if (t != NULL)
        check_written(t, "synth-4096");
    bn_tokenizer_free(t);
    /* tokenizers the Hugging Face library wrote: LLaMA-3 style with a non-special added token,
     * merges as strings, and GPT-2 (ByteLevel's own regex, no Split) */
    const char *fixtures[] = {"bpe", "bpe-strmerges", "gpt2"};
    for (int i = 0; i < 3; i++) {
        char path[600];
        snprintf(path, sizeof path, "%s/tests/fixtures/tokenizer/%s", BN_SOURCE_DIR, fixtures[i]);
        t = NULL;
        CHECK_OK(bn_tokenizer_load(&t, path));
        if (t != NULL)
            check_written(t, fixtures[i]);
        bn_tokenizer_free(t);
    }

    /* refusals: SentencePiece, a missing folder (nothing left behind) */
    char spm[600], missing[600];
    snprintf(spm, sizeof spm, "%s/tests/fixtures/tokenizer/spm", BN_SOURCE_DIR);
    tmp_path(missing, sizeof missing, "no-such-folder");
    t = NULL;
    CHECK_OK(bn_tokenizer_load(&t, spm));
    if (t != NULL)
        CHECK(bn_tokenizer_spec_write_hf(bn_tokenizer_spec_of(t), tmp_dir) == BN_ERR_UNSUPPORTED &&
                  strstr(bn_last_error(), "byte-level") != NULL,
              "SentencePiece refused: %s", bn_last_error());
    bn_tokenizer_free(t);
    CHECK_OK(bn_synth_tokenizer(&t, 512, 16));
    if (t != NULL)
        CHECK(bn_tokenizer_spec_write_hf(bn_tokenizer_spec_of(t), missing) != BN_OK,
              "a missing folder is an error");
    bn_tokenizer_free(t);
    CHECK(access(missing, F_OK) != 0, "nothing made");
}

int main(void) {
    const char *base = getenv("TMPDIR");
    snprintf(tmp_dir, sizeof tmp_dir, "%s/bn_test_train_data_%d", base && *base ? base : "/tmp",
             (int)getpid());
    if (mkdir(tmp_dir, 0777) != 0 && errno != EEXIST) {
        fprintf(stderr, "cannot make %s\n", tmp_dir);
        return 1;
    }
    check_round_trip(1000, 2);
    check_round_trip(65536, 2);
    check_round_trip(65537, 4);
    check_round_trip(128256, 4);
    check_refusals();
    check_tokenizer_match();
    check_documents();
    check_batches();
    check_eval();
    check_trainer();
    check_writer();
    rmdir(tmp_dir);
    return bn_test_finish("test_train_data");
}
