/* export.c - Hugging Face folder and GGUF writers of export.h. */
#include "train/export.h"

#include "io/outfile.h"
#include "io/safetensors.h"
#include "quant/ternary.h"
#include "tensor/formats.h"

#include <errno.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *const hf_files[] = {"config.json", "generation_config.json", "model.safetensors",
                                       "tokenizer.json", "tokenizer_config.json"};

/* A linear layer's weight: the name ends in _proj.weight. */
static bool is_linear(const bn_param *p) {
    size_t n = strlen(p->name);
    return n > 12 && strcmp(p->name + n - 12, "_proj.weight") == 0;
}

static bn_status write_text(const char *dir, const char *name, const char *text) {
    char path[4096];
    if (snprintf(path, sizeof path, "%s/%s", dir, name) >= (int)sizeof path)
        return BN_ERROR(BN_ERR_INVALID_ARG, "export: path too long");
    bn_outfile f;
    BN_TRY(bn_outfile_open(&f, path));
    bn_status s = bn_outfile_write(&f, text, strlen(text));
    if (s != BN_OK) {
        bn_outfile_discard(&f);
        return s;
    }
    return bn_outfile_commit(&f);
}

static cJSON *hf_config(const bn_net_config *c, const bn_tokenizer_spec *tok) {
    cJSON *o = cJSON_CreateObject(), *arch = cJSON_AddArrayToObject(o, "architectures");
    cJSON_AddItemToArray(arch, cJSON_CreateString("BitNetForCausalLM"));
    cJSON_AddStringToObject(o, "model_type", "bitnet");
    cJSON_AddNumberToObject(o, "hidden_size", c->dim);
    cJSON_AddNumberToObject(o, "intermediate_size", c->ffn);
    cJSON_AddNumberToObject(o, "num_hidden_layers", c->layers);
    cJSON_AddNumberToObject(o, "num_attention_heads", c->heads);
    cJSON_AddNumberToObject(o, "num_key_value_heads", c->kv_heads);
    cJSON_AddNumberToObject(o, "head_dim", c->dim / c->heads);
    cJSON_AddNumberToObject(o, "vocab_size", c->vocab);
    cJSON_AddNumberToObject(o, "max_position_embeddings", c->context);
    cJSON_AddNumberToObject(o, "rms_norm_eps", c->eps);
    cJSON_AddNumberToObject(o, "rope_theta", c->rope_theta);
    cJSON_AddStringToObject(o, "hidden_act", c->act == BN_ACT_SILU ? "silu" : "relu2");
    cJSON_AddBoolToObject(o, "tie_word_embeddings", true);
    cJSON_AddBoolToObject(o, "attention_bias", false);
    cJSON_AddNumberToObject(o, "attention_dropout", 0.0);
    cJSON_AddNumberToObject(o, "initializer_range", 0.02);
    cJSON_AddBoolToObject(o, "use_cache", true);
    cJSON_AddStringToObject(o, "torch_dtype", "float32");
    if (tok->bos_id >= 0)
        cJSON_AddNumberToObject(o, "bos_token_id", tok->bos_id);
    if (tok->eos_id >= 0)
        cJSON_AddNumberToObject(o, "eos_token_id", tok->eos_id);
    if (c->ternary) {
        cJSON *q = cJSON_AddObjectToObject(o, "quantization_config");
        cJSON_AddStringToObject(q, "quant_method", "bitnet");
        cJSON_AddStringToObject(q, "linear_class", "autobitlinear");
        cJSON_AddStringToObject(q, "quantization_mode", "offline");
        cJSON_AddBoolToObject(q, "use_rms_norm", false);
    }
    return o;
}

static bn_status write_json(const char *dir, const char *name, cJSON *o) {
    char *text = o != NULL ? cJSON_Print(o) : NULL;
    cJSON_Delete(o);
    if (text == NULL)
        return BN_ERROR(BN_ERR_OUT_OF_MEMORY, "export: %s", name);
    size_t n = strlen(text);
    char *with_nl = realloc(text, n + 2);
    if (with_nl == NULL) {
        free(text);
        return BN_ERROR(BN_ERR_OUT_OF_MEMORY, "export: %s", name);
    }
    memcpy(with_nl + n, "\n", 2);
    bn_status s = write_text(dir, name, with_nl);
    free(with_nl);
    return s;
}

/* The packed codes and scale of one BitLinear weight, as the trainer's forward makes them. */
static bn_status pack_linear(const bn_param *p, uint8_t **packed, size_t *bytes, float *gamma) {
    int8_t *codes = malloc((size_t)p->numel);
    bn_status s = codes != NULL ? BN_OK : BN_ERROR(BN_ERR_OUT_OF_MEMORY, "export: %s", p->name);
    bn_ternary_params tp = {BN_TERNARY_ABSMEAN, BN_TERNARY_PER_TENSOR, 0};
    if (s == BN_OK)
        s = bn_ternary_quantize(p->data, p->rows, p->cols, &tp, codes, gamma);
    if (s == BN_OK)
        s = bn_hf2_ternary_bytes(p->rows, p->cols, bytes);
    if (s == BN_OK && (*packed = malloc(*bytes)) == NULL)
        s = BN_ERROR(BN_ERR_OUT_OF_MEMORY, "export: %s", p->name);
    if (s == BN_OK)
        s = bn_hf2_pack_ternary(codes, p->rows, p->cols, *gamma, *packed, *bytes);
    free(codes);
    return s;
}

/* model.safetensors: every parameter, BitLinear weights packed with their weight_scale. */
static bn_status write_weights(const bn_net *net, const char *dir) {
    bn_st_writer *w;
    BN_TRY(bn_st_writer_create(&w));
    int n = net->n_params;
    uint8_t **packed = calloc((size_t)n, sizeof *packed);
    float *scales = calloc((size_t)n, sizeof *scales);
    char(*scale_names)[96] = calloc((size_t)n, sizeof *scale_names);
    bn_status s = packed && scales && scale_names
                      ? bn_st_writer_add_meta(w, "format", "pt")
                      : BN_ERROR(BN_ERR_OUT_OF_MEMORY, "export: tensor list");
    for (int i = 0; s == BN_OK && i < n; i++) {
        const bn_param *p = &net->params[i];
        int64_t shape[2] = {p->rows, p->cols};
        if (!(net->cfg.ternary && is_linear(p))) {
            s = p->rows > 1 ? bn_st_writer_add(w, p->name, BN_ST_F32, 2, shape, p->data,
                                               (size_t)p->numel * sizeof(float))
                            : bn_st_writer_add(w, p->name, BN_ST_F32, 1, &p->cols, p->data,
                                               (size_t)p->numel * sizeof(float));
            continue;
        }
        size_t bytes;
        s = pack_linear(p, &packed[i], &bytes, &scales[i]);
        int64_t pshape[2] = {p->rows / BN_HF2_ROWS_PER_BYTE, p->cols}, one = 1;
        if (s == BN_OK)
            s = bn_st_writer_add(w, p->name, BN_ST_U8, 2, pshape, packed[i], bytes);
        size_t len = strlen(p->name) - strlen("weight");
        snprintf(scale_names[i], sizeof scale_names[i], "%.*sweight_scale", (int)len, p->name);
        if (s == BN_OK)
            s = bn_st_writer_add(w, scale_names[i], BN_ST_F32, 1, &one, &scales[i], sizeof(float));
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    if (s == BN_OK)
        s = bn_st_writer_write(w, path);
    bn_st_writer_free(w);
    for (int i = 0; packed != NULL && i < n; i++)
        free(packed[i]);
    free(packed);
    free(scales);
    free(scale_names);
    return s;
}

static bn_status generation_config(const char *dir, const bn_tokenizer_spec *tok) {
    cJSON *o = cJSON_CreateObject();
    if (tok->bos_id >= 0)
        cJSON_AddNumberToObject(o, "bos_token_id", tok->bos_id);
    if (tok->eos_id >= 0)
        cJSON_AddNumberToObject(o, "eos_token_id", tok->eos_id);
    cJSON_AddStringToObject(o, "transformers_version", "4.56.0");
    return write_json(dir, "generation_config.json", o);
}

bn_status bn_export_hf(const bn_net *net, const bn_tokenizer_spec *tok, const char *dir) {
    if (tok->n_tokens > net->cfg.vocab)
        return BN_ERROR(BN_ERR_SHAPE,
                        "export: the tokenizer has %d tokens, the model %d rows of "
                        "embeddings",
                        tok->n_tokens, net->cfg.vocab);
    if (mkdir(dir, 0777) != 0 && errno != EEXIST)
        return BN_ERROR(BN_ERR_IO, "export: cannot make %s: %s", dir, strerror(errno));
    BN_TRY(write_json(dir, "config.json", hf_config(&net->cfg, tok)));
    BN_TRY(generation_config(dir, tok));
    BN_TRY(bn_tokenizer_spec_write_hf(tok, dir));
    return write_weights(net, dir);
}

/* Remove the temporary folder and the files export_hf put in it. */
static void remove_folder(const char *dir) { /* dir: under 4096 bytes */
    char path[4200];
    for (size_t i = 0; i < sizeof hf_files / sizeof hf_files[0]; i++)
        if (snprintf(path, sizeof path, "%s/%s", dir, hf_files[i]) < (int)sizeof path)
            unlink(path);
    rmdir(dir);
}

/* The model's name in the GGUF (general.name, which convert takes from the folder's name): the
 * output file's name without its extension. */
static void model_name(const char *out_path, char *name, size_t size) {
    const char *base = strrchr(out_path, '/');
    base = base != NULL ? base + 1 : out_path;
    size_t n = strlen(base);
    if (n > 5 && strcmp(base + n - 5, ".gguf") == 0)
        n -= 5;
    snprintf(name, size, "%.*s", (int)n, n > 0 ? base : "model");
}

bn_status bn_export_gguf(const bn_net *net, const bn_tokenizer_spec *tok, const char *out_path,
                         const bn_convert_options *opt) {
    if (!net->cfg.ternary)
        return BN_ERROR(BN_ERR_UNSUPPORTED, "export: GGUF of a float-linear model (the engine's "
                                            "linear layers are ternary): export it as a Hugging "
                                            "Face folder instead");
    BN_TRY(bn_convert_check_options(opt));
    char tmp[4096], copy[4096], name[256], dir[4400];
    snprintf(copy, sizeof copy, "%s", out_path);
    if (snprintf(tmp, sizeof tmp, "%s/.bitnet-export-XXXXXX", dirname(copy)) >= (int)sizeof tmp)
        return BN_ERROR(BN_ERR_INVALID_ARG, "export: path too long");
    if (mkdtemp(tmp) == NULL)
        return BN_ERROR(BN_ERR_IO, "export: cannot make a temporary folder beside %s: %s", out_path,
                        strerror(errno));
    model_name(out_path, name, sizeof name);
    snprintf(dir, sizeof dir, "%s/%s", tmp, name);
    bn_status s = bn_export_hf(net, tok, dir);
    if (s == BN_OK)
        s = bn_convert_hf_to_gguf(dir, out_path, opt, NULL);
    remove_folder(dir);
    rmdir(tmp);
    return s;
}
