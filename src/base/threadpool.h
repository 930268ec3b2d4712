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

/* The most threads a pool runs (the caller included). */
#define BN_MAX_THREADS 256

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

/* CPUs this process may use (at least 1): the CPUs of its affinity mask, and no more than its
 * cgroup's CPU quota allows (cpu.max in cgroup v2, cpu.cfs_quota_us / cfs_period_us in v1,
 * rounded up), so a container limited to 2 CPUs on a 64-core host runs 2 threads, not 64. */
int bn_cpu_count(void);

/* The CPU limit a cgroup quota sets, from the files under root ("" for this system): the process's
 * cgroup from root/proc/self/cgroup, then the quota of that cgroup and each of its ancestors,
 * the smallest, rounded up. 0 when there is none. For tests, root may be a folder that mimics
 * /proc and /sys/fs/cgroup. */
int bn_cgroup_cpu_limit(const char *root);

#endif /* BN_BASE_THREADPOOL_H */
