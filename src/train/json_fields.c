/* json_fields.c - the typed reads of json_fields.h. */
#include "train/json_fields.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* The field, or NULL when missing (an error when required). */
static bn_status field(const bn_jobj *o, const char *key, bool required, const cJSON **out) {
    *out = cJSON_GetObjectItemCaseSensitive(o->obj, key);
    if (*out == NULL && required)
        return BN_ERROR(BN_ERR_INVALID_ARG, "config: %s%s is missing", o->path, key);
    return BN_OK;
}

static bn_status wrong_type(const bn_jobj *o, const char *key, const char *want) {
    return BN_ERROR(BN_ERR_INVALID_ARG, "config: %s%s must be %s", o->path, key, want);
}

bn_status bn_jobj_member(const bn_jobj *o, const char *key, bool required, bn_jobj *out) {
    static const cJSON empty = {.type = cJSON_Object};
    const cJSON *v;
    BN_TRY(field(o, key, required, &v));
    if (v != NULL && !cJSON_IsObject(v))
        return wrong_type(o, key, "an object");
    out->obj = v != NULL ? v : &empty;
    size_t n = strlen(o->path), k = strlen(key);
    if (n + k + 2 > sizeof out->path)
        return BN_ERROR(BN_ERR_INVALID_ARG, "config: %s%s is nested too deep", o->path, key);
    memcpy(out->path, o->path, n);
    memcpy(out->path + n, key, k);
    memcpy(out->path + n + k, ".", 2);
    return BN_OK;
}

bn_status bn_jobj_known(const bn_jobj *o, const char *const *keys) {
    for (const cJSON *v = o->obj->child; v != NULL; v = v->next) {
        bool known = false;
        for (int i = 0; keys[i] != NULL && !known; i++)
            known = v->string != NULL && strcmp(v->string, keys[i]) == 0;
        if (!known) {
            char list[512] = "";
            for (int i = 0; keys[i] != NULL; i++)
                snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", i ? ", " : "",
                         keys[i]);
            return BN_ERROR(BN_ERR_INVALID_ARG, "config: unknown key %s%s (known here: %s)",
                            o->path, v->string ? v->string : "?", list);
        }
    }
    return BN_OK;
}

bn_status bn_jobj_num(const bn_jobj *o, const char *key, bool required, double min, double max,
                      double *out) {
    const cJSON *v;
    BN_TRY(field(o, key, required, &v));
    if (v == NULL)
        return BN_OK;
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble))
        return wrong_type(o, key, "a number");
    if (v->valuedouble < min || v->valuedouble > max)
        return BN_ERROR(BN_ERR_INVALID_ARG, "config: %s%s is %g (allowed: %g to %g)", o->path, key,
                        v->valuedouble, min, max);
    *out = v->valuedouble;
    return BN_OK;
}

bn_status bn_jobj_int(const bn_jobj *o, const char *key, bool required, int64_t min, int64_t max,
                      int64_t *out) {
    const cJSON *v;
    BN_TRY(field(o, key, required, &v));
    if (v == NULL)
        return BN_OK;
    double d = cJSON_IsNumber(v) ? v->valuedouble : NAN;
    if (!(d == floor(d)) || fabs(d) > 9007199254740992.0)
        return wrong_type(o, key, "an integer");
    if (d < (double)min || d > (double)max)
        return BN_ERROR(BN_ERR_INVALID_ARG, "config: %s%s is %.0f (allowed: %lld to %lld)", o->path,
                        key, d, (long long)min, (long long)max);
    *out = (int64_t)d;
    return BN_OK;
}

bn_status bn_jobj_int32(const bn_jobj *o, const char *key, bool required, int min, int max,
                        int *out) {
    int64_t v = *out;
    BN_TRY(bn_jobj_int(o, key, required, min, max, &v));
    *out = (int)v;
    return BN_OK;
}

bn_status bn_jobj_str(const bn_jobj *o, const char *key, bool required, const char **out) {
    const cJSON *v;
    BN_TRY(field(o, key, required, &v));
    if (v == NULL)
        return BN_OK;
    if (!cJSON_IsString(v) || v->valuestring == NULL || v->valuestring[0] == '\0')
        return wrong_type(o, key, "a non-empty string");
    *out = v->valuestring;
    return BN_OK;
}

bn_status bn_jobj_choice(const bn_jobj *o, const char *key, bool required,
                         const char *const *choices, int *out) {
    const char *s = NULL;
    BN_TRY(bn_jobj_str(o, key, required, &s));
    if (s == NULL)
        return BN_OK;
    char list[256] = "";
    for (int i = 0; choices[i] != NULL; i++) {
        if (strcmp(s, choices[i]) == 0) {
            *out = i;
            return BN_OK;
        }
        snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", i ? ", " : "",
                 choices[i]);
    }
    return BN_ERROR(BN_ERR_INVALID_ARG, "config: %s%s is \"%s\" (one of: %s)", o->path, key, s,
                    list);
}

bn_status bn_jobj_bool(const bn_jobj *o, const char *key, bool required, bool *out) {
    const cJSON *v;
    BN_TRY(field(o, key, required, &v));
    if (v == NULL)
        return BN_OK;
    if (!cJSON_IsBool(v))
        return wrong_type(o, key, "true or false");
    *out = cJSON_IsTrue(v);
    return BN_OK;
}
