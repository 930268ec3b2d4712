/*
 * threadpool.c - persistent workers and a dynamically scheduled parallel-for.
 *
 * One job slot lives in the pool. bn_parallel_for fills it (fn, ctx, n, chunk), resets the
 * chunk counter and bumps `generation`; each worker, on seeing a new generation, claims chunks
 * from the counter until none are left and then decrements `active`. The caller claims chunks
 * too (as thread 0) and returns once `active` reaches zero, so no worker can still be reading
 * the slot when the next call rewrites it.
 *
 * Waiting: calls arrive thousands of times a second, and waking a sleeping thread costs tens of
 * microseconds, so both the workers (waiting for a job) and the caller (waiting for the workers)
 * first spin for up to SPIN_NS, then sleep on a condition variable so an idle pool costs no
 * CPU. Spinners pause, and yield the CPU once it is clear the wait is not short, because with
 * more threads than cores the thread being waited for may need the very core we are spinning
 * on.
 *
 * Sleeping without lost wake-ups: a sleeper announces itself (n_sleeping, caller_sleeping)
 * before re-checking the condition under the mutex; the waker stores the new state before
 * reading the announcement. Both sides use sequentially consistent operations, so at least one
 * of them sees the other: either the sleeper sees the new state and does not sleep, or the
 * waker sees the sleeper and signals it under the mutex.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* sched_getaffinity, CPU_COUNT */
#endif

#include "base/threadpool.h"

#include "base/log.h"

#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* More threads than this is almost certainly a bug in the caller (a negative count cast, a
 * cores-times-something formula) rather than a real machine. */
#define MAX_THREADS BN_MAX_THREADS

/* How long a waiter spins before sleeping. Long enough to bridge the gap between consecutive
 * layers of one token, short enough that an idle pool stops burning CPU almost at once. */
#define SPIN_NS 100000

/* Spins that only pause before spinners start yielding (when the pool fits the cores). */
#define SPIN_PAUSES 256

/* The default split: enough chunks that a thread slowed by the OS is compensated by the others,
 * few enough that claiming a chunk stays negligible. */
#define CHUNKS_PER_THREAD 4

#define CACHE_LINE 64

typedef struct worker {
    bn_threadpool *pool;
    int id; /* 1 .. n_threads-1; the caller is 0 */
    pthread_t thread;
} worker;

struct bn_threadpool {
    /* Hot atomics each on their own line: workers hammer `next_chunk` while the caller polls
     * `active`, and neither should slow the other through false sharing. */
    _Alignas(CACHE_LINE) atomic_uint generation;   /* bumped once per published job */
    _Alignas(CACHE_LINE) atomic_size_t next_chunk; /* next chunk index to claim */
    _Alignas(CACHE_LINE) atomic_int active; /* workers that have not finished the current job */

    /* The job slot: written by the caller only while no worker is inside a job, published by
     * the (seq_cst, so also release) increment of `generation`. */
    _Alignas(CACHE_LINE) bn_range_fn fn;
    void *ctx;
    size_t n;        /* indices [0, n) */
    size_t chunk;    /* indices per chunk (the last may be shorter) */
    size_t n_chunks; /* ceil(n / chunk) */

    int n_threads;       /* counts the caller */
    bool oversubscribed; /* more threads than CPUs: spinners yield at once */
    worker *workers;     /* n_threads - 1 used (sized n_threads, never 0) */

    pthread_mutex_t call_lock; /* serialises bn_parallel_for: there is one job slot */

    /* Sleeping: `lock` guards the waits; the counters say whether anyone needs a signal. */
    pthread_mutex_t lock;
    pthread_cond_t wake;         /* workers: a new generation, or shutdown */
    pthread_cond_t done;         /* caller: active reached zero */
    atomic_int n_sleeping;       /* workers inside (or about to enter) the wake wait */
    atomic_bool caller_sleeping; /* the caller is inside (or about to enter) the done wait */
    atomic_bool shutdown;
};

/* ---- spinning ------------------------------------------------------------------------------ */

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__) || defined(__arm__)
    __asm__ __volatile__("yield");
#endif
}

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* A bounded spin: call spin_again() between checks of the awaited condition; it returns false
 * once SPIN_NS have passed, and the caller should then sleep. The clock is read only every 16
 * spins and not at all when the wait ends quickly, which is the common case. */
typedef struct spinner {
    unsigned iter;
    bool yield_now;
    uint64_t deadline; /* 0 until first needed */
} spinner;

static spinner spinner_start(const bn_threadpool *pool) {
    return (spinner){.iter = 0, .yield_now = pool->oversubscribed, .deadline = 0};
}

static bool spin_again(spinner *s) {
    s->iter++;
    if (s->yield_now || s->iter > SPIN_PAUSES)
        sched_yield();
    else
        cpu_relax();
    if ((s->iter & 15) != 0)
        return true;
    uint64_t t = now_ns();
    if (s->deadline == 0)
        s->deadline = t + SPIN_NS;
    return t < s->deadline;
}

/* ---- workers ------------------------------------------------------------------------------- */

/* Claim and run chunks of the current job until none are left. Relaxed is enough for the
 * claim: atomicity alone makes each chunk go to exactly one thread, and the results reach the
 * caller through the release/acquire on `active`. */
static void run_chunks(bn_threadpool *pool, int thread_id) {
    for (;;) {
        size_t c = atomic_fetch_add_explicit(&pool->next_chunk, 1, memory_order_relaxed);
        if (c >= pool->n_chunks)
            return;
        size_t begin = c * pool->chunk;
        size_t end = pool->n - begin < pool->chunk ? pool->n : begin + pool->chunk;
        pool->fn(pool->ctx, begin, end, thread_id);
    }
}

/* Wait until `generation` differs from *seen (stored into *seen) or shutdown is requested.
 * Returns false on shutdown. */
static bool wait_for_job(bn_threadpool *pool, unsigned *seen) {
    spinner s = spinner_start(pool);
    for (;;) {
        if (atomic_load_explicit(&pool->shutdown, memory_order_acquire))
            return false;
        unsigned g = atomic_load_explicit(&pool->generation, memory_order_acquire);
        if (g != *seen) {
            *seen = g;
            return true;
        }
        if (!spin_again(&s))
            break;
    }
    pthread_mutex_lock(&pool->lock);
    atomic_fetch_add(&pool->n_sleeping, 1);
    while (atomic_load(&pool->generation) == *seen && !atomic_load(&pool->shutdown))
        pthread_cond_wait(&pool->wake, &pool->lock);
    atomic_fetch_sub(&pool->n_sleeping, 1);
    pthread_mutex_unlock(&pool->lock);
    if (atomic_load(&pool->shutdown))
        return false;
    *seen = atomic_load(&pool->generation);
    return true;
}

/* The last worker out of a job wakes the caller if it went to sleep. */
static void finish_job(bn_threadpool *pool) {
    if (atomic_fetch_sub(&pool->active, 1) != 1)
        return;
    if (atomic_load(&pool->caller_sleeping)) {
        pthread_mutex_lock(&pool->lock);
        pthread_cond_signal(&pool->done);
        pthread_mutex_unlock(&pool->lock);
    }
}

static void *worker_main(void *arg) {
    worker *w = arg;
    bn_threadpool *pool = w->pool;
    /* Workers start before the first job, so generation 0 is "nothing yet". The caller waits
     * for every worker after each job, so no worker can miss a generation. */
    unsigned seen = 0;
    while (wait_for_job(pool, &seen)) {
        run_chunks(pool, w->id);
        finish_job(pool);
    }
    return NULL;
}

/* ---- the caller's side --------------------------------------------------------------------- */

static void publish_job(bn_threadpool *pool) {
    atomic_store_explicit(&pool->next_chunk, 0, memory_order_relaxed);
    atomic_store_explicit(&pool->active, pool->n_threads - 1, memory_order_relaxed);
    /* seq_cst (not just release): must be ordered before the load of n_sleeping below. */
    atomic_fetch_add(&pool->generation, 1);
    if (atomic_load(&pool->n_sleeping) > 0) {
        pthread_mutex_lock(&pool->lock);
        pthread_cond_broadcast(&pool->wake);
        pthread_mutex_unlock(&pool->lock);
    }
}

static void wait_for_workers(bn_threadpool *pool) {
    spinner s = spinner_start(pool);
    while (atomic_load_explicit(&pool->active, memory_order_acquire) != 0) {
        if (spin_again(&s))
            continue;
        pthread_mutex_lock(&pool->lock);
        atomic_store(&pool->caller_sleeping, true);
        while (atomic_load(&pool->active) != 0)
            pthread_cond_wait(&pool->done, &pool->lock);
        atomic_store(&pool->caller_sleeping, false);
        pthread_mutex_unlock(&pool->lock);
        return;
    }
}

/* Without workers (no pool, one thread, or a single chunk): the caller runs the chunks itself,
 * so fn sees the same chunk boundaries as it would with a pool. */
static void run_serial(size_t n, size_t chunk, bn_range_fn fn, void *ctx) {
    for (size_t begin = 0; begin < n; begin += chunk) {
        size_t end = n - begin < chunk ? n : begin + chunk;
        fn(ctx, begin, end, 0);
    }
}

void bn_parallel_for(bn_threadpool *pool, size_t n, size_t chunk, bn_range_fn fn, void *ctx) {
    if (n == 0)
        return;
    int n_threads = pool ? pool->n_threads : 1;
    if (chunk == 0) {
        size_t want = (size_t)n_threads * CHUNKS_PER_THREAD;
        chunk = n / want + (n % want != 0);
    }
    if (chunk > n)
        chunk = n;
    if (n_threads == 1 || chunk == n) {
        run_serial(n, chunk, fn, ctx);
        return;
    }

    pthread_mutex_lock(&pool->call_lock);
    pool->fn = fn;
    pool->ctx = ctx;
    pool->n = n;
    pool->chunk = chunk;
    pool->n_chunks = n / chunk + (n % chunk != 0);
    publish_job(pool);
    run_chunks(pool, 0);
    wait_for_workers(pool);
    pthread_mutex_unlock(&pool->call_lock);
}

/* ---- lifetime ------------------------------------------------------------------------------ */

/* Stop and join the first n_started workers, then free everything. */
static void shutdown_and_free(bn_threadpool *pool, int n_started) {
    atomic_store(&pool->shutdown, true);
    pthread_mutex_lock(&pool->lock);
    pthread_cond_broadcast(&pool->wake);
    pthread_mutex_unlock(&pool->lock);
    for (int i = 0; i < n_started; i++) {
        int rc = pthread_join(pool->workers[i].thread, NULL);
        if (rc != 0)
            bn_log(BN_LOG_WARN, "threadpool: joining worker %d failed: %s", i + 1, strerror(rc));
    }
    pthread_cond_destroy(&pool->done);
    pthread_cond_destroy(&pool->wake);
    pthread_mutex_destroy(&pool->lock);
    pthread_mutex_destroy(&pool->call_lock);
    free(pool->workers);
    free(pool);
}

/* The sync objects: on failure nothing is left initialised. */
static bn_status init_sync(bn_threadpool *pool) {
    int rc = pthread_mutex_init(&pool->call_lock, NULL);
    if (rc != 0)
        goto fail0;
    rc = pthread_mutex_init(&pool->lock, NULL);
    if (rc != 0)
        goto fail1;
    rc = pthread_cond_init(&pool->wake, NULL);
    if (rc != 0)
        goto fail2;
    rc = pthread_cond_init(&pool->done, NULL);
    if (rc != 0)
        goto fail3;
    return BN_OK;
fail3:
    pthread_cond_destroy(&pool->wake);
fail2:
    pthread_mutex_destroy(&pool->lock);
fail1:
    pthread_mutex_destroy(&pool->call_lock);
fail0:
    return BN_ERROR(BN_ERR_THREAD, "threadpool: initialising a mutex or condition failed: %s",
                    strerror(rc));
}

static bn_status resolve_thread_count(int requested, int *out) {
    if (requested > MAX_THREADS)
        return BN_ERROR(BN_ERR_INVALID_ARG, "threadpool: %d threads requested, at most %d",
                        requested, MAX_THREADS);
    if (requested > 0) {
        *out = requested;
        return BN_OK;
    }
    int n = bn_cpu_count();
    *out = n < MAX_THREADS ? n : MAX_THREADS;
    return BN_OK;
}

bn_status bn_threadpool_create(int n_threads, bn_threadpool **out) {
    *out = NULL;
    BN_TRY(resolve_thread_count(n_threads, &n_threads));

    /* aligned_alloc, not malloc: the struct's cache-line alignment must be real. */
    size_t size = (sizeof(bn_threadpool) + CACHE_LINE - 1) / CACHE_LINE * CACHE_LINE;
    bn_threadpool *pool = aligned_alloc(CACHE_LINE, size);
    worker *workers = calloc((size_t)n_threads, sizeof *workers);
    if (pool == NULL || workers == NULL) {
        free(pool);
        free(workers);
        return BN_ERROR(BN_ERR_OUT_OF_MEMORY, "threadpool: allocating a pool of %d threads",
                        n_threads);
    }
    memset(pool, 0, size);
    atomic_init(&pool->generation, 0);
    atomic_init(&pool->next_chunk, 0);
    atomic_init(&pool->active, 0);
    atomic_init(&pool->n_sleeping, 0);
    atomic_init(&pool->caller_sleeping, false);
    atomic_init(&pool->shutdown, false);
    pool->n_threads = n_threads;
    pool->oversubscribed = n_threads > bn_cpu_count();
    pool->workers = workers;
    bn_status st = init_sync(pool);
    if (st != BN_OK) {
        free(workers);
        free(pool);
        return st;
    }

    /* Workers inherit a mask blocking the asynchronous signals, so that SIGINT and the like
     * reach the program's own threads: a handler that sets a flag, or a blocking read that it
     * should interrupt, is on the thread that called us. Faults stay deliverable. */
    sigset_t async, old;
    sigfillset(&async);
    const int faults[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGABRT, SIGSYS};
    for (size_t k = 0; k < sizeof faults / sizeof faults[0]; k++)
        sigdelset(&async, faults[k]);
    pthread_sigmask(SIG_BLOCK, &async, &old);
    for (int i = 0; i < n_threads - 1; i++) {
        workers[i] = (worker){.pool = pool, .id = i + 1};
        int rc = pthread_create(&workers[i].thread, NULL, worker_main, &workers[i]);
        if (rc != 0) {
            pthread_sigmask(SIG_SETMASK, &old, NULL);
            shutdown_and_free(pool, i);
            return BN_ERROR(BN_ERR_THREAD, "threadpool: creating worker %d of %d failed: %s", i + 1,
                            n_threads - 1, strerror(rc));
        }
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    bn_log(BN_LOG_DEBUG, "threadpool: %d threads (%d workers + caller)%s", n_threads, n_threads - 1,
           pool->oversubscribed ? ", more than the CPUs" : "");
    *out = pool;
    return BN_OK;
}

void bn_threadpool_destroy(bn_threadpool *pool) {
    if (pool == NULL)
        return;
    shutdown_and_free(pool, pool->n_threads - 1);
}

int bn_threadpool_n_threads(const bn_threadpool *pool) {
    return pool ? pool->n_threads : 1;
}

/* ---- how many CPUs ------------------------------------------------------------------------ */

/* The first line of a small file, or "" when it cannot be read. */
static void read_line(const char *path, char *buf, size_t n) {
    buf[0] = '\0';
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return;
    if (fgets(buf, (int)n, f) == NULL)
        buf[0] = '\0';
    fclose(f);
}

/* CPUs one cgroup folder's quota allows, rounded up; 0 for none. v2 writes "QUOTA PERIOD" or
 * "max PERIOD" in cpu.max; v1 writes the quota (-1: none) and the period in two files. */
static int folder_limit(const char *folder) {
    char path[4400], a[64], b[64];
    long long quota = -1, period = 0;
    if (snprintf(path, sizeof path, "%s/cpu.max", folder) >= (int)sizeof path)
        return 0;
    read_line(path, a, sizeof a);
    if (a[0] != '\0') {
        if (sscanf(a, "%lld %lld", &quota, &period) != 2)
            return 0; /* "max 100000": no quota */
    } else {
        if (snprintf(path, sizeof path, "%s/cpu.cfs_quota_us", folder) >= (int)sizeof path)
            return 0;
        read_line(path, a, sizeof a);
        if (snprintf(path, sizeof path, "%s/cpu.cfs_period_us", folder) >= (int)sizeof path)
            return 0;
        read_line(path, b, sizeof b);
        if (sscanf(a, "%lld", &quota) != 1 || sscanf(b, "%lld", &period) != 1)
            return 0;
    }
    if (quota <= 0 || period <= 0)
        return 0;
    long long cpus = (quota + period - 1) / period;
    return cpus > INT_MAX ? INT_MAX : (int)cpus;
}

/* The smallest limit of the cgroup at `path` under mount and of each of its ancestors. */
static int walk_limits(const char *mount, const char *path) {
    char cur[4096];
    snprintf(cur, sizeof cur, "%s", path);
    int best = 0;
    for (;;) {
        char folder[4352];
        snprintf(folder, sizeof folder, "%s%s", mount, cur);
        int lim = folder_limit(folder);
        if (lim > 0 && (best == 0 || lim < best))
            best = lim;
        char *slash = strrchr(cur, '/');
        if (slash == NULL || slash == cur) {
            if (strcmp(cur, "/") == 0 || cur[0] == '\0')
                break;
            strcpy(cur, "/");
        } else {
            *slash = '\0';
        }
    }
    return best;
}

/* Whether a comma-separated list holds the word (not "cpuset" for "cpu"). */
static bool has_token(const char *list, const char *word) {
    size_t n = strlen(word);
    for (const char *p = list; p != NULL; p = strchr(p, ',') ? strchr(p, ',') + 1 : NULL)
        if (strncmp(p, word, n) == 0 && (p[n] == ',' || p[n] == '\0'))
            return true;
    return false;
}

int bn_cgroup_cpu_limit(const char *root) {
    char path[4352], line[4096];
    snprintf(path, sizeof path, "%s/proc/self/cgroup", root);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return 0;
    int best = 0;
    /* v2: "0::/path"; v1: "N:cpu,cpuacct:/path" (the cpu controller's mount is named after its
     * controllers, with a "cpu" alias) */
    while (fgets(line, sizeof line, f) != NULL) {
        line[strcspn(line, "\n")] = '\0';
        char *c1 = strchr(line, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
        if (c2 == NULL)
            continue;
        *c2 = '\0';
        const char *controllers = c1 + 1, *cg = c2 + 1;
        char mount[4352];
        int lim = 0;
        if (controllers[0] == '\0') {
            snprintf(mount, sizeof mount, "%s/sys/fs/cgroup", root);
            lim = walk_limits(mount, cg);
        } else if (has_token(controllers, "cpu")) {
            snprintf(mount, sizeof mount, "%s/sys/fs/cgroup/%s", root, controllers);
            lim = walk_limits(mount, cg);
            if (lim == 0) {
                snprintf(mount, sizeof mount, "%s/sys/fs/cgroup/cpu", root);
                lim = walk_limits(mount, cg);
            }
        }
        if (lim > 0 && (best == 0 || lim < best))
            best = lim;
    }
    fclose(f);
    return best;
}

static int affinity_cpus(void) {
#if defined(__linux__) && defined(CPU_COUNT)
    /* Affinity, not the machine: under taskset or a container's cpuset only these CPUs run us. */
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0) {
        int n = CPU_COUNT(&set);
        if (n > 0)
            return n;
    }
#endif
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    if (n < 1)
        return 1;
    return n > INT_MAX ? INT_MAX : (int)n;
}

static int cpu_count;
static pthread_once_t cpu_count_once = PTHREAD_ONCE_INIT;

static void count_cpus(void) {
    int n = affinity_cpus(), quota = bn_cgroup_cpu_limit("");
    cpu_count = quota > 0 && quota < n ? quota : n;
}

int bn_cpu_count(void) {
    pthread_once(&cpu_count_once, count_cpus);
    return cpu_count;
}
