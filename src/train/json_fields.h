/*
 * json_fields.h - typed, range-checked reads of a JSON object's fields, for the training
 * config and checkpoint metadata. Every error names the field by its path ("optim.lr") and says
 * what was wanted; a key the reader does not know is refused (a typo would otherwise silently
 * train with a default).
 */
#ifndef BN_TRAIN_JSON_FIELDS_H
#define BN_TRAIN_JSON_FIELDS_H

#include "base/status.h"

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct bn_jobj {
    const cJSON *obj;
    char path[96]; /* "" for the top level, "optim." for a member object */
} bn_jobj;

/* The object at key (required or not: a missing optional one reads as an empty object). */
bn_status bn_jobj_member(const bn_jobj *o, const char *key, bool required, bn_jobj *out);

/* Refuse keys outside the NULL-terminated list. */
bn_status bn_jobj_known(const bn_jobj *o, const char *const *keys);

/* An integer in [min, max]: *out keeps its value (the default) when the key is missing and not
 * required. */
bn_status bn_jobj_int(const bn_jobj *o, const char *key, bool required, int64_t min, int64_t max,
                      int64_t *out);
bn_status bn_jobj_int32(const bn_jobj *o, const char *key, bool required, int min, int max,
                        int *out);

/* A number in [min, max] (finite). */
bn_status bn_jobj_num(const bn_jobj *o, const char *key, bool required, double min, double max,
                      double *out);

/* A string (pointing into the JSON), NULL default kept when missing. */
bn_status bn_jobj_str(const bn_jobj *o, const char *key, bool required, const char **out);

/* A string that must be one of the NULL-terminated choices: *out is its index. */
bn_status bn_jobj_choice(const bn_jobj *o, const char *key, bool required,
                         const char *const *choices, int *out);

bn_status bn_jobj_bool(const bn_jobj *o, const char *key, bool required, bool *out);

#endif /* BN_TRAIN_JSON_FIELDS_H */
