/*
 * alloc.h - aligned allocation and the memory pool.
 *
 * Every buffer the library hands to a kernel is 64-byte aligned (one cache line, one AVX-512
 * register). bn_pool serves short-lived buffers: small sizes from per-class free lists, large
 * sizes from a cache of freed blocks, so repeated allocate/free cycles stop reaching malloc.
 */
#ifndef BN_BASE_ALLOC_H
#define BN_BASE_ALLOC_H

#include "base/status.h"

#include <stddef.h>
#include <stdint.h>

#define BN_ALIGN 64

/* 64-byte aligned memory; NULL (with bn_last_error set) on overflow or exhaustion.
 * size 0 gives a valid unique pointer. Free with bn_aligned_free. */
void *bn_aligned_alloc(size_t size);
void bn_aligned_free(void *p);

/* Zeroed pages straight from the OS, for big short-lived buffers (a layer being repacked):
 * freeing them returns the memory at once, where malloc keeps freed blocks in per-thread
 * arenas that stay resident. NULL (with bn_last_error set) on failure; free with the size. */
void *bn_pages_alloc(size_t size);
void bn_pages_free(void *p, size_t size);

/* Bytes this process can still allocate without the OOM killer stepping in, as well as the
 * system can tell: /proc/meminfo's MemAvailable plus free swap, less if the process's cgroup
 * (v2: memory.max - memory.current of its cgroup and every ancestor; v1 limits are not read).
 * SIZE_MAX when nothing says. For failing early with sizes in the message, rather than being killed
 * half-way through filling a buffer. */
size_t bn_memory_available(void);

/* Test hook (SQLite style): make the n-th next aligned allocation fail, counting from 1;
 * 0 disables. Lets tests walk every out-of-memory path. Process-wide. */
void bn_alloc_fail_after(uint64_t n);

/* Round n up to a multiple of align (a power of two), or 0 on overflow. */
static inline size_t bn_align_up(size_t n, size_t align) {
    size_t r = (n + align - 1) & ~(align - 1);
    return r < n ? 0 : r;
}

/* Pool policy (alloc.c explains why). Requests up to BN_POOL_SMALL_MAX bytes round up to a power
 * of two from 64 B and reuse that size class's free list, which keeps at most
 * BN_POOL_CLASS_CACHE_BYTES. Larger requests round up to whole BN_POOL_PAGE pages; freed ones wait
 * in a cache of at most BN_POOL_LARGE_CACHE_BLOCKS blocks and BN_POOL_LARGE_CACHE_BYTES bytes
 * (the oldest is released first) and serve a later request of at least half their size. */
#define BN_POOL_SMALL_MAX          ((size_t)64 << 10)
#define BN_POOL_CLASS_CACHE_BYTES  ((size_t)4 << 20)
#define BN_POOL_PAGE               ((size_t)4096)
#define BN_POOL_LARGE_CACHE_BYTES  ((size_t)128 << 20)
#define BN_POOL_LARGE_CACHE_BLOCKS 64

typedef struct bn_pool bn_pool;

typedef struct bn_pool_stats {
    size_t bytes_in_use;  /* bytes of live blocks, as requested by callers */
    size_t peak_bytes;    /* highest bytes_in_use seen */
    size_t bytes_cached;  /* bytes held in free lists, ready for reuse */
    uint64_t allocations; /* successful bn_pool_alloc calls */
    uint64_t frees;       /* bn_pool_free calls that took a block back */
    uint64_t reuse_hits;  /* allocations served from a free list instead of the system */
    uint64_t live_blocks; /* allocations - frees */
} bn_pool_stats;

/* A thread-safe pool. Returns NULL (with bn_last_error set) when out of memory. */
bn_pool *bn_pool_create(void);

/* 64-byte aligned block of at least size bytes, or NULL with bn_last_error set. */
void *bn_pool_alloc(bn_pool *pool, size_t size);

/* Return a block to the pool (NULL is ignored). The block must come from this pool. */
void bn_pool_free(bn_pool *pool, void *p);

/* A consistent snapshot of the statistics. */
void bn_pool_stats_get(bn_pool *pool, bn_pool_stats *out);

/* Release cached blocks back to the system; live blocks stay valid. */
void bn_pool_trim(bn_pool *pool);

/* Destroy the pool. Live blocks are a leak: each is reported at warn level (size and order of
 * allocation) and freed. Returns the number of leaked blocks. */
uint64_t bn_pool_destroy(bn_pool *pool);

#endif /* BN_BASE_ALLOC_H */
