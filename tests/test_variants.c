/*
 * test_variants.c - the Hugging Face checkpoint variants besides 2B-4T, loaded with
 * bn_model_load (tests/fixtures/variant-*, made by scripts/make_variant_fixtures.py):
 *
 *   variant-llama-bitlinear   LlamaForCausalLM + quant_method bitnet (HF1BitLLM, Falcon3-1.58bit):
 *                             bitlinear inverted scales, no sub-norms, SiLU, float lm_head
 *   variant-bitnet-bitlinear  BitNetForCausalLM with linear_class bitlinear (inverted scales)
 *   variant-1bitllm           1bitLLM's BitnetForCausalLM: fp16 latent weights, inner_attn_ln /
 *                             ffn_layernorm sub-norms, SiLU
 *
 * Each one's last-position logits must match the script's independent numpy float32 forward
 * pass (transformers' formulas) to relative L2 <= 1e-3 with the same argmax. The script only
 * keeps prompts whose quantized activations all sit well clear of an int8 rounding boundary
 * (3x their float32 noise, see the script), so a different float summation order here cannot
 * flip a code; the differences left are float rounding, ~1e-6.
 *
 * Then: the bitlinear folder rewritten as a 2B-4T-style autobitlinear twin (weight_scale = gamma
 * instead of 1/gamma) gives bit-identical logits; the converted GGUF keeps the LLaMA head in its
 * bf16 and has no sub-norms; and broken copies (missing, reshaped, retyped or extra tensors,
 * unknown linear_class or architecture, features the engine lacks, no tokenizer.json) are refused
 * with an error that names the tensor or key.
 */
#include "hf_folder_edit.h"
#include "test.h"

#include "base/cpu.h"
#include "base/log.h"
#include "model/convert.h"
#include "model/forward.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FIX    BN_SOURCE_DIR "/tests/fixtures"
#define REF    FIX "/variant-reference"
#define LLAMA  FIX "/variant-llama-bitlinear"
#define BITNET FIX "/variant-bitnet-bitlinear"
#define ONEBIT FIX "/variant-1bitllm"

/* A little-endian float32 .npy of 2 dims: data and shape (checked by the caller). */
static float *read_npy(const char *path, int64_t *rows, int64_t *cols) {
    size_t n = 0;
    char *raw = spec_read_file(path, &n);
    float *out = NULL;
    if (raw != NULL && n > 10 && memcmp(raw, "\x93NUMPY\x01\x00", 8) == 0) {
        size_t hlen = (size_t)(unsigned char)raw[8] | (size_t)(unsigned char)raw[9] << 8;
        long long r = 0, c = 0;
        const char *shape = strstr(raw + 10, "'shape': (");
        bool ok = 10 + hlen <= n && strstr(raw + 10, "'descr': '<f4'") != NULL && shape &&
                  sscanf(shape, "'shape': (%lld, %lld)", &r, &c) == 2 &&
                  (size_t)(r * c) * sizeof(float) == n - 10 - hlen;
        if (ok && (out = malloc(n - 10 - hlen)) != NULL) {
            memcpy(out, raw + 10 + hlen, n - 10 - hlen);
            *rows = r, *cols = c;
        }
    }
    free(raw);
    return out;
}

static int json_ids(const cJSON *arr, int32_t *ids, int cap) {
    int n = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, arr) if (n < cap) ids[n++] = (int32_t)e->valuedouble;
    return n;
}

/* Last-position logits of tokens[0..n) from a fresh context; logits has n_vocab floats. */
static bool eval_last(const bn_model *m, const int32_t *ids, int n, float *logits) {
    bn_context *c = NULL;
    /* f32 cache: compared with a float reference */
    bn_context_params cp = {.n_ctx = 64, .n_threads = 2, .kv_type = BN_KV_F32};
    bn_status st = bn_context_create(&c, m, &cp);
    if (st == BN_OK)
        st = bn_context_eval(c, ids, n, logits, false);
    CHECK(st == BN_OK, "eval: %s", bn_last_error());
    bn_context_free(c);
    return st == BN_OK;
}

/* ---- logits against the numpy reference ------------------------------------------------- */

/* The graph the loader built: sub-norms, activation and head as the variant has them. */
static void check_shape_of(const char *name, const bn_model *m) {
    bool llama = strstr(name, "llama") != NULL, relu2 = strstr(name, "bitnet-") != NULL;
    for (int l = 0; l < m->cfg.n_layers; l++)
        CHECK((m->layers[l].attn_sub_norm == NULL) == llama &&
                  (m->layers[l].ffn_sub_norm == NULL) == llama,
              "%s layer %d: sub-norms %s", name, l, llama ? "present" : "missing");
    CHECK(m->cfg.act == (relu2 ? BN_ACT_RELU2 : BN_ACT_SILU), "%s: activation %d", name,
          m->cfg.act);
    CHECK((m->head != m->embed) == llama, "%s: head %s", name, llama ? "tied" : "untied");
}

static void check_variant(const char *name, const cJSON *entry) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", FIX, name);
    bn_model *m = NULL;
    CHECK_OK(bn_model_load(&m, path, NULL));
    snprintf(path, sizeof path, "%s/%s", REF,
             cJSON_GetStringValue(cJSON_GetObjectItem(entry, "logits")));
    int64_t rows = 0, vocab = 0;
    float *want = read_npy(path, &rows, &vocab);
    const cJSON *prompts = cJSON_GetObjectItem(entry, "prompts");
    CHECK(want != NULL && rows == cJSON_GetArraySize(prompts), "%s: %s", name, path);
    if (m == NULL || want == NULL || rows != cJSON_GetArraySize(prompts) ||
        vocab != m->cfg.n_vocab) {
        bn_model_free(m);
        free(want);
        return;
    }
    check_shape_of(name, m);
    float *logits = malloc((size_t)vocab * sizeof(float));
    for (int p = 0; p < (int)rows; p++) {
        int32_t ids[64];
        int n = json_ids(cJSON_GetObjectItem(cJSON_GetArrayItem(prompts, p), "ids"), ids, 64);
        if (!eval_last(m, ids, n, logits))
            break;
        const float *w = want + (size_t)p * vocab;
        double err = bn_test_rel_l2(logits, w, (int)vocab);
        printf("%s prompt %d (%d tokens): relative L2 %.3g\n", name, p, n, err);
        CHECK(err <= 1e-3, "%s prompt %d: relative L2 %.3g", name, p, err);
        CHECK(bn_ref_argmax(logits, (size_t)vocab) == bn_ref_argmax(w, (size_t)vocab),
              "%s prompt %d: argmax", name, p);
    }
    free(logits);
    free(want);
    bn_model_free(m);
}

/* ---- the inverted-scale convention ------------------------------------------------------ */

/* variant-bitnet-bitlinear (weight_scale = 1/gamma, divide) and the same ternary values with
 * weight_scale = gamma under autobitlinear (2B-4T's convention, multiply) are one model. */
static void check_inverted_scales(const cJSON *entry) {
    hf_edit e = {.cfg_from = "\"linear_class\": \"bitlinear\"",
                 .cfg_to = "\"linear_class\": \"autobitlinear\"",
                 .invert_scales = true};
    char twin[1024];
    bool made = hf_edit_make(twin, sizeof twin, BITNET, &e);
    CHECK(made, "autobitlinear twin of %s", BITNET);
    bn_model *a = NULL, *b = NULL;
    CHECK_OK(bn_model_load(&a, BITNET, NULL));
    if (made)
        CHECK_OK(bn_model_load(&b, twin, NULL));
    const cJSON *prompts = cJSON_GetObjectItem(entry, "prompts");
    for (int p = 0; a && b && p < cJSON_GetArraySize(prompts); p++) {
        int32_t ids[64];
        int n = json_ids(cJSON_GetObjectItem(cJSON_GetArrayItem(prompts, p), "ids"), ids, 64);
        size_t bytes = (size_t)a->cfg.n_vocab * sizeof(float);
        float *la = malloc(bytes), *lb = malloc(bytes);
        if (eval_last(a, ids, n, la) && eval_last(b, ids, n, lb))
            CHECK(memcmp(la, lb, bytes) == 0, "prompt %d: bitlinear and autobitlinear twin differ",
                  p);
        free(la);
        free(lb);
    }
    bn_model_free(a);
    bn_model_free(b);
    if (made)
        hf_edit_remove(twin);
}

/* ---- what the converter writes ---------------------------------------------------------- */

static void check_gguf(const char *hf, const char *head_type, bool sub_norms, const char *act) {
    char out[1024];
    const char *tmp = getenv("TMPDIR");
    snprintf(out, sizeof out, "%s/bitnet-variant-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    int fd = mkstemp(out);
    CHECK(fd >= 0, "temporary file");
    if (fd < 0)
        return;
    close(fd);
    bn_convert_options opt = {
        .type = BN_DTYPE_TQ2_0, .embed_type = BN_DTYPE_F16, .head_as_source = true};
    CHECK_OK(bn_convert_hf_to_gguf(hf, out, &opt, NULL));
    bn_gguf *g = NULL;
    CHECK_OK(bn_gguf_open(&g, out));
    if (g != NULL) {
        const bn_gguf_tensor *h = bn_gguf_find_tensor(g, "output.weight");
        CHECK(head_type ? h && strcmp(bn_dtype_name(h->dtype), head_type) == 0 : h == NULL,
              "%s: output.weight is %s, want %s", hf, h ? bn_dtype_name(h->dtype) : "absent",
              head_type ? head_type : "absent");
        CHECK((bn_gguf_find_tensor(g, "blk.1.attn_sub_norm.weight") != NULL) == sub_norms &&
                  (bn_gguf_find_tensor(g, "blk.1.ffn_sub_norm.weight") != NULL) == sub_norms,
              "%s: sub-norms", hf);
        const char *got = NULL;
        CHECK_OK(bn_gguf_get_str(g, "bitnet.hidden_activation", &got));
        CHECK(got && strcmp(got, act) == 0, "%s: activation %s", hf, got ? got : "?");
    }
    bn_gguf_close(g);
    unlink(out);
}

/* ---- refusals --------------------------------------------------------------------------- */

typedef struct bad_case {
    const char *src;
    hf_edit edit;
    bn_status want;
    const char *needle; /* the message must name this tensor or key */
} bad_case;

static const bad_case k_bad[] = {
    /* missing tensors */
    {LLAMA,
     {.drop = "model.layers.1.mlp.up_proj.weight"},
     BN_ERR_NOT_FOUND,
     "'model.layers.1.mlp.up_proj.weight' is missing"},
    {LLAMA,
     {.drop = "model.layers.0.self_attn.o_proj.weight_scale"},
     BN_ERR_NOT_FOUND,
     "'model.layers.0.self_attn.o_proj.weight_scale' is missing"},
    {LLAMA, {.drop = "lm_head.weight"}, BN_ERR_NOT_FOUND, "'lm_head.weight' is missing"},
    {ONEBIT,
     {.drop = "model.layers.0.self_attn.inner_attn_ln.weight"},
     BN_ERR_NOT_FOUND,
     "'model.layers.0.self_attn.inner_attn_ln.weight' is missing"},
    {ONEBIT,
     {.drop = "model.layers.1.mlp.ffn_layernorm.weight"},
     BN_ERR_NOT_FOUND,
     "'model.layers.1.mlp.ffn_layernorm.weight' is missing"},
    /* wrong shapes */
    {LLAMA,
     {.reshape = "model.layers.0.self_attn.k_proj.weight"},
     BN_ERR_SHAPE,
     "'model.layers.0.self_attn.k_proj.weight' has shape [16, 512], want [32, 256]"},
    {LLAMA, {.reshape = "model.norm.weight"}, BN_ERR_SHAPE, "'model.norm.weight' has shape"},
    {LLAMA, {.reshape = "lm_head.weight"}, BN_ERR_SHAPE, "'lm_head.weight' has shape"},
    {ONEBIT,
     {.reshape = "model.layers.1.mlp.down_proj.weight"},
     BN_ERR_SHAPE,
     "'model.layers.1.mlp.down_proj.weight' has shape"},
    /* wrong dtypes */
    {LLAMA,
     {.retype = "model.layers.0.mlp.gate_proj.weight", .retype_to = BN_ST_I8},
     BN_ERR_DTYPE,
     "'model.layers.0.mlp.gate_proj.weight' is I8"},
    {LLAMA,
     {.retype = "model.layers.1.input_layernorm.weight", .retype_to = BN_ST_I16},
     BN_ERR_DTYPE,
     "'model.layers.1.input_layernorm.weight' is I16"},
    {LLAMA,
     {.retype = "model.layers.1.mlp.down_proj.weight_scale", .retype_to = BN_ST_I16},
     BN_ERR_DTYPE,
     "'model.layers.1.mlp.down_proj.weight_scale' is I16"},
    {LLAMA,
     {.retype = "lm_head.weight", .retype_to = BN_ST_I16},
     BN_ERR_DTYPE,
     "'lm_head.weight' is I16"},
    {ONEBIT,
     {.retype = "model.layers.0.self_attn.v_proj.weight", .retype_to = BN_ST_I16},
     BN_ERR_DTYPE,
     "'model.layers.0.self_attn.v_proj.weight' is I16"},
    /* tensors the graph does not have */
    {LLAMA,
     {.add = "model.layers.0.self_attn.q_proj.bias"},
     BN_ERR_UNSUPPORTED,
     "'model.layers.0.self_attn.q_proj.bias' is not part of"},
    {LLAMA,
     {.add = "model.layers.2.input_layernorm.weight"},
     BN_ERR_UNSUPPORTED,
     "'model.layers.2.input_layernorm.weight'"},
    {BITNET,
     {.add = "model.layers.0.mlp.up_proj.rms_norm.weight"},
     BN_ERR_UNSUPPORTED,
     "'model.layers.0.mlp.up_proj.rms_norm.weight'"},
    /* config.json: unknown classes */
    {LLAMA,
     {.cfg_from = "\"quant_method\": \"bitnet\"",
      .cfg_to = "\"quant_method\": \"bitnet\", \"linear_class\": \"ternarylinear\""},
     BN_ERR_UNSUPPORTED,
     "quantization_config.linear_class 'ternarylinear'"},
    {LLAMA,
     {.cfg_from = "\"LlamaForCausalLM\"", .cfg_to = "\"LlamaForSequenceClassification\""},
     BN_ERR_UNSUPPORTED,
     "architectures[0] 'LlamaForSequenceClassification'"},
    {BITNET,
     {.cfg_from = "\"BitNetForCausalLM\"", .cfg_to = "\"LlamaForCausalLM\""},
     BN_ERR_UNSUPPORTED,
     "architectures[0] 'LlamaForCausalLM'"},
    {LLAMA,
     {.cfg_from = "\"model_type\": \"llama\"", .cfg_to = "\"model_type\": \"mistral\""},
     BN_ERR_UNSUPPORTED,
     "model_type 'mistral'"},
    {LLAMA,
     {.cfg_from = "\"quant_method\": \"bitnet\"", .cfg_to = "\"quant_method\": \"gptq\""},
     BN_ERR_UNSUPPORTED,
     "quant_method 'gptq'"},
    /* config.json: graph features the engine lacks */
    {LLAMA,
     {.cfg_from = "\"rope_scaling\": null",
      .cfg_to = "\"rope_scaling\": {\"rope_type\": \"llama3\", \"factor\": 8.0, "
                "\"low_freq_factor\": 1.0, \"high_freq_factor\": 4.0, "
                "\"original_max_position_embeddings\": 8192}"},
     BN_ERR_UNSUPPORTED,
     "rope_scaling type 'llama3'"},
    {LLAMA,
     {.cfg_from = "\"quant_method\": \"bitnet\"",
      .cfg_to = "\"quant_method\": \"bitnet\", \"use_rms_norm\": true"},
     BN_ERR_UNSUPPORTED,
     "quantization_config.use_rms_norm"},
    {LLAMA,
     {.cfg_from = "\"attention_bias\": false", .cfg_to = "\"attention_bias\": true"},
     BN_ERR_UNSUPPORTED,
     "attention_bias"},
    {LLAMA,
     {.cfg_from = "\"mlp_bias\": false", .cfg_to = "\"mlp_bias\": true"},
     BN_ERR_UNSUPPORTED,
     "mlp_bias"},
    {LLAMA,
     {.cfg_from = "\"lm_head\"", .cfg_to = "\"lm_head\", \"mlp.down_proj\""},
     BN_ERR_UNSUPPORTED,
     "modules_to_not_convert[1] 'mlp.down_proj'"},
    {LLAMA,
     {.cfg_from = "\"head_dim\": 64", .cfg_to = "\"head_dim\": 32"},
     BN_ERR_UNSUPPORTED,
     "head_dim 32"},
    {ONEBIT,
     {.cfg_from = "\"input_bits\": 8", .cfg_to = "\"input_bits\": 4"},
     BN_ERR_UNSUPPORTED,
     "input_bits is 4"},
    /* the tokenizer */
    {ONEBIT, {.tokenizer_model = true}, BN_ERR_UNSUPPORTED, "no tokenizer.json"},
};

static void check_refusals(void) {
    bn_log_level saved = bn_log_get_level();
    bn_log_set_level(BN_LOG_ERROR);
    for (size_t i = 0; i < sizeof k_bad / sizeof k_bad[0]; i++) {
        const bad_case *b = &k_bad[i];
        char dir[1024];
        bool made = hf_edit_make(dir, sizeof dir, b->src, &b->edit);
        CHECK(made, "case %zu: could not make the folder", i);
        if (!made)
            continue;
        bn_model *m = NULL;
        bn_clear_error();
        bn_status st = bn_model_load(&m, dir, NULL);
        CHECK(st == b->want && m == NULL, "case %zu (%s): got %s want %s: %s", i, b->needle,
              bn_status_str(st), bn_status_str(b->want), bn_last_error());
        CHECK(strstr(bn_last_error(), b->needle) != NULL, "case %zu: message '%s' lacks '%s'", i,
              bn_last_error(), b->needle);
        printf("refused: %s\n", bn_last_error());
        bn_model_free(m);
        hf_edit_remove(dir);
    }
    bn_log_set_level(saved);
}

int main(void) {
    size_t n = 0;
    char *text = spec_read_file(REF "/reference.json", &n);
    cJSON *ref = text ? cJSON_ParseWithLength(text, n) : NULL;
    free(text);
    const cJSON *variants = cJSON_GetObjectItem(ref, "variants");
    CHECK(cJSON_GetArraySize(variants) == 3, "reference.json lists the three variants");
    const cJSON *v;
    cJSON_ArrayForEach(v, variants) check_variant(v->string, v);
    check_inverted_scales(cJSON_GetObjectItem(variants, "variant-bitnet-bitlinear"));
    check_gguf(LLAMA, "bf16", false, "silu");
    check_gguf(BITNET, NULL, true, "relu2");
    check_gguf(ONEBIT, NULL, true, "silu");
    check_refusals();
    cJSON_Delete(ref);
    return bn_test_finish("test_variants");
}
