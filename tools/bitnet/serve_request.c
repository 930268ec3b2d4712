/*
 * serve_request.c - request bodies to parameters, and error objects (serve_request.h).
 */
#include "serve_request.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static bool fail(bn_serve_parsed *p, const char *param, const char *fmt, const char *detail) {
    snprintf(p->error, sizeof p->error, fmt, detail);
    p->error_param = param;
    p->http_status = 400;
    return false;
}

/* A number field in [lo, hi], or absent (def). */
static bool number(const cJSON *root, const char *name, double lo, double hi, double def,
                   double *out, bn_serve_parsed *p) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, name);
    if (v == NULL || cJSON_IsNull(v)) {
        *out = def;
        return true;
    }
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble))
        return fail(p, name, "'%s' must be a number", name);
    if (v->valuedouble < lo || v->valuedouble > hi) {
        char why[160];
        snprintf(why, sizeof why, "'%s' is %g; it must be in [%g, %g]", name, v->valuedouble, lo,
                 hi);
        return fail(p, name, "%s", why);
    }
    *out = v->valuedouble;
    return true;
}

static bool integer(const cJSON *root, const char *name, double lo, double hi, double def,
                    double *out, bn_serve_parsed *p) {
    if (!number(root, name, lo, hi, def, out, p))
        return false;
    if (*out != floor(*out))
        return fail(p, name, "'%s' must be an integer", name);
    return true;
}

static bool boolean(const cJSON *root, const char *name, bool *out, bn_serve_parsed *p) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, name);
    if (v == NULL || cJSON_IsNull(v))
        return true;
    if (!cJSON_IsBool(v))
        return fail(p, name, "'%s' must be true or false", name);
    *out = cJSON_IsTrue(v);
    return true;
}

/* "stop": a string or an array of at most 4 non-empty strings. */
static bool stops(const cJSON *root, bn_serve_request *r, bn_serve_parsed *p) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, "stop");
    if (v == NULL || cJSON_IsNull(v))
        return true;
    const cJSON *one = cJSON_IsString(v) ? v : NULL;
    if (!one && (!cJSON_IsArray(v) || cJSON_GetArraySize(v) > 4))
        return fail(p, "stop", "'%s' must be a string or an array of up to 4 strings", "stop");
    for (const cJSON *s = one ? one : v->child; s != NULL; s = one ? NULL : s->next) {
        if (!cJSON_IsString(s) || s->valuestring[0] == '\0')
            return fail(p, "stop", "'%s' strings must be non-empty strings", "stop");
        if ((r->stop[r->n_stop] = strdup(s->valuestring)) == NULL)
            return fail(p, "stop", "out of memory reading '%s'", "stop");
        r->n_stop++;
    }
    return true;
}

/* A message's content: a string, or an array of {"type": "text", "text": ...} parts joined. */
static char *content_of(const cJSON *m, bn_serve_parsed *p) {
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(m, "content");
    if (cJSON_IsString(c))
        return strdup(c->valuestring);
    if (!cJSON_IsArray(c)) {
        fail(p, "messages", "each message needs '%s': a string or an array of text parts",
             "content");
        return NULL;
    }
    size_t len = 0;
    char *out = calloc(1, 1);
    for (const cJSON *part = c->child; out != NULL && part != NULL; part = part->next) {
        const cJSON *type = cJSON_GetObjectItemCaseSensitive(part, "type");
        const cJSON *text = cJSON_GetObjectItemCaseSensitive(part, "text");
        if (!cJSON_IsString(type) || strcmp(type->valuestring, "text") != 0 ||
            !cJSON_IsString(text)) {
            free(out);
            fail(p, "messages", "content parts must be {\"type\": \"%s\", \"text\": ...}", "text");
            return NULL;
        }
        size_t n = strlen(text->valuestring);
        char *grown = realloc(out, len + n + 1);
        if (grown == NULL) {
            free(out);
            return NULL;
        }
        out = grown;
        memcpy(out + len, text->valuestring, n + 1);
        len += n;
    }
    return out;
}

static bool chat_prompt(const bn_model *model, const cJSON *root, bn_serve_request *r,
                        bn_serve_parsed *p) {
    const cJSON *msgs = cJSON_GetObjectItemCaseSensitive(root, "messages");
    int n = cJSON_IsArray(msgs) ? cJSON_GetArraySize(msgs) : 0;
    if (n == 0)
        return fail(p, "messages", "'%s' must be a non-empty array of messages", "messages");
    bn_chat_message *m = calloc((size_t)n, sizeof *m);
    char **texts = calloc((size_t)n, sizeof *texts);
    bool ok = m != NULL && texts != NULL;
    int i = 0;
    for (const cJSON *msg = msgs->child; ok && msg != NULL; msg = msg->next, i++) {
        const cJSON *role = cJSON_GetObjectItemCaseSensitive(msg, "role");
        if (!cJSON_IsString(role) ||
            (strcmp(role->valuestring, "system") != 0 && strcmp(role->valuestring, "user") != 0 &&
             strcmp(role->valuestring, "assistant") != 0 &&
             strcmp(role->valuestring, "developer") != 0)) {
            ok = fail(p, "messages", "each message's '%s' must be system, user or assistant",
                      "role");
            break;
        }
        texts[i] = content_of(msg, p);
        ok = texts[i] != NULL;
        m[i].role = strcmp(role->valuestring, "developer") == 0 ? "system" : role->valuestring;
        m[i].content = texts[i];
    }
    if (ok) {
        int32_t need = 0;
        bn_status st = bn_chat_tokenize(model, NULL, m, (size_t)n, true, 0, NULL, 0, &need);
        if (st == BN_ERR_RANGE && need > 0 &&
            (r->prompt = malloc((size_t)need * sizeof *r->prompt)) != NULL)
            st =
                bn_chat_tokenize(model, NULL, m, (size_t)n, true, 0, r->prompt, need, &r->n_prompt);
        if (st != BN_OK)
            ok = fail(p, "messages", "the conversation cannot be rendered: %s", bn_last_error());
    }
    for (int j = 0; texts != NULL && j < n; j++)
        free(texts[j]);
    free(texts);
    free(m);
    return ok;
}

bn_status bn_serve_tokenize(const bn_model *model, const char *text, unsigned flags, int32_t **ids,
                            int32_t *n) {
    *ids = NULL;
    *n = 0;
    int32_t need = 0;
    bn_status st = bn_tokenize(model, text, strlen(text), flags, NULL, 0, &need);
    if (st != BN_ERR_RANGE || need == 0) /* measured: RANGE with the count, unless empty */
        return st;
    if ((*ids = malloc((size_t)need * sizeof **ids)) == NULL)
        return BN_ERR_OUT_OF_MEMORY;
    return bn_tokenize(model, text, strlen(text), flags, *ids, need, n);
}

static bool completion_prompt(const bn_model *model, const cJSON *root, bn_serve_request *r,
                              bn_serve_parsed *p) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, "prompt");
    if (cJSON_IsArray(v) && cJSON_GetArraySize(v) == 1)
        v = v->child;
    if (!cJSON_IsString(v))
        return fail(p, "prompt", "'%s' must be a string (or an array of one)", "prompt");
    bn_status st =
        bn_serve_tokenize(model, v->valuestring, BN_TOKENIZE_ADD_SPECIAL, &r->prompt, &r->n_prompt);
    if (st != BN_OK || r->n_prompt < 1)
        return fail(p, "prompt", "the prompt cannot be tokenized: %s", bn_last_error());
    return true;
}

/* Chat: "logprobs": bool, "top_logprobs": 0..20; completions: "logprobs": 0..5 (the top). */
static bool logprobs(const cJSON *root, bn_serve_kind kind, bn_serve_request *r,
                     bn_serve_parsed *p) {
    const cJSON *lp = cJSON_GetObjectItemCaseSensitive(root, "logprobs");
    double top = 0;
    if (kind == BN_SERVE_CHAT) {
        if (!boolean(root, "logprobs", &r->logprobs, p) ||
            !integer(root, "top_logprobs", 0, 20, 0, &top, p))
            return false;
        if (top > 0 && !r->logprobs)
            return fail(p, "top_logprobs", "'%s' needs \"logprobs\": true", "top_logprobs");
    } else if (lp != NULL && !cJSON_IsNull(lp)) {
        if (!integer(root, "logprobs", 0, 5, 0, &top, p))
            return false;
        r->logprobs = true;
    }
    r->top_logprobs = (int)top;
    return true;
}

static bool refuse_unsupported(const cJSON *root, bn_serve_parsed *p) {
    double n;
    if (!integer(root, "n", 1, 1, 1, &n, p))
        return fail(p, "n", "'%s' must be 1: one choice per request", "n");
    const cJSON *tools = cJSON_GetObjectItemCaseSensitive(root, "tools");
    if (tools != NULL && !cJSON_IsNull(tools))
        return fail(p, "tools", "'%s' are not supported by this server", "tools");
    return true;
}

size_t bn_serve_utf8_char(const char *p, size_t n) {
    const unsigned char *s = (const unsigned char *)p;
    unsigned c = n > 0 ? s[0] : 0x80;
    size_t k = c < 0x80             ? 1
               : (c & 0xE0) == 0xC0 ? 2
               : (c & 0xF0) == 0xE0 ? 3
               : (c & 0xF8) == 0xF0 ? 4
                                    : 0;
    if (k == 0 || k > n)
        return 0;
    unsigned v = k == 1 ? c : c & (0x7Fu >> k);
    for (size_t j = 1; j < k; j++) {
        if ((s[j] & 0xC0) != 0x80)
            return 0;
        v = v << 6 | (s[j] & 0x3F);
    }
    static const unsigned least[5] = {0, 0, 0x80, 0x800, 0x10000};
    if ((k > 1 && v < least[k]) || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF))
        return 0;
    return k;
}

/* JSON text is UTF-8 (RFC 8259), so a body that is not is refused whole. */
static bool valid_utf8(const char *s, size_t n) {
    for (size_t i = 0, k; i < n; i += k)
        if ((k = bn_serve_utf8_char(s + i, n - i)) == 0)
            return false;
    return true;
}

bool bn_serve_parse(const bn_model *model, bn_serve_kind kind, const char *body, size_t len,
                    int n_ctx, bn_serve_request *r, bn_serve_parsed *p) {
    memset(p, 0, sizeof *p);
    if (!valid_utf8(body, len))
        return fail(p, NULL, "the body is not valid UTF-8%s", "");
    cJSON *root = cJSON_ParseWithLength(body, len);
    if (root == NULL || !cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return fail(p, NULL, "the body is not a JSON object%s", "");
    }
    bn_sampler_params *sp = &r->sampling;
    *sp = bn_sampler_default_params();
    sp->top_k = 0; /* OpenAI's sampling: temperature and top_p only */
    sp->min_p = 0.0f;
    sp->repeat_last_n = -1;
    double temperature, top_p, presence, frequency, seed, max_tokens, max_completion;
    const char *max_name = kind == BN_SERVE_CHAT ? "max_completion_tokens" : "max_tokens";
    bool ok = refuse_unsupported(root, p) && logprobs(root, kind, r, p) &&
              number(root, "temperature", 0, 2, 1, &temperature, p) &&
              number(root, "top_p", 1e-9, 1, 1, &top_p, p) &&
              number(root, "presence_penalty", -2, 2, 0, &presence, p) &&
              number(root, "frequency_penalty", -2, 2, 0, &frequency, p) &&
              integer(root, "seed", -9.2e18, 9.2e18, -1, &seed, p) &&
              integer(root, "max_tokens", 0, 1e9, -1, &max_tokens, p) &&
              integer(root, max_name, 0, 1e9, -1, &max_completion, p) &&
              boolean(root, "stream", &p->stream, p) && stops(root, r, p) &&
              (kind == BN_SERVE_CHAT ? chat_prompt(model, root, r, p)
                                     : completion_prompt(model, root, r, p));
    const cJSON *so = cJSON_GetObjectItemCaseSensitive(root, "stream_options");
    if (ok && so != NULL && !cJSON_IsNull(so))
        ok = cJSON_IsObject(so)
                 ? boolean(so, "include_usage", &p->include_usage, p)
                 : fail(p, "stream_options", "'%s' must be an object", "stream_options");
    cJSON_Delete(root);
    if (!ok)
        return false;
    sp->temperature = (float)temperature;
    sp->top_p = (float)top_p;
    sp->presence_penalty = (float)presence;
    sp->frequency_penalty = (float)frequency;
    sp->seed = seed >= 0
                   ? (uint64_t)seed
                   : (uint64_t)time(NULL) ^ ((uint64_t)(uintptr_t)r << 16) ^ 0x9E3779B97F4A7C15u;
    int max = (int)(max_completion >= 0 ? max_completion : max_tokens);
    if (max < 0) /* OpenAI's defaults: 16 for completions; the rest of the context for chat */
        max = kind == BN_SERVE_CHAT ? n_ctx - r->n_prompt : 16;
    if (r->n_prompt + (max > 0 ? max : 1) > n_ctx) {
        char why[200];
        snprintf(why, sizeof why,
                 "this model's context is %d tokens per request; the prompt has %d and %d more "
                 "were asked for",
                 n_ctx, r->n_prompt, max);
        fail(p, max_name, "%s", why);
        return false;
    }
    r->max_tokens = max;
    return true;
}

const char *bn_serve_finish_reason(const bn_serve_request *r) {
    return r->reason == BN_STOP_LIMIT || r->reason == BN_STOP_FULL ? "length" : "stop";
}

char *bn_serve_error_json(const char *message, const char *type, const char *param,
                          const char *code) {
    cJSON *root = cJSON_CreateObject(), *e = cJSON_AddObjectToObject(root, "error");
    cJSON_AddStringToObject(e, "message", message);
    cJSON_AddStringToObject(e, "type", type);
    if (param != NULL)
        cJSON_AddStringToObject(e, "param", param);
    else
        cJSON_AddNullToObject(e, "param");
    if (code != NULL)
        cJSON_AddStringToObject(e, "code", code);
    else
        cJSON_AddNullToObject(e, "code");
    char *out = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    return out;
}
