/*
 * stop.c - stop strings over streamed text (see stop.h).
 */
#include "text/stop.h"

#include <stdint.h>
#include <string.h>

void bn_stop_init(bn_stop *s, const char *const *strings, size_t n) {
    *s = (bn_stop){.strings = strings, .n = n};
}

void bn_stop_free(bn_stop *s) {
    bn_bytes_free(&s->held);
}

bool bn_stop_hit(const bn_stop *s) {
    return s->hit;
}

/* Where the stop string that is complete first starts in h[0..n), or n when none is there. A
 * streaming reader sees the one that ends first; of two that end together, the longer (it starts
 * first). Deciding by the end, not the start, gives the same answer however the text was cut
 * into pushes: "cb" with stop strings "cba" and "b" has stopped at "b" before the "a" comes. */
static size_t first_match(const bn_stop *s, const char *h, size_t n) {
    size_t best = n, best_end = SIZE_MAX;
    for (size_t i = 0; i < s->n; i++) {
        size_t len = strlen(s->strings[i]);
        const char *at = memmem(h, n, s->strings[i], len);
        if (at == NULL)
            continue;
        size_t start = (size_t)(at - h), end = start + len;
        if (end < best_end || (end == best_end && start < best)) {
            best = start;
            best_end = end;
        }
    }
    return best;
}

/* The length of the longest tail of h[0..n) that a stop string starts with (shorter than that
 * stop string, since a whole one would have matched). */
static size_t held_tail(const bn_stop *s, const char *h, size_t n) {
    size_t keep = 0;
    for (size_t i = 0; i < s->n; i++) {
        size_t len = strlen(s->strings[i]);
        for (size_t k = len - 1 < n ? len - 1 : n; k > keep; k--)
            if (memcmp(h + n - k, s->strings[i], k) == 0) {
                keep = k;
                break;
            }
    }
    return keep;
}

bn_status bn_stop_push(bn_stop *s, const char *text, size_t len, bn_bytes *out) {
    if (s->hit || len == 0)
        return BN_OK;
    if (s->n == 0)
        return bn_bytes_append(out, text, len);
    BN_TRY(bn_bytes_append(&s->held, text, len));
    char *h = s->held.data;
    size_t n = s->held.n, at = first_match(s, h, n);
    if (at < n) {
        s->hit = true;
        s->held.n = 0;
        return bn_bytes_append(out, h, at);
    }
    size_t release = n - held_tail(s, h, n);
    BN_TRY(bn_bytes_append(out, h, release));
    memmove(h, h + release, n - release);
    s->held.n = n - release;
    return BN_OK;
}

bn_status bn_stop_flush(bn_stop *s, bn_bytes *out) {
    if (s->hit || s->held.n == 0)
        return BN_OK;
    bn_status st = bn_bytes_append(out, s->held.data, s->held.n);
    s->held.n = 0;
    return st;
}
