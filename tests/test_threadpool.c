/*
 * test_threadpool.c - the pool visits every index exactly once, for every thread count and
 * chunk size, survives tens of thousands of back-to-back calls, really spreads work, and can be
 * created, destroyed and shared between callers without hanging.
 *
 * Worker threads never call CHECK (the harness counters are not atomic): they record what they
 * saw in atomics, and the main thread checks afterwards.
 */
#include "base/threadpool.h"

#include "test.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void sleep_us(long us) {
    struct timespec ts = {.tv_sec = us / 1000000, .tv_nsec = (us % 1000000) * 1000};
    nanosleep(&ts, NULL);
}

/* ---- every index exactly once -------------------------------------------------------------- */

typedef struct visit_ctx {
    atomic_int *counts; /* one per index */
    size_t n;
    size_t chunk;  /* as passed; 0 = the pool chose */
    int n_threads; /* thread ids must lie in [0, n_threads) */
    atomic_int bad_ranges;
    atomic_int bad_ids;
} visit_ctx;

static void visit(void *arg, size_t begin, size_t end, int thread_id) {
    visit_ctx *v = arg;
    if (thread_id < 0 || thread_id >= v->n_threads)
        atomic_fetch_add(&v->bad_ids, 1);
    /* The contract beyond coverage: non-empty ranges inside [0, n) that start on a chunk
     * boundary and span at most one chunk (when the caller fixed the chunk). */
    bool bad = begin >= end || end > v->n;
    if (v->chunk != 0)
        bad = bad || begin % v->chunk != 0 || end - begin > v->chunk;
    if (bad) {
        atomic_fetch_add(&v->bad_ranges, 1);
        return;
    }
    for (size_t i = begin; i < end; i++)
        atomic_fetch_add_explicit(&v->counts[i], 1, memory_order_relaxed);
}

/* Run one case on pool (NULL allowed) and check every count is exactly 1. */
static void check_visit_once(bn_threadpool *pool, atomic_int *counts, size_t n, size_t chunk) {
    int n_threads = bn_threadpool_n_threads(pool);
    for (size_t i = 0; i < n; i++)
        atomic_store_explicit(&counts[i], 0, memory_order_relaxed);
    visit_ctx v = {.counts = counts, .n = n, .chunk = chunk, .n_threads = n_threads};
    atomic_init(&v.bad_ranges, 0);
    atomic_init(&v.bad_ids, 0);

    bn_parallel_for(pool, n, chunk, visit, &v);

    size_t wrong = 0, first_wrong = 0;
    int first_count = 0;
    for (size_t i = 0; i < n; i++) {
        int c = atomic_load_explicit(&counts[i], memory_order_relaxed);
        if (c != 1 && wrong++ == 0) {
            first_wrong = i;
            first_count = c;
        }
    }
    CHECK(wrong == 0, "threads=%d n=%zu chunk=%zu: %zu indices not visited once (index %zu: %d)",
          n_threads, n, chunk, wrong, first_wrong, first_count);
    CHECK(atomic_load(&v.bad_ranges) == 0, "threads=%d n=%zu chunk=%zu: %d malformed ranges",
          n_threads, n, chunk, atomic_load(&v.bad_ranges));
    CHECK(atomic_load(&v.bad_ids) == 0, "threads=%d n=%zu chunk=%zu: %d thread ids out of range",
          n_threads, n, chunk, atomic_load(&v.bad_ids));
}

static void test_every_index_once(void) {
    static const size_t ns[] = {0, 1, 2, 17, 1000, 100003};
    enum { N_MAX = 100003 };
    atomic_int *counts = calloc(N_MAX, sizeof *counts);
    CHECK(counts != NULL, "calloc");
    if (counts == NULL)
        return;
    for (int t = 1; t <= 8; t++) {
        bn_threadpool *pool = NULL;
        CHECK_OK(bn_threadpool_create(t, &pool));
        if (pool == NULL)
            continue;
        CHECK(bn_threadpool_n_threads(pool) == t, "n_threads %d want %d",
              bn_threadpool_n_threads(pool), t);
        for (size_t k = 0; k < sizeof ns / sizeof ns[0]; k++) {
            size_t n = ns[k];
            const size_t chunks[] = {0, 1, 3, 7, 64, 1000, n + 5};
            for (size_t c = 0; c < sizeof chunks / sizeof chunks[0]; c++)
                check_visit_once(pool, counts, n, chunks[c]);
        }
        bn_threadpool_destroy(pool);
    }
    free(counts);
}

/* ---- NULL and one-thread pools ------------------------------------------------------------- */

static void test_null_and_single(void) {
    atomic_int *counts = calloc(1000, sizeof *counts);
    CHECK(counts != NULL, "calloc");
    if (counts == NULL)
        return;
    CHECK(bn_threadpool_n_threads(NULL) == 1, "NULL pool has %d threads",
          bn_threadpool_n_threads(NULL));
    check_visit_once(NULL, counts, 1000, 0);
    check_visit_once(NULL, counts, 1000, 7);
    check_visit_once(NULL, counts, 0, 7);

    bn_threadpool *pool = NULL;
    CHECK_OK(bn_threadpool_create(1, &pool));
    CHECK(pool != NULL && bn_threadpool_n_threads(pool) == 1, "one-thread pool");
    check_visit_once(pool, counts, 1000, 0);
    check_visit_once(pool, counts, 1000, 13);
    bn_threadpool_destroy(pool);
    bn_threadpool_destroy(NULL); /* ignored */
    free(counts);
}

/* ---- thread counts: default and limits ----------------------------------------------------- */

static void test_thread_counts(void) {
    int cpus = bn_cpu_count();
    CHECK(cpus >= 1, "bn_cpu_count() = %d", cpus);
    int want = cpus < 256 ? cpus : 256;
    for (int req = -1; req <= 0; req++) {
        bn_threadpool *pool = NULL;
        CHECK_OK(bn_threadpool_create(req, &pool));
        CHECK(pool != NULL && bn_threadpool_n_threads(pool) == want,
              "create(%d) gave %d threads, want %d", req, pool ? bn_threadpool_n_threads(pool) : 0,
              want);
        bn_threadpool_destroy(pool);
    }
    static char sentinel;
    bn_threadpool *pool = (bn_threadpool *)(void *)&sentinel; /* must be overwritten with NULL */
    bn_status st = bn_threadpool_create(257, &pool);
    CHECK(st == BN_ERR_INVALID_ARG, "create(257) returned %s", bn_status_str(st));
    CHECK(pool == NULL, "create(257) left *out set");
}

/* ---- many small calls back to back --------------------------------------------------------- */

typedef struct sum_ctx {
    uint64_t offset;
    _Atomic uint64_t sum;
} sum_ctx;

/* Adds offset + i over the range. */
static void sum_range(void *arg, size_t begin, size_t end, int thread_id) {
    (void)thread_id;
    sum_ctx *s = arg;
    uint64_t local = 0;
    for (size_t i = begin; i < end; i++)
        local += s->offset + i;
    atomic_fetch_add_explicit(&s->sum, local, memory_order_relaxed);
}

/* Runs `calls` sums of 32..95 indices in chunks of 8, each with a fresh context on the stack
 * (so a worker still touching a finished job would be a use of a dead frame). Returns how many
 * results were wrong. With nap_us > 0 each call waits first, so the workers have fallen asleep
 * and the wake-up path runs instead of the spinning one. */
static int run_small_sums(bn_threadpool *pool, int calls, long nap_us) {
    int wrong = 0;
    for (int k = 0; k < calls; k++) {
        if (nap_us > 0)
            sleep_us(nap_us);
        size_t n = 32 + (size_t)(k % 64);
        sum_ctx s = {.offset = (uint64_t)k * 1000};
        atomic_init(&s.sum, 0);
        bn_parallel_for(pool, n, 8, sum_range, &s);
        uint64_t want = n * s.offset + n * (n - 1) / 2;
        if (atomic_load(&s.sum) != want)
            wrong++;
    }
    return wrong;
}

static void test_repeated_calls(void) {
    static const int threads[] = {2, 4};
    static const int calls[] = {20000, 4000};
    for (int t = 0; t < 2; t++) {
        bn_threadpool *pool = NULL;
        CHECK_OK(bn_threadpool_create(threads[t], &pool));
        if (pool == NULL)
            continue;
        double t0 = now_s();
        int wrong = run_small_sums(pool, calls[t], 0);
        double dt = now_s() - t0;
        CHECK(wrong == 0, "%d threads: %d of %d sums wrong", threads[t], wrong, calls[t]);
        /* 1 ms apart: longer than the spin, so every call wakes sleeping workers. */
        wrong = run_small_sums(pool, 10, 1000);
        CHECK(wrong == 0, "%d threads, after sleeping: %d of 10 sums wrong", threads[t], wrong);
        /* Informational only: timings depend on the machine and the sanitizer. */
        printf("  %d threads: %d small parallel_for calls in %.3f s (%.0f calls/s)\n", threads[t],
               calls[t], dt, calls[t] / dt);
        bn_threadpool_destroy(pool);
    }
}

/* ---- work really spreads ------------------------------------------------------------------- */

typedef struct spread_ctx {
    atomic_uint seen_ids; /* bit t set when thread t ran a chunk */
    atomic_int chunks;
} spread_ctx;

static void sleepy_chunk(void *arg, size_t begin, size_t end, int thread_id) {
    (void)begin;
    (void)end;
    spread_ctx *s = arg;
    atomic_fetch_or(&s->seen_ids, 1u << (thread_id & 31));
    atomic_fetch_add(&s->chunks, 1);
    sleep_us(1000);
}

static void test_work_spread(void) {
    bn_threadpool *pool = NULL;
    CHECK_OK(bn_threadpool_create(2, &pool));
    if (pool == NULL)
        return;
    /* 16 chunks of ~1 ms: the caller cannot drain them all before the worker wakes (even from
     * sleep), so both ids must appear. Robust to slow machines, not a timing assertion. */
    spread_ctx s;
    atomic_init(&s.seen_ids, 0);
    atomic_init(&s.chunks, 0);
    bn_parallel_for(pool, 16, 1, sleepy_chunk, &s);
    CHECK(atomic_load(&s.chunks) == 16, "ran %d chunks, want 16", atomic_load(&s.chunks));
    CHECK(atomic_load(&s.seen_ids) == 3u, "thread ids seen: mask 0x%x, want 0x3",
          atomic_load(&s.seen_ids));
    bn_threadpool_destroy(pool);
}

/* ---- create and destroy many times --------------------------------------------------------- */

static void test_create_destroy(void) {
    int failed = 0, wrong = 0;
    for (int k = 0; k < 200; k++) {
        bn_threadpool *pool = NULL;
        if (bn_threadpool_create(4, &pool) != BN_OK) {
            failed++;
            continue;
        }
        /* Half the pools are destroyed before any job, while workers may still be starting. */
        if (k % 2 == 0)
            wrong += run_small_sums(pool, 3, 0);
        bn_threadpool_destroy(pool);
    }
    CHECK(failed == 0, "%d of 200 creates failed: %s", failed, bn_last_error());
    CHECK(wrong == 0, "%d sums wrong across create/destroy cycles", wrong);
}

/* ---- two callers share one pool ------------------------------------------------------------ */

typedef struct caller_arg {
    bn_threadpool *pool;
    int wrong;
} caller_arg;

static void *caller_main(void *arg) {
    caller_arg *c = arg;
    c->wrong = run_small_sums(c->pool, 3000, 0);
    return NULL;
}

static void test_two_callers(void) {
    bn_threadpool *pool = NULL;
    CHECK_OK(bn_threadpool_create(3, &pool));
    if (pool == NULL)
        return;
    caller_arg args[2] = {{.pool = pool}, {.pool = pool}};
    pthread_t threads[2];
    int started = 0;
    for (int i = 0; i < 2; i++) {
        int rc = pthread_create(&threads[i], NULL, caller_main, &args[i]);
        CHECK(rc == 0, "pthread_create: %d", rc);
        started += rc == 0;
    }
    for (int i = 0; i < started; i++)
        pthread_join(threads[i], NULL);
    for (int i = 0; i < started; i++)
        CHECK(args[i].wrong == 0, "caller %d: %d sums wrong", i, args[i].wrong);
    bn_threadpool_destroy(pool);
}

typedef struct named_test {
    const char *name;
    void (*fn)(void);
} named_test;

/* A file under a fake root, its folders made on the way. */
static void put(const char *root, const char *rel, const char *text) {
    char path[512];
    mkdir(root, 0755);
    snprintf(path, sizeof path, "%s/%s", root, rel);
    for (char *p = strchr(path + strlen(root) + 1, '/'); p != NULL; p = strchr(p + 1, '/')) {
        *p = '\0';
        mkdir(path, 0755);
        *p = '/';
    }
    FILE *f = fopen(path, "w");
    if (f != NULL) {
        fputs(text, f);
        fclose(f);
    }
}

/* cgroup CPU quotas from trees that mimic /proc and /sys/fs/cgroup. */
static void test_cgroup_limits(void) {
    char root[64];
    snprintf(root, sizeof root, "/tmp/bn_cgroup_XXXXXX");
    if (mkdtemp(root) == NULL)
        return;
    char r[4][128];
    for (int i = 0; i < 4; i++)
        snprintf(r[i], sizeof r[i], "%s/%d", root, i);
    /* v2: 1.5 CPUs on the process's cgroup, 3 on the root, none on the leaf's child */
    put(r[0], "proc/self/cgroup", "0::/app/web\n");
    put(r[0], "sys/fs/cgroup/cpu.max", "300000 100000\n");
    put(r[0], "sys/fs/cgroup/app/cpu.max", "150000 100000\n");
    put(r[0], "sys/fs/cgroup/app/web/cpu.max", "max 100000\n");
    CHECK(bn_cgroup_cpu_limit(r[0]) == 2, "v2: the smallest quota up the tree, rounded up: %d",
          bn_cgroup_cpu_limit(r[0]));
    /* v2 without a quota anywhere (a container's namespace root) */
    put(r[1], "proc/self/cgroup", "0::/\n");
    put(r[1], "sys/fs/cgroup/cpu.max", "max 100000\n");
    CHECK(bn_cgroup_cpu_limit(r[1]) == 0, "v2 without a quota: %d", bn_cgroup_cpu_limit(r[1]));
    /* v1: half a CPU under the cpu controller's mount */
    put(r[2], "proc/self/cgroup", "12:memory:/docker/x\n4:cpu,cpuacct:/docker/x\n");
    put(r[2], "sys/fs/cgroup/cpu,cpuacct/docker/x/cpu.cfs_quota_us", "50000\n");
    put(r[2], "sys/fs/cgroup/cpu,cpuacct/docker/x/cpu.cfs_period_us", "100000\n");
    put(r[2], "sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us", "-1\n");
    put(r[2], "sys/fs/cgroup/cpu,cpuacct/cpu.cfs_period_us", "100000\n");
    CHECK(bn_cgroup_cpu_limit(r[2]) == 1, "v1: %d", bn_cgroup_cpu_limit(r[2]));
    CHECK(bn_cgroup_cpu_limit(r[3]) == 0, "no /proc: no limit");
    /* a cpuset line is not the cpu controller, though its name begins with "cpu" */
    put(r[3], "proc/self/cgroup", "3:cpuset:/pinned\n");
    put(r[3], "sys/fs/cgroup/cpu/pinned/cpu.cfs_quota_us", "50000\n");
    put(r[3], "sys/fs/cgroup/cpu/pinned/cpu.cfs_period_us", "100000\n");
    CHECK(bn_cgroup_cpu_limit(r[3]) == 0, "cpuset is not cpu: %d", bn_cgroup_cpu_limit(r[3]));
    int n = bn_cpu_count();
    CHECK(n >= 1 && n <= sysconf(_SC_NPROCESSORS_ONLN), "bn_cpu_count %d", n);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    CHECK(system(cmd) == 0, "cleanup");
}

/* Workers block SIGINT: a process-directed signal reaches the caller's thread. */
static atomic_int handler_thread_is_main;
static pthread_t main_thread;
static void on_usr(int sig) {
    (void)sig;
    atomic_store(&handler_thread_is_main, pthread_equal(pthread_self(), main_thread) ? 1 : 2);
}

static void test_signals_reach_caller(void) {
    bn_threadpool *pool = NULL;
    CHECK_OK(bn_threadpool_create(4, &pool));
    main_thread = pthread_self();
    struct sigaction sa = {.sa_handler = on_usr}, old;
    sigaction(SIGINT, &sa, &old);
    for (int k = 0; k < 20; k++) { /* the kernel picks any thread that does not block it */
        atomic_store(&handler_thread_is_main, 0);
        kill(getpid(), SIGINT);
        for (int w = 0; w < 1000 && atomic_load(&handler_thread_is_main) == 0; w++)
            sleep_us(100);
        CHECK(atomic_load(&handler_thread_is_main) == 1, "SIGINT handled on %s",
              atomic_load(&handler_thread_is_main) == 2 ? "a worker" : "no thread");
    }
    sigaction(SIGINT, &old, NULL);
    bn_threadpool_destroy(pool);
}

int main(void) {
    static const named_test tests[] = {
        {"every_index_once", test_every_index_once}, {"null_and_single", test_null_and_single},
        {"thread_counts", test_thread_counts},       {"repeated_calls", test_repeated_calls},
        {"work_spread", test_work_spread},           {"create_destroy", test_create_destroy},
        {"two_callers", test_two_callers},
    };
    for (size_t i = 0; i < sizeof tests / sizeof tests[0]; i++) {
        double t0 = now_s();
        tests[i].fn();
        printf("%-18s %.3f s\n", tests[i].name, now_s() - t0);
    }
    test_cgroup_limits();
    test_signals_reach_caller();
    return bn_test_finish("test_threadpool");
}
