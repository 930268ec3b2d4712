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

#include "base/timer.h"
#include "text/tokenizer.h"
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
    bn_model_info info;
    bn_context *c;
    bn_sampler *s;
    const char *format;    /* --template, or the model's own format */
    bn_chat_message *msgs; /* the conversation so far; each content is owned (valid UTF-8) */
    size_t n_msgs, cap;
    bn_tokens cached;  /* the tokens in the KV cache, in order */
    bn_tokens prompt;  /* scratch: the rendered conversation's tokens */
    bn_tokens sampled; /* scratch: the reply's tokens */
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
            if (strcmp(v, "bitnet") != 0 && strcmp(v, "llama3") != 0 && strcmp(v, "chatml") != 0)
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
        ch->cap = cap;
    }
    char *copy = malloc(3 * len + 1);
    if (copy == NULL)
        return BN_ERROR(BN_ERR_OUT_OF_MEMORY, "chat message");
    copy[bn_utf8_sanitize((const uint8_t *)content, len, (uint8_t *)copy)] = '\0';
    ch->msgs[ch->n_msgs++] = (bn_chat_message){.role = role, .content = copy};
    return BN_OK;
}

/* The conversation so far, with the assistant's turn opened, as tokens: the template's
 * markers are special tokens, what was written in the messages is text (unless --special). */
static bn_status render(chat *ch) {
    unsigned flags = ch->a->special ? BN_TOKENIZE_PARSE_SPECIAL : 0;
    int32_t n = 0;
    bn_status st =
        bn_chat_tokenize(ch->m, ch->format, ch->msgs, ch->n_msgs, true, flags, NULL, 0, &n);
    if (st != BN_OK && st != BN_ERR_RANGE)
        return st;
    ch->prompt.n = 0;
    for (int32_t i = 0; i < n; i++)
        BN_TRY(bn_tokens_push(&ch->prompt, 0));
    BN_TRY(bn_chat_tokenize(ch->m, ch->format, ch->msgs, ch->n_msgs, true, flags, ch->prompt.ids, n,
                            &n));
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
static bn_status print_prompt(const chat *ch, size_t cached) {
    char *rendered = NULL;
    size_t len = 0;
    BN_TRY(bn_chat_apply(ch->m, ch->format, ch->msgs, ch->n_msgs, true, &rendered, &len));
    cJSON *o = cJSON_CreateObject();
    char *text = malloc(3 * len + 1);
    size_t n = text ? bn_utf8_sanitize((const uint8_t *)rendered, len, (uint8_t *)text) : 0;
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
    bn_free(rendered);
    return BN_OK;
}

/* One exchange: the user's line in; the cache cut back to what the rendered conversation
 * shares with it, the rest evaluated as the generation's prompt; the reply out (and into the
 * conversation). */
static bn_status turn(chat *ch, const char *line, size_t len) {
    BN_TRY(add_message(ch, "user", line, len));
    BN_TRY(render(ch));
    size_t keep = reusable(ch);
    if (keep < ch->cached.n) {
        BN_TRY(bn_context_seq_truncate(ch->c, 0, (int)keep));
        ch->cached.n = keep;
    }
    if (ch->a->print_prompt)
        BN_TRY(print_prompt(ch, keep));
    const int32_t *pending = ch->prompt.ids + keep;
    int n = (int)(ch->prompt.n - keep);
    for (int i = 0; i < n; i++)
        bn_sampler_accept(ch->s, pending[i]);
    bn_bytes reply = {0};
    ch->sampled.n = 0;
    bn_cli_gen g = {.c = ch->c,
                    .s = ch->s,
                    .opt = &ch->a->gen,
                    .out = stdout,
                    .reply = &reply,
                    .sampled = &ch->sampled};
    bn_generate_result r = {0};
    bn_status st = bn_cli_generate(&g, pending, n, &r);
    fputc('\n', stdout);
    fflush(stdout);
    /* The cache now holds the prompt and the reply's tokens but the last (which generation
     * did not evaluate, unless Ctrl-C stopped it after): keep the list in step with it. */
    for (int i = 0; st == BN_OK && i < n; i++)
        st = bn_tokens_push(&ch->cached, pending[i]);
    for (size_t i = 0;
         st == BN_OK && i < ch->sampled.n && ch->cached.n < (size_t)bn_context_seq_len(ch->c, 0);
         i++)
        st = bn_tokens_push(&ch->cached, ch->sampled.ids[i]);
    if (st == BN_OK)
        st = add_message(ch, "assistant", reply.data ? reply.data : "", reply.n);
    bn_bytes_free(&reply);
    if (st == BN_OK && r.reason == BN_STOP_FULL)
        st = BN_ERROR(BN_ERR_RANGE,
                      "the context of %d tokens is full: ending the chat (-c can be up to %d)",
                      bn_context_n_ctx(ch->c), ch->info.n_ctx_train);
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
    BN_TRY(bn_cli_load_model(a->model, a->threads, &a->engine, &ch->m));
    BN_TRY(bn_model_get_info(ch->m, &ch->info));
    ch->format = a->template_name != NULL ? a->template_name : ch->info.chat_format;
    /* an empty conversation checks the format (--template, or that the model has a known one) */
    char *probe = NULL;
    bn_status st = bn_chat_apply(ch->m, a->template_name, NULL, 0, true, &probe, NULL);
    bn_free(probe);
    if (st != BN_OK)
        return BN_ERROR(st, "%s: %s (--template)", a->model, bn_last_error());
    BN_TRY(bn_cli_engine_context(&a->engine, ch->m, a->n_ctx, a->threads, &ch->c));
    /* only ids the tokenizer has (the embeddings may have padding rows past them) */
    BN_TRY(bn_sampler_create(&ch->s, ch->info.n_tokens, &a->gen.params));
    if (a->system != NULL)
        BN_TRY(add_message(ch, "system", a->system, strlen(a->system)));
    fprintf(stderr, "loaded %s in %.2f s: chat template %s, context of %d tokens\n", a->model,
            bn_time_s() - t0, ch->format, bn_context_n_ctx(ch->c));
    return BN_OK;
}

static void finish(chat *ch) {
    for (size_t i = 0; i < ch->n_msgs; i++)
        free((char *)ch->msgs[i].content);
    free(ch->msgs);
    bn_tokens_free(&ch->cached);
    bn_tokens_free(&ch->prompt);
    bn_tokens_free(&ch->sampled);
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
