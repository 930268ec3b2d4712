/*
 * json_spec.h - helpers shared by the interoperability tools: hex and typed-value text used in
 * the JSON "spec" documents that the scripts in tests/py exchange with the C readers and writers.
 */
#ifndef BN_TEST_JSON_SPEC_H
#define BN_TEST_JSON_SPEC_H

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Lower-case hex of n bytes, malloc'd. */
static inline char *spec_hex(const void *data, size_t n) {
    static const char digits[] = "0123456789abcdef";
    const uint8_t *p = data;
    char *s = malloc(2 * n + 1);
    if (s == NULL)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        s[2 * i] = digits[p[i] >> 4];
        s[2 * i + 1] = digits[p[i] & 15];
    }
    s[2 * n] = '\0';
    return s;
}

/* Decode hex into a malloc'd buffer; returns NULL on bad input. */
static inline uint8_t *spec_unhex(const char *hex, size_t *n) {
    size_t len = strlen(hex);
    if (len % 2 != 0)
        return NULL;
    uint8_t *out = malloc(len / 2 + 1);
    if (out == NULL)
        return NULL;
    for (size_t i = 0; i < len / 2; i++) {
        unsigned v;
        if (sscanf(hex + 2 * i, "%2x", &v) != 1) {
            free(out);
            return NULL;
        }
        out[i] = (uint8_t)v;
    }
    *n = len / 2;
    return out;
}

/* Read a whole file (NUL-terminated) into a malloc'd buffer. */
static inline char *spec_read_file(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)size + 1);
    if (buf && fread(buf, 1, (size_t)size, f) != (size_t)size) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    if (buf) {
        buf[size] = '\0';
        *n = (size_t)size;
    }
    return buf;
}

static inline int spec_print(cJSON *root) {
    char *text = cJSON_PrintUnformatted(root);
    if (text == NULL)
        return 1;
    puts(text);
    cJSON_free(text);
    return 0;
}

#endif /* BN_TEST_JSON_SPEC_H */
