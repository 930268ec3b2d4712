/*
 * optim.h - AdamW with decoupled weight decay, and the BitNet b1.58 two-stage schedules
 * (facts §4.2-4.4).
 *
 * Learning rate: a linear warm-up to `lr`, then stage 1 decays from `lr` toward `min_lr` as if
 * it ran to the last step; at `cooldown_start` (a fraction of the steps) the rate drops at once
 * to `lr_cooldown` and stage 2 decays from there to `min_lr` at the last step. Both decays are
 * linear (the paper's choice) or cosine. Weight decay is `weight_decay` in stage 1 and
 * `weight_decay_cooldown` (0 in the recipe) in stage 2. cooldown_start = 1 gives one stage (the
 * float baseline's plain schedule: FP models do not gain from the two stages).
 *
 * The update is torch.optim.AdamW's: p -= lr wd p; m, v moments with bias correction;
 * p -= lr m^ / (sqrt(v^) + eps). Weight decay applies to matrices only (bn_param.decay).
 */
#ifndef BN_TRAIN_OPTIM_H
#define BN_TRAIN_OPTIM_H

#include "base/threadpool.h"
#include "train/net.h"

typedef enum bn_decay_shape { BN_DECAY_LINEAR = 0, BN_DECAY_COSINE = 1 } bn_decay_shape;

typedef struct bn_schedule {
    int64_t steps, warmup;
    double lr, lr_cooldown, min_lr;
    double cooldown_start; /* fraction of steps in (0, 1]; 1: no second stage */
    bn_decay_shape shape;
    double weight_decay, weight_decay_cooldown;
} bn_schedule;

typedef struct bn_adamw_config {
    double beta1, beta2, eps;
    double grad_clip; /* clip the global gradient norm to this; 0: no clipping */
} bn_adamw_config;

/* The defaults: LLaMA's betas (0.9, 0.95), eps 1e-8, clip 1.0. */
bn_adamw_config bn_adamw_defaults(void);

/* Checks with errors naming the field (BN_ERR_INVALID_ARG). */
bn_status bn_schedule_check(const bn_schedule *s);
bn_status bn_adamw_check(const bn_adamw_config *c);

/* The learning rate and weight decay of step (0-based). */
double bn_schedule_lr(const bn_schedule *s, int64_t step);
double bn_schedule_weight_decay(const bn_schedule *s, int64_t step);

typedef struct bn_adamw {
    bn_adamw_config cfg;
    float *m, *v;  /* moments, laid out as the net's values (values_padded floats each) */
    int64_t steps; /* updates made (the bias correction's t) */
} bn_adamw;

bn_status bn_adamw_create(bn_adamw **out, const bn_net *net, const bn_adamw_config *cfg);
void bn_adamw_free(bn_adamw *a, const bn_net *net);

/* The global L2 norm of the gradients (in double, in a fixed order: runs repeat bit for bit). */
double bn_grad_norm(const bn_net *net);

/* One update of every parameter from its gradient: clip (scaling the gradients by
 * grad_clip / norm when the norm exceeds it), then AdamW with this lr and weight decay.
 * grad_norm: the norm before clipping. Non-finite gradients are refused (BN_ERR_RANGE) before
 * anything changes, so a diverging run stops at a state it can resume from. */
bn_status bn_adamw_step(bn_adamw *a, bn_net *net, double lr, double weight_decay,
                        bn_threadpool *pool, double *grad_norm);

#endif /* BN_TRAIN_OPTIM_H */
