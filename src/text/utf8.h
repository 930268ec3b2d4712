/*
 * utf8.h - the UTF-8 facts the tokenizer needs: sequence lengths, validation with the
 * replacement policy, and where a byte string stops being a complete sequence.
 */
#ifndef BN_TEXT_UTF8_H
#define BN_TEXT_UTF8_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The length of the well-formed sequence starting at s[0..n), or 0 when it is ill-formed
 * (Unicode Table 3-7: no overlongs, no surrogates, nothing above U+10FFFF). */
size_t bn_utf8_valid_len(const uint8_t *s, size_t n);

/* Length of the maximal subpart of an ill-formed sequence at s (>= 1): the bytes one U+FFFD
 * replaces, as Python's bytes.decode(errors="replace") and the WHATWG decoder count them. */
size_t bn_utf8_bad_len(const uint8_t *s, size_t n);

/* True when all of s[0..n) is well-formed UTF-8. */
bool bn_utf8_is_valid(const uint8_t *s, size_t n);

/* Copy src to dst replacing each maximal ill-formed subpart by U+FFFD (EF BF BD). dst must hold
 * 3 * n bytes; returns the length written. */
size_t bn_utf8_sanitize(const uint8_t *src, size_t n, uint8_t *dst);

/* How many bytes at the end of s[0..n) are the start of a sequence that more bytes could still
 * complete (0..3): what a streaming decoder holds back. */
size_t bn_utf8_incomplete_tail(const uint8_t *s, size_t n);

/* Unicode White_Space (what \s means to Oniguruma, the regex engine of HF tokenizers). */
bool bn_utf8_is_white_space(uint32_t cp);

/* Encode code point cp (< 0x110000, not a surrogate) into out[4]; returns the length. */
size_t bn_utf8_encode(uint32_t cp, uint8_t *out);

/* Decode the well-formed sequence at s (caller checked it); *len receives its length. */
uint32_t bn_utf8_decode(const uint8_t *s, size_t *len);

#endif /* BN_TEXT_UTF8_H */
