/*
 * stop.h - user stop strings for generated text.
 *
 * Generation ends at the first stop string to be complete (the one that ends first in the text;
 * of two that end together, the longer), and the stop string is not part of the output. Since text
 * arrives token by token, the end of what has arrived may be the start of a stop string ("Us" of
 * "User:"): that much is held back until the next text decides it. So what a bn_stop releases is
 * always final, and a streaming caller never prints text it must retract.
 *
 * Matching is on bytes, across token boundaries. A held prefix of a stop string starts where
 * the stop string starts, so valid UTF-8 stop strings never split a character of the output.
 */
#ifndef BN_TEXT_STOP_H
#define BN_TEXT_STOP_H

#include "text/tokenizer.h"

#include <stdbool.h>
#include <stddef.h>

typedef struct bn_stop {
    const char *const *strings; /* [n] non-empty, NUL-terminated; not owned */
    size_t n;
    bn_bytes held; /* text not released yet: it ends in the start of a stop string */
    bool hit;      /* a stop string has been seen: nothing more is released */
} bn_stop;

/* n = 0 passes all text through. The strings must outlive s. */
void bn_stop_init(bn_stop *s, const char *const *strings, size_t n);
void bn_stop_free(bn_stop *s);

/* Add text[0..len) and append to out what can no longer belong to a stop string. Once a stop
 * string is complete, out gets the text before it, bn_stop_hit turns true and the rest (and any
 * later text) is dropped. Fails only when memory runs out. */
bn_status bn_stop_push(bn_stop *s, const char *text, size_t len, bn_bytes *out);

/* Generation ended without a stop string: release what is held. */
bn_status bn_stop_flush(bn_stop *s, bn_bytes *out);

bool bn_stop_hit(const bn_stop *s);

#endif /* BN_TEXT_STOP_H */
