/* engine_args.c - the --kv-type / --head-type options of engine_args.h. */
#include "engine_args.h"

#include <string.h>

const char BN_CLI_ENGINE_HELP[] =
    "  --kv-type f16|f32      KV cache precision\n"
    "  --head-type q8_0|file  output head: re-encoded as q8_0 at load, or as the file has it\n";

bn_cli_engine bn_cli_engine_defaults(bool exact) {
    return (bn_cli_engine){.kv_type = exact ? BN_DTYPE_F32 : BN_DTYPE_F16, .head_q8 = !exact};
}

bn_cli_opt bn_cli_engine_option(const char *cmd, int argc, char **argv, int *i, bn_cli_engine *e) {
    const char *o = argv[*i];
    bool kv = strcmp(o, "--kv-type") == 0, head = strcmp(o, "--head-type") == 0;
    if (!kv && !head)
        return BN_CLI_NOT_MINE;
    if (*i + 1 >= argc) {
        bn_cli_usage_error(cmd, "%s needs a value", o);
        return BN_CLI_BAD;
    }
    const char *v = argv[++*i];
    if (kv && (strcmp(v, "f16") == 0 || strcmp(v, "f32") == 0))
        e->kv_type = v[1] == '1' ? BN_DTYPE_F16 : BN_DTYPE_F32;
    else if (head && (strcmp(v, "q8_0") == 0 || strcmp(v, "file") == 0))
        e->head_q8 = v[0] == 'q';
    else {
        bn_cli_usage_error(cmd, "%s %s: want %s", o, v, kv ? "f16 or f32" : "q8_0 or file");
        return BN_CLI_BAD;
    }
    return BN_CLI_TAKEN;
}

bn_status bn_cli_engine_context(const bn_cli_engine *e, bn_model *m, int n_ctx, int threads,
                                bn_context **out) {
    /* a hidden size that q8_0 blocks do not divide keeps its float head */
    if (e->head_q8 && m->cfg.dim % 32 == 0)
        BN_TRY(bn_model_set_head_type(m, BN_DTYPE_Q8_0));
    bn_context_params p = bn_context_default_params();
    p.n_ctx = n_ctx;
    p.n_threads = threads;
    p.kv_type = e->kv_type;
    return bn_context_create(out, m, &p);
}
