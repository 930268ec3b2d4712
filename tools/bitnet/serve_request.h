/*
 * serve_request.h - OpenAI request bodies to generation parameters, and the JSON of the
 * answers, for `bitnet serve` (public API only).
 *
 * Parsing checks every field it reads and names the first bad one; fields it does not know are
 * ignored, as OpenAI's own clients send some (user, stream_options, ...) that change nothing
 * here. Unsupported features that would change the answer (n > 1, tools) are refused by name
 * rather than ignored.
 */
#ifndef BN_SERVE_REQUEST_H
#define BN_SERVE_REQUEST_H

#include "serve_engine.h"

#include <cjson/cJSON.h>
#include <stdbool.h>

typedef enum bn_serve_kind { BN_SERVE_COMPLETION, BN_SERVE_CHAT } bn_serve_kind;

/* What a parse produced beside the request's prompt and parameters. */
typedef struct bn_serve_parsed {
    bool stream;
    bool include_usage; /* stream_options.include_usage */
    char error[256];    /* why parsing failed (400), in words */
    const char *error_param;
    int http_status; /* 400 for bad input; 0 when parsed */
} bn_serve_parsed;

/* body (len bytes) of kind into r's prompt, sampling, max_tokens and stops (n_ctx bounds the
 * prompt plus max_tokens). false with p->error and p->http_status set when it is refused. */
bool bn_serve_parse(const bn_model *model, bn_serve_kind kind, const char *body, size_t len,
                    int n_ctx, bn_serve_request *r, bn_serve_parsed *p);

/* The length (1..4) of the well-formed UTF-8 character at p[0..n) (RFC 3629: no overlongs,
 * surrogates or values past U+10FFFF), or 0 when there is none. */
size_t bn_serve_utf8_char(const char *p, size_t n);

/* The token ids of text (bn_tokenize's flags) in a malloc'd array of *n (NULL when none). */
bn_status bn_serve_tokenize(const bn_model *model, const char *text, unsigned flags, int32_t **ids,
                            int32_t *n);

/* "stop" or "length" for a finished request (a stop string, EOG, the max_tokens limit...). */
const char *bn_serve_finish_reason(const bn_serve_request *r);

/* OpenAI's error object: {"error": {"message", "type", "param", "code"}}, as text (malloc'd). */
char *bn_serve_error_json(const char *message, const char *type, const char *param,
                          const char *code);

#endif /* BN_SERVE_REQUEST_H */
