/*
 * cmd_export.c - `bitnet export CHECKPOINT OUT.gguf` / `--hf OUT_DIR`: a trained model as a
 * GGUF file or a Hugging Face folder (train/export.h).
 */
#include "cli.h"

#include "text/tokenizer.h"
#include "train/checkpoint.h"
#include "train/export.h"

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

static const char USAGE[] =
    "usage: bitnet export CHECKPOINT OUT.gguf [--type T] [--embed-type E] [--tokenizer TOK]\n"
    "       bitnet export CHECKPOINT --hf OUT_DIR [--tokenizer TOK]\n"
    "\n"
    "Write a trained model (a `bitnet train` run folder or its checkpoint.safetensors) as a\n"
    "GGUF file for `bitnet run` and llama.cpp, or as a Hugging Face folder (config.json,\n"
    "model.safetensors in the packed autobitlinear layout of bitnet-b1.58-2B-4T, tokenizer\n"
    "files) that transformers' BitNetForCausalLM loads. The ternary weights are the ones the\n"
    "trainer's forward uses (absmean per tensor), so both give the trainer's logits.\n"
    "\n"
    "  --type T        GGUF linear layers: tq2_0 (default), tq1_0, i2_s, f16, bf16, f32\n"
    "  --embed-type E  GGUF embeddings (the tied head): f16 (default), bf16, q8_0, f32\n"
    "  --hf OUT_DIR    write a Hugging Face folder instead (made if missing)\n"
    "  --tokenizer TOK the tokenizer to ship (default: the run folder's tokenizer.json, which\n"
    "                  `bitnet train` writes, else the one its config names)\n";

typedef struct export_args {
    const char *ckpt, *out, *hf, *tokenizer;
    bn_convert_options opt;
} export_args;

static int parse(int argc, char **argv, export_args *a) {
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (bn_cli_is_help(o)) {
            fputs(USAGE, stdout);
            return -1;
        } else if (o[0] != '-' || o[1] == '\0') {
            if (a->ckpt == NULL)
                a->ckpt = o;
            else if (a->out == NULL)
                a->out = o;
            else
                return bn_cli_usage_error("export", "too many paths ('%s')", o);
            continue;
        } else if (v == NULL) {
            return bn_cli_usage_error("export", "unknown option or missing value: %s", o);
        } else if (!strcmp(o, "--type") || !strcmp(o, "--embed-type")) {
            bn_dtype *t = !strcmp(o, "--type") ? &a->opt.type : &a->opt.embed_type;
            if (bn_dtype_from_name(v, t) != BN_OK)
                return bn_cli_usage_error("export", "%s: unknown type '%s'", o, v);
        } else if (!strcmp(o, "--hf")) {
            a->hf = v;
        } else if (!strcmp(o, "--tokenizer")) {
            a->tokenizer = v;
        } else {
            return bn_cli_usage_error("export", "unknown option: %s", o);
        }
        i++;
    }
    if (a->ckpt == NULL || (a->out == NULL) == (a->hf == NULL))
        return bn_cli_usage_error("export", "want CHECKPOINT and either OUT.gguf or --hf OUT_DIR");
    if (bn_convert_check_options(&a->opt) != BN_OK)
        return bn_cli_usage_error("export", "%s", bn_last_error());
    return 0;
}

/* The tokenizer: --tokenizer, the run folder's tokenizer.json, or the config's. */
static bn_status load_tokenizer(const export_args *a, const bn_checkpoint *ck, bn_tokenizer **tok) {
    if (a->tokenizer != NULL)
        return bn_tokenizer_load(tok, a->tokenizer);
    char dir[4096], path[4200];
    struct stat sb;
    snprintf(dir, sizeof dir, "%s", a->ckpt);
    if (!(stat(dir, &sb) == 0 && S_ISDIR(sb.st_mode))) { /* a file: its folder */
        char *slash = strrchr(dir, '/');
        if (slash != NULL)
            *slash = '\0';
        else
            snprintf(dir, sizeof dir, ".");
    }
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    if (stat(path, &sb) == 0)
        return bn_tokenizer_load(tok, path);
    cJSON *cfg = ck->info.config ? cJSON_Parse(ck->info.config) : NULL;
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(cfg, "tokenizer");
    bn_status s = cJSON_IsString(t) ? bn_tokenizer_load(tok, t->valuestring)
                                    : BN_ERROR(BN_ERR_NOT_FOUND,
                                               "export: no tokenizer beside %s "
                                               "and none in its config: give "
                                               "--tokenizer",
                                               a->ckpt);
    cJSON_Delete(cfg);
    return s;
}

int bn_cmd_export(int argc, char **argv) {
    export_args a = {
        .opt = {.type = BN_DTYPE_TQ2_0, .embed_type = BN_DTYPE_F16, .head_as_source = true}};
    int rc = parse(argc, argv, &a);
    if (rc != 0)
        return rc < 0 ? 0 : rc;
    bn_checkpoint ck;
    bn_status s = bn_checkpoint_open(&ck, a.ckpt);
    if (s != BN_OK)
        return bn_cli_fail(s);
    bn_net *net = NULL;
    bn_tokenizer *tok = NULL;
    s = bn_net_create(&net, &ck.model);
    if (s == BN_OK)
        s = bn_checkpoint_restore(&ck, net, NULL);
    if (s == BN_OK)
        s = load_tokenizer(&a, &ck, &tok);
    if (s == BN_OK)
        s = a.hf != NULL ? bn_export_hf(net, bn_tokenizer_spec_of(tok), a.hf)
                         : bn_export_gguf(net, bn_tokenizer_spec_of(tok), a.out, &a.opt);
    if (s == BN_OK)
        fprintf(stderr, "bitnet export: %s (step %lld)\n", a.hf ? a.hf : a.out,
                (long long)ck.info.step);
    bn_tokenizer_free(tok);
    bn_net_free(net);
    bn_checkpoint_close(&ck);
    return s == BN_OK ? 0 : bn_cli_fail(s);
}
