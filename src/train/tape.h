/*
 * tape.h - reverse-mode automatic differentiation over float32 tensors: a tape of recorded ops.
 *
 * A training step builds its graph by calling ops (train/ops.h) on variables; each op computes
 * its output at once and appends a node holding what its backward needs. bn_tape_backward then
 * walks the nodes last to first, each adding (+=) its inputs' gradients from its output's
 * gradient, as llm.c's layer_backward functions do, so a variable used twice (a residual, a
 * tied embedding) simply accumulates both contributions.
 *
 * Memory: everything a step makes - activation variables, their gradients, what nodes save -
 * comes from the tape's arena, a bump allocator reset by bn_tape_reset, so a step allocates
 * nothing from the system once the arena has grown to its size. Parameters live outside the
 * arena (bn_tape_param wraps them) and keep their gradient buffers across steps, so gradient
 * accumulation over micro-batches is the same += .
 */
#ifndef BN_TRAIN_TAPE_H
#define BN_TRAIN_TAPE_H

#include "base/status.h"
#include "base/threadpool.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A float32 tensor in the graph, row-major, up to 4 dimensions (outermost first). */
typedef struct bn_var {
    float *data;
    float *grad; /* same shape, zeroed when made; NULL when no gradient flows to this variable */
    int ndim;
    int64_t shape[4];
    int64_t numel;
} bn_var;

typedef struct bn_tape bn_tape;
typedef struct bn_node bn_node;

/* A node's backward: add the gradients of the node's inputs from its output's gradient. */
typedef void (*bn_backward_fn)(bn_tape *t, const bn_node *n);

struct bn_node {
    bn_backward_fn backward;
    bn_var *out;
    bn_var *in[4];
    void *saved; /* op-specific (in the arena) */
};

/* arena_bytes: the arena's first block; it grows by whole blocks when a step needs more. pool:
 * the threads row-parallel ops run on (NULL: the caller alone). */
bn_status bn_tape_create(bn_tape **out, size_t arena_bytes, bn_threadpool *pool);
void bn_tape_free(bn_tape *t);

/* Forget the nodes and every arena allocation (the next step reuses the memory). */
void bn_tape_reset(bn_tape *t);

/* Whether ops record nodes (training) or only compute (evaluation: no gradients, no saving). */
void bn_tape_set_grad(bn_tape *t, bool on);
bool bn_tape_grad_enabled(const bn_tape *t);

bn_threadpool *bn_tape_pool(const bn_tape *t);

/* size bytes from the arena, 64-byte aligned, not zeroed (ops write every value). NULL (with the
 * error set) when the system refuses memory. */
void *bn_tape_alloc(bn_tape *t, size_t size);

/* A new variable of this shape in the arena (zeroed); with_grad: give it a gradient buffer. */
bn_var *bn_tape_var(bn_tape *t, int ndim, const int64_t *shape, bool with_grad);

/* A variable over a parameter's own buffers (data and grad of numel floats, outside the arena). */
bn_var *bn_tape_param(bn_tape *t, float *data, float *grad, int ndim, const int64_t *shape);

/* Append a node (only while gradients are enabled; otherwise a no-op returning BN_OK). */
bn_status bn_tape_push(bn_tape *t, bn_backward_fn backward, bn_var *out, bn_var *const *in,
                       int n_in, void *saved);

/* d loss / d loss = 1 (loss is a scalar variable), then every node backward, last to first. */
bn_status bn_tape_backward(bn_tape *t, bn_var *loss);

/* Every node backward, last to first, with out->grad already holding d L / d out for some
 * scalar L of the caller's (a gradient check's random projection). */
bn_status bn_tape_backward_from(bn_tape *t, bn_var *out);

/* Peak bytes the arena has held (for the memory report). */
size_t bn_tape_arena_peak(const bn_tape *t);

#endif /* BN_TRAIN_TAPE_H */
