/* optim.c - the schedules and the AdamW update of optim.h. */
#include "train/optim.h"

#include "base/alloc.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

bn_adamw_config bn_adamw_defaults(void) {
    return (bn_adamw_config){.beta1 = 0.9, .beta2 = 0.95, .eps = 1e-8, .grad_clip = 1.0};
}

static bn_status bad(const char *field, const char *why) {
    return BN_ERROR(BN_ERR_INVALID_ARG, "train: optim.%s %s", field, why);
}

bn_status bn_schedule_check(const bn_schedule *s) {
    if (s->steps < 1)
        return BN_ERROR(BN_ERR_INVALID_ARG, "train: steps must be at least 1");
    if (s->warmup < 0 || s->warmup >= s->steps)
        return bad("warmup", "must be at least 0 and below the number of steps");
    if (!(s->lr > 0.0) || !(s->lr < 10.0))
        return bad("lr", "must be in (0, 10)");
    if (!(s->lr_cooldown > 0.0) || s->lr_cooldown > s->lr)
        return bad("lr_cooldown", "must be positive and at most lr");
    if (!(s->min_lr >= 0.0) || s->min_lr > s->lr_cooldown)
        return bad("min_lr", "must be at least 0 and at most lr_cooldown");
    if (!(s->cooldown_start > 0.0) || s->cooldown_start > 1.0)
        return bad("cooldown_start", "must be a fraction of the steps in (0, 1]");
    if (!(s->weight_decay >= 0.0) || s->weight_decay >= 1.0)
        return bad("weight_decay", "must be in [0, 1)");
    if (!(s->weight_decay_cooldown >= 0.0) || s->weight_decay_cooldown >= 1.0)
        return bad("weight_decay_cooldown", "must be in [0, 1)");
    if (s->shape != BN_DECAY_LINEAR && s->shape != BN_DECAY_COSINE)
        return bad("schedule", "must be linear or cosine");
    return BN_OK;
}

bn_status bn_adamw_check(const bn_adamw_config *c) {
    if (!(c->beta1 >= 0.0) || !(c->beta1 < 1.0))
        return bad("beta1", "must be in [0, 1)");
    if (!(c->beta2 >= 0.0) || !(c->beta2 < 1.0))
        return bad("beta2", "must be in [0, 1)");
    if (!(c->eps > 0.0) || !(c->eps < 1.0))
        return bad("eps", "must be in (0, 1)");
    if (!(c->grad_clip >= 0.0) || !isfinite(c->grad_clip))
        return bad("grad_clip", "must be 0 (off) or a positive number");
    return BN_OK;
}

/* From `from` at progress 0 to `to` at progress 1. */
static double decay(bn_decay_shape shape, double from, double to, double progress) {
    progress = progress < 0.0 ? 0.0 : progress > 1.0 ? 1.0 : progress;
    double f = shape == BN_DECAY_COSINE ? 0.5 * (1.0 + cos(M_PI * progress)) : 1.0 - progress;
    return to + (from - to) * f;
}

/* The first step of stage 2 (steps when there is none). */
static int64_t cooldown_step(const bn_schedule *s) {
    return s->cooldown_start >= 1.0 ? s->steps : (int64_t)(s->cooldown_start * (double)s->steps);
}

double bn_schedule_lr(const bn_schedule *s, int64_t step) {
    if (step < s->warmup)
        return s->lr * (double)(step + 1) / (double)(s->warmup + 1);
    int64_t c = cooldown_step(s), last = s->steps - 1;
    if (step < c) {
        double span = (double)(last - s->warmup);
        return decay(s->shape, s->lr, s->min_lr, span > 0 ? (step - s->warmup) / span : 0.0);
    }
    double span = (double)(last - c);
    return decay(s->shape, s->lr_cooldown, s->min_lr, span > 0 ? (step - c) / span : 0.0);
}

double bn_schedule_weight_decay(const bn_schedule *s, int64_t step) {
    return step < cooldown_step(s) ? s->weight_decay : s->weight_decay_cooldown;
}

bn_status bn_adamw_create(bn_adamw **out, const bn_net *net, const bn_adamw_config *cfg) {
    *out = NULL;
    BN_TRY(bn_adamw_check(cfg));
    bn_adamw *a = calloc(1, sizeof *a);
    size_t bytes = (size_t)net->values_padded * sizeof(float);
    if (a == NULL)
        return BN_ERROR(BN_ERR_OUT_OF_MEMORY, "train: the optimizer");
    a->cfg = *cfg;
    a->m = bn_pages_alloc(bytes);
    a->v = bn_pages_alloc(bytes);
    if (a->m == NULL || a->v == NULL) {
        bn_adamw_free(a, net);
        return BN_ERROR(BN_ERR_OUT_OF_MEMORY, "train: %zu MB of optimizer moments",
                        2 * bytes >> 20);
    }
    memset(a->m, 0, bytes);
    memset(a->v, 0, bytes);
    *out = a;
    return BN_OK;
}

void bn_adamw_free(bn_adamw *a, const bn_net *net) {
    if (a == NULL)
        return;
    size_t bytes = (size_t)net->values_padded * sizeof(float);
    if (a->m != NULL)
        bn_pages_free(a->m, bytes);
    if (a->v != NULL)
        bn_pages_free(a->v, bytes);
    free(a);
}

double bn_grad_norm(const bn_net *net) {
    double sum = 0.0;
    for (int i = 0; i < net->n_params; i++) {
        const float *g = net->params[i].grad;
        for (int64_t j = 0; j < net->params[i].numel; j++)
            sum += (double)g[j] * g[j];
    }
    return sqrt(sum);
}

typedef struct update_job {
    const bn_adamw *a;
    bn_net *net;
    float lr, wd, clip_scale, c1, c2; /* c1, c2: the bias corrections 1 - beta^t */
} update_job;

/* Parameters begin..end: each value's update depends on itself alone, so any split of the work
 * gives the same bits. */
static void update_params(void *ctx, size_t begin, size_t end, int thread_id) {
    (void)thread_id;
    const update_job *u = ctx;
    float b1 = (float)u->a->cfg.beta1, b2 = (float)u->a->cfg.beta2, eps = (float)u->a->cfg.eps;
    for (size_t i = begin; i < end; i++) {
        bn_param *p = &u->net->params[i];
        size_t off = (size_t)(p->data - u->net->values);
        float *m = u->a->m + off, *v = u->a->v + off;
        float decay = p->decay ? 1.0f - u->lr * u->wd : 1.0f;
        for (int64_t j = 0; j < p->numel; j++) {
            float g = p->grad[j] * u->clip_scale;
            m[j] = b1 * m[j] + (1.0f - b1) * g;
            v[j] = b2 * v[j] + (1.0f - b2) * g * g;
            float mhat = m[j] / u->c1, vhat = v[j] / u->c2;
            p->data[j] = p->data[j] * decay - u->lr * mhat / (sqrtf(vhat) + eps);
        }
    }
}

bn_status bn_adamw_step(bn_adamw *a, bn_net *net, double lr, double weight_decay,
                        bn_threadpool *pool, double *grad_norm) {
    double norm = bn_grad_norm(net);
    if (grad_norm != NULL)
        *grad_norm = norm;
    if (!isfinite(norm))
        return BN_ERROR(BN_ERR_RANGE,
                        "train: the gradients are not finite at update %lld (the "
                        "loss diverged: lower optim.lr or raise optim.warmup)",
                        (long long)a->steps + 1);
    double clip = a->cfg.grad_clip > 0.0 && norm > a->cfg.grad_clip ? a->cfg.grad_clip / norm : 1.0;
    a->steps++;
    update_job u = {a,
                    net,
                    (float)lr,
                    (float)weight_decay,
                    (float)clip,
                    (float)(1.0 - pow(a->cfg.beta1, (double)a->steps)),
                    (float)(1.0 - pow(a->cfg.beta2, (double)a->steps))};
    bn_parallel_for(pool, (size_t)net->n_params, 1, update_params, &u);
    return BN_OK;
}
