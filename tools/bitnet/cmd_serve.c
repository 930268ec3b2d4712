/*
 * cmd_serve.c - `bitnet serve`: an OpenAI-compatible HTTP server over libmicrohttpd.
 *
 *   GET  /                                       a chat page (serve_page.html) that streams
 *   POST /v1/chat/completions, /v1/completions   (stream: server-sent events ending in [DONE])
 *   GET  /v1/models, /health, /metrics           (Prometheus text)
 *   POST /tokenize {"content"} -> {"tokens"},  /detokenize {"tokens"} -> {"content"}
 *
 * One thread per connection (libmicrohttpd's): a request is parsed, queued for the engine
 * (serve_engine.h: every running request advances one token per batched step) and answered
 * from the text the engine writes into it, whole or as a stream. A client that goes away
 * mid-stream cancels its request, which frees its slot at the engine's next step. SIGINT or
 * SIGTERM stop the server: new connections are refused, running requests end with an error
 * (an error event on a stream), and the process exits.
 */
#include "cli.h"
#include "engine_args.h"
#include "serve_engine.h"
#include "serve_request.h"

#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_BODY (1 << 20) /* bytes of a request body */

/* The chat page (serve_page.html, compiled in by CMake). */
extern const unsigned char bn_serve_page[];
extern const unsigned long bn_serve_page_len;

typedef struct server {
    bn_model *model;
    bn_serve_engine *engine;
    const char *api_key;
    char model_name[256];
    int64_t created;
    int n_ctx;
    int in_flight; /* completions being answered (atomic): shutdown lets them finish */
} server;

/* A connection's request body, gathered across libmicrohttpd's calls. */
typedef struct body {
    char *data;
    size_t len;
    bool too_big;
    server *counted; /* a completion: in_flight of this server drops when the request ends */
} body;

/* ---- responses ------------------------------------------------------------------------------- */

static enum MHD_Result send_text(struct MHD_Connection *c, unsigned status, const char *type,
                                 char *text) {
    if (text == NULL)
        return MHD_NO;
    struct MHD_Response *r =
        MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
    MHD_add_response_header(r, "Content-Type", type);
    if (status == 503)
        MHD_add_response_header(r, "Retry-After", "1");
    enum MHD_Result ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result send_json(struct MHD_Connection *c, unsigned status, cJSON *json) {
    char *text = cJSON_PrintUnformatted(json);
    cJSON_Delete(json);
    return send_text(c, status, "application/json", text);
}

static enum MHD_Result send_error(struct MHD_Connection *c, unsigned status, const char *message,
                                  const char *param) {
    const char *type = status == 401   ? "authentication_error"
                       : status == 404 ? "not_found_error"
                       : status == 503 ? "server_busy"
                       : status >= 500 ? "server_error"
                                       : "invalid_request_error";
    const char *code = status == 400 && param != NULL && strstr(message, "context") != NULL
                           ? "context_length_exceeded"
                           : NULL;
    return send_text(c, status, "application/json",
                     bn_serve_error_json(message, type, param, code));
}

/* ---- completions ----------------------------------------------------------------------------- */

static void id_of(char *id, size_t size, bn_serve_kind kind) {
    static unsigned counter;
    snprintf(id, size, "%s-%lx%04x", kind == BN_SERVE_CHAT ? "chatcmpl" : "cmpl",
             (unsigned long)time(NULL), __atomic_add_fetch(&counter, 1, __ATOMIC_RELAXED) & 0xffff);
}

static cJSON *usage_of(const bn_serve_request *r) {
    cJSON *u = cJSON_CreateObject();
    cJSON_AddNumberToObject(u, "prompt_tokens", r->n_prompt);
    cJSON_AddNumberToObject(u, "completion_tokens", r->n_generated);
    cJSON_AddNumberToObject(u, "total_tokens", r->n_prompt + r->n_generated);
    return u;
}

/* The answer's frame: id, object, created, model, one choice (returned). */
static cJSON *answer(const server *s, bn_serve_kind kind, const char *id, bool chunk,
                     cJSON **choice) {
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "id", id);
    cJSON_AddStringToObject(root, "object",
                            kind == BN_SERVE_CHAT
                                ? (chunk ? "chat.completion.chunk" : "chat.completion")
                                : "text_completion");
    cJSON_AddNumberToObject(root, "created", (double)time(NULL));
    cJSON_AddStringToObject(root, "model", s->model_name);
    cJSON *choices = cJSON_AddArrayToObject(root, "choices");
    *choice = cJSON_CreateObject();
    cJSON_AddNumberToObject(*choice, "index", 0);
    cJSON_AddItemToArray(choices, *choice);
    return root;
}

/* Text for JSON (which is UTF-8): p[0..len) with every byte that does not begin a whole, valid
 * character replaced by U+FFFD, as OpenAI's API shows them. Generated text can hold such bytes:
 * byte-level tokens may make sequences that no character completes. NULL when out of memory. */
static char *json_text(const char *p, size_t len) {
    char *out = malloc(3 * len + 1);
    size_t o = 0;
    for (size_t i = 0, k; out != NULL && i < len; i += k) {
        if ((k = bn_serve_utf8_char(p + i, len - i)) > 0) {
            memcpy(out + o, p + i, k);
            o += k;
        } else {
            memcpy(out + o, "\xEF\xBF\xBD", 3);
            o += 3;
            k = 1;
        }
    }
    if (out != NULL)
        out[o] = '\0';
    return out;
}

/* A token's text for JSON (json_text), and its raw bytes as a JSON array when bytes is not
 * NULL (what OpenAI's "bytes" fields keep). */
static char *token_text(const bn_model *m, int32_t id, cJSON **bytes) {
    size_t len = 0;
    const char *p = bn_token_piece(m, id, &len);
    if (bytes != NULL) {
        *bytes = cJSON_CreateArray();
        for (size_t i = 0; p != NULL && i < len; i++)
            cJSON_AddItemToArray(*bytes, cJSON_CreateNumber((unsigned char)p[i]));
    }
    return json_text(p != NULL ? p : "", p != NULL ? len : 0);
}

/* OpenAI's logprobs object of a choice, for entries[0..n): chat's {"content": [...]} or the
 * completions' {"tokens", "token_logprobs", "top_logprobs", "text_offset"}. */
static cJSON *logprobs_json(const server *s, bn_serve_kind kind, const bn_serve_logprob *lp, int n,
                            size_t *offset) {
    cJSON *root = cJSON_CreateObject();
    if (kind == BN_SERVE_CHAT) {
        cJSON *content = cJSON_AddArrayToObject(root, "content");
        for (int i = 0; i < n; i++) {
            cJSON *e = cJSON_CreateObject(), *bytes, *tops;
            char *t = token_text(s->model, lp[i].token, &bytes);
            cJSON_AddStringToObject(e, "token", t ? t : "");
            cJSON_AddNumberToObject(e, "logprob", lp[i].logprob);
            cJSON_AddItemToObject(e, "bytes", bytes);
            free(t);
            tops = cJSON_AddArrayToObject(e, "top_logprobs");
            for (int j = 0; j < lp[i].n_top; j++) {
                cJSON *o = cJSON_CreateObject(), *b;
                char *tt = token_text(s->model, lp[i].top_id[j], &b);
                cJSON_AddStringToObject(o, "token", tt ? tt : "");
                cJSON_AddNumberToObject(o, "logprob", lp[i].top_lp[j]);
                cJSON_AddItemToObject(o, "bytes", b);
                free(tt);
                cJSON_AddItemToArray(tops, o);
            }
            cJSON_AddItemToArray(content, e);
        }
        return root;
    }
    cJSON *tokens = cJSON_AddArrayToObject(root, "tokens");
    cJSON *values = cJSON_AddArrayToObject(root, "token_logprobs");
    cJSON *tops = cJSON_AddArrayToObject(root, "top_logprobs");
    cJSON *offsets = cJSON_AddArrayToObject(root, "text_offset");
    for (int i = 0; i < n; i++) {
        char *t = token_text(s->model, lp[i].token, NULL);
        cJSON_AddItemToArray(tokens, cJSON_CreateString(t ? t : ""));
        cJSON_AddItemToArray(values, cJSON_CreateNumber(lp[i].logprob));
        cJSON_AddItemToArray(offsets, cJSON_CreateNumber((double)*offset));
        size_t len = 0;
        bn_token_piece(s->model, lp[i].token, &len);
        *offset += len;
        free(t);
        cJSON *o = cJSON_CreateObject();
        for (int j = 0; j < lp[i].n_top; j++) {
            char *tt = token_text(s->model, lp[i].top_id[j], NULL);
            if (tt != NULL && cJSON_GetObjectItemCaseSensitive(o, tt) == NULL)
                cJSON_AddNumberToObject(o, tt, lp[i].top_lp[j]);
            free(tt);
        }
        cJSON_AddItemToArray(tops, o);
    }
    return root;
}

/* The text of a choice: message / delta for chat, text for completions. */
static void put_text(cJSON *choice, bn_serve_kind kind, bool chunk, const char *text, bool role) {
    if (kind == BN_SERVE_COMPLETION) {
        cJSON_AddStringToObject(choice, "text", text);
        cJSON_AddNullToObject(choice, "logprobs");
        return;
    }
    cJSON *m = cJSON_AddObjectToObject(choice, chunk ? "delta" : "message");
    if (role || !chunk)
        cJSON_AddStringToObject(m, "role", "assistant");
    if (text != NULL)
        cJSON_AddStringToObject(m, "content", text);
}

static enum MHD_Result whole_answer(struct MHD_Connection *c, server *s, bn_serve_kind kind,
                                    bn_serve_request *r) {
    char *all = NULL;
    size_t len = 0;
    for (bool done = false; !done;) {
        char *piece;
        size_t n;
        done = bn_serve_wait(s->engine, r, &piece, &n);
        if (n > 0) {
            char *grown = realloc(all, len + n + 1);
            if (grown == NULL) {
                free(piece);
                break;
            }
            all = grown;
            memcpy(all + len, piece, n + 1);
            len += n;
        }
        free(piece);
    }
    if (r->status != BN_OK) {
        free(all);
        return send_error(c, 503, r->error, NULL);
    }
    char id[64];
    id_of(id, sizeof id, kind);
    cJSON *choice;
    cJSON *root = answer(s, kind, id, false, &choice);
    char *clean = json_text(all != NULL ? all : "", len);
    put_text(choice, kind, false, clean != NULL ? clean : "", false);
    free(clean);
    if (r->logprobs) {
        int n = 0;
        size_t offset = 0;
        bn_serve_logprob *lp = bn_serve_take_logprobs(s->engine, r, &n);
        cJSON_DeleteItemFromObject(choice, "logprobs");
        cJSON_AddItemToObject(choice, "logprobs", logprobs_json(s, kind, lp, n, &offset));
        free(lp);
    }
    cJSON_AddStringToObject(choice, "finish_reason", bn_serve_finish_reason(r));
    cJSON_AddItemToObject(root, "usage", usage_of(r));
    free(all);
    return send_json(c, 200, root);
}

/* A stream's state, read by libmicrohttpd through stream_read until the end. */
typedef struct stream {
    server *s;
    bn_serve_request *r;
    bn_serve_kind kind;
    bool include_usage;
    char id[64];
    char *pending; /* SSE bytes not yet handed to libmicrohttpd */
    size_t len, at;
    size_t text_offset; /* completions' logprobs: bytes of the tokens so far */
    bool sent_role, finished;
} stream;

/* One server-sent event, "data: PAYLOAD" and a blank line, after what is pending. */
static void sse_data(stream *st, const char *payload) {
    if (payload == NULL)
        return;
    size_t need = st->len + strlen(payload) + 16; /* "data: " ... "\n\n" and the NUL */
    char *grown = realloc(st->pending, need);
    if (grown != NULL) {
        st->pending = grown;
        st->len += (size_t)sprintf(st->pending + st->len, "data: %s\n\n", payload);
    }
}

static void sse(stream *st, cJSON *json) {
    char *text = cJSON_PrintUnformatted(json);
    cJSON_Delete(json);
    sse_data(st, text);
    free(text);
}

/* The next events: wait for text, make its chunk; at the end the finish chunk, usage, [DONE]. */
static void stream_fill(stream *st) {
    char *text;
    size_t n;
    bool done = bn_serve_wait(st->s->engine, st->r, &text, &n);
    int n_lp = 0;
    bn_serve_logprob *lp =
        st->r->logprobs ? bn_serve_take_logprobs(st->s->engine, st->r, &n_lp) : NULL;
    cJSON *choice;
    if (n > 0 || n_lp > 0 || (!st->sent_role && st->kind == BN_SERVE_CHAT)) {
        cJSON *root = answer(st->s, st->kind, st->id, true, &choice);
        char *clean = json_text(text != NULL ? text : "", n);
        put_text(choice, st->kind, true, clean != NULL ? clean : "", !st->sent_role);
        free(clean);
        if (n_lp > 0) {
            cJSON_DeleteItemFromObject(choice, "logprobs");
            cJSON_AddItemToObject(choice, "logprobs",
                                  logprobs_json(st->s, st->kind, lp, n_lp, &st->text_offset));
        }
        cJSON_AddNullToObject(choice, "finish_reason");
        sse(st, root);
        st->sent_role = true;
    }
    free(lp);
    free(text);
    if (!done)
        return;
    if (st->r->status != BN_OK) { /* an error event, as OpenAI's streams carry them */
        char *e = bn_serve_error_json(st->r->error, "server_error", NULL, NULL);
        sse_data(st, e);
        free(e);
    } else {
        cJSON *root = answer(st->s, st->kind, st->id, true, &choice);
        put_text(choice, st->kind, true, st->kind == BN_SERVE_CHAT ? NULL : "", false);
        cJSON_AddStringToObject(choice, "finish_reason", bn_serve_finish_reason(st->r));
        cJSON_AddItemToObject(root, "usage", usage_of(st->r));
        sse(st, root);
        if (st->include_usage) {
            cJSON *u = answer(st->s, st->kind, st->id, true, &choice);
            cJSON_DeleteItemFromObject(u, "choices");
            cJSON_AddArrayToObject(u, "choices");
            cJSON_AddItemToObject(u, "usage", usage_of(st->r));
            sse(st, u);
        }
    }
    sse_data(st, "[DONE]");
    st->finished = true;
}

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max) {
    (void)pos;
    stream *st = cls;
    while (st->at == st->len) {
        if (st->finished)
            return MHD_CONTENT_READER_END_OF_STREAM;
        st->at = st->len = 0;
        stream_fill(st);
    }
    size_t n = st->len - st->at < max ? st->len - st->at : max;
    memcpy(buf, st->pending + st->at, n);
    st->at += n;
    return (ssize_t)n;
}

/* The connection is over, finished or not: a client gone mid-stream frees its slot. */
static void stream_free(void *cls) {
    stream *st = cls;
    if (!st->r->done)
        bn_serve_cancel(st->s->engine, st->r);
    bn_serve_release(st->s->engine, st->r);
    free(st->pending);
    free(st);
}

static enum MHD_Result answer_completion(struct MHD_Connection *c, server *s, bn_serve_kind kind,
                                         const body *b) {
    bn_serve_request *r = bn_serve_request_new();
    if (r == NULL)
        return send_error(c, 500, "out of memory", NULL);
    bn_serve_parsed p;
    if (!bn_serve_parse(s->model, kind, b->data ? b->data : "", b->len, s->n_ctx, r, &p)) {
        bn_serve_release(s->engine, r);
        return send_error(c, (unsigned)p.http_status, p.error, p.error_param);
    }
    bn_status queued = bn_serve_submit(s->engine, r);
    if (queued != BN_OK) {
        bn_serve_release(s->engine, r);
        return send_error(c, 503,
                          queued == BN_ERR_RANGE
                              ? "every slot is busy and the queue is full: retry later"
                              : "the server is shutting down",
                          NULL);
    }
    if (!p.stream) {
        enum MHD_Result ret = whole_answer(c, s, kind, r);
        bn_serve_release(s->engine, r);
        return ret;
    }
    stream *st = calloc(1, sizeof *st);
    if (st == NULL) {
        bn_serve_cancel(s->engine, r);
        bn_serve_release(s->engine, r);
        return send_error(c, 500, "out of memory", NULL);
    }
    *st = (stream){.s = s, .r = r, .kind = kind, .include_usage = p.include_usage};
    id_of(st->id, sizeof st->id, kind);
    struct MHD_Response *resp =
        MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, stream_read, st, stream_free);
    MHD_add_response_header(resp, "Content-Type", "text/event-stream");
    MHD_add_response_header(resp, "Cache-Control", "no-cache");
    enum MHD_Result ret = MHD_queue_response(c, 200, resp);
    MHD_destroy_response(resp);
    return ret;
}

/* Counted until libmicrohttpd says the request is over (on_completed), so a shutdown can wait
 * for answers and streams to be out. */
static enum MHD_Result completions(struct MHD_Connection *c, server *s, bn_serve_kind kind,
                                   body *b) {
    __atomic_add_fetch(&s->in_flight, 1, __ATOMIC_SEQ_CST);
    b->counted = s;
    return answer_completion(c, s, kind, b);
}

/* ---- the other endpoints --------------------------------------------------------------------- */

static enum MHD_Result models(struct MHD_Connection *c, server *s) {
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "object", "list");
    cJSON *data = cJSON_AddArrayToObject(root, "data"), *m = cJSON_CreateObject();
    cJSON_AddStringToObject(m, "id", s->model_name);
    cJSON_AddStringToObject(m, "object", "model");
    cJSON_AddNumberToObject(m, "created", (double)s->created);
    cJSON_AddStringToObject(m, "owned_by", "bitnet-c");
    cJSON_AddItemToArray(data, m);
    return send_json(c, 200, root);
}

static enum MHD_Result tokenize(struct MHD_Connection *c, server *s, const body *b) {
    cJSON *in = cJSON_ParseWithLength(b->data ? b->data : "", b->len);
    const cJSON *content = cJSON_GetObjectItemCaseSensitive(in, "content");
    if (!cJSON_IsString(content)) {
        cJSON_Delete(in);
        return send_error(c, 400, "'content' must be a string", "content");
    }
    const cJSON *special = cJSON_GetObjectItemCaseSensitive(in, "add_special");
    unsigned flags = cJSON_IsTrue(special) ? BN_TOKENIZE_ADD_SPECIAL : 0;
    int32_t got = 0, *ids = NULL;
    bn_status st = bn_serve_tokenize(s->model, content->valuestring, flags, &ids, &got);
    cJSON_Delete(in);
    if (st != BN_OK) {
        free(ids);
        return send_error(c, 400, bn_last_error(), "content");
    }
    cJSON *root = cJSON_CreateObject(), *arr = cJSON_AddArrayToObject(root, "tokens");
    for (int i = 0; i < got; i++)
        cJSON_AddItemToArray(arr, cJSON_CreateNumber(ids[i]));
    free(ids);
    return send_json(c, 200, root);
}

static enum MHD_Result detokenize(struct MHD_Connection *c, server *s, const body *b) {
    cJSON *in = cJSON_ParseWithLength(b->data ? b->data : "", b->len);
    const cJSON *tokens = cJSON_GetObjectItemCaseSensitive(in, "tokens");
    int n = cJSON_IsArray(tokens) ? cJSON_GetArraySize(tokens) : -1;
    int32_t *ids = n > 0 ? malloc((size_t)n * sizeof *ids) : NULL;
    int i = 0;
    for (const cJSON *t = n > 0 ? tokens->child : NULL; ids != NULL && t != NULL; t = t->next)
        if (cJSON_IsNumber(t) && t->valuedouble >= 0 && t->valuedouble < 2147483647.0 &&
            t->valuedouble == (double)(int32_t)t->valuedouble)
            ids[i++] = (int32_t)t->valuedouble;
        else
            n = -1;
    cJSON_Delete(in);
    if (n < 0 || (n > 0 && ids == NULL)) {
        free(ids);
        return send_error(c, 400, "'tokens' must be an array of token ids", "tokens");
    }
    size_t need = 0;
    char *text = NULL;
    bn_status st = bn_detokenize(s->model, ids, n, 0, NULL, 0, &need);
    if ((st == BN_OK || st == BN_ERR_RANGE) && (text = malloc(need + 1)) != NULL)
        st = bn_detokenize(s->model, ids, n, 0, text, need + 1, &need);
    free(ids);
    if (st != BN_OK || text == NULL) {
        free(text);
        return send_error(c, 400, bn_last_error(), "tokens");
    }
    cJSON *root = cJSON_CreateObject();
    cJSON_AddItemToObject(root, "content", cJSON_CreateString(text));
    free(text);
    return send_json(c, 200, root);
}

static enum MHD_Result metrics(struct MHD_Connection *c, server *s) {
    bn_serve_stats st;
    bn_serve_stats_get(s->engine, &st);
    char *text = malloc(2048);
    if (text == NULL)
        return MHD_NO;
    snprintf(text, 2048,
             "# HELP bitnet_requests_total Completion requests accepted.\n"
             "# TYPE bitnet_requests_total counter\nbitnet_requests_total %lld\n"
             "# HELP bitnet_request_errors_total Requests that ended with an error.\n"
             "# TYPE bitnet_request_errors_total counter\nbitnet_request_errors_total %lld\n"
             "# HELP bitnet_prompt_tokens_total Prompt tokens evaluated.\n"
             "# TYPE bitnet_prompt_tokens_total counter\nbitnet_prompt_tokens_total %lld\n"
             "# HELP bitnet_generated_tokens_total Tokens generated.\n"
             "# TYPE bitnet_generated_tokens_total counter\nbitnet_generated_tokens_total %lld\n"
             "# HELP bitnet_queue_depth Requests waiting for a slot.\n"
             "# TYPE bitnet_queue_depth gauge\nbitnet_queue_depth %d\n"
             "# HELP bitnet_slots_active Slots generating.\n"
             "# TYPE bitnet_slots_active gauge\nbitnet_slots_active %d\n"
             "# HELP bitnet_slots Slots (--parallel).\n# TYPE bitnet_slots gauge\nbitnet_slots %d\n"
             "# HELP bitnet_tokens_per_second Generated tokens per second of batched steps.\n"
             "# TYPE bitnet_tokens_per_second gauge\nbitnet_tokens_per_second %.3f\n"
             "# HELP bitnet_time_to_first_token_seconds Mean time from submit to first text.\n"
             "# TYPE bitnet_time_to_first_token_seconds gauge\n"
             "bitnet_time_to_first_token_seconds %.6f\n",
             (long long)st.requests, (long long)st.errors, (long long)st.prompt_tokens,
             (long long)st.generated_tokens, st.waiting, st.active, st.slots,
             st.busy_seconds > 0 ? (double)st.generated_tokens / st.busy_seconds : 0.0,
             st.ttft_count > 0 ? st.ttft_sum / (double)st.ttft_count : 0.0);
    return send_text(c, 200, "text/plain; version=0.0.4", text);
}

/* ---- routing --------------------------------------------------------------------------------- */

static bool authorized(struct MHD_Connection *c, const server *s) {
    if (s->api_key == NULL)
        return true;
    const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
    return h != NULL && strncmp(h, "Bearer ", 7) == 0 && strcmp(h + 7, s->api_key) == 0;
}

static enum MHD_Result route(struct MHD_Connection *c, server *s, const char *url,
                             const char *method, body *b) {
    bool get = strcmp(method, "GET") == 0, post = strcmp(method, "POST") == 0;
    if (get && (strcmp(url, "/") == 0 || strcmp(url, "/index.html") == 0)) {
        /* the page itself is public; what it asks for needs the key */
        struct MHD_Response *r = MHD_create_response_from_buffer(
            bn_serve_page_len, (void *)bn_serve_page, MHD_RESPMEM_PERSISTENT);
        MHD_add_response_header(r, "Content-Type", "text/html; charset=utf-8");
        MHD_add_response_header(r, "Content-Security-Policy",
                                "default-src 'self'; script-src 'unsafe-inline'; "
                                "style-src 'unsafe-inline'");
        enum MHD_Result ret = MHD_queue_response(c, 200, r);
        MHD_destroy_response(r);
        return ret;
    }
    if (get && strcmp(url, "/health") == 0) {
        cJSON *root = cJSON_CreateObject();
        cJSON_AddStringToObject(root, "status", "ok");
        return send_json(c, 200, root);
    }
    if (!authorized(c, s))
        return send_error(c, 401, "a valid API key is needed: Authorization: Bearer KEY", NULL);
    if (b->too_big)
        return send_text(c, 413, "application/json",
                         bn_serve_error_json("the request body is larger than 1 MiB",
                                             "invalid_request_error", NULL, NULL));
    if (get && strcmp(url, "/v1/models") == 0)
        return models(c, s);
    if (get && strcmp(url, "/metrics") == 0)
        return metrics(c, s);
    if (post && strcmp(url, "/v1/chat/completions") == 0)
        return completions(c, s, BN_SERVE_CHAT, b);
    if (post && strcmp(url, "/v1/completions") == 0)
        return completions(c, s, BN_SERVE_COMPLETION, b);
    if (post && strcmp(url, "/tokenize") == 0)
        return tokenize(c, s, b);
    if (post && strcmp(url, "/detokenize") == 0)
        return detokenize(c, s, b);
    char why[300];
    snprintf(why, sizeof why, "no %s %.200s here", method, url);
    return send_error(c, 404, why, NULL);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_size, void **state) {
    (void)version;
    if (*state == NULL) { /* the headers: make room for the body */
        body *b = calloc(1, sizeof *b);
        if (b == NULL)
            return MHD_NO;
        *state = b;
        return MHD_YES;
    }
    body *b = *state;
    if (*upload_size > 0) { /* a piece of the body */
        if (!b->too_big && b->len + *upload_size <= MAX_BODY) {
            char *grown = realloc(b->data, b->len + *upload_size + 1);
            if (grown == NULL)
                return MHD_NO;
            b->data = grown;
            memcpy(b->data + b->len, upload_data, *upload_size);
            b->len += *upload_size;
            b->data[b->len] = '\0';
        } else {
            b->too_big = true;
        }
        *upload_size = 0;
        return MHD_YES;
    }
    return route(c, cls, url, method, b);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **state,
                         enum MHD_RequestTerminationCode why) {
    (void)cls, (void)c, (void)why;
    body *b = *state;
    if (b != NULL) {
        if (b->counted != NULL)
            __atomic_sub_fetch(&b->counted->in_flight, 1, __ATOMIC_SEQ_CST);
        free(b->data);
        free(b);
        *state = NULL;
    }
}

/* ---- the command ----------------------------------------------------------------------------- */

static int usage(void) {
    printf("usage: bitnet serve [-m MODEL] [--host ADDR] [--port N] [--parallel N] [-c CTX]\n"
           "                    [--api-key KEY] [-t THREADS] [engine options]\n\n"
           "An OpenAI-compatible HTTP server: POST /v1/chat/completions and /v1/completions\n"
           "(stream or not), GET /v1/models, /health, /metrics, POST /tokenize, /detokenize,\n"
           "and GET / a chat page. --parallel N (default 4) sequences are generated together,\n"
           "one batched forward pass a step; up to 16 N more requests queue, then 503.\n"
           "-c: positions per sequence (default: the model's, at most 4096). --host defaults\n"
           "to 127.0.0.1, --port to 8080; --api-key makes every endpoint but / and /health\n"
           "ask for Authorization: Bearer KEY. Default model: the shipped one. More than two\n"
           "slots run the 2-bit weight layout unless --weight-layout says otherwise (batched\n"
           "steps are compute-bound). Stop with SIGINT or SIGTERM.\n\n%s",
           BN_CLI_ENGINE_HELP);
    return 0;
}

int bn_cmd_serve(int argc, char **argv) {
    const char *model_path = NULL, *host = "127.0.0.1", *api_key = NULL;
    int port = 8080, parallel = 4, n_ctx = 0, threads = 0;
    bn_cli_engine engine = bn_cli_engine_defaults(false);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool has = i + 1 < argc;
        if (bn_cli_is_help(a))
            return usage();
        if ((strcmp(a, "-m") == 0 || strcmp(a, "--model") == 0) && has) {
            model_path = argv[++i];
        } else if (strcmp(a, "--host") == 0 && has) {
            host = argv[++i];
        } else if (strcmp(a, "--api-key") == 0 && has) {
            api_key = argv[++i];
        } else if (strcmp(a, "--port") == 0 && has) {
            if (!bn_cli_parse_int(argv[++i], 1, 65535, &port))
                return bn_cli_usage_error("serve", "--port %s: want 1..65535", argv[i]);
        } else if (strcmp(a, "--parallel") == 0 && has) {
            if (!bn_cli_parse_int(argv[++i], 1, 256, &parallel))
                return bn_cli_usage_error("serve", "--parallel %s: want 1..256", argv[i]);
        } else if ((strcmp(a, "-c") == 0 || strcmp(a, "--ctx-size") == 0) && has) {
            if (!bn_cli_parse_int(argv[++i], 16, 1 << 20, &n_ctx))
                return bn_cli_usage_error("serve", "-c %s: want 16..1048576", argv[i]);
        } else {
            bn_cli_opt t = bn_cli_threads_option("serve", argc, argv, &i, &threads);
            if (t == BN_CLI_NOT_MINE)
                t = bn_cli_engine_option("serve", argc, argv, &i, &engine);
            if (t == BN_CLI_BAD)
                return 2;
            if (t == BN_CLI_NOT_MINE)
                return bn_cli_usage_error("serve", "unknown option '%s'", a);
        }
    }
    /* Batched steps of several sequences are bound by the int8 multiply-adds, not by the bytes
     * read, and the 2-bit layout's tiles do more of those per cycle than the 1.6-bit layout's
     * panels (2B-4T, 8 slots on 2 Zen 5 cores: 115 against 98 tokens/s; bench/RESULTS.md), so
     * unless asked otherwise a server of more than two slots runs i2. */
    if (engine.weight_layout == NULL && parallel > 2)
        engine.weight_layout = "i2";
    char tried[1024];
    if (model_path == NULL && (model_path = bn_cli_default_model(tried, sizeof tried)) == NULL) {
        fprintf(stderr, "bitnet serve: no -m and no default model (tried %s)\n", tried);
        return 2;
    }
    /* SIGINT and SIGTERM are taken by sigwait below; blocked before any thread starts, so none
     * of the server's threads is interrupted by them. */
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGINT);
    sigaddset(&stop_signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop_signals, NULL);
    signal(SIGPIPE, SIG_IGN); /* a client gone mid-write is an error on that socket only */

    server s = {.api_key = api_key, .created = (int64_t)time(NULL)};
    bn_status st = bn_cli_load_model(model_path, threads, &engine, &s.model);
    if (st != BN_OK)
        return bn_cli_fail(st);
    bn_model_info info;
    bn_model_get_info(s.model, &info);
    snprintf(s.model_name, sizeof s.model_name, "%s", info.name);
    st = bn_serve_engine_start(&s.engine, s.model, parallel, n_ctx, threads, 16 * parallel);
    if (st != BN_OK) {
        bn_model_free(s.model);
        return bn_cli_fail(st);
    }
    s.n_ctx = bn_serve_n_ctx(s.engine);
    struct sockaddr_in addr;
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, host, &addr.sin_addr) != 1) {
        bn_serve_engine_stop(s.engine);
        bn_serve_engine_free(s.engine);
        bn_model_free(s.model);
        return bn_cli_usage_error("serve", "--host %s: want an IPv4 address", host);
    }
    struct MHD_Daemon *d = MHD_start_daemon(
        MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG,
        (uint16_t)port, NULL, NULL, on_request, &s, MHD_OPTION_SOCK_ADDR, &addr,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL, MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned)60, MHD_OPTION_CONNECTION_LIMIT, (unsigned)256, MHD_OPTION_END);
    if (d == NULL) {
        fprintf(stderr, "bitnet serve: error: cannot listen on %s:%d\n", host, port);
        bn_serve_engine_stop(s.engine);
        bn_serve_engine_free(s.engine);
        bn_model_free(s.model);
        return 1;
    }
    fprintf(stderr, "bitnet serve: %s on http://%s:%d (%d slots of %d positions)\n", s.model_name,
            host, port, parallel, s.n_ctx);
    int sig = 0;
    sigwait(&stop_signals, &sig);
    fprintf(stderr, "bitnet serve: %s: stopping\n", sig == SIGTERM ? "SIGTERM" : "SIGINT");
    MHD_quiesce_daemon(d);          /* no new connections */
    bn_serve_engine_stop(s.engine); /* running requests end with an error event */
    /* let the answers go out (a few seconds at most: a client that stopped reading keeps its
     * connection no longer than that), then close everything */
    for (int i = 0; i < 100 && __atomic_load_n(&s.in_flight, __ATOMIC_SEQ_CST) > 0; i++)
        nanosleep(&(struct timespec){0, 50 * 1000 * 1000}, NULL);
    MHD_stop_daemon(d);
    bn_serve_engine_free(s.engine);
    bn_model_free(s.model);
    return 0;
}
