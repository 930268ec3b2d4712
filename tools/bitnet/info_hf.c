/* info_hf.c - fill a bn_info from a Hugging Face folder: config.json, the safetensors weights
 * (single or sharded) and tokenizer.json. */
#include "info.h"

#include "io/hf_config.h"
#include "io/safetensors.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void copy_config(bn_info *info, const bn_hf_config *c) {
    snprintf(info->architecture, sizeof info->architecture, "%s", c->model_type);
    snprintf(info->hf_class, sizeof info->hf_class, "%s", c->architecture);
    info->hidden_size = c->hidden_size;
    info->intermediate_size = c->intermediate_size;
    info->num_layers = c->num_layers;
    info->num_heads = c->num_heads;
    info->num_kv_heads = c->num_kv_heads;
    info->head_dim = c->head_dim;
    info->vocab_size = c->vocab_size;
    info->context_length = c->max_position_embeddings;
    info->rope_theta = c->rope_theta;
    info->rms_norm_eps = c->rms_norm_eps;
    snprintf(info->hidden_act, sizeof info->hidden_act, "%s", bn_hf_act_name(c->hidden_act));
    info->tie_word_embeddings = c->tie_word_embeddings;
    info->bos_id = c->n_bos > 0 ? c->bos_ids[0] : -1;
    for (int i = 0; i < c->n_eos && i < BN_INFO_MAX_IDS; i++)
        info->eos_ids[info->n_eos++] = c->eos_ids[i];
    info->pad_id = c->pad_id;
    if (c->quantized)
        snprintf(info->quantization, sizeof info->quantization, "bitnet %s %s%s",
                 bn_hf_linear_class_name(c->linear_class),
                 c->quant_mode == BN_HF_QUANT_ONLINE ? "online" : "offline",
                 c->use_rms_norm ? " use_rms_norm" : "");
    else if (c->family == BN_HF_1BITLLM)
        snprintf(info->quantization, sizeof info->quantization,
                 "latent float weights (ternarized at load)");
}

/* The logical view of a stored tensor: packed HF weights are U8 [out/4, in] holding [out, in]. */
static void describe_tensor(bn_info_tensor *o, const bn_st_tensor *t, bool packed_checkpoint) {
    snprintf(o->name, sizeof o->name, "%s", t->name);
    o->n_dims = t->n_dims;
    for (int d = 0; d < t->n_dims; d++)
        o->shape[d] = t->shape[d];
    o->bytes = t->size;
    o->is_linear = bn_info_is_linear_name(t->name);
    bool packed = packed_checkpoint && o->is_linear && t->dtype == BN_ST_U8 && t->n_dims == 2;
    if (packed)
        o->shape[0] *= 4;
    snprintf(o->dtype, sizeof o->dtype, "%s", packed ? "hf2" : bn_st_dtype_name(t->dtype));
    for (char *p = o->dtype; *p; p++)
        *p = (char)(*p >= 'A' && *p <= 'Z' ? *p - 'A' + 'a' : *p);
    o->params = 1;
    for (int d = 0; d < o->n_dims; d++)
        o->params *= (uint64_t)o->shape[d];
}

static char *read_small_file(const char *path, size_t max, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    char *buf = NULL;
    if (fseek(f, 0, SEEK_END) == 0) {
        long size = ftell(f);
        if (size >= 0 && (size_t)size <= max && fseek(f, 0, SEEK_SET) == 0) {
            buf = malloc((size_t)size + 1);
            if (buf && fread(buf, 1, (size_t)size, f) == (size_t)size) {
                buf[size] = '\0';
                *len = (size_t)size;
            } else {
                free(buf);
                buf = NULL;
            }
        }
    }
    fclose(f);
    return buf;
}

/* tokenizer.json: model type, vocabulary size (model vocab plus added tokens beyond it). */
static bn_status read_tokenizer_json(bn_info *info, const char *dir) {
    char path[1200];
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    info->tok_vocab = -1;
    size_t len = 0;
    errno = 0;
    char *text = read_small_file(path, (size_t)256 << 20, &len);
    if (text == NULL) {
        if (errno == ENOENT) {
            bn_info_note(info, "no tokenizer.json in the folder");
            return BN_OK;
        }
        return BN_ERROR(BN_ERR_IO, "%s: cannot read (missing, unreadable or over 256 MiB)", path);
    }
    cJSON *root = cJSON_ParseWithLength(text, len);
    free(text);
    if (root == NULL)
        return BN_ERROR(BN_ERR_FORMAT, "%s: not valid JSON", path);
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(root, "model");
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(model, "type");
    const cJSON *vocab = cJSON_GetObjectItemCaseSensitive(model, "vocab");
    if (!cJSON_IsObject(model) || !cJSON_IsString(type) || vocab == NULL) {
        cJSON_Delete(root);
        return BN_ERROR(BN_ERR_FORMAT, "%s: missing model.type or model.vocab", path);
    }
    snprintf(info->tok_model, sizeof info->tok_model, "%s", type->valuestring);
    int64_t n = cJSON_GetArraySize(vocab);
    const cJSON *added;
    cJSON_ArrayForEach(added, cJSON_GetObjectItemCaseSensitive(root, "added_tokens")) {
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(added, "id");
        if (cJSON_IsNumber(id) && id->valuedouble >= (double)n && id->valuedouble < 1e9)
            n = (int64_t)id->valuedouble + 1;
    }
    info->tok_vocab = n;
    const cJSON *pre = cJSON_GetObjectItemCaseSensitive(root, "pre_tokenizer");
    const cJSON *pre_type = cJSON_GetObjectItemCaseSensitive(pre, "type");
    if (cJSON_IsString(pre_type))
        snprintf(info->tok_pre, sizeof info->tok_pre, "%s", pre_type->valuestring);
    cJSON_Delete(root);
    return BN_OK;
}

bn_status bn_info_from_hf(bn_info *info, const char *dir) {
    bn_hf_config cfg;
    BN_TRY(bn_hf_config_load(&cfg, dir));
    snprintf(info->format, sizeof info->format, "huggingface");
    copy_config(info, &cfg);
    BN_TRY(read_tokenizer_json(info, dir));
    bn_safetensors *st = NULL;
    BN_TRY(bn_st_open_dir(&st, dir));
    info->tensors = calloc(st->n_tensors ? (size_t)st->n_tensors : 1, sizeof *info->tensors);
    if (info->tensors == NULL) {
        bn_st_close(st);
        return BN_ERROR(BN_ERR_OUT_OF_MEMORY, "info: %lld tensors", (long long)st->n_tensors);
    }
    info->n_tensors = st->n_tensors;
    bool packed = cfg.quantized && cfg.quant_mode == BN_HF_QUANT_OFFLINE;
    for (int64_t i = 0; i < st->n_tensors; i++)
        describe_tensor(&info->tensors[i], &st->tensors[i], packed);
    bn_st_close(st);
    return BN_OK;
}

bn_status bn_info_from_safetensors(bn_info *info, const char *path) {
    bn_safetensors *st = NULL;
    BN_TRY(bn_st_open(&st, path));
    snprintf(info->format, sizeof info->format, "safetensors");
    bn_info_note(info, "a single safetensors file: no config.json, so no hyper-parameters");
    info->tensors = calloc(st->n_tensors ? (size_t)st->n_tensors : 1, sizeof *info->tensors);
    if (info->tensors == NULL) {
        bn_st_close(st);
        return BN_ERROR(BN_ERR_OUT_OF_MEMORY, "info: %lld tensors", (long long)st->n_tensors);
    }
    info->n_tensors = st->n_tensors;
    for (int64_t i = 0; i < st->n_tensors; i++)
        describe_tensor(&info->tensors[i], &st->tensors[i], false);
    bn_st_close(st);
    return BN_OK;
}
