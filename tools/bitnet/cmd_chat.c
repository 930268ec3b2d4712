/*
 * cmd_chat.c - `bitnet chat`: a conversation on stdin/stdout, through the model's chat template.
 *
 * Every turn renders the whole conversation (src/text/chat.h) and tokenizes it; the tokens that
 * the KV cache already holds (their common prefix with the list of cached tokens) are not
 * evaluated again. Re-tokenizing a reply does not always give back the tokens that were
 * generated (BPE may merge them differently, and the bitnet template's "Assistant: " ends in a
 * space that the reply's first word then absorbs), so the prefix may end early: the cache is
 * then cut back to the common prefix (bn_context_truncate) and the rest evaluated.
 */
#include "cli.h"
#include "engine_args.h"
#include "generate.h"
#include "sampling_args.h"

#include "base/cpu.h"
#include "base/timer.h"
#include "text/chat.h"
#include "text/utf8.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char USAGE[] =
    "usage: bitnet chat [-m MODEL] [--system TEXT] [--template NAME] [-n N] [-c CTX] [-t THREADS]\n"
    "                   [--print-prompt] [--temp T] [--top-k K] [--top-p P] [--min-p P]\n"
    "                   [--repeat-penalty R] [--repeat-last-n N] [--frequency-penalty F]\n"
    "                   [--presence-penalty P] [--seed S] [--stop TEXT]...\n"
    "\n"
    "Talk with a chat model. Each line of stdin is a user message (blank lines are skipped); the\n"
    "reply streams to stdout and ends with a newline. A reply stops at the model's\n"
    "end-of-generation token, at a --stop string or after N tokens (-n, default -1: no limit).\n"
    "End of input (Ctrl-D) ends the chat. Ctrl-C stops the reply being written (the conversation\n"
    "goes on); at the prompt, Ctrl-C ends the chat (exit status 130). The prompt \"> \" goes to\n"
    "stderr, only when stdin is a terminal. The conversation is written in the model's chat\n"
    "template (bitnet, llama3 or chatml, recognised from the template the model ships), and\n"
    "only the tokens the KV cache does not hold yet are evaluated each turn.\n"
    "When the conversation fills the context (-c), chat says so on stderr and ends with exit\n"
    "status 1 (a reply cut off by it is printed as far as it got); older turns are not dropped.\n"
    "\n"
    "options:\n"
    "  -m, --model MODEL       a GGUF file or a Hugging Face BitNet folder (default:\n"
    "                          $BITNET_MODEL, else the shipped models/default.gguf)\n"
    "  --system TEXT           a system message in front of the conversation\n"
    "  --template NAME         bitnet, llama3 or chatml, instead of the model's own template\n"
    "  --special               parse special-token text typed in messages (\"<|eot_id|>\") as\n"
    "                          those tokens; by default what you type is only text, and only\n"
    "                          the template's own markers are special tokens\n"
    "  --print-prompt          before each reply, write the rendered conversation to stderr as\n"
    "                          a JSON line: {\"prompt\": text, \"tokens\": n, \"cached\": n},\n"
    "                          cached being the tokens reused from the KV cache\n"
    "  -c, --ctx CTX           context length in tokens (default: the model's, at most 4096)\n"
    "  -t, --threads N         threads (default: one per CPU this process may use)\n";

typedef struct chat_args {
    const char *model, *system, *template_name;
    int n_ctx, threads;
    bool print_prompt, special;
    bn_cli_sampling gen;
    bn_cli_engine engine;
} chat_args;

typedef struct chat {
    const chat_args *a;
    bn_model *m;
    bn_context *c;
    bn_sampler *s;
    bn_chat_format format;
    const char *bos;       /* the BOS token's text, which some templates write first */
    bn_chat_message *msgs; /* the conversation so far; each content is owned (valid UTF-8) */
    bn_span *spans;        /* [cap]: where each content lands in the rendered text */
    bn_span *plain;        /* [cap]: the spans whose special-token text is not parsed */
    size_t n_msgs, cap;
    bn_tokens cached; /* the tokens in the KV cache, in order */
    bn_tokens prompt; /* scratch: the rendered conversation's tokens */
    bn_bytes text;    /* scratch: its text */
    float *logits;    /* [n_vocab] after the last evaluated token */
} chat;

/* Returns 0, or an exit code (-1: help printed). */
static int parse(int argc, char **argv, chat_args *a) {
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        bn_cli_opt t = bn_cli_threads_option("chat", argc, argv, &i, &a->threads);
        if (t == BN_CLI_NOT_MINE)
            t = bn_cli_engine_option("chat", argc, argv, &i, &a->engine);
        if (t == BN_CLI_NOT_MINE)
            t = bn_cli_sampling_option("chat", argc, argv, &i, &a->gen);
        if (t == BN_CLI_BAD)
            return 2;
        if (t == BN_CLI_TAKEN)
            continue;
        if (bn_cli_is_help(o)) {
            fputs(USAGE, stdout);
            fputs(BN_CLI_ENGINE_HELP, stdout);
            fputs(BN_CLI_SAMPLING_HELP, stdout);
            return -1;
        } else if (!strcmp(o, "--print-prompt")) {
            a->print_prompt = true;
            continue;
        } else if (!strcmp(o, "--special")) {
            a->special = true;
            continue;
        } else if (v == NULL) {
            return bn_cli_usage_error("chat", "unknown option or missing value: %s", o);
        } else if (!strcmp(o, "-m") || !strcmp(o, "--model")) {
            a->model = v;
        } else if (!strcmp(o, "--system")) {
            a->system = v;
        } else if (!strcmp(o, "--template")) {
            bn_chat_format f;
            if (bn_chat_format_from_name(v, &f) != BN_OK)
                return bn_cli_usage_error("chat",
                                          "--template %s: the formats are bitnet, "
                                          "llama3 and chatml",
                                          v);
            a->template_name = v;
        } else if (!strcmp(o, "-c") || !strcmp(o, "--ctx")) {
            if (!bn_cli_parse_int(v, 1, 1L << 30, &a->n_ctx))
                return bn_cli_usage_error("chat", "%s %s: not a valid context length", o, v);
        } else {
            return bn_cli_usage_error("chat", "unknown option: %s", o);
        }
        i++;
    }
    if (a->model == NULL) {
        char tried[9000];
        if ((a->model = bn_cli_default_model(tried, sizeof tried)) == NULL)
            return bn_cli_usage_error("chat", "-m MODEL is required (no default model at %s)",
                                      tried);
    }
    return 0;
}

/* --template, else the format the model's own template is recognised as. */
static bn_status pick_format(const chat_args *a, const bn_tokenizer *t, bn_chat_format *f) {
    if (a->template_name != NULL)
        return bn_chat_format_from_name(a->template_name, f);
    const char *jinja = bn_tokenizer_spec_of(t)->chat_template;
    if (jinja == NULL)
        return BN_ERROR(BN_ERR_NOT_FOUND,
                        "%s has no chat template: name its format with --template bitnet, "
                        "llama3 or chatml",
                        a->model);
    *f = bn_chat_detect(jinja);
    if (*f == BN_CHAT_UNKNOWN)
        return BN_ERROR(BN_ERR_UNSUPPORTED,
                        "the chat template of %s is none of the known formats: name its "
                        "format with --template bitnet, llama3 or chatml",
                        a->model);
    return BN_OK;
}

static bn_status grow(void **p, size_t cap, size_t size) {
    void *q = realloc(*p, cap * size);
    if (q == NULL)
        return BN_ERROR(BN_ERR_OUT_OF_MEMORY, "chat history");
    *p = q;
    return BN_OK;
}

/* The content is kept as valid UTF-8 (invalid bytes become U+FFFD, which the tokenizer would
 * make of them anyway), so that the rendered text's offsets are the ones it encodes. */
static bn_status add_message(chat *ch, const char *role, const char *content, size_t len) {
    if (ch->n_msgs == ch->cap) {
        size_t cap = ch->cap ? 2 * ch->cap : 16;
        BN_TRY(grow((void **)&ch->msgs, cap, sizeof *ch->msgs));
        BN_TRY(grow((void **)&ch->spans, cap, sizeof *ch->spans));
        BN_TRY(grow((void **)&ch->plain, cap, sizeof *ch->plain));
        ch->cap = cap;
    }
    char *copy = malloc(3 * len + 1);
    if (copy == NULL)
        return BN_ERROR(BN_ERR_OUT_OF_MEMORY, "chat message");
    copy[bn_utf8_sanitize((const uint8_t *)content, len, (uint8_t *)copy)] = '\0';
    ch->msgs[ch->n_msgs++] = (bn_chat_message){.role = role, .content = copy};
    return BN_OK;
}

/* The conversation so far, with the assistant's turn opened, as text and as tokens. */
static bn_status render(chat *ch) {
    ch->text.n = 0;
    ch->prompt.n = 0;
    BN_TRY(bn_chat_render(ch->format, ch->msgs, ch->n_msgs, true, ch->bos, &ch->text, ch->spans));
    /* What the user (or system) wrote is text; the replies keep the tokens they were made of,
     * special ones included. */
    size_t n_plain = 0;
    for (size_t i = 0; i < ch->n_msgs && !ch->a->special; i++)
        if (strcmp(ch->msgs[i].role, "assistant") != 0)
            ch->plain[n_plain++] = ch->spans[i];
    BN_TRY(bn_tokenizer_encode_plain(ch->m->tok, ch->text.data, ch->text.n, BN_TOK_PARSE_SPECIAL,
                                     ch->plain, n_plain, &ch->prompt));
    int n_ctx = bn_context_n_ctx(ch->c);
    if (ch->prompt.n > (size_t)n_ctx)
        return BN_ERROR(BN_ERR_RANGE,
                        "the conversation is %zu tokens, more than the context of %d (-c): "
                        "ending the chat",
                        ch->prompt.n, n_ctx);
    return BN_OK;
}

/* How many of the prompt's tokens the cache can keep: their common prefix, less one when that
 * is the whole prompt (one token must be evaluated to get the logits). */
static size_t reusable(const chat *ch) {
    size_t p = 0, n = ch->prompt.n;
    while (p < ch->cached.n && p < n && ch->cached.ids[p] == ch->prompt.ids[p])
        p++;
    return p == n && p > 0 ? p - 1 : p;
}

/* The --print-prompt line. Invalid UTF-8 (a reply may hold some) becomes U+FFFD, which is what
 * the tokenizer made of it, so the line is valid JSON and the text tokenizes the same. */
static void print_prompt(const chat *ch, size_t cached) {
    cJSON *o = cJSON_CreateObject();
    char *text = malloc(3 * ch->text.n + 1);
    size_t n =
        text ? bn_utf8_sanitize((const uint8_t *)ch->text.data, ch->text.n, (uint8_t *)text) : 0;
    if (text != NULL)
        text[n] = '\0';
    cJSON_AddStringToObject(o, "prompt", text ? text : "");
    cJSON_AddNumberToObject(o, "tokens", (double)ch->prompt.n);
    cJSON_AddNumberToObject(o, "cached", (double)cached);
    char *line = cJSON_PrintUnformatted(o);
    if (line != NULL)
        fprintf(stderr, "%s\n", line);
    cJSON_free(line);
    cJSON_Delete(o);
    free(text);
}

/* Bring the cache up to the rendered conversation and leave its last logits in ch->logits. */
static bn_status evaluate_prompt(chat *ch) {
    size_t keep = reusable(ch);
    if (keep < ch->cached.n) {
        BN_TRY(bn_context_truncate(ch->c, (int)keep));
        ch->cached.n = keep;
    }
    if (ch->a->print_prompt)
        print_prompt(ch, keep);
    const int32_t *pending = ch->prompt.ids + keep;
    int n = (int)(ch->prompt.n - keep);
    BN_TRY(bn_context_eval(ch->c, pending, n, ch->logits, false));
    for (int i = 0; i < n; i++) {
        bn_sampler_accept(ch->s, pending[i]);
        BN_TRY(bn_tokens_push(&ch->cached, pending[i]));
    }
    return BN_OK;
}

/* One exchange: the user's line in, the reply out (and into the conversation). */
static bn_status turn(chat *ch, const char *line, size_t len) {
    BN_TRY(add_message(ch, "user", line, len));
    BN_TRY(render(ch));
    BN_TRY(evaluate_prompt(ch));
    bn_bytes reply = {0};
    bn_gen g = {.m = ch->m,
                .c = ch->c,
                .s = ch->s,
                .opt = &ch->a->gen,
                .out = stdout,
                .reply = &reply,
                .cached = &ch->cached};
    bn_gen_result r;
    bn_status st = bn_cli_generate(&g, ch->logits, &r);
    fputc('\n', stdout);
    fflush(stdout);
    if (st == BN_OK)
        st = add_message(ch, "assistant", reply.data ? reply.data : "", reply.n);
    bn_bytes_free(&reply);
    if (st == BN_OK && r.end == BN_GEN_FULL)
        st = BN_ERROR(BN_ERR_RANGE,
                      "the context of %d tokens is full: ending the chat (-c can be up to %d)",
                      bn_context_n_ctx(ch->c), ch->m->cfg.ctx_max);
    return st;
}

/* Lines until end of input: each non-blank one is a user message. Ctrl-C while a reply is
 * being written ends that reply (what was written stays in the conversation); Ctrl-C while
 * waiting for a line ends the chat, as end of input does but with *interrupted set. */
static bn_status converse(chat *ch, bool *interrupted) {
    bool tty = isatty(STDIN_FILENO);
    char *line = NULL;
    size_t cap = 0;
    bn_status st = BN_OK;
    for (;;) {
        if (tty)
            fputs("> ", stderr);
        bn_cli_catch_interrupt(true, false); /* the read returns on Ctrl-C */
        ssize_t n = getline(&line, &cap, stdin);
        if (n < 0 && bn_cli_interrupted) {
            *interrupted = true;
            clearerr(stdin);
            break;
        }
        if (n < 0)
            break;
        bn_cli_catch_interrupt(true, true); /* from here, Ctrl-C stops the reply */
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
            n--;
        if (memchr(line, '\0', (size_t)n) != NULL) {
            fprintf(stderr, "bitnet chat: that line holds a NUL byte, which a message cannot "
                            "contain: not sent\n");
            continue;
        }
        if (strspn(line, " \t\r\n") >= (size_t)n)
            continue; /* blank */
        st = turn(ch, line, (size_t)n);
        if (st != BN_OK)
            break;
    }
    if (st == BN_OK && ferror(stdin))
        st = BN_ERROR(BN_ERR_IO, "reading stdin: %s", strerror(errno));
    if (tty && st == BN_OK)
        fputc('\n', stderr); /* after ^D or ^C, so the shell's prompt starts a line */
    bn_cli_catch_interrupt(false, true);
    free(line);
    return st;
}

static bn_status start(chat *ch) {
    const chat_args *a = ch->a;
    double t0 = bn_time_s();
    BN_TRY(bn_cli_load_model(a->model, a->threads, &ch->m));
    BN_TRY(pick_format(a, ch->m->tok, &ch->format));
    const bn_tokenizer_spec *spec = bn_tokenizer_spec_of(ch->m->tok);
    ch->bos = spec->bos_id >= 0 ? spec->tokens[spec->bos_id] : NULL;
    BN_TRY(bn_cli_engine_context(&a->engine, ch->m, a->n_ctx, a->threads, &ch->c));
    /* only ids the tokenizer has (the embeddings may have padding rows past them) */
    BN_TRY(bn_sampler_create(&ch->s, bn_tokenizer_n_vocab(ch->m->tok), &a->gen.params));
    ch->logits = malloc((size_t)ch->m->cfg.n_vocab * sizeof(float));
    if (ch->logits == NULL)
        return BN_ERROR(BN_ERR_OUT_OF_MEMORY, "logits");
    if (a->system != NULL)
        BN_TRY(add_message(ch, "system", a->system, strlen(a->system)));
    fprintf(stderr, "loaded %s in %.2f s: chat template %s, context of %d tokens\n", a->model,
            bn_time_s() - t0, bn_chat_format_name(ch->format), bn_context_n_ctx(ch->c));
    return BN_OK;
}

static void finish(chat *ch) {
    for (size_t i = 0; i < ch->n_msgs; i++)
        free((char *)ch->msgs[i].content);
    free(ch->msgs);
    free(ch->spans);
    free(ch->plain);
    bn_tokens_free(&ch->cached);
    bn_tokens_free(&ch->prompt);
    bn_bytes_free(&ch->text);
    free(ch->logits);
    bn_sampler_free(ch->s);
    bn_context_free(ch->c);
    bn_model_free(ch->m);
}

int bn_cmd_chat(int argc, char **argv) {
    chat_args a = {.gen = bn_cli_sampling_defaults(-1), .engine = bn_cli_engine_defaults(false)};
    int rc = parse(argc, argv, &a);
    if (rc != 0)
        return rc < 0 ? 0 : rc;
    bn_cli_sampling_seed(&a.gen);
    chat ch = {.a = &a};
    bool interrupted = false;
    bn_status st = start(&ch);
    if (st == BN_OK)
        st = converse(&ch, &interrupted);
    finish(&ch);
    if (st != BN_OK)
        return bn_cli_fail(st);
    return interrupted ? 130 : 0; /* 128 + SIGINT, as the shell reports a process it ended */
}
