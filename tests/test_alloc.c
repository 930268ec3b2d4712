/*
 * test_alloc.c - bn_aligned_alloc, its failure hook, and bn_pool: alignment, exact statistics,
 * the cache policy and its bounds, misuse (bad pointer, wrong pool, double free), the leak report,
 * injected out-of-memory at every allocation, and two threads contending for one pool.
 */
#define _POSIX_C_SOURCE 200809L
#include "base/alloc.h"
#include "base/log.h"

#include "test.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define KiB ((size_t)1 << 10)
#define MiB ((size_t)1 << 20)

/* Sizes around every boundary: size 0, the first line, class edges, the small/large edge. */
static const size_t edge_sizes[] = {0,     1,     63,    64,     65,      127,
                                    128,   129,   1000,  4095,   4096,    4097,
                                    65535, 65536, 65537, 100000, 1 * MiB, 3 * MiB + 17};
#define N_EDGE (sizeof edge_sizes / sizeof edge_sizes[0])

static bool is_aligned(const void *p) {
    return (uintptr_t)p % BN_ALIGN == 0;
}

static bn_pool_stats stats_of(bn_pool *pool) {
    bn_pool_stats s;
    bn_pool_stats_get(pool, &s);
    return s;
}

static bool stats_equal(bn_pool_stats a, bn_pool_stats b) {
    return a.bytes_in_use == b.bytes_in_use && a.peak_bytes == b.peak_bytes &&
           a.bytes_cached == b.bytes_cached && a.allocations == b.allocations &&
           a.frees == b.frees && a.reuse_hits == b.reuse_hits && a.live_blocks == b.live_blocks;
}

/* Every field of the statistics against its expected value; `when` names the step. */
static void check_stats(bn_pool *pool, const char *when, size_t in_use, size_t peak, size_t cached,
                        uint64_t allocations, uint64_t frees, uint64_t hits, uint64_t live) {
    bn_pool_stats s = stats_of(pool);
    CHECK(s.bytes_in_use == in_use, "%s: bytes_in_use %zu want %zu", when, s.bytes_in_use, in_use);
    CHECK(s.peak_bytes == peak, "%s: peak_bytes %zu want %zu", when, s.peak_bytes, peak);
    CHECK(s.bytes_cached == cached, "%s: bytes_cached %zu want %zu", when, s.bytes_cached, cached);
    CHECK(s.allocations == allocations, "%s: allocations %llu want %llu", when,
          (unsigned long long)s.allocations, (unsigned long long)allocations);
    CHECK(s.frees == frees, "%s: frees %llu want %llu", when, (unsigned long long)s.frees,
          (unsigned long long)frees);
    CHECK(s.reuse_hits == hits, "%s: reuse_hits %llu want %llu", when,
          (unsigned long long)s.reuse_hits, (unsigned long long)hits);
    CHECK(s.live_blocks == live, "%s: live_blocks %llu want %llu", when,
          (unsigned long long)s.live_blocks, (unsigned long long)live);
}

/* ---- capturing stderr, to assert on what the pool logs --------------------------------------- */

typedef struct capture {
    FILE *file;
    int saved_fd;
} capture;

/* No CHECK may run between begin and end: its message would land in the capture. */
static bool capture_begin(capture *c) {
    fflush(stderr);
    c->file = tmpfile();
    if (c->file == NULL)
        return false;
    c->saved_fd = dup(2);
    if (c->saved_fd < 0 || dup2(fileno(c->file), 2) < 0) {
        fclose(c->file);
        return false;
    }
    return true;
}

static void capture_end(capture *c, char *text, size_t cap) {
    fflush(stderr);
    dup2(c->saved_fd, 2);
    close(c->saved_fd);
    rewind(c->file);
    size_t n = fread(text, 1, cap - 1, c->file);
    text[n] = '\0';
    fclose(c->file);
}

static int count_occurrences(const char *text, const char *needle) {
    int n = 0;
    for (const char *p = strstr(text, needle); p != NULL; p = strstr(p + 1, needle))
        n++;
    return n;
}

/* ---- aligned allocation ---------------------------------------------------------------------- */

/* All sizes live at once, each filled with its own byte: an overrun shows under ASan, and two
 * blocks sharing memory show as a wrong byte when read back. */
static void test_aligned_alloc(void) {
    unsigned char *p[N_EDGE];
    for (size_t i = 0; i < N_EDGE; i++) {
        p[i] = bn_aligned_alloc(edge_sizes[i]);
        CHECK(p[i] != NULL, "size %zu: %s", edge_sizes[i], bn_last_error());
        CHECK(is_aligned(p[i]), "size %zu: %p not aligned", edge_sizes[i], (void *)p[i]);
        if (p[i] != NULL)
            memset(p[i], (int)i + 1, edge_sizes[i]);
    }
    for (size_t i = 0; i < N_EDGE; i++) {
        size_t bad = 0;
        for (size_t j = 0; p[i] != NULL && j < edge_sizes[i]; j++)
            bad += p[i][j] != (unsigned char)(i + 1);
        CHECK(bad == 0, "size %zu: %zu bytes overwritten", edge_sizes[i], bad);
    }
    CHECK(p[0] != NULL && p[0] != p[1], "size 0 must give a unique pointer");
    for (size_t i = 0; i < N_EDGE; i++)
        bn_aligned_free(p[i]);
    bn_aligned_free(NULL);
}

static void test_aligned_alloc_too_big(void) {
    bn_clear_error();
    CHECK(bn_aligned_alloc(SIZE_MAX) == NULL, "SIZE_MAX must fail");
    CHECK(strstr(bn_last_error(), "18446744073709551615") != NULL || SIZE_MAX != UINT64_MAX,
          "message should name the size: '%s'", bn_last_error());
    bn_clear_error();
    /* Above PTRDIFF_MAX no object can exist; refused before reaching the system allocator. */
    CHECK(bn_aligned_alloc((size_t)PTRDIFF_MAX + 1) == NULL, "PTRDIFF_MAX + 1 must fail");
    CHECK(strstr(bn_last_error(), "out of memory") != NULL, "message: '%s'", bn_last_error());
}

/* ---- pool basics ----------------------------------------------------------------------------- */

static void test_pool_alignment(void) {
    bn_pool *pool = bn_pool_create();
    CHECK(pool != NULL, "bn_pool_create: %s", bn_last_error());
    if (pool == NULL)
        return;
    /* Twice: the second round is served from the caches and must be as good as the first. */
    for (int round = 0; round < 2; round++) {
        unsigned char *p[N_EDGE];
        for (size_t i = 0; i < N_EDGE; i++) {
            p[i] = bn_pool_alloc(pool, edge_sizes[i]);
            CHECK(p[i] != NULL, "size %zu: %s", edge_sizes[i], bn_last_error());
            CHECK(is_aligned(p[i]), "size %zu: %p not aligned", edge_sizes[i], (void *)p[i]);
            if (p[i] != NULL)
                memset(p[i], (int)i + 1, edge_sizes[i]);
        }
        for (size_t i = 0; i < N_EDGE; i++) {
            size_t bad = 0;
            for (size_t j = 0; p[i] != NULL && j < edge_sizes[i]; j++)
                bad += p[i][j] != (unsigned char)(i + 1);
            CHECK(bad == 0, "round %d size %zu: %zu bytes overwritten", round, edge_sizes[i], bad);
        }
        CHECK(p[0] != NULL && p[0] != p[1], "size 0 must give a unique block");
        for (size_t i = 0; i < N_EDGE; i++)
            bn_pool_free(pool, p[i]);
        bn_pool_free(pool, NULL);
    }
    bn_pool_stats s = stats_of(pool);
    CHECK(s.reuse_hits == N_EDGE, "second round should reuse every block: %llu of %zu",
          (unsigned long long)s.reuse_hits, N_EDGE);
    CHECK(bn_pool_destroy(pool) == 0, "no leaks expected");
}

/*
 * A fixed sequence with every statistic worked out by hand. Capacities: 100 and 120 B share the
 * 128 B class, 1000 B takes 1024 B; large sizes round up to 4 KiB pages: 200000 -> 200704 (49
 * pages), 100351 -> 102400 (25 pages). A cached large block serves requests down to half its size.
 */
static void test_pool_stats_exact(void) {
    bn_pool *pool = bn_pool_create();
    CHECK(pool != NULL, "bn_pool_create: %s", bn_last_error());
    if (pool == NULL)
        return;
    check_stats(pool, "empty", 0, 0, 0, 0, 0, 0, 0);

    void *a = bn_pool_alloc(pool, 100);
    void *b = bn_pool_alloc(pool, 1000);
    void *c = bn_pool_alloc(pool, 200000);
    check_stats(pool, "3 allocated", 201100, 201100, 0, 3, 0, 0, 3);

    bn_pool_free(pool, a);
    bn_pool_free(pool, c);
    check_stats(pool, "a, c freed", 1000, 201100, 128 + 200704, 3, 2, 0, 1);

    void *a2 = bn_pool_alloc(pool, 120);
    void *c2 = bn_pool_alloc(pool, 150000);
    CHECK(a2 == a, "120 B should reuse the 128 B block of 100 B");
    CHECK(c2 == c, "150000 B should reuse the 200704 B block");
    check_stats(pool, "reused", 151120, 201100, 0, 5, 2, 2, 3);

    bn_pool_free(pool, c2);
    /* 100351 * 2 < 200704: the cached block would waste more than half, so it is a miss. */
    void *d = bn_pool_alloc(pool, 100351);
    check_stats(pool, "just under half", 101471, 201100, 200704, 6, 3, 2, 3);
    void *e = bn_pool_alloc(pool, 100352); /* exactly half: reused */
    CHECK(e == c, "100352 B (half of 200704) should reuse the cached block");
    check_stats(pool, "exactly half", 201823, 201823, 0, 7, 3, 3, 4);

    bn_pool_free(pool, a2);
    bn_pool_free(pool, b);
    bn_pool_free(pool, d);
    bn_pool_free(pool, e);
    check_stats(pool, "all freed", 0, 201823, 128 + 1024 + 102400 + 200704, 7, 7, 3, 0);

    /* Best fit: 101000 B fits both 102400 and 200704 (101000 >= 200704 / 2), takes the smaller. */
    void *f = bn_pool_alloc(pool, 101000);
    CHECK(f == d, "101000 B should take the 102400 B block, not the 200704 B one");
    check_stats(pool, "best fit", 101000, 201823, 128 + 1024 + 200704, 8, 7, 4, 1);

    /* Size classes: 0 B and 64 B share the first class; 65 B goes to the 128 B class. */
    void *g = bn_pool_alloc(pool, 64);
    bn_pool_free(pool, g);
    void *h = bn_pool_alloc(pool, 65);
    CHECK(h == a, "65 B should reuse the cached 128 B block");
    void *i = bn_pool_alloc(pool, 0);
    CHECK(i == g, "0 B should reuse the 64 B block");
    check_stats(pool, "classes", 101065, 201823, 1024 + 200704, 11, 8, 6, 3);

    /* Trim releases the caches; live blocks stay usable and the next allocation is a miss. */
    bn_pool_trim(pool);
    check_stats(pool, "trimmed", 101065, 201823, 0, 11, 8, 6, 3);
    memset(f, 0x5a, 101000);
    void *j = bn_pool_alloc(pool, 1000);
    check_stats(pool, "after trim", 102065, 201823, 0, 12, 8, 6, 4);

    bn_pool_free(pool, f);
    bn_pool_free(pool, h);
    bn_pool_free(pool, i);
    bn_pool_free(pool, j);
    bn_pool_stats s = stats_of(pool);
    CHECK(s.bytes_cached > 0, "frees after trim refill the caches");
    bn_pool_trim(pool);
    CHECK(stats_of(pool).bytes_cached == 0, "trim must empty the caches");
    CHECK(bn_pool_destroy(pool) == 0, "no leaks expected");
}

/* The caches are bounded: per small class by bytes, large blocks by count and by bytes, oldest
 * first, and a block bigger than the large bound is never cached. */
static void test_pool_cache_bounds(void) {
    bn_pool *pool = bn_pool_create();
    CHECK(pool != NULL, "bn_pool_create: %s", bn_last_error());
    if (pool == NULL)
        return;
    enum { N = 70 };
    void *p[N];

    /* 70 blocks of the top small class: only 4 MiB / 64 KiB = 64 of them stay cached. */
    for (int k = 0; k < N; k++)
        p[k] = bn_pool_alloc(pool, BN_POOL_SMALL_MAX);
    for (int k = 0; k < N; k++)
        bn_pool_free(pool, p[k]);
    size_t class_kept = BN_POOL_CLASS_CACHE_BYTES / BN_POOL_SMALL_MAX;
    CHECK(stats_of(pool).bytes_cached == class_kept * BN_POOL_SMALL_MAX, "small class bound: %zu",
          stats_of(pool).bytes_cached);
    bn_pool_trim(pool);

    /* 70 large blocks of 128 KiB: the count bound keeps 64, so 64 of 70 new requests hit. */
    for (int k = 0; k < N; k++)
        p[k] = bn_pool_alloc(pool, 128 * KiB);
    for (int k = 0; k < N; k++)
        bn_pool_free(pool, p[k]);
    CHECK(stats_of(pool).bytes_cached == BN_POOL_LARGE_CACHE_BLOCKS * 128 * KiB,
          "large count bound: %zu", stats_of(pool).bytes_cached);
    uint64_t hits = stats_of(pool).reuse_hits;
    for (int k = 0; k < N; k++)
        p[k] = bn_pool_alloc(pool, 128 * KiB);
    CHECK(stats_of(pool).reuse_hits - hits == BN_POOL_LARGE_CACHE_BLOCKS, "hits %llu",
          (unsigned long long)(stats_of(pool).reuse_hits - hits));
    for (int k = 0; k < N; k++)
        bn_pool_free(pool, p[k]);
    bn_pool_trim(pool);

    /* 40 + 44 + 48 MiB exceeds 128 MiB: freeing the third releases the oldest, the 40 MiB one.
     * (Never written, so these cost address space only.) */
    void *x = bn_pool_alloc(pool, 40 * MiB);
    void *y = bn_pool_alloc(pool, 44 * MiB);
    void *z = bn_pool_alloc(pool, 48 * MiB);
    bn_pool_free(pool, x);
    bn_pool_free(pool, y);
    bn_pool_free(pool, z);
    CHECK(stats_of(pool).bytes_cached == 92 * MiB, "large byte bound: %zu cached, want 92 MiB",
          stats_of(pool).bytes_cached);
    /* 40 MiB now fits both survivors; best fit gives the 44 MiB block. */
    void *w = bn_pool_alloc(pool, 40 * MiB);
    CHECK(w == y, "40 MiB should reuse the 44 MiB block");
    bn_pool_free(pool, w);

    size_t before = stats_of(pool).bytes_cached;
    void *huge = bn_pool_alloc(pool, BN_POOL_LARGE_CACHE_BYTES + 1);
    CHECK(huge != NULL, "%s", bn_last_error());
    bn_pool_free(pool, huge);
    CHECK(stats_of(pool).bytes_cached == before, "a block above the cache bound is not cached");
    CHECK(bn_pool_destroy(pool) == 0, "no leaks expected");
}

/* ---- misuse and leaks ------------------------------------------------------------------------ */

/* A bad pointer, a misaligned one, a block of another pool and a double free are each logged and
 * ignored: statistics unchanged, free lists intact. */
static void test_pool_bad_free(void) {
    bn_pool *pool = bn_pool_create();
    bn_pool *other = bn_pool_create();
    unsigned char *foreign = bn_aligned_alloc(256);
    CHECK(pool != NULL && other != NULL && foreign != NULL, "setup: %s", bn_last_error());
    if (pool == NULL || other == NULL || foreign == NULL)
        return;
    memset(foreign, 0, 256);
    unsigned char *p = bn_pool_alloc(pool, 100);
    bn_pool_stats before = stats_of(pool);

    capture cap;
    char text[4096];
    bool captured = capture_begin(&cap);
    bn_pool_free(pool, foreign + BN_ALIGN); /* header would be zeros: bad magic */
    bn_pool_free(pool, p + 1);              /* not aligned */
    bn_pool_free(other, p);                 /* wrong pool */
    if (captured)
        capture_end(&cap, text, sizeof text);
    CHECK(captured, "could not capture stderr");
    CHECK(!captured || strstr(text, "not a pool block (bad magic") != NULL, "log: %s", text);
    CHECK(!captured || strstr(text, "is not a 64-byte aligned block") != NULL, "log: %s", text);
    CHECK(!captured || strstr(text, "belongs to pool") != NULL, "log: %s", text);
    CHECK(stats_equal(stats_of(pool), before), "rejected frees must not change the statistics");
    CHECK(stats_of(other).frees == 0 && stats_of(other).bytes_cached == 0, "other pool touched");

    bn_pool_free(pool, p);
    captured = capture_begin(&cap);
    bn_pool_free(pool, p); /* double free: the block sits in the 128 B free list */
    if (captured)
        capture_end(&cap, text, sizeof text);
    CHECK(!captured || strstr(text, "double free") != NULL, "log: %s", text);
    check_stats(pool, "after double free", 0, 100, 128, 1, 1, 0, 0);

    /* Had the double free pushed the block twice, both allocations would return it. */
    void *q1 = bn_pool_alloc(pool, 100);
    void *q2 = bn_pool_alloc(pool, 100);
    CHECK(q1 == p, "the freed block should be reused once");
    CHECK(q2 != p && q2 != NULL, "the freed block must not be handed out twice");
    bn_pool_free(pool, q1);
    bn_pool_free(pool, q2);
    bn_aligned_free(foreign);
    CHECK(bn_pool_destroy(other) == 0, "no leaks expected in the other pool");
    CHECK(bn_pool_destroy(pool) == 0, "no leaks expected");
}

static void test_pool_leak_report(void) {
    bn_pool *pool = bn_pool_create();
    CHECK(pool != NULL, "bn_pool_create: %s", bn_last_error());
    if (pool == NULL)
        return;
    void *p[4];
    for (int k = 0; k < 4; k++)
        p[k] = bn_pool_alloc(pool, (size_t)(k + 1) * 100);
    bn_pool_free(pool, p[1]); /* block #2 is not a leak */

    capture cap;
    char text[8192];
    bool captured = capture_begin(&cap);
    uint64_t leaked = bn_pool_destroy(pool);
    if (captured)
        capture_end(&cap, text, sizeof text);
    CHECK(leaked == 3, "leaked %llu, want 3", (unsigned long long)leaked);
    CHECK(captured, "could not capture stderr");
    if (captured) {
        CHECK(strstr(text, "leaked block #1 of 100 bytes") != NULL, "log: %s", text);
        CHECK(strstr(text, "leaked block #3 of 300 bytes") != NULL, "log: %s", text);
        CHECK(strstr(text, "leaked block #4 of 400 bytes") != NULL, "log: %s", text);
        CHECK(strstr(text, "leaked block #2 ") == NULL, "freed block reported: %s", text);
        CHECK(strstr(text, "3 leaked blocks (0 not listed), 800 bytes in all") != NULL, "log: %s",
              text);
    }

    /* Many leaks: a bounded number of lines, then the summary counts them all. */
    enum { MANY = 40 };
    pool = bn_pool_create();
    CHECK(pool != NULL, "bn_pool_create: %s", bn_last_error());
    if (pool == NULL)
        return;
    for (int k = 0; k < MANY; k++)
        bn_pool_alloc(pool, 10);
    captured = capture_begin(&cap);
    leaked = bn_pool_destroy(pool);
    if (captured)
        capture_end(&cap, text, sizeof text);
    CHECK(leaked == MANY, "leaked %llu, want %d", (unsigned long long)leaked, MANY);
    if (captured) {
        int lines = count_occurrences(text, "leaked block #");
        CHECK(lines > 0 && lines < MANY, "%d per-block lines for %d leaks", lines, MANY);
        CHECK(strstr(text, "40 leaked blocks") != NULL, "log: %s", text);
    }
}

/* ---- out of memory --------------------------------------------------------------------------- */

static void test_fail_after(void) {
    bn_clear_error();
    bn_alloc_fail_after(1);
    CHECK(bn_aligned_alloc(1000) == NULL, "fail_after(1): the next allocation must fail");
    CHECK(strstr(bn_last_error(), "out of memory") != NULL && strstr(bn_last_error(), "1000"),
          "message: '%s'", bn_last_error());
    void *p = bn_aligned_alloc(1000);
    CHECK(p != NULL, "the hook fires once: %s", bn_last_error());
    bn_aligned_free(p);

    bn_alloc_fail_after(3);
    void *q[4];
    for (int k = 0; k < 4; k++)
        q[k] = bn_aligned_alloc(64);
    CHECK(q[0] && q[1] && !q[2] && q[3], "fail_after(3) must fail the third call only");
    for (int k = 0; k < 4; k++)
        bn_aligned_free(q[k]);

    bn_alloc_fail_after(1);
    CHECK(bn_pool_create() == NULL, "bn_pool_create must report the failure");
    bn_alloc_fail_after(0);
}

/* A failed pool allocation leaves the statistics as they were, and the pool keeps working. */
static void test_pool_out_of_memory(void) {
    bn_pool *pool = bn_pool_create();
    CHECK(pool != NULL, "bn_pool_create: %s", bn_last_error());
    if (pool == NULL)
        return;
    void *a = bn_pool_alloc(pool, 500);
    bn_pool_stats before = stats_of(pool);

    bn_clear_error();
    bn_alloc_fail_after(1);
    CHECK(bn_pool_alloc(pool, 3000) == NULL, "injected failure must reach bn_pool_alloc");
    CHECK(strstr(bn_last_error(), "out of memory") && strstr(bn_last_error(), "3000"),
          "message: '%s'", bn_last_error());
    CHECK(stats_equal(stats_of(pool), before), "a failed allocation must not change statistics");
    void *b = bn_pool_alloc(pool, 3000);
    CHECK(b != NULL, "allocation works after the failure: %s", bn_last_error());

    /* A cached block needs no system allocation, so an armed hook does not fire on it. */
    bn_pool_free(pool, a);
    bn_alloc_fail_after(1);
    void *a2 = bn_pool_alloc(pool, 500);
    CHECK(a2 == a, "a cached block is served while the hook is armed");
    CHECK(bn_pool_alloc(pool, 500) == NULL, "the next system allocation fails");
    bn_alloc_fail_after(0);

    bn_clear_error();
    before = stats_of(pool);
    CHECK(bn_pool_alloc(pool, SIZE_MAX) == NULL, "SIZE_MAX plus header overflows");
    CHECK(strstr(bn_last_error(), "overflow") != NULL, "message: '%s'", bn_last_error());
    CHECK(bn_pool_alloc(pool, SIZE_MAX - 100) == NULL, "SIZE_MAX - 100 overflows");
    CHECK(bn_pool_alloc(pool, (size_t)PTRDIFF_MAX) == NULL, "PTRDIFF_MAX is too big");
    CHECK(stats_equal(stats_of(pool), before), "failed allocations must not change statistics");

    bn_pool_free(pool, a2);
    bn_pool_free(pool, b);
    CHECK(bn_pool_destroy(pool) == 0, "no leaks expected");
}

/* SQLite style: fail the 1st, 2nd, ... system allocation of a small scenario until it runs
 * clean. Every step must fail cleanly: NULL, a message, consistent statistics, no leak. */
static void test_pool_every_failure(void) {
    static const size_t sizes[] = {10, 70000, 300, 70000};
    int clean_at = 0;
    for (int n = 1; n <= 20 && clean_at == 0; n++) {
        bn_alloc_fail_after((uint64_t)n);
        bn_clear_error();
        bool failed = false;
        bn_pool *pool = bn_pool_create();
        if (pool == NULL) {
            CHECK(bn_last_error()[0] != '\0', "n=%d: create failed without a message", n);
            continue;
        }
        void *p[4] = {NULL};
        uint64_t made = 0;
        for (int k = 0; k < 4 && !failed; k++) {
            p[k] = bn_pool_alloc(pool, sizes[k]);
            failed = p[k] == NULL;
            made += !failed;
        }
        CHECK(!failed || bn_last_error()[0] != '\0', "n=%d: failed without a message", n);
        bn_pool_stats s = stats_of(pool);
        CHECK(s.allocations == made && s.live_blocks == made, "n=%d: %llu allocations, %llu made",
              n, (unsigned long long)s.allocations, (unsigned long long)made);
        for (int k = 0; k < 4; k++)
            bn_pool_free(pool, p[k]);
        s = stats_of(pool);
        CHECK(s.live_blocks == 0 && s.bytes_in_use == 0, "n=%d: not all freed", n);
        CHECK(bn_pool_destroy(pool) == 0, "n=%d: leak", n);
        if (!failed)
            clean_at = n;
    }
    bn_alloc_fail_after(0);
    /* 1 pool + 4 blocks (all live at once, so none is reused) = 5 system allocations. */
    CHECK(clean_at == 6, "scenario first ran clean at n=%d, want 6", clean_at);
}

/* ---- two threads ----------------------------------------------------------------------------- */

#define THREAD_OPS      200000
#define THREAD_MAX_LIVE 64

typedef struct worker {
    bn_pool *pool;
    int id;
    uint64_t rng;
    atomic_int *done;
    /* Results, read by the main thread after join (CHECK is not thread-safe). */
    uint64_t allocations, frees, null_returns, misaligned, corrupted;
} worker;

typedef struct live_block {
    unsigned char *p;
    size_t size;
    unsigned char tag;
} live_block;

static uint64_t xorshift64(uint64_t *s) {
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *s = x;
}

/* 70% up to 4 KiB, 25% up to the top small class, 5% large up to 1 MiB. */
static size_t random_size(uint64_t *rng) {
    uint64_t r = xorshift64(rng);
    unsigned pick = (unsigned)(r % 100);
    r >>= 8;
    if (pick < 70)
        return (size_t)(r % (4 * KiB + 1));
    if (pick < 95)
        return 4 * KiB + 1 + (size_t)(r % (BN_POOL_SMALL_MAX - 4 * KiB));
    return BN_POOL_SMALL_MAX + 1 + (size_t)(r % MiB);
}

/* Every byte of blocks up to 4 KiB, every 512th byte (plus the last) of bigger ones: enough to see
 * a block shared with another live one, while keeping 400k operations fast. */
#define STAMP_FULL   (4 * KiB)
#define STAMP_STRIDE 512

static void stamp(live_block *b) {
    if (b->size <= STAMP_FULL) {
        memset(b->p, b->tag, b->size);
        return;
    }
    for (size_t i = 0; i < b->size; i += STAMP_STRIDE)
        b->p[i] = b->tag;
    b->p[b->size - 1] = b->tag;
}

static bool stamp_intact(const live_block *b) {
    unsigned char bad = 0;
    if (b->size <= STAMP_FULL) {
        for (size_t i = 0; i < b->size; i++)
            bad |= b->p[i] ^ b->tag;
        return bad == 0;
    }
    for (size_t i = 0; i < b->size; i += STAMP_STRIDE)
        bad |= b->p[i] ^ b->tag;
    return bad == 0 && b->p[b->size - 1] == b->tag;
}

static void worker_free(worker *w, live_block *b) {
    w->corrupted += !stamp_intact(b);
    bn_pool_free(w->pool, b->p);
    w->frees++;
}

static void *worker_run(void *arg) {
    worker *w = arg;
    live_block live[THREAD_MAX_LIVE];
    int n_live = 0;
    for (int op = 0; op < THREAD_OPS; op++) {
        uint64_t r = xorshift64(&w->rng);
        bool alloc = n_live == 0 || (n_live < THREAD_MAX_LIVE && (r & 1));
        if (alloc) {
            size_t size = random_size(&w->rng);
            unsigned char *p = bn_pool_alloc(w->pool, size);
            if (p == NULL) {
                w->null_returns++;
                continue;
            }
            w->allocations++;
            w->misaligned += !is_aligned(p);
            /* Thread 0 writes even bytes, thread 1 odd: an overlap across threads always shows. */
            live[n_live] = (live_block){p, size, (unsigned char)(w->allocations * 2 + w->id)};
            stamp(&live[n_live++]);
        } else {
            int k = (int)((r >> 1) % (uint64_t)n_live);
            worker_free(w, &live[k]);
            live[k] = live[--n_live];
        }
    }
    while (n_live > 0) {
        int k = (int)(xorshift64(&w->rng) % (uint64_t)n_live);
        worker_free(w, &live[k]);
        live[k] = live[--n_live];
    }
    atomic_fetch_add(w->done, 1);
    return NULL;
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void test_pool_two_threads(void) {
    bn_pool *pool = bn_pool_create();
    CHECK(pool != NULL, "bn_pool_create: %s", bn_last_error());
    if (pool == NULL)
        return;
    atomic_int done = 0;
    worker w[2];
    pthread_t tid[2];
    int started = 0;
    double t0 = now_s();
    for (int k = 0; k < 2; k++) {
        w[k] = (worker){
            .pool = pool, .id = k, .rng = 0x9e3779b97f4a7c15u * (uint64_t)(k + 1), .done = &done};
        int rc = pthread_create(&tid[k], NULL, worker_run, &w[k]);
        CHECK(rc == 0, "pthread_create: %d", rc);
        if (rc != 0)
            break;
        started++;
    }

    /* Meanwhile, every snapshot must be self-consistent. */
    uint64_t snapshots = 0, inconsistent = 0;
    while (atomic_load(&done) < started) {
        bn_pool_stats s = stats_of(pool);
        snapshots++;
        inconsistent += s.live_blocks != s.allocations - s.frees || s.bytes_in_use > s.peak_bytes;
        nanosleep(&(struct timespec){0, 100000}, NULL);
    }
    for (int k = 0; k < started; k++)
        pthread_join(tid[k], NULL);
    double elapsed = now_s() - t0;
    if (started < 2) {
        bn_pool_destroy(pool);
        return;
    }

    CHECK(inconsistent == 0, "%llu of %llu snapshots inconsistent",
          (unsigned long long)inconsistent, (unsigned long long)snapshots);
    uint64_t allocations = 0, frees = 0;
    for (int k = 0; k < 2; k++) {
        CHECK(w[k].null_returns == 0, "thread %d: %llu allocations failed: %s", k,
              (unsigned long long)w[k].null_returns, bn_last_error());
        CHECK(w[k].misaligned == 0, "thread %d: %llu misaligned blocks", k,
              (unsigned long long)w[k].misaligned);
        CHECK(w[k].corrupted == 0, "thread %d: %llu blocks overwritten by someone else", k,
              (unsigned long long)w[k].corrupted);
        CHECK(w[k].allocations == w[k].frees, "thread %d freed what it allocated", k);
        allocations += w[k].allocations;
        frees += w[k].frees;
    }
    bn_pool_stats s = stats_of(pool);
    CHECK(s.live_blocks == 0 && s.bytes_in_use == 0, "%llu live blocks, %zu bytes in use",
          (unsigned long long)s.live_blocks, s.bytes_in_use);
    CHECK(s.allocations == allocations, "allocations %llu want %llu",
          (unsigned long long)s.allocations, (unsigned long long)allocations);
    CHECK(s.frees == frees, "frees %llu want %llu", (unsigned long long)s.frees,
          (unsigned long long)frees);
    CHECK(allocations > THREAD_OPS / 2, "too few allocations: %llu",
          (unsigned long long)allocations);
    CHECK(s.reuse_hits > 0 && s.reuse_hits <= s.allocations, "reuse_hits %llu",
          (unsigned long long)s.reuse_hits);
    /* 11 small classes (64 B .. 64 KiB), each bounded, plus the large cache. */
    size_t cache_bound = 11 * BN_POOL_CLASS_CACHE_BYTES + BN_POOL_LARGE_CACHE_BYTES;
    CHECK(s.bytes_cached <= cache_bound, "bytes_cached %zu above the bound", s.bytes_cached);
    CHECK(bn_pool_destroy(pool) == 0, "no leaks expected");
    printf("two threads: %llu allocations, %llu reused, %.3f s\n", (unsigned long long)allocations,
           (unsigned long long)s.reuse_hits, elapsed);
}

int main(void) {
    /* The leak and misuse tests read the warn and error lines. */
    bn_log_set_level(BN_LOG_WARN);
    test_aligned_alloc();
    test_aligned_alloc_too_big();
    test_pool_alignment();
    test_pool_stats_exact();
    test_pool_cache_bounds();
    test_pool_bad_free();
    test_pool_leak_report();
    test_fail_after();
    test_pool_out_of_memory();
    test_pool_every_failure();
    test_pool_two_threads();
    return bn_test_finish("test_alloc");
}
