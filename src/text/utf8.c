/*
 * utf8.c - UTF-8 by Unicode Table 3-7 (well-formed byte sequences).
 */
#include "text/utf8.h"

/* The allowed range of the second byte depends on the first (this is what rules out overlongs,
 * surrogates and code points above U+10FFFF); later bytes are always 80..BF. */
static int expected_len(uint8_t b0, uint8_t *lo, uint8_t *hi) {
    *lo = 0x80;
    *hi = 0xBF;
    if (b0 < 0x80)
        return 1;
    if (b0 >= 0xC2 && b0 <= 0xDF)
        return 2;
    if (b0 >= 0xE0 && b0 <= 0xEF) {
        if (b0 == 0xE0)
            *lo = 0xA0;
        if (b0 == 0xED)
            *hi = 0x9F;
        return 3;
    }
    if (b0 >= 0xF0 && b0 <= 0xF4) {
        if (b0 == 0xF0)
            *lo = 0x90;
        if (b0 == 0xF4)
            *hi = 0x8F;
        return 4;
    }
    return 0; /* 80..C1, F5..FF never start a sequence */
}

/* Number of leading bytes of s that agree with a well-formed sequence (its maximal prefix). */
static size_t good_prefix(const uint8_t *s, size_t n, int *want) {
    uint8_t lo, hi;
    *want = expected_len(s[0], &lo, &hi);
    if (*want == 0)
        return 0;
    size_t k = 1;
    while (k < (size_t)*want && k < n) {
        uint8_t b = s[k];
        if (b < (k == 1 ? lo : 0x80) || b > (k == 1 ? hi : 0xBF))
            break;
        k++;
    }
    return k;
}

size_t bn_utf8_valid_len(const uint8_t *s, size_t n) {
    if (n == 0)
        return 0;
    int want;
    size_t k = good_prefix(s, n, &want);
    return want > 0 && k == (size_t)want ? k : 0;
}

size_t bn_utf8_bad_len(const uint8_t *s, size_t n) {
    int want;
    size_t k = good_prefix(s, n, &want);
    return k == 0 ? 1 : k;
}

bool bn_utf8_is_valid(const uint8_t *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        if (s[i] < 0x80) {
            i++;
            continue;
        }
        size_t k = bn_utf8_valid_len(s + i, n - i);
        if (k == 0)
            return false;
        i += k;
    }
    return true;
}

size_t bn_utf8_sanitize(const uint8_t *src, size_t n, uint8_t *dst) {
    size_t i = 0, o = 0;
    while (i < n) {
        size_t k = src[i] < 0x80 ? 1 : bn_utf8_valid_len(src + i, n - i);
        if (k > 0) {
            for (size_t j = 0; j < k; j++)
                dst[o++] = src[i + j];
            i += k;
        } else {
            dst[o++] = 0xEF;
            dst[o++] = 0xBF;
            dst[o++] = 0xBD;
            i += bn_utf8_bad_len(src + i, n - i);
        }
    }
    return o;
}

size_t bn_utf8_incomplete_tail(const uint8_t *s, size_t n) {
    for (size_t back = 1; back <= 3 && back <= n; back++) {
        const uint8_t *p = s + n - back;
        if ((*p & 0xC0) == 0x80)
            continue; /* a continuation byte: look further back for the lead */
        int want;
        size_t k = good_prefix(p, back, &want);
        return want > (int)back && k == back ? back : 0;
    }
    return 0;
}

bool bn_utf8_is_white_space(uint32_t c) {
    return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680 ||
           (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F ||
           c == 0x205F || c == 0x3000;
}

size_t bn_utf8_encode(uint32_t cp, uint8_t *out) {
    if (cp < 0x80) {
        out[0] = (uint8_t)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (uint8_t)(0xC0 | (cp >> 6));
        out[1] = (uint8_t)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (uint8_t)(0xE0 | (cp >> 12));
        out[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (uint8_t)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (uint8_t)(0xF0 | (cp >> 18));
    out[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (uint8_t)(0x80 | (cp & 0x3F));
    return 4;
}

uint32_t bn_utf8_decode(const uint8_t *s, size_t *len) {
    if (s[0] < 0x80) {
        *len = 1;
        return s[0];
    }
    if (s[0] < 0xE0) {
        *len = 2;
        return ((uint32_t)(s[0] & 0x1F) << 6) | (s[1] & 0x3F);
    }
    if (s[0] < 0xF0) {
        *len = 3;
        return ((uint32_t)(s[0] & 0x0F) << 12) | ((uint32_t)(s[1] & 0x3F) << 6) | (s[2] & 0x3F);
    }
    *len = 4;
    return ((uint32_t)(s[0] & 0x07) << 18) | ((uint32_t)(s[1] & 0x3F) << 12) |
           ((uint32_t)(s[2] & 0x3F) << 6) | (s[3] & 0x3F);
}
