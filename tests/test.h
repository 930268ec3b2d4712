/*
 * test.h - a small test harness: each test program is one executable run by ctest.
 *
 * CHECK records a failure with its location and goes on, so one run reports every broken case;
 * the program's exit code is the number of failures (capped), and 77 means "skipped" to ctest.
 */
#ifndef BN_TEST_H
#define BN_TEST_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

static int bn_test_failures = 0;
static int bn_test_checks = 0;

#define BN_TEST_SKIP 77

#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        bn_test_checks++;                                                                          \
        if (!(cond)) {                                                                             \
            bn_test_failures++;                                                                    \
            if (bn_test_failures <= 50) {                                                          \
                fprintf(stderr, "%s:%d: CHECK(%s) failed: ", __FILE__, __LINE__, #cond);           \
                fprintf(stderr, __VA_ARGS__);                                                      \
                fputc('\n', stderr);                                                               \
            }                                                                                      \
        }                                                                                          \
    } while (0)

/* |got - want| <= tol, printing both. */
#define CHECK_NEAR(got, want, tol, what)                                                           \
    do {                                                                                           \
        double g_ = (double)(got), w_ = (double)(want);                                            \
        CHECK(fabs(g_ - w_) <= (double)(tol), "%s: got %.9g want %.9g (tol %.3g)", (what), g_, w_, \
              (double)(tol));                                                                      \
    } while (0)

#define CHECK_OK(expr)                                                                             \
    do {                                                                                           \
        bn_status st_ = (expr);                                                                    \
        CHECK(st_ == BN_OK, "%s returned %s: %s", #expr, bn_status_str(st_), bn_last_error());     \
    } while (0)

/* A whole file, NUL-terminated (n: its size, may be NULL); NULL when it cannot be read. */
static inline char *bn_test_read_file(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    char *buf = NULL;
    long size = fseek(f, 0, SEEK_END) == 0 ? ftell(f) : -1;
    if (size >= 0 && fseek(f, 0, SEEK_SET) == 0 && (buf = malloc((size_t)size + 1)) != NULL) {
        size_t got = fread(buf, 1, (size_t)size, f);
        buf[got] = '\0';
        if (n != NULL)
            *n = got;
    }
    fclose(f);
    return buf;
}

/* ||got - want|| / ||want|| over n values, in double (||got - want|| when want is all zeros):
 * how the float tests compare a result with its reference. */
static inline double bn_test_rel_l2(const float *got, const float *want, size_t n) {
    double num = 0.0, den = 0.0;
    for (size_t i = 0; i < n; i++) {
        num += ((double)got[i] - want[i]) * ((double)got[i] - want[i]);
        den += (double)want[i] * want[i];
    }
    return den > 0.0 ? sqrt(num / den) : sqrt(num);
}

/* Print a summary and return the process exit code. */
static inline int bn_test_finish(const char *name) {
    if (bn_test_failures > 50)
        fprintf(stderr, "... and %d more failures\n", bn_test_failures - 50);
    printf("%s: %d checks, %d failed\n", name, bn_test_checks, bn_test_failures);
    return bn_test_failures == 0 ? 0 : 1;
}

static inline int bn_test_skip(const char *name, const char *why) {
    printf("%s: skipped: %s\n", name, why);
    return BN_TEST_SKIP;
}

#endif /* BN_TEST_H */
