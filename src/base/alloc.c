/*
 * alloc.c - aligned allocation and the memory pool.
 *
 * Every pool block is one bn_aligned_alloc'd chunk: a 64-byte header, then the caller's bytes, so
 * the caller's pointer stays 64-byte aligned and the header is found by subtraction. The header
 * carries a magic value (live or freed), the owning pool, the capacity, the requested size, an
 * allocation sequence number and the links of the pool's list of live blocks, which is what lets
 * bn_pool_destroy name every leak.
 *
 * Small requests (<= BN_POOL_SMALL_MAX) round up to a power-of-two class from 64 B; each class has
 * a free list holding at most BN_POOL_CLASS_CACHE_BYTES, so a burst of tiny buffers cannot pin
 * memory forever. Large requests round up to whole pages and, once freed, wait in one cache kept
 * in order of freeing. A cached block serves a request when it is big enough but at most twice the
 * size asked for (best fit): a 64 MiB block should not be spent on a 1 MiB request. The cache is
 * bounded by bytes and by count; past either bound the oldest blocks go back to the system, on the
 * bet that recently freed sizes are the ones the next step asks for again. A block bigger than
 * the whole byte bound is never cached.
 *
 * One mutex guards the lists and the statistics, so the statistics are exact. System calls
 * (allocation, release) and logging happen outside it; only list surgery and counters are inside.
 */
#define _POSIX_C_SOURCE 200809L
#include "base/alloc.h"

#include "base/log.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

/* Under AddressSanitizer, cached blocks are poisoned so a use after bn_pool_free is still caught,
 * even though the pool keeps the memory. */
#if defined(__SANITIZE_ADDRESS__)
#define BN_POOL_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define BN_POOL_ASAN 1
#endif
#endif
#ifdef BN_POOL_ASAN
#include <sanitizer/asan_interface.h>
#endif

/* ---- aligned allocation ---------------------------------------------------------------------- */

/* Calls left before the injected failure; 0 means no failure is armed. */
static atomic_uint_least64_t fail_countdown;

void bn_alloc_fail_after(uint64_t n) {
    atomic_store(&fail_countdown, n);
}

/* True for exactly one call: the one that takes the countdown from 1 to 0. A compare-and-swap
 * loop, so two threads can never both see the same count. */
static bool injected_failure(void) {
    uint_least64_t n = atomic_load(&fail_countdown);
    while (n != 0) {
        if (atomic_compare_exchange_weak(&fail_countdown, &n, n - 1))
            return n == 1;
    }
    return false;
}

void *bn_aligned_alloc(size_t size) {
    if (injected_failure()) {
        BN_ERROR(BN_ERR_OUT_OF_MEMORY, "out of memory allocating %zu bytes (injected failure)",
                 size);
        return NULL;
    }
    /* Size 0 still takes one line so the pointer is unique and safe to free. posix_memalign has
     * no rounding requirement, but rounding keeps whole cache lines owned by one buffer. */
    size_t rounded = bn_align_up(size == 0 ? BN_ALIGN : size, BN_ALIGN);
    if (rounded == 0 || rounded > (size_t)PTRDIFF_MAX) {
        BN_ERROR(BN_ERR_OUT_OF_MEMORY, "out of memory: %zu bytes is more than any object can hold",
                 size);
        return NULL;
    }
    void *p = NULL;
    int rc = posix_memalign(&p, BN_ALIGN, rounded);
    if (rc != 0) {
        BN_ERROR(BN_ERR_OUT_OF_MEMORY, "out of memory allocating %zu bytes: %s", size,
                 strerror(rc));
        return NULL;
    }
    return p;
}

void *bn_pages_alloc(size_t size) {
    void *p =
        mmap(NULL, size ? size : 1, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        BN_ERROR(BN_ERR_OUT_OF_MEMORY, "cannot map %zu bytes", size);
        return NULL;
    }
    return p;
}

/* A "Key: N kB" line of /proc/meminfo, in bytes, or -1. */
static long long meminfo_bytes(const char *text, const char *key) {
    const char *p = strstr(text, key);
    long long kb;
    return p != NULL && sscanf(p + strlen(key), " %lld", &kb) == 1 ? kb * 1024 : -1;
}

/* One number from a cgroup v2 file of the process's cgroup, or -1 ("max", absent). */
static long long cgroup_number(const char *cgroup, const char *file) {
    char path[4200], buf[64];
    snprintf(path, sizeof path, "/sys/fs/cgroup%s/%s", cgroup, file);
    FILE *f = fopen(path, "r");
    long long v = -1;
    if (f != NULL) {
        if (fgets(buf, sizeof buf, f) != NULL && sscanf(buf, "%lld", &v) != 1)
            v = -1;
        fclose(f);
    }
    return v;
}

/* What the cgroup at path (v2, relative to /sys/fs/cgroup) and each of its ancestors still
 * allow: the least of memory.max - memory.current. SIZE_MAX when none sets a limit. */
static size_t cgroup_headroom(char *path) {
    size_t best = SIZE_MAX;
    for (;;) {
        long long max = cgroup_number(path, "memory.max");
        long long cur = cgroup_number(path, "memory.current");
        if (max > 0 && cur >= 0) {
            size_t room = max > cur ? (size_t)(max - cur) : 0;
            best = room < best ? room : best;
        }
        char *slash = strrchr(path, '/');
        if (slash == NULL || slash[1] == '\0')
            break;
        slash[slash == path ? 1 : 0] = '\0'; /* "/a/b" -> "/a" -> "/" */
    }
    return best;
}

size_t bn_memory_available(void) {
    char text[8192];
    FILE *f = fopen("/proc/meminfo", "r");
    size_t n = f != NULL ? fread(text, 1, sizeof text - 1, f) : 0;
    if (f != NULL)
        fclose(f);
    text[n] = '\0';
    long long avail = meminfo_bytes(text, "MemAvailable:"), swap = meminfo_bytes(text, "SwapFree:");
    size_t best = avail < 0 ? SIZE_MAX : (size_t)avail + (size_t)(swap > 0 ? swap : 0);
    char line[4096] = "";
    f = fopen("/proc/self/cgroup", "r");
    while (f != NULL && fgets(line, sizeof line, f) != NULL) {
        if (strncmp(line, "0::", 3) != 0)
            continue;
        line[strcspn(line, "\n")] = '\0';
        size_t room = cgroup_headroom(line + 3);
        best = room < best ? room : best;
    }
    if (f != NULL)
        fclose(f);
    return best;
}

void bn_pages_free(void *p, size_t size) {
    if (p != NULL)
        munmap(p, size ? size : 1);
}

void bn_aligned_free(void *p) {
    free(p);
}

/* ---- blocks ---------------------------------------------------------------------------------- */

#define MAGIC_LIVE  UINT64_C(0x4c5645424c4f4f50) /* a block the caller owns */
#define MAGIC_FREE  UINT64_C(0x4652454542524545) /* a block back in the pool */
#define N_CLASSES   11                           /* 64 B << 0 .. 64 B << 10 = 64 KiB */
#define LARGE_CLASS UINT32_MAX

typedef struct block {
    uint64_t magic;
    struct bn_pool *owner;
    struct block *prev, *next; /* live list, large cache; small free lists use next only */
    size_t capacity;           /* usable bytes after the header */
    size_t requested;          /* what the caller asked for: counts in bytes_in_use */
    uint64_t seq;              /* 1 for the pool's first allocation, for the leak report */
    uint32_t size_class;       /* free-list index, or LARGE_CLASS */
} block;

_Static_assert(sizeof(block) <= BN_ALIGN, "the block header must fit before the aligned data");
_Static_assert(((size_t)BN_ALIGN << (N_CLASSES - 1)) == BN_POOL_SMALL_MAX,
               "the size classes must end at BN_POOL_SMALL_MAX");

static void *block_data(block *b) {
    return (char *)b + BN_ALIGN;
}

static block *block_of(void *p) {
    return (block *)((char *)p - BN_ALIGN);
}

static void poison_data(block *b) {
#ifdef BN_POOL_ASAN
    ASAN_POISON_MEMORY_REGION(block_data(b), b->capacity);
#else
    (void)b;
#endif
}

static void unpoison_data(block *b) {
#ifdef BN_POOL_ASAN
    ASAN_UNPOISON_MEMORY_REGION(block_data(b), b->capacity);
#else
    (void)b;
#endif
}

/* Give a chain of blocks (linked through next) back to the system. */
static void release_chain(block *b) {
    while (b != NULL) {
        block *next = b->next;
        unpoison_data(b);
        bn_aligned_free(b);
        b = next;
    }
}

/* Circular doubly linked lists with a sentinel: no NULL cases in insert or remove. */
static void list_init(block *sentinel) {
    sentinel->prev = sentinel->next = sentinel;
}

static void list_insert_after(block *at, block *b) {
    b->prev = at;
    b->next = at->next;
    at->next->prev = b;
    at->next = b;
}

static void list_remove(block *b) {
    b->prev->next = b->next;
    b->next->prev = b->prev;
    b->prev = b->next = NULL;
}

/* ---- the pool -------------------------------------------------------------------------------- */

struct bn_pool {
    pthread_mutex_t lock;          /* guards everything below */
    block live;                    /* sentinel: live blocks, oldest allocation first */
    block large;                   /* sentinel: cached large blocks, most recently freed first */
    block *small[N_CLASSES];       /* free lists of small blocks, linked through next */
    size_t small_bytes[N_CLASSES]; /* capacity cached in each small free list */
    size_t large_bytes;            /* capacity cached in the large list */
    size_t large_count;            /* blocks in the large list */
    uint64_t next_seq;             /* sequence number of the next allocation */
    bn_pool_stats stats;
};

/* Class and capacity for a request; false when header plus size overflows size_t. */
static bool size_to_class(size_t size, uint32_t *size_class, size_t *capacity) {
    if (size <= BN_POOL_SMALL_MAX) {
        uint32_t c = 0;
        size_t cap = BN_ALIGN;
        while (cap < size) {
            cap <<= 1;
            c++;
        }
        *size_class = c;
        *capacity = cap;
        return true;
    }
    size_t cap = bn_align_up(size, BN_POOL_PAGE);
    if (cap == 0 || cap > SIZE_MAX - BN_ALIGN)
        return false;
    *size_class = LARGE_CLASS;
    *capacity = cap;
    return true;
}

bn_pool *bn_pool_create(void) {
    bn_pool *pool = bn_aligned_alloc(sizeof *pool);
    if (pool == NULL)
        return NULL;
    memset(pool, 0, sizeof *pool);
    int rc = pthread_mutex_init(&pool->lock, NULL);
    if (rc != 0) {
        bn_aligned_free(pool);
        BN_ERROR(BN_ERR_THREAD, "bn_pool_create: pthread_mutex_init failed: %s", strerror(rc));
        return NULL;
    }
    list_init(&pool->live);
    list_init(&pool->large);
    pool->next_seq = 1;
    return pool;
}

/* Under the lock: a cached block for this request, or NULL. Large blocks are best fit among those
 * no more than twice the request. */
static block *cache_take(bn_pool *pool, uint32_t size_class, size_t size) {
    block *b = NULL;
    if (size_class != LARGE_CLASS) {
        b = pool->small[size_class];
        if (b == NULL)
            return NULL;
        pool->small[size_class] = b->next;
        pool->small_bytes[size_class] -= b->capacity;
    } else {
        for (block *c = pool->large.next; c != &pool->large; c = c->next) {
            bool fits = c->capacity >= size && c->capacity / 2 <= size;
            if (fits && (b == NULL || c->capacity < b->capacity))
                b = c;
        }
        if (b == NULL)
            return NULL;
        list_remove(b);
        pool->large_bytes -= b->capacity;
        pool->large_count--;
    }
    b->next = NULL;
    pool->stats.bytes_cached -= b->capacity;
    pool->stats.reuse_hits++;
    return b;
}

/* Under the lock: hand a block to the caller and count it. */
static void register_live(bn_pool *pool, block *b, size_t size) {
    b->magic = MAGIC_LIVE;
    b->owner = pool;
    b->requested = size;
    b->seq = pool->next_seq++;
    list_insert_after(pool->live.prev, b);
    bn_pool_stats *s = &pool->stats;
    s->allocations++;
    s->live_blocks++;
    s->bytes_in_use += size;
    if (s->bytes_in_use > s->peak_bytes)
        s->peak_bytes = s->bytes_in_use;
}

void *bn_pool_alloc(bn_pool *pool, size_t size) {
    if (pool == NULL) {
        BN_ERROR(BN_ERR_INVALID_ARG, "bn_pool_alloc: pool is NULL");
        return NULL;
    }
    uint32_t size_class;
    size_t capacity;
    if (!size_to_class(size, &size_class, &capacity)) {
        BN_ERROR(BN_ERR_OUT_OF_MEMORY,
                 "bn_pool_alloc: out of memory: %zu bytes plus a %d-byte header overflow size_t",
                 size, BN_ALIGN);
        return NULL;
    }

    pthread_mutex_lock(&pool->lock);
    block *b = cache_take(pool, size_class, size);
    if (b != NULL)
        register_live(pool, b, size);
    pthread_mutex_unlock(&pool->lock);
    if (b != NULL) {
        unpoison_data(b);
        return block_data(b);
    }

    /* A miss: ask the system without holding the lock, then register the new block. */
    b = bn_aligned_alloc(BN_ALIGN + capacity);
    if (b == NULL) {
        BN_ERROR(BN_ERR_OUT_OF_MEMORY, "bn_pool_alloc(%zu bytes): %s", size, bn_last_error());
        return NULL;
    }
    b->capacity = capacity;
    b->size_class = size_class;
    b->prev = b->next = NULL;
    pthread_mutex_lock(&pool->lock);
    register_live(pool, b, size);
    pthread_mutex_unlock(&pool->lock);
    return block_data(b);
}

/* Under the lock: put a freed block in its cache. Returns the chain of blocks that no longer fit
 * (possibly b itself, possibly the oldest large blocks) for the caller to release unlocked. */
static block *cache_put(bn_pool *pool, block *b) {
    block *release = NULL;
    if (b->size_class != LARGE_CLASS) {
        uint32_t c = b->size_class;
        if (pool->small_bytes[c] + b->capacity > BN_POOL_CLASS_CACHE_BYTES) {
            b->next = NULL;
            return b;
        }
        poison_data(b);
        b->next = pool->small[c];
        pool->small[c] = b;
        pool->small_bytes[c] += b->capacity;
        pool->stats.bytes_cached += b->capacity;
        return NULL;
    }
    if (b->capacity > BN_POOL_LARGE_CACHE_BYTES) {
        b->next = NULL;
        return b;
    }
    poison_data(b);
    list_insert_after(&pool->large, b);
    pool->large_bytes += b->capacity;
    pool->large_count++;
    pool->stats.bytes_cached += b->capacity;
    while (pool->large_bytes > BN_POOL_LARGE_CACHE_BYTES ||
           pool->large_count > BN_POOL_LARGE_CACHE_BLOCKS) {
        block *oldest = pool->large.prev;
        list_remove(oldest);
        pool->large_bytes -= oldest->capacity;
        pool->large_count--;
        pool->stats.bytes_cached -= oldest->capacity;
        oldest->next = release;
        release = oldest;
    }
    return release;
}

/* Explain a rejected free. Called unlocked with what the header held under the lock. */
static void report_bad_free(bn_pool *pool, void *p, uint64_t magic, bn_pool *owner, uint64_t seq) {
    if (magic == MAGIC_FREE && owner == pool)
        bn_log(BN_LOG_ERROR, "bn_pool_free: double free of %p (block #%" PRIu64 "); ignored", p,
               seq);
    else if (magic == MAGIC_LIVE || magic == MAGIC_FREE)
        bn_log(BN_LOG_ERROR, "bn_pool_free: %p belongs to pool %p, not %p; ignored", p,
               (void *)owner, (void *)pool);
    else
        bn_log(BN_LOG_ERROR,
               "bn_pool_free: %p is not a pool block (bad magic 0x%016" PRIx64 "); ignored", p,
               magic);
}

/*
 * A wrong pointer is a programmer error, but a crash or a corrupted free list would hide where it
 * came from, so it is logged and ignored. Frees that are rejected are not counted in the
 * statistics, keeping live_blocks == allocations - frees. A double free is caught only while the
 * block sits in a cache; once released (or handed out again) the header is gone or valid again.
 */
void bn_pool_free(bn_pool *pool, void *p) {
    if (p == NULL)
        return;
    if (pool == NULL || (uintptr_t)p % BN_ALIGN != 0) {
        bn_log(BN_LOG_ERROR, "bn_pool_free: %p is not a 64-byte aligned block of pool %p; ignored",
               p, (void *)pool);
        return;
    }
    block *b = block_of(p);
    pthread_mutex_lock(&pool->lock);
    uint64_t magic = b->magic;
    bn_pool *owner = magic == MAGIC_LIVE || magic == MAGIC_FREE ? b->owner : NULL;
    uint64_t seq = magic == MAGIC_FREE ? b->seq : 0;
    bool ok = magic == MAGIC_LIVE && owner == pool;
    block *release = NULL;
    if (ok) {
        list_remove(b);
        b->magic = MAGIC_FREE;
        bn_pool_stats *s = &pool->stats;
        s->frees++;
        s->live_blocks--;
        s->bytes_in_use -= b->requested;
        release = cache_put(pool, b);
    }
    pthread_mutex_unlock(&pool->lock);
    if (!ok)
        report_bad_free(pool, p, magic, owner, seq);
    release_chain(release);
}

void bn_pool_stats_get(bn_pool *pool, bn_pool_stats *out) {
    if (pool == NULL) {
        memset(out, 0, sizeof *out);
        return;
    }
    pthread_mutex_lock(&pool->lock);
    *out = pool->stats;
    pthread_mutex_unlock(&pool->lock);
}

/* Under the lock: detach every cached block into one chain. */
static block *cache_detach_all(bn_pool *pool) {
    block *chain = NULL;
    for (int c = 0; c < N_CLASSES; c++) {
        while (pool->small[c] != NULL) {
            block *b = pool->small[c];
            pool->small[c] = b->next;
            b->next = chain;
            chain = b;
        }
        pool->small_bytes[c] = 0;
    }
    while (pool->large.next != &pool->large) {
        block *b = pool->large.next;
        list_remove(b);
        b->next = chain;
        chain = b;
    }
    pool->large_bytes = 0;
    pool->large_count = 0;
    pool->stats.bytes_cached = 0;
    return chain;
}

void bn_pool_trim(bn_pool *pool) {
    if (pool == NULL)
        return;
    pthread_mutex_lock(&pool->lock);
    block *chain = cache_detach_all(pool);
    pthread_mutex_unlock(&pool->lock);
    release_chain(chain);
}

/* How many leaked blocks get a line of their own; the rest are only counted. */
#define LEAK_REPORT_LINES 10

uint64_t bn_pool_destroy(bn_pool *pool) {
    if (pool == NULL)
        return 0;
    bn_pool_trim(pool);
    /* No other thread may touch a pool being destroyed, so the live list is read unlocked. */
    uint64_t leaked = 0;
    size_t leaked_bytes = 0;
    while (pool->live.next != &pool->live) {
        block *b = pool->live.next;
        if (leaked < LEAK_REPORT_LINES)
            bn_log(BN_LOG_WARN, "bn_pool_destroy: leaked block #%" PRIu64 " of %zu bytes", b->seq,
                   b->requested);
        leaked++;
        leaked_bytes += b->requested;
        list_remove(b);
        b->magic = 0;
        bn_aligned_free(b);
    }
    if (leaked > 0)
        bn_log(BN_LOG_WARN,
               "bn_pool_destroy: %" PRIu64 " leaked blocks (%" PRIu64
               " not listed), %zu bytes in all",
               leaked, leaked > LEAK_REPORT_LINES ? leaked - LEAK_REPORT_LINES : 0, leaked_bytes);
    pthread_mutex_destroy(&pool->lock);
    bn_aligned_free(pool);
    return leaked;
}
