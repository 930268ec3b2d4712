/*
 * test_train_model.c - a whole tiny model's loss and gradients for one batch against PyTorch.
 *
 * tests/fixtures/train-reference/<case>/ (made by scripts/train_reference.py, checked there
 * against transformers' BitNetForCausalLM) holds the weights, a batch, the loss and every
 * parameter's gradient of the same model with the same straight-through quantizers, in float32.
 * Ours must give the same loss and each gradient within relative L2 error 1e-4. Cases: BitNet
 * (BitLinear, relu2) and the float baseline (plain linear layers, SiLU).
 */
#include "test.h"

#include "io/safetensors.h"
#include "train/json_fields.h"
#include "train/net.h"

#include <string.h>

/* The fixture's config in our terms ("linear": "bitnet" there, "bitlinear" here). */
static bool read_config(const cJSON *meta, bn_net_config *c) {
    const cJSON *j = cJSON_GetObjectItem(meta, "config");
    cJSON *copy = cJSON_Duplicate(j, true);
    cJSON *lin = cJSON_GetObjectItem(copy, "linear");
    bool ternary = lin != NULL && strcmp(lin->valuestring, "bitnet") == 0;
    cJSON_DeleteItemFromObject(copy, "linear");
    cJSON *eps = cJSON_DetachItemFromObject(copy, "eps");
    cJSON_AddItemToObject(copy, "norm_eps", eps);
    bn_jobj o = {.obj = copy, .path = "config."};
    bn_status s = bn_net_config_read(&o, c);
    CHECK(s == BN_OK, "fixture config: %s", bn_last_error());
    c->ternary = ternary;
    cJSON_Delete(copy);
    return s == BN_OK && bn_net_config_check(c) == BN_OK;
}

static void check_case(const char *name) {
    char path[512];
    snprintf(path, sizeof path, "%s/tests/fixtures/train-reference/%s/meta.json", BN_SOURCE_DIR,
             name);
    char *text = bn_test_read_file(path, NULL);
    cJSON *meta = text != NULL ? cJSON_Parse(text) : NULL;
    CHECK(meta != NULL, "%s: cannot read the fixture's meta.json", name);
    bn_net_config cfg;
    if (meta == NULL || !read_config(meta, &cfg)) {
        free(text);
        cJSON_Delete(meta);
        return;
    }
    bn_safetensors *w = NULL, *g = NULL, *batch = NULL;
    snprintf(path, sizeof path, "%s/tests/fixtures/train-reference/%s/weights.safetensors",
             BN_SOURCE_DIR, name);
    CHECK_OK(bn_st_open(&w, path));
    snprintf(path, sizeof path, "%s/tests/fixtures/train-reference/%s/grads.safetensors",
             BN_SOURCE_DIR, name);
    CHECK_OK(bn_st_open(&g, path));
    snprintf(path, sizeof path, "%s/tests/fixtures/train-reference/%s/batch.safetensors",
             BN_SOURCE_DIR, name);
    CHECK_OK(bn_st_open(&batch, path));
    bn_net *net = NULL;
    CHECK_OK(bn_net_create(&net, &cfg));
    if (w == NULL || g == NULL || batch == NULL || net == NULL)
        goto done;

    for (int i = 0; i < net->n_params; i++) {
        const bn_st_tensor *t = bn_st_find(w, net->params[i].name);
        CHECK(t != NULL && t->size == (size_t)net->params[i].numel * sizeof(float),
              "%s: weight %s missing or of another size", name, net->params[i].name);
        if (t != NULL && t->size == (size_t)net->params[i].numel * sizeof(float))
            memcpy(net->params[i].data, t->data, t->size);
    }
    const bn_st_tensor *tok = bn_st_find(batch, "tokens"), *tgt = bn_st_find(batch, "targets");
    CHECK(tok != NULL && tgt != NULL && tok->n_dims == 2 && tok->shape[1] == cfg.context,
          "%s: batch tensors", name);
    if (tok == NULL || tgt == NULL)
        goto done;
    int b = (int)tok->shape[0];

    bn_tape *tape = NULL;
    CHECK_OK(bn_tape_create(&tape, 1 << 20, NULL));
    bn_var *loss = NULL;
    bn_net_zero_grad(net);
    CHECK_OK(bn_net_forward(net, tape, (const int32_t *)tok->data, (const int32_t *)tgt->data, b,
                            &loss));
    if (loss != NULL) {
        CHECK_OK(bn_tape_backward(tape, loss));
        double want = cJSON_GetObjectItem(meta, "loss")->valuedouble;
        CHECK_NEAR(loss->data[0], want, 1e-5 * want, "loss");
        double worst = 0.0;
        const char *worst_name = "";
        for (int i = 0; i < net->n_params; i++) {
            const bn_param *p = &net->params[i];
            const bn_st_tensor *t = bn_st_find(g, p->name);
            CHECK(t != NULL && t->size == (size_t)p->numel * sizeof(float),
                  "%s: gradient %s missing", name, p->name);
            if (t == NULL || t->size != (size_t)p->numel * sizeof(float))
                continue;
            double e = bn_test_rel_l2(p->grad, (const float *)t->data, p->numel);
            CHECK(e <= 1e-4, "%s: %s gradient relative L2 error %.3g > 1e-4", name, p->name, e);
            if (e > worst) {
                worst = e;
                worst_name = p->name;
            }
        }
        printf("%s: loss %.7f (PyTorch %.7f), worst gradient error %.2e (%s)\n", name,
               loss->data[0], want, worst, worst_name);
    }
    bn_tape_free(tape);
done:
    bn_net_free(net);
    bn_st_close(w);
    bn_st_close(g);
    bn_st_close(batch);
    cJSON_Delete(meta);
    free(text);
}

int main(void) {
    check_case("bitnet-relu2");
    check_case("float-silu");
    return bn_test_finish("test_train_model");
}
