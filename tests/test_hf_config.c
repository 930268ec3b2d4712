/* test_hf_config.c - config.json parsing: the released checkpoints' configs, transformers'
 * defaults for missing keys, generation_config merging, every error, and loading from a folder. */
#include "base/log.h"
#include "io/hf_config.h"
#include "test.h"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* microsoft/bitnet-b1.58-2B-4T (facts §1.1); the -bf16 repo differs only in quantization_mode. */
static const char *const k_2b4t =
    "{\n"
    "  \"architectures\": [\"BitNetForCausalLM\"],\n"
    "  \"attention_bias\": false,\n"
    "  \"attention_dropout\": 0.0,\n"
    "  \"bos_token_id\": 128000,\n"
    "  \"eos_token_id\": 128001,\n"
    "  \"hidden_act\": \"relu2\",\n"
    "  \"hidden_size\": 2560,\n"
    "  \"initializer_range\": 0.02,\n"
    "  \"intermediate_size\": 6912,\n"
    "  \"max_position_embeddings\": 4096,\n"
    "  \"model_type\": \"bitnet\",\n"
    "  \"num_attention_heads\": 20,\n"
    "  \"num_hidden_layers\": 30,\n"
    "  \"num_key_value_heads\": 5,\n"
    "  \"rms_norm_eps\": 1e-05,\n"
    "  \"rope_theta\": 500000.0,\n"
    "  \"tie_word_embeddings\": true,\n"
    "  \"torch_dtype\": \"bfloat16\",\n"
    "  \"use_cache\": true,\n"
    "  \"vocab_size\": 128256,\n"
    "  \"quantization_config\": {\"quant_method\": \"bitnet\", \"linear_class\": "
    "\"autobitlinear\", \"quantization_mode\": \"%s\"}\n"
    "}\n";

/* HF1BitLLM/Llama3-8B-1.58-100B-tokens style: LLaMA-3 with only quant_method given. */
static const char *const k_llama3_158 =
    "{\"architectures\": [\"LlamaForCausalLM\"], \"model_type\": \"llama\","
    " \"vocab_size\": 128256, \"hidden_size\": 4096, \"intermediate_size\": 14336,"
    " \"num_hidden_layers\": 32, \"num_attention_heads\": 32, \"num_key_value_heads\": 8,"
    " \"hidden_act\": \"silu\", \"max_position_embeddings\": 131072, \"rms_norm_eps\": 1e-05,"
    " \"rope_theta\": 500000.0, \"rope_scaling\": {\"factor\": 8.0, \"low_freq_factor\": 1.0,"
    " \"high_freq_factor\": 4.0, \"original_max_position_embeddings\": 8192,"
    " \"rope_type\": \"llama3\"}, \"tie_word_embeddings\": false, \"bos_token_id\": 128000,"
    " \"eos_token_id\": [128001, 128008, 128009], \"torch_dtype\": \"bfloat16\","
    " \"quantization_config\": {\"quant_method\": \"bitnet\"}}";

/* tiiuae/Falcon3-1B-Instruct-1.58bit style: explicit head_dim, lm_head left unconverted. */
static const char *const k_falcon3 =
    "{\"architectures\": [\"LlamaForCausalLM\"], \"model_type\": \"llama\","
    " \"vocab_size\": 131072, \"hidden_size\": 2048, \"intermediate_size\": 8192,"
    " \"num_hidden_layers\": 18, \"num_attention_heads\": 8, \"num_key_value_heads\": 4,"
    " \"head_dim\": 256, \"hidden_act\": \"silu\", \"max_position_embeddings\": 8192,"
    " \"rms_norm_eps\": 1e-06, \"rope_theta\": 1000042, \"rope_scaling\": null,"
    " \"tie_word_embeddings\": false, \"bos_token_id\": 11, \"eos_token_id\": 11,"
    " \"torch_dtype\": \"bfloat16\", \"quantization_config\": {\"quant_method\": \"bitnet\","
    " \"modules_to_not_convert\": [\"lm_head\"]}}";

/* 1bitLLM/bitnet_b1_58-large: custom class, model_type llama, latent fp16 weights. */
static const char *const k_1bitllm_large =
    "{\"architectures\": [\"BitnetForCausalLM\"], \"attention_bias\": false,"
    " \"bos_token_id\": 1, \"eos_token_id\": 2, \"hidden_act\": \"silu\", \"hidden_size\": 1536,"
    " \"input_bits\": 8, \"intermediate_size\": 4096, \"max_position_embeddings\": 2048,"
    " \"model_type\": \"llama\", \"num_attention_heads\": 16, \"num_hidden_layers\": 24,"
    " \"num_key_value_heads\": 16, \"pad_token_id\": 32000, \"rms_norm_eps\": 1e-05,"
    " \"rope_scaling\": null, \"rope_theta\": 10000.0, \"tie_word_embeddings\": true,"
    " \"torch_dtype\": \"float16\", \"vocab_size\": 32002, \"weight_bits\": 1}";

static bn_status parse(bn_hf_config *c, const char *json, const char *gen) {
    return bn_hf_config_parse(c, json, strlen(json), gen, gen ? strlen(gen) : 0, NULL);
}

static void test_2b4t(void) {
    char json[2048];
    snprintf(json, sizeof json, k_2b4t, "offline");
    bn_hf_config c;
    CHECK_OK(parse(&c, json, NULL));
    CHECK(strcmp(c.model_type, "bitnet") == 0, "model_type %s", c.model_type);
    CHECK(strcmp(c.architecture, "BitNetForCausalLM") == 0, "arch %s", c.architecture);
    CHECK(c.family == BN_HF_BITNET, "family %s", bn_hf_family_name(c.family));
    CHECK(c.vocab_size == 128256 && c.hidden_size == 2560 && c.intermediate_size == 6912,
          "sizes %lld %lld %lld", (long long)c.vocab_size, (long long)c.hidden_size,
          (long long)c.intermediate_size);
    CHECK(c.num_layers == 30 && c.num_heads == 20 && c.num_kv_heads == 5 && c.head_dim == 128,
          "layers/heads/kv/head_dim %lld %lld %lld %lld", (long long)c.num_layers,
          (long long)c.num_heads, (long long)c.num_kv_heads, (long long)c.head_dim);
    CHECK(c.max_position_embeddings == 4096, "max_pos %lld", (long long)c.max_position_embeddings);
    CHECK(c.rms_norm_eps == 1e-5 && c.rope_theta == 500000.0, "eps %g theta %g", c.rms_norm_eps,
          c.rope_theta);
    CHECK(c.rope_scaling_type[0] == '\0' && c.rope_scaling_factor == 1.0, "rope scaling '%s' %g",
          c.rope_scaling_type, c.rope_scaling_factor);
    CHECK(c.hidden_act == BN_HF_ACT_RELU2, "act %s", bn_hf_act_name(c.hidden_act));
    CHECK(c.tie_word_embeddings && c.has_sub_norms, "tie %d sub-norms %d", c.tie_word_embeddings,
          c.has_sub_norms);
    CHECK(c.n_bos == 1 && c.bos_ids[0] == 128000, "bos");
    CHECK(c.n_eos == 1 && c.eos_ids[0] == 128001, "eos");
    CHECK(c.pad_id == -1, "pad %lld", (long long)c.pad_id);
    CHECK(c.quantized && c.linear_class == BN_HF_LINEAR_AUTOBITLINEAR &&
              c.quant_mode == BN_HF_QUANT_OFFLINE && !c.use_rms_norm,
          "quant %d %s %d", c.quantized, bn_hf_linear_class_name(c.linear_class), c.quant_mode);
    CHECK(c.n_modules_not_convert == 0, "not-convert %d", c.n_modules_not_convert);
    CHECK(strcmp(c.torch_dtype, "bfloat16") == 0, "dtype %s", c.torch_dtype);

    snprintf(json, sizeof json, k_2b4t, "online");
    CHECK_OK(parse(&c, json, NULL));
    CHECK(c.quant_mode == BN_HF_QUANT_ONLINE && c.linear_class == BN_HF_LINEAR_AUTOBITLINEAR,
          "bf16 repo: online autobitlinear");
}

/* Trap 9: a file without the keys gets BitNetConfig's values, not 2B-4T's. */
static void test_bitnet_defaults(void) {
    bn_log_level saved = bn_log_get_level();
    bn_log_set_level(BN_LOG_ERROR); /* the info lines for each default are expected here */
    bn_hf_config c;
    CHECK_OK(parse(&c,
                   "{\"model_type\": \"bitnet\", \"quantization_config\": {\"quant_method\":"
                   " \"bitnet\"}}",
                   NULL));
    bn_log_set_level(saved);
    CHECK(c.family == BN_HF_BITNET && c.architecture[0] == '\0', "family");
    CHECK(c.vocab_size == 128256 && c.hidden_size == 2560 && c.intermediate_size == 6912 &&
              c.num_layers == 30 && c.num_heads == 20 && c.num_kv_heads == 5 && c.head_dim == 128,
          "BitNetConfig shape defaults");
    CHECK(c.max_position_embeddings == 2048, "max_pos default 2048, got %lld",
          (long long)c.max_position_embeddings);
    CHECK(!c.tie_word_embeddings, "tie default is False");
    CHECK(c.hidden_act == BN_HF_ACT_RELU2 && c.rms_norm_eps == 1e-5 && c.rope_theta == 500000.0,
          "act/eps/theta defaults");
    CHECK(c.n_bos == 1 && c.bos_ids[0] == 128000 && c.n_eos == 1 && c.eos_ids[0] == 128001 &&
              c.pad_id == -1,
          "token defaults");
    CHECK(c.linear_class == BN_HF_LINEAR_BITLINEAR && c.quant_mode == BN_HF_QUANT_OFFLINE,
          "BitNetQuantConfig defaults bitlinear/offline");
    CHECK(c.torch_dtype[0] == '\0', "no dtype");

    /* LlamaConfig defaults through a LLaMA ternary file with nothing else in it. */
    bn_log_set_level(BN_LOG_INFO); /* exercise the info lines once */
    CHECK_OK(parse(&c,
                   "{\"model_type\": \"llama\", \"quantization_config\": {\"quant_method\":"
                   " \"bitnet\"}}",
                   NULL));
    bn_log_set_level(saved);
    CHECK(c.family == BN_HF_LLAMA_BITNET, "llama family");
    CHECK(c.vocab_size == 32000 && c.hidden_size == 4096 && c.intermediate_size == 11008 &&
              c.num_layers == 32 && c.num_heads == 32 && c.num_kv_heads == 32 &&
              c.head_dim == 128 && c.max_position_embeddings == 2048,
          "LlamaConfig shape defaults");
    CHECK(c.rms_norm_eps == 1e-6 && c.rope_theta == 10000.0 && c.hidden_act == BN_HF_ACT_SILU &&
              !c.tie_word_embeddings && c.bos_ids[0] == 1 && c.eos_ids[0] == 2,
          "LlamaConfig scalar defaults");
    CHECK(!c.has_sub_norms, "llama: no sub-norms");
}

static void test_llama3_158(void) {
    bn_hf_config c;
    CHECK_OK(parse(&c, k_llama3_158, NULL));
    CHECK(c.family == BN_HF_LLAMA_BITNET && !c.has_sub_norms, "family/sub-norms");
    CHECK(c.hidden_act == BN_HF_ACT_SILU, "silu");
    CHECK(c.quantized && c.linear_class == BN_HF_LINEAR_BITLINEAR &&
              c.quant_mode == BN_HF_QUANT_OFFLINE,
          "quant_method only: bitlinear offline");
    CHECK(strcmp(c.rope_scaling_type, "llama3") == 0 && c.rope_scaling_factor == 8.0,
          "rope '%s' %g", c.rope_scaling_type, c.rope_scaling_factor);
    CHECK(c.n_eos == 3 && c.eos_ids[0] == 128001 && c.eos_ids[1] == 128008 &&
              c.eos_ids[2] == 128009,
          "eos list (%d)", c.n_eos);
    CHECK(c.num_kv_heads == 8 && c.head_dim == 128 && c.intermediate_size == 14336, "shape");
    CHECK(c.max_position_embeddings == 131072, "max_pos");
    CHECK(!c.attention_bias && !c.mlp_bias && c.input_bits == 8, "absent biases / input_bits");
    CHECK_OK(parse(&c,
                   "{\"model_type\": \"llama\", \"attention_bias\": true, \"mlp_bias\": false,"
                   " \"quantization_config\": {\"quant_method\": \"bitnet\"}}",
                   NULL));
    CHECK(c.attention_bias && !c.mlp_bias, "biases recorded (the converter refuses them)");
}

static void test_falcon3(void) {
    bn_hf_config c;
    CHECK_OK(parse(&c, k_falcon3, NULL));
    CHECK(c.family == BN_HF_LLAMA_BITNET, "family");
    CHECK(c.head_dim == 256 && c.hidden_size == 2048 && c.num_heads == 8 && c.num_kv_heads == 4,
          "head_dim %lld", (long long)c.head_dim);
    CHECK(c.rope_theta == 1000042.0, "theta %g", c.rope_theta);
    CHECK(c.rope_scaling_type[0] == '\0' && c.rope_scaling_factor == 1.0, "rope_scaling null");
    CHECK(c.n_modules_not_convert == 1 && strcmp(c.modules_not_convert[0], "lm_head") == 0,
          "modules_to_not_convert");
    CHECK(c.n_bos == 1 && c.bos_ids[0] == 11 && c.n_eos == 1 && c.eos_ids[0] == 11, "ids");
    /* head_dim need not be hidden / heads when given: 2048 / 8 heads of 512 is what it says. */
    CHECK_OK(parse(&c,
                   "{\"model_type\": \"llama\", \"hidden_size\": 2048, \"num_attention_heads\": 8,"
                   " \"head_dim\": 512, \"quantization_config\": {\"quant_method\": \"bitnet\"}}",
                   NULL));
    CHECK(c.head_dim == 512, "explicit head_dim wins");
}

static void test_1bitllm(void) {
    bn_hf_config c;
    CHECK_OK(parse(&c, k_1bitllm_large, NULL));
    CHECK(c.family == BN_HF_1BITLLM, "family %s", bn_hf_family_name(c.family));
    CHECK(strcmp(c.model_type, "llama") == 0, "model_type as written");
    CHECK(!c.quantized && c.linear_class == BN_HF_LINEAR_NONE && c.quant_mode == BN_HF_QUANT_NONE,
          "latent weights");
    CHECK(c.has_sub_norms && c.hidden_act == BN_HF_ACT_SILU, "sub-norms, silu");
    CHECK(c.hidden_size == 1536 && c.intermediate_size == 4096 && c.num_layers == 24 &&
              c.num_heads == 16 && c.num_kv_heads == 16 && c.head_dim == 96 &&
              c.vocab_size == 32002 && c.max_position_embeddings == 2048,
          "shape");
    CHECK(c.rope_theta == 10000.0 && c.rms_norm_eps == 1e-5, "theta/eps");
    CHECK(c.tie_word_embeddings, "tie true as the file says");
    CHECK(c.bos_ids[0] == 1 && c.eos_ids[0] == 2 && c.pad_id == 32000, "ids");
    CHECK(strcmp(c.torch_dtype, "float16") == 0, "dtype");
    CHECK(c.input_bits == 8 && !c.attention_bias && !c.mlp_bias, "input_bits / biases");

    /* Without model_type the class still decides; defaults are LlamaConfig's (silu, tie false). */
    CHECK_OK(parse(&c, "{\"architectures\": [\"BitnetForCausalLM\"]}", NULL));
    CHECK(c.family == BN_HF_1BITLLM && strcmp(c.model_type, "llama") == 0, "implied llama");
    CHECK(c.hidden_act == BN_HF_ACT_SILU && !c.tie_word_embeddings && c.hidden_size == 4096,
          "LlamaConfig defaults");
}

static void test_generation_merge(void) {
    bn_hf_config c;
    /* eos 128009 repeats the config's; 128008 is new; bos repeats. */
    CHECK_OK(parse(&c, k_llama3_158,
                   "{\"bos_token_id\": 128000, \"eos_token_id\": [128009, 128001, 128010],"
                   " \"do_sample\": true, \"temperature\": 0.6}"));
    CHECK(c.n_eos == 4 && c.eos_ids[0] == 128001 && c.eos_ids[1] == 128008 &&
              c.eos_ids[2] == 128009 && c.eos_ids[3] == 128010,
          "merged eos (%d)", c.n_eos);
    CHECK(c.n_bos == 1 && c.bos_ids[0] == 128000, "bos dedupe");
    char json[2048];
    snprintf(json, sizeof json, k_2b4t, "offline");
    /* 2B-4T's generation_config: eos 128009 (<|eot_id|>) joins 128001. */
    CHECK_OK(parse(&c, json, "{\"bos_token_id\": 128000, \"eos_token_id\": 128009}"));
    CHECK(c.n_eos == 2 && c.eos_ids[0] == 128001 && c.eos_ids[1] == 128009, "int eos merged");
    CHECK_OK(parse(&c, json, "{\"eos_token_id\": null, \"pad_token_id\": 128001}"));
    CHECK(c.n_eos == 1 && c.pad_id == 128001, "null eos adds nothing; pad fills in");
    /* A pad from the config is not overridden. */
    CHECK_OK(parse(&c, k_1bitllm_large, "{\"pad_token_id\": 0}"));
    CHECK(c.pad_id == 32000, "config pad kept");
}

static void test_config_oddities(void) {
    bn_hf_config c;
    const char *q = ", \"quantization_config\": {\"quant_method\": \"bitnet\"}";
    char json[512];
    /* num_key_value_heads null, pad -1, alias keys, rope_scaling with the old "type" key. */
    snprintf(json, sizeof json,
             "{\"model_type\": \"llama\", \"num_key_value_heads\": null, \"pad_token_id\": -1,"
             " \"hidden_activation\": \"swish\", \"dtype\": \"float32\", \"bos_token_id\": null,"
             " \"rope_scaling\": {\"type\": \"linear\", \"factor\": 2}%s}",
             q);
    CHECK_OK(parse(&c, json, NULL));
    CHECK(c.num_kv_heads == c.num_heads && c.pad_id == -1 && c.n_bos == 0, "nulls");
    CHECK(c.hidden_act == BN_HF_ACT_SILU && strcmp(c.torch_dtype, "float32") == 0, "aliases");
    CHECK(strcmp(c.rope_scaling_type, "linear") == 0 && c.rope_scaling_factor == 2.0, "type key");
    /* transformers 5 keeps rope_theta inside rope_parameters. */
    snprintf(json, sizeof json,
             "{\"model_type\": \"llama\", \"rope_parameters\": {\"rope_type\": \"default\","
             " \"rope_theta\": 250000.0}%s}",
             q);
    CHECK_OK(parse(&c, json, NULL));
    CHECK(c.rope_theta == 250000.0 && strcmp(c.rope_scaling_type, "default") == 0 &&
              c.rope_scaling_factor == 1.0,
          "rope_parameters: theta %g type '%s'", c.rope_theta, c.rope_scaling_type);
    /* 1e1 is an integer; a UTF-8 byte-order mark and trailing whitespace are fine. */
    snprintf(json, sizeof json,
             "\xEF\xBB\xBF{\"model_type\": \"bitnet\", \"num_hidden_layers\": 1e1%s}\n\n", q);
    CHECK_OK(parse(&c, json, NULL));
    CHECK(c.num_layers == 10, "1e1 layers");
    CHECK(bn_hf_config_parse(NULL, "{}", 2, NULL, 0, NULL) == BN_ERR_INVALID_ARG, "NULL cfg");
    CHECK(strcmp(bn_hf_linear_class_name(BN_HF_LINEAR_NONE), "none") == 0 &&
              strcmp(bn_hf_family_name(BN_HF_LLAMA_BITNET), "llama-bitnet") == 0 &&
              strcmp(bn_hf_act_name(BN_HF_ACT_SILU), "silu") == 0,
          "names");
}

typedef struct bad_case {
    const char *json;
    bn_status code;
    const char *needle; /* must appear in the message */
} bad_case;

static const bad_case k_bad[] = {
    /* not JSON, not an object, trailing text, duplicate keys */
    {"{\"model_type\": \"bitnet\",", BN_ERR_FORMAT, "config.json: not valid JSON"},
    {"", BN_ERR_FORMAT, "not valid JSON"},
    {"[1, 2]", BN_ERR_FORMAT, "top level is a list"},
    {"{\"model_type\": \"bitnet\"} {}", BN_ERR_FORMAT, "text after the JSON value"},
    {"{\"model_type\": \"bitnet\", \"hidden_size\": 8, \"hidden_size\": 16}", BN_ERR_FORMAT,
     "hidden_size appears more than once"},
    /* wrong types */
    {"{\"model_type\": \"bitnet\", \"hidden_size\": \"2560\"}", BN_ERR_FORMAT,
     "config.json: hidden_size is a string, want an integer"},
    {"{\"model_type\": \"bitnet\", \"vocab_size\": 1.5}", BN_ERR_FORMAT, "vocab_size is 1.5"},
    {"{\"model_type\": \"bitnet\", \"num_hidden_layers\": true}", BN_ERR_FORMAT,
     "num_hidden_layers is a boolean"},
    {"{\"model_type\": \"bitnet\", \"intermediate_size\": null}", BN_ERR_FORMAT,
     "intermediate_size is null"},
    {"{\"model_type\": \"bitnet\", \"rms_norm_eps\": \"1e-5\"}", BN_ERR_FORMAT,
     "rms_norm_eps is a string, want a number"},
    {"{\"model_type\": \"bitnet\", \"tie_word_embeddings\": 1}", BN_ERR_FORMAT,
     "tie_word_embeddings is a number"},
    {"{\"model_type\": \"bitnet\", \"eos_token_id\": \"2\"}", BN_ERR_FORMAT, "eos_token_id is a"},
    {"{\"model_type\": \"bitnet\", \"eos_token_id\": [1, \"2\"]}", BN_ERR_FORMAT,
     "eos_token_id[1] is a string"},
    {"{\"model_type\": \"bitnet\", \"architectures\": \"BitNetForCausalLM\"}", BN_ERR_FORMAT,
     "architectures is a string"},
    {"{\"model_type\": 7}", BN_ERR_FORMAT, "model_type is a number"},
    {"{\"model_type\": \"bitnet\", \"hidden_act\": 2}", BN_ERR_FORMAT, "hidden_act is a number"},
    {"{\"model_type\": \"bitnet\", \"torch_dtype\": 16}", BN_ERR_FORMAT, "torch_dtype is a num"},
    {"{\"model_type\": \"bitnet\", \"quantization_config\": []}", BN_ERR_FORMAT,
     "quantization_config is a list"},
    {"{\"model_type\": \"bitnet\", \"quantization_config\": {}}", BN_ERR_FORMAT,
     "quantization_config has no quant_method"},
    {"{\"model_type\": \"bitnet\", \"quantization_config\": {\"quant_method\": \"bitnet\","
     " \"use_rms_norm\": \"no\"}}",
     BN_ERR_FORMAT, "quantization_config.use_rms_norm is a string"},
    {"{\"model_type\": \"bitnet\", \"quantization_config\": {\"quant_method\": \"bitnet\","
     " \"modules_to_not_convert\": [\"lm_head\", 1]}}",
     BN_ERR_FORMAT, "quantization_config.modules_to_not_convert[1] is a number"},
    {"{\"model_type\": \"bitnet\", \"rope_scaling\": {\"rope_type\": \"linear\", \"factor\": "
     "\"2\"}}",
     BN_ERR_FORMAT, "rope_scaling.factor is a string"},
    {"{\"model_type\": \"bitnet\", \"rope_scaling\": {\"factor\": 2}}", BN_ERR_FORMAT,
     "rope_scaling.rope_type is missing"},
    {"{\"model_type\": \"bitnet\", \"rope_scaling\": {\"rope_type\": \"yarn\"}}", BN_ERR_FORMAT,
     "rope_scaling.factor is missing"},
    {"{\"model_type\": \"bitnet\", \"rope_scaling\": 8}", BN_ERR_FORMAT, "rope_scaling is a"},
    {"{\"model_type\": \"bitnet\", \"head_dim\": \"128\"}", BN_ERR_FORMAT, "head_dim is a str"},
    {"{\"model_type\": \"bitnet\", \"attention_bias\": 0}", BN_ERR_FORMAT,
     "attention_bias is a number"},
    {"{\"model_type\": \"bitnet\", \"mlp_bias\": \"no\"}", BN_ERR_FORMAT, "mlp_bias is a string"},
    {"{\"architectures\": [\"BitnetForCausalLM\"], \"input_bits\": 8.5}", BN_ERR_FORMAT,
     "input_bits is 8.5"},
    /* out of range */
    {"{\"model_type\": \"bitnet\", \"hidden_size\": 0}", BN_ERR_RANGE, "hidden_size is 0"},
    {"{\"model_type\": \"bitnet\", \"hidden_size\": -2560}", BN_ERR_RANGE, "hidden_size is -2560"},
    {"{\"model_type\": \"bitnet\", \"hidden_size\": 1e12}", BN_ERR_RANGE, "hidden_size"},
    {"{\"architectures\": [\"BitnetForCausalLM\"], \"input_bits\": 0}", BN_ERR_RANGE,
     "input_bits is 0"},
    {"{\"model_type\": \"bitnet\", \"vocab_size\": 0}", BN_ERR_RANGE, "vocab_size"},
    {"{\"model_type\": \"bitnet\", \"num_hidden_layers\": -1}", BN_ERR_RANGE, "num_hidden_layers"},
    {"{\"model_type\": \"bitnet\", \"intermediate_size\": 0}", BN_ERR_RANGE, "intermediate_size"},
    {"{\"model_type\": \"bitnet\", \"max_position_embeddings\": 0}", BN_ERR_RANGE,
     "max_position_embeddings"},
    {"{\"model_type\": \"bitnet\", \"num_attention_heads\": 0}", BN_ERR_RANGE,
     "num_attention_heads"},
    {"{\"model_type\": \"bitnet\", \"num_attention_heads\": 7, \"num_key_value_heads\": 7}",
     BN_ERR_RANGE, "num_attention_heads 7 does not divide hidden_size 2560"},
    {"{\"model_type\": \"bitnet\", \"num_key_value_heads\": 3}", BN_ERR_RANGE,
     "num_key_value_heads 3 does not divide"},
    {"{\"model_type\": \"bitnet\", \"num_attention_heads\": 16}", BN_ERR_RANGE,
     "num_key_value_heads 5 does not divide num_attention_heads 16"},
    {"{\"model_type\": \"bitnet\", \"head_dim\": 0}", BN_ERR_RANGE, "head_dim"},
    {"{\"model_type\": \"bitnet\", \"rms_norm_eps\": 0}", BN_ERR_RANGE, "rms_norm_eps"},
    {"{\"model_type\": \"bitnet\", \"rms_norm_eps\": 1e999}", BN_ERR_RANGE, "rms_norm_eps"},
    {"{\"model_type\": \"bitnet\", \"rope_theta\": -10000}", BN_ERR_RANGE, "rope_theta"},
    {"{\"model_type\": \"bitnet\", \"rope_scaling\": {\"rope_type\": \"linear\", \"factor\": 0}}",
     BN_ERR_RANGE, "rope_scaling.factor"},
    {"{\"model_type\": \"bitnet\", \"eos_token_id\": [1, 2, 3, 4, 5, 6, 7, 8, 9]}", BN_ERR_RANGE,
     "eos_token_id"},
    {"{\"model_type\": \"bitnet\", \"bos_token_id\": -5}", BN_ERR_RANGE, "bos_token_id"},
    {"{\"model_type\": \"bitnet\", \"pad_token_id\": -2}", BN_ERR_RANGE, "pad_token_id"},
    {"{\"model_type\": \"bitnet\", \"torch_dtype\": \"a_dtype_name_far_too_long\"}", BN_ERR_RANGE,
     "torch_dtype"},
    {"{\"model_type\": \"bitnet_with_a_model_type_name_too_long\"}", BN_ERR_RANGE, "model_type"},
    {"{\"model_type\": \"bitnet\", \"quantization_config\": {\"quant_method\": \"bitnet\","
     " \"modules_to_not_convert\": [\"a\", \"b\", \"c\", \"d\", \"e\", \"f\", \"g\", \"h\", \"i\","
     " \"j\", \"k\", \"l\", \"m\", \"n\", \"o\", \"p\", \"q\"]}}",
     BN_ERR_RANGE, "modules_to_not_convert[16]"},
    {"{\"model_type\": \"bitnet\", \"quantization_config\": {\"quant_method\": \"bitnet\","
     " \"modules_to_not_convert\": [\"model.layers.0.self_attn.q_proj.and.a.much.longer.name."
     "than.fits\"]}}",
     BN_ERR_RANGE, "modules_to_not_convert[0]"},
    /* unsupported */
    {"{\"model_type\": \"gpt2\"}", BN_ERR_UNSUPPORTED, "model_type 'gpt2'"},
    {"{\"model_type\": \"bitnet\", \"hidden_act\": \"gelu\"}", BN_ERR_UNSUPPORTED,
     "hidden_act 'gelu'"},
    {"{\"model_type\": \"bitnet\", \"quantization_config\": {\"quant_method\": \"bitnet\","
     " \"linear_class\": \"ternarylinear\"}}",
     BN_ERR_UNSUPPORTED, "linear_class 'ternarylinear'"},
    {"{\"model_type\": \"bitnet\", \"quantization_config\": {\"quant_method\": \"bitnet\","
     " \"quantization_mode\": \"lazy\"}}",
     BN_ERR_UNSUPPORTED, "quantization_mode 'lazy'"},
    {"{\"model_type\": \"llama\", \"quantization_config\": {\"quant_method\": \"gptq\","
     " \"bits\": 4}}",
     BN_ERR_UNSUPPORTED, "quant_method 'gptq'"},
    {"{\"model_type\": \"llama\", \"architectures\": [\"LlamaForCausalLM\"]}", BN_ERR_UNSUPPORTED,
     "not a ternary checkpoint"},
    {"{\"architectures\": [\"LlamaForCausalLM\"]}", BN_ERR_UNSUPPORTED, "not a ternary"},
    {"{\"model_type\": \"bitnet\", \"rope_scaling\": {\"rope_type\": \"longrope\", \"factor\": "
     "2}}",
     BN_ERR_UNSUPPORTED, "rope_scaling.rope_type 'longrope'"},
    /* architectures[0] must be the family's causal-LM class */
    {"{\"model_type\": \"llama\", \"architectures\": [\"LlamaForSequenceClassification\"],"
     " \"quantization_config\": {\"quant_method\": \"bitnet\"}}",
     BN_ERR_UNSUPPORTED, "architectures[0] 'LlamaForSequenceClassification'"},
    {"{\"model_type\": \"bitnet\", \"architectures\": [\"LlamaForCausalLM\"]}", BN_ERR_UNSUPPORTED,
     "architectures[0] 'LlamaForCausalLM' is not supported with model_type "
     "'bitnet'"},
    {"{\"model_type\": \"llama\", \"architectures\": [\"MistralForCausalLM\"],"
     " \"quantization_config\": {\"quant_method\": \"bitnet\"}}",
     BN_ERR_UNSUPPORTED, "want LlamaForCausalLM"},
    /* missing */
    {"{}", BN_ERR_NOT_FOUND, "model_type"},
    {"{\"architectures\": [\"GPT2LMHeadModel\"]}", BN_ERR_NOT_FOUND, "model_type"},
};

static void test_errors(void) {
    bn_log_level saved = bn_log_get_level();
    bn_log_set_level(BN_LOG_ERROR); /* bitnet without quantization_config warns; expected */
    for (size_t i = 0; i < sizeof k_bad / sizeof k_bad[0]; i++) {
        bn_hf_config c;
        memset(&c, 0x5a, sizeof c);
        bn_clear_error();
        bn_status st = parse(&c, k_bad[i].json, NULL);
        CHECK(st == k_bad[i].code, "case %zu (%s): got %s want %s: %s", i, k_bad[i].json,
              bn_status_str(st), bn_status_str(k_bad[i].code), bn_last_error());
        CHECK(strstr(bn_last_error(), k_bad[i].needle) != NULL, "case %zu: message '%s' lacks '%s'",
              i, bn_last_error(), k_bad[i].needle);
        /* a failed parse leaves the output alone */
        CHECK(c.vocab_size == 0x5a5a5a5a5a5a5a5aLL, "case %zu wrote cfg", i);
    }
    bn_log_set_level(saved);
}

static void test_generation_errors(void) {
    char json[2048];
    snprintf(json, sizeof json, k_2b4t, "offline");
    bn_hf_config c;
    bn_status st = parse(&c, json, "{\"eos_token_id\": ");
    CHECK(st == BN_ERR_FORMAT && strstr(bn_last_error(), "generation_config.json: not valid"),
          "bad generation JSON: %s", bn_last_error());
    st = parse(&c, json, "{\"eos_token_id\": \"128009\"}");
    CHECK(st == BN_ERR_FORMAT && strstr(bn_last_error(), "generation_config.json: eos_token_id"),
          "generation eos type: %s", bn_last_error());
    /* 1 from the config + 8 new ones = 9 > BN_HF_MAX_IDS */
    st = parse(&c, json, "{\"eos_token_id\": [1, 2, 3, 4, 5, 6, 7, 8]}");
    CHECK(st == BN_ERR_RANGE && strstr(bn_last_error(), "eos_token_id"), "merged overflow: %s",
          bn_last_error());
    /* the folder name goes into messages */
    st = bn_hf_config_parse(&c, "{", 1, NULL, 0, "models/x");
    CHECK(st == BN_ERR_FORMAT && strstr(bn_last_error(), "models/x/config.json"), "named: %s",
          bn_last_error());
}

static int write_file(const char *dir, const char *name, const char *text) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (f == NULL)
        return -1;
    size_t n = strlen(text);
    int ok = fwrite(text, 1, n, f) == n;
    return (fclose(f) == 0 && ok) ? 0 : -1;
}

static void remove_file(const char *dir, const char *name) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    unlink(path);
}

static void test_load(void) {
    char dir[] = "/tmp/bn_hf_config_XXXXXX";
    if (mkdtemp(dir) == NULL) {
        CHECK(0, "mkdtemp failed");
        return;
    }
    bn_hf_config c;
    bn_status st = bn_hf_config_load(&c, dir);
    CHECK(st == BN_ERR_NOT_FOUND && strstr(bn_last_error(), dir) &&
              strstr(bn_last_error(), "config.json"),
          "missing config.json: %s", bn_last_error());

    char json[2048];
    snprintf(json, sizeof json, k_2b4t, "offline");
    CHECK(write_file(dir, "config.json", json) == 0, "write config.json");
    CHECK_OK(bn_hf_config_load(&c, dir));
    CHECK(c.n_eos == 1 && c.max_position_embeddings == 4096, "loaded without generation config");

    CHECK(write_file(dir, "generation_config.json", "{\"eos_token_id\": [128001, 128009]}") == 0,
          "write generation_config.json");
    CHECK_OK(bn_hf_config_load(&c, dir));
    CHECK(c.n_eos == 2 && c.eos_ids[1] == 128009, "loaded with generation config");

    CHECK(write_file(dir, "generation_config.json", "{\"eos_token_id\": [}") == 0, "rewrite");
    st = bn_hf_config_load(&c, dir);
    CHECK(st == BN_ERR_FORMAT && strstr(bn_last_error(), "generation_config.json"),
          "broken generation config: %s", bn_last_error());
    remove_file(dir, "generation_config.json");

    /* an oversized (sparse) file is refused before it is read */
    char path[512];
    snprintf(path, sizeof path, "%s/config.json", dir);
    int fd = open(path, O_WRONLY);
    CHECK(fd >= 0 && ftruncate(fd, (off_t)17 << 20) == 0, "grow config.json");
    if (fd >= 0)
        close(fd);
    st = bn_hf_config_load(&c, dir);
    CHECK(st == BN_ERR_RANGE && strstr(bn_last_error(), "config.json"), "oversized: %s",
          bn_last_error());

    remove_file(dir, "config.json");
    rmdir(dir);
    CHECK(bn_hf_config_load(&c, NULL) == BN_ERR_INVALID_ARG, "NULL dir");
}

int main(void) {
    test_2b4t();
    test_bitnet_defaults();
    test_llama3_158();
    test_falcon3();
    test_1bitllm();
    test_generation_merge();
    test_config_oddities();
    test_errors();
    test_generation_errors();
    test_load();
    return bn_test_finish("test_hf_config");
}
