/* tape.c - the arena, the variables and the node list of tape.h. */
#include "train/tape.h"

#include "base/alloc.h"

#include <stdlib.h>
#include <string.h>

/* Arena blocks come from the OS as pages (bn_pages_alloc): a step's activations are tens to
 * hundreds of MB, allocated once and reused by every later step. */
typedef struct block {
    uint8_t *base;
    size_t size, used;
} block;

enum { MAX_BLOCKS = 64 };

struct bn_tape {
    block blocks[MAX_BLOCKS];
    int n_blocks, cur; /* blocks in use: 0..cur */
    size_t block_bytes, in_use, peak;
    bn_node *nodes;
    size_t n_nodes, cap_nodes;
    bool grad;
    bn_threadpool *pool;
};

bn_status bn_tape_create(bn_tape **out, size_t arena_bytes, bn_threadpool *pool) {
    *out = NULL;
    bn_tape *t = calloc(1, sizeof *t);
    if (t == NULL)
        return BN_ERROR(BN_ERR_OUT_OF_MEMORY, "tape");
    t->block_bytes = arena_bytes < ((size_t)1 << 20) ? (size_t)1 << 20 : arena_bytes;
    t->grad = true;
    t->pool = pool;
    *out = t;
    return BN_OK;
}

void bn_tape_free(bn_tape *t) {
    if (t == NULL)
        return;
    for (int i = 0; i < t->n_blocks; i++)
        bn_pages_free(t->blocks[i].base, t->blocks[i].size);
    free(t->nodes);
    free(t);
}

void bn_tape_reset(bn_tape *t) {
    for (int i = 0; i < t->n_blocks; i++)
        t->blocks[i].used = 0;
    t->cur = 0;
    t->in_use = 0;
    t->n_nodes = 0;
}

void bn_tape_set_grad(bn_tape *t, bool on) {
    t->grad = on;
}

bool bn_tape_grad_enabled(const bn_tape *t) {
    return t->grad;
}

bn_threadpool *bn_tape_pool(const bn_tape *t) {
    return t->pool;
}

/* The next block with room for size bytes: the current one, a later one already mapped, or a
 * new one (at least block_bytes, more for one big request). */
static block *block_for(bn_tape *t, size_t size) {
    for (; t->cur < t->n_blocks; t->cur++) {
        block *b = &t->blocks[t->cur];
        if (b->size - b->used >= size)
            return b;
    }
    if (t->n_blocks == MAX_BLOCKS)
        return NULL;
    size_t bytes = size > t->block_bytes ? size : t->block_bytes;
    uint8_t *base = bn_pages_alloc(bytes);
    if (base == NULL)
        return NULL;
    t->blocks[t->n_blocks] = (block){base, bytes, 0};
    t->cur = t->n_blocks++;
    return &t->blocks[t->cur];
}

void *bn_tape_alloc(bn_tape *t, size_t size) {
    size = bn_align_up(size ? size : 1, 64);
    block *b = block_for(t, size);
    if (b == NULL) {
        BN_ERROR(BN_ERR_OUT_OF_MEMORY, "tape: %zu bytes more for the step's activations", size);
        return NULL;
    }
    void *p = b->base + b->used;
    b->used += size;
    t->in_use += size;
    if (t->in_use > t->peak)
        t->peak = t->in_use;
    return p;
}

/* A variable's header (in the arena) with its shape; data and grad still to be set. */
static bn_var *new_var(bn_tape *t, int ndim, const int64_t *shape) {
    bn_var *v = bn_tape_alloc(t, sizeof *v);
    if (v == NULL)
        return NULL;
    memset(v, 0, sizeof *v);
    v->ndim = ndim;
    v->numel = 1;
    for (int i = 0; i < ndim; i++) {
        v->shape[i] = shape[i];
        v->numel *= shape[i];
    }
    return v;
}

bn_var *bn_tape_var(bn_tape *t, int ndim, const int64_t *shape, bool with_grad) {
    bn_var *v = new_var(t, ndim, shape);
    if (v == NULL)
        return NULL;
    size_t bytes = (size_t)v->numel * sizeof(float);
    if ((v->data = bn_tape_alloc(t, bytes)) == NULL)
        return NULL;
    if (with_grad && t->grad) {
        if ((v->grad = bn_tape_alloc(t, bytes)) == NULL)
            return NULL;
        memset(v->grad, 0, bytes);
    }
    return v;
}

bn_var *bn_tape_param(bn_tape *t, float *data, float *grad, int ndim, const int64_t *shape) {
    bn_var *v = new_var(t, ndim, shape);
    if (v == NULL)
        return NULL;
    v->data = data;
    v->grad = t->grad ? grad : NULL;
    return v;
}

bn_status bn_tape_push(bn_tape *t, bn_backward_fn backward, bn_var *out, bn_var *const *in,
                       int n_in, void *saved) {
    if (!t->grad)
        return BN_OK;
    if (t->n_nodes == t->cap_nodes) {
        size_t cap = t->cap_nodes ? 2 * t->cap_nodes : 256;
        bn_node *nodes = realloc(t->nodes, cap * sizeof *nodes);
        if (nodes == NULL)
            return BN_ERROR(BN_ERR_OUT_OF_MEMORY, "tape: %zu nodes", cap);
        t->nodes = nodes;
        t->cap_nodes = cap;
    }
    bn_node *n = &t->nodes[t->n_nodes++];
    memset(n, 0, sizeof *n);
    n->backward = backward;
    n->out = out;
    for (int i = 0; i < n_in && i < 4; i++)
        n->in[i] = in[i];
    n->saved = saved;
    return BN_OK;
}

bn_status bn_tape_backward(bn_tape *t, bn_var *loss) {
    if (!t->grad || loss == NULL || loss->grad == NULL || loss->numel != 1)
        return BN_ERROR(BN_ERR_INVALID_ARG,
                        "tape: backward needs a scalar loss recorded with gradients on");
    loss->grad[0] = 1.0f;
    return bn_tape_backward_from(t, loss);
}

bn_status bn_tape_backward_from(bn_tape *t, bn_var *out) {
    if (!t->grad || out == NULL || out->grad == NULL)
        return BN_ERROR(BN_ERR_INVALID_ARG, "tape: backward from a variable without a gradient");
    for (size_t i = t->n_nodes; i-- > 0;)
        t->nodes[i].backward(t, &t->nodes[i]);
    return BN_OK;
}

size_t bn_tape_arena_peak(const bn_tape *t) {
    return t->peak;
}
