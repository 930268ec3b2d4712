/*
 * threadpool.h - a persistent pool of worker threads with a parallel-for.
 *
 * The forward pass calls parallel_for once per layer per token, thousands of times a second, so
 * workers are created once and wait between jobs (spinning briefly, then sleeping); the caller
 * works too. Work is split into chunks taken from a shared atomic counter, so a slow thread
 * cannot hold the others back.
 */
#ifndef BN_BASE_THREADPOOL_H
#define BN_BASE_THREADPOOL_H

#include "base/status.h"

#include <stddef.h>

typedef struct bn_threadpool bn_threadpool;

/* Process the half-open index range [begin, end). thread_id is in [0, n_threads); the caller
 * is thread 0. Called concurrently from several threads with disjoint ranges. */
typedef void (*bn_range_fn)(void *ctx, size_t begin, size_t end, int thread_id);

/* n_threads counts the caller: n_threads - 1 workers are started. n_threads <= 0 means one per
 * online CPU. Returns BN_OK and sets *out, or an error (BN_ERR_THREAD, BN_ERR_OUT_OF_MEMORY). */
bn_status bn_threadpool_create(int n_threads, bn_threadpool **out);

/* Stop and join the workers. NULL is ignored. */
void bn_threadpool_destroy(bn_threadpool *pool);

int bn_threadpool_n_threads(const bn_threadpool *pool);

/* Run fn over [0, n) in chunks of `chunk` indices (0: choose, about 4 chunks per thread) and
 * return when every index has been visited exactly once and no worker still uses fn or ctx.
 * Each range fn sees starts at a multiple of chunk and is at most chunk long, with or without
 * workers. pool may be NULL (runs on the caller). Not re-entrant: fn must not call parallel_for
 * on the same pool; calls from different threads on one pool are serialised by a mutex (the
 * pool has one job slot), so the second caller waits rather than sharing the workers. */
void bn_parallel_for(bn_threadpool *pool, size_t n, size_t chunk, bn_range_fn fn, void *ctx);

/* Number of online CPUs (at least 1). */
int bn_cpu_count(void);

#endif /* BN_BASE_THREADPOOL_H */
