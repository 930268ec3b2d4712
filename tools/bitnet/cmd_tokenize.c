/*
 * cmd_tokenize.c - `bitnet tokenize` and `bitnet detokenize`: the tokenizer of a model, alone.
 */
#include "cli.h"

#include "text/tokenizer.h"
#include "text/utf8.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char TOKENIZE_USAGE[] =
    "usage: bitnet tokenize -m MODEL [--special] [--no-bos] [--json] (TEXT | -f FILE)\n"
    "\n"
    "Print the token ids of TEXT (or of FILE, read byte for byte; '-' is stdin) and the text\n"
    "each token stands for.\n"
    "\n"
    "  -m, --model MODEL  a GGUF file, a Hugging Face folder or a tokenizer.json\n"
    "  --special          read special tokens written in the text (\"<|eot_id|>\") as those\n"
    "                     tokens, as Hugging Face tokenizers do by default\n"
    "  --no-bos           no BOS/EOS from the post-processor (transformers'\n"
    "                     add_special_tokens=False)\n"
    "  --json             print {\"ids\": [...], \"pieces\": [...]}\n"
    "\n"
    "Invalid UTF-8 in the input is replaced, each maximal ill-formed subpart by U+FFFD.\n";

static const char DETOKENIZE_USAGE[] =
    "usage: bitnet detokenize -m MODEL [--skip-special] IDS...\n"
    "\n"
    "Print the text of token ids (separated by spaces or commas) on stdout, byte for byte.\n"
    "An IDS argument of - reads the ids from stdin. An empty list prints nothing.\n"
    "\n"
    "  -m, --model MODEL  a GGUF file, a Hugging Face folder or a tokenizer.json\n"
    "  --skip-special     leave out special tokens (BOS, <|eot_id|>, ...)\n";

/* A piece as a JSON string. Bytes that are not valid UTF-8 on their own (half of a character
 * split across tokens) become U+FFFD; NUL and other controls are escaped, not cut off. */
static void print_json_piece(const char *p, size_t n) {
    uint8_t *clean = malloc(3 * n + 1);
    size_t k = clean ? bn_utf8_sanitize((const uint8_t *)p, n, clean) : 0;
    putchar('"');
    for (size_t i = 0; i < k; i++) {
        uint8_t c = clean[i];
        if (c == '"' || c == '\\')
            printf("\\%c", c);
        else if (c < 0x20 || c == 0x7F)
            printf("\\u%04x", c);
        else
            putchar(c);
    }
    putchar('"');
    free(clean);
}

static int print_json(const bn_tokenizer *t, const bn_tokens *ids) {
    printf("{\"ids\": [");
    for (size_t i = 0; i < ids->n; i++)
        printf("%s%d", i ? ", " : "", ids->ids[i]);
    printf("], \"pieces\": [");
    for (size_t i = 0; i < ids->n; i++) {
        size_t len;
        const char *p = bn_tokenizer_piece(t, ids->ids[i], &len);
        fputs(i ? ", " : "", stdout);
        print_json_piece(p, len);
    }
    printf("]}\n");
    return ferror(stdout) ? 1 : 0;
}

static void print_table(const bn_tokenizer *t, const bn_tokens *ids) {
    for (size_t i = 0; i < ids->n; i++) {
        size_t len;
        const char *p = bn_tokenizer_piece(t, ids->ids[i], &len);
        printf("%8d  '", ids->ids[i]);
        for (size_t j = 0; j < len; j++) { /* escape what would garble a terminal */
            unsigned char c = (unsigned char)p[j];
            if (c == '\n')
                fputs("\\n", stdout);
            else if (c == '\t')
                fputs("\\t", stdout);
            else if (c == '\r')
                fputs("\\r", stdout);
            else if (c < 0x20 || c == 0x7F)
                printf("\\x%02x", c);
            else
                putchar(c);
        }
        printf("'\n");
    }
}

typedef struct tok_args {
    const char *model, *file, *text;
    bool special, no_bos, json;
} tok_args;

static int parse_tokenize(int argc, char **argv, tok_args *a) {
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (bn_cli_is_help(arg)) {
            fputs(TOKENIZE_USAGE, stdout);
            return -1;
        } else if ((!strcmp(arg, "-m") || !strcmp(arg, "--model")) && i + 1 < argc) {
            a->model = argv[++i];
        } else if ((!strcmp(arg, "-f") || !strcmp(arg, "--file")) && i + 1 < argc) {
            a->file = argv[++i];
        } else if (!strcmp(arg, "--special")) {
            a->special = true;
        } else if (!strcmp(arg, "--no-bos")) {
            a->no_bos = true;
        } else if (!strcmp(arg, "--json")) {
            a->json = true;
        } else if (arg[0] == '-' && arg[1] != '\0') {
            return bn_cli_usage_error("tokenize", "unknown option or missing value: %s", arg);
        } else if (a->text != NULL) {
            return bn_cli_usage_error("tokenize", "give the text as one argument (quote it)");
        } else {
            a->text = arg;
        }
    }
    if (a->model == NULL)
        return bn_cli_usage_error("tokenize", "-m MODEL is required");
    if ((a->text == NULL) == (a->file == NULL))
        return bn_cli_usage_error("tokenize", "give either TEXT or -f FILE");
    return 0;
}

int bn_cmd_tokenize(int argc, char **argv) {
    tok_args a = {0};
    int rc = parse_tokenize(argc, argv, &a);
    if (rc != 0)
        return rc < 0 ? 0 : rc;
    bn_bytes text = {0};
    if (a.file != NULL && (rc = bn_cli_read_input(a.file, &text)) != 0)
        return rc;
    if (a.text != NULL && bn_bytes_append(&text, a.text, strlen(a.text)) != BN_OK)
        return bn_cli_fail(BN_ERR_OUT_OF_MEMORY);
    bn_tokenizer *t = NULL;
    bn_tokens ids = {0};
    unsigned flags = (a.special ? BN_TOK_PARSE_SPECIAL : 0) | (a.no_bos ? 0 : BN_TOK_ADD_SPECIAL);
    bn_status st = bn_tokenizer_load(&t, a.model);
    if (st == BN_OK)
        st = bn_tokenizer_encode(t, text.data, text.n, flags, &ids);
    if (st == BN_OK && a.json)
        rc = print_json(t, &ids);
    else if (st == BN_OK)
        print_table(t, &ids);
    else
        rc = bn_cli_fail(st);
    bn_tokens_free(&ids);
    bn_bytes_free(&text);
    bn_tokenizer_free(t);
    return rc;
}

/* "1,2, 3" and "1 2 3" alike, over one or several arguments. */
static int parse_ids(const char *arg, bn_tokens *ids) {
    const char *p = arg;
    while (*p) {
        while (*p == ',' || *p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
            p++;
        if (*p == '\0')
            break;
        char *end;
        errno = 0;
        long v = strtol(p, &end, 10);
        if (end == p || errno != 0 || v < 0 || v > INT32_MAX ||
            (*end && *end != ',' && *end != ' ' && *end != '\t' && *end != '\n' && *end != '\r'))
            return bn_cli_usage_error("detokenize", "'%s' is not a list of token ids", arg);
        if (bn_tokens_push(ids, (int32_t)v) != BN_OK)
            return bn_cli_fail(BN_ERR_OUT_OF_MEMORY);
        p = end;
    }
    return 0;
}

int bn_cmd_detokenize(int argc, char **argv) {
    const char *model = NULL;
    bool skip = false;
    bn_tokens ids = {0};
    int rc = 0, lists = 0;
    for (int i = 1; i < argc && rc == 0; i++) {
        if (bn_cli_is_help(argv[i])) {
            fputs(DETOKENIZE_USAGE, stdout);
            bn_tokens_free(&ids);
            return 0;
        } else if ((!strcmp(argv[i], "-m") || !strcmp(argv[i], "--model")) && i + 1 < argc) {
            model = argv[++i];
        } else if (!strcmp(argv[i], "--skip-special")) {
            skip = true;
        } else if (argv[i][0] == '-' && argv[i][1] != '\0') {
            rc = bn_cli_usage_error("detokenize", "unknown option or missing value: %s", argv[i]);
        } else if (!strcmp(argv[i], "-")) {
            bn_bytes in = {0};
            rc = bn_cli_read_input("-", &in);
            if (rc == 0 && bn_bytes_append(&in, "", 1) != BN_OK) /* a terminating NUL */
                rc = bn_cli_fail(BN_ERR_OUT_OF_MEMORY);
            if (rc == 0 && strlen(in.data) + 1 != in.n)
                rc = bn_cli_usage_error("detokenize", "stdin holds a NUL byte, not token ids");
            if (rc == 0)
                rc = parse_ids(in.data, &ids);
            bn_bytes_free(&in);
            lists++;
        } else {
            rc = parse_ids(argv[i], &ids);
            lists++;
        }
    }
    if (rc == 0 && model == NULL)
        rc = bn_cli_usage_error("detokenize", "-m MODEL is required");
    if (rc == 0 && lists == 0)
        rc = bn_cli_usage_error("detokenize", "give the token ids to decode (or - for stdin)");
    bn_tokenizer *t = NULL;
    bn_bytes text = {0};
    if (rc == 0) {
        bn_status st = bn_tokenizer_load(&t, model);
        if (st == BN_OK)
            st = bn_tokenizer_decode(t, ids.ids, ids.n, skip, &text);
        if (st != BN_OK)
            rc = bn_cli_fail(st);
        else if (text.n > 0 && fwrite(text.data, 1, text.n, stdout) != text.n)
            rc = 1;
    }
    bn_bytes_free(&text);
    bn_tokens_free(&ids);
    bn_tokenizer_free(t);
    return rc;
}
