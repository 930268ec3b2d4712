/* test_status.c - status names, the thread-local last error, log levels, the timer. */
#include "base/log.h"
#include "base/status.h"
#include "base/timer.h"
#include "test.h"

#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static bn_status fail_with_tensor(const char *name) {
    return BN_ERROR(BN_ERR_SHAPE, "tensor '%s': shape [%d, %d] where [%d, %d] was expected", name,
                    3, 4, 4, 3);
}

static void *other_thread(void *arg) {
    (void)arg;
    /* A fresh thread starts with no error, and its errors do not leak into the main thread. */
    int clean = bn_last_error()[0] == '\0';
    BN_ERROR(BN_ERR_IO, "worker error");
    return (void *)(intptr_t)clean;
}

/* In a child process (the level is read once per process, and this one must not have read it
 * yet): BITNET_LOG=value, then raise an error (which logs at debug level, which reads the
 * level). Returns the level the child saw, or -1 if it hung or crashed; what it printed on
 * stderr goes to err. The first BN_ERROR used to deadlock on any unknown value: parsing it
 * raised an error inside the pthread_once that reads the variable. */
static int level_in_child(const char *value, char *err, size_t err_size) {
    int fds[2];
    if (pipe(fds) != 0)
        return -1;
    pid_t pid = fork();
    if (pid == 0) {
        alarm(10);
        dup2(fds[1], STDERR_FILENO);
        setenv("BITNET_LOG", value, 1);
        BN_ERROR(BN_ERR_IO, "an error that logs");
        _exit((int)bn_log_get_level());
    }
    close(fds[1]);
    ssize_t n = read(fds[0], err, err_size - 1);
    err[n > 0 ? n : 0] = '\0';
    close(fds[0]);
    int status = 0;
    if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
        return -1;
    return WEXITSTATUS(status);
}

static void check_env_levels(void) {
    char err[4096];
    const struct {
        const char *value;
        int level;
        bool warned;
    } cases[] = {
        {"debug", BN_LOG_DEBUG, false}, {"DEBUG", BN_LOG_DEBUG, false},
        {"Info", BN_LOG_INFO, false},   {"warning", BN_LOG_WARN, false},
        {"bogus", BN_LOG_WARN, true},   {"1", BN_LOG_WARN, true},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int got = level_in_child(cases[i].value, err, sizeof err);
        CHECK(got == cases[i].level, "BITNET_LOG=%s: level %d, want %d (-1: hung or crashed)",
              cases[i].value, got, cases[i].level);
        int warnings = 0;
        for (const char *p = err; (p = strstr(p, "BITNET_LOG=")) != NULL; p++)
            warnings++;
        CHECK(warnings == (cases[i].warned ? 1 : 0), "BITNET_LOG=%s: %d warnings: %s",
              cases[i].value, warnings, err);
    }
}

int main(void) {
    check_env_levels(); /* first: this process must not have read the level yet */
    CHECK(strcmp(bn_status_str(BN_OK), "ok") == 0, "ok");
    CHECK(strcmp(bn_status_str(BN_ERR_OUT_OF_MEMORY), "out of memory") == 0, "oom");
    CHECK(strcmp(bn_status_str((bn_status)999), "unknown status") == 0, "unknown code");
    for (int s = 0; s < BN_STATUS_COUNT; s++)
        CHECK(bn_status_str((bn_status)s)[0] != '\0', "status %d has a name", s);
    /* codes are ABI: pin a few */
    CHECK(BN_ERR_FORMAT == 4 && BN_ERR_CUDA == 10 && BN_ERR_INTERNAL == 12, "stable values");

    bn_clear_error();
    CHECK(bn_last_error()[0] == '\0', "cleared");
    bn_status st = fail_with_tensor("blk.0.attn_q.weight");
    CHECK(st == BN_ERR_SHAPE, "returns its code");
    CHECK(strcmp(bn_last_error(),
                 "tensor 'blk.0.attn_q.weight': shape [3, 4] where [4, 3] was expected") == 0,
          "message: %s", bn_last_error());
    CHECK(strstr(bn_last_error_location(), "test_status.c:") != NULL, "location: %s",
          bn_last_error_location());

    /* a message built from the previous message must not corrupt itself */
    BN_ERROR(BN_ERR_IO, "reading model: %s", bn_last_error());
    CHECK(strncmp(bn_last_error(), "reading model: tensor 'blk.0", 28) == 0, "nested: %s",
          bn_last_error());

    /* overlong messages are cut with "..." */
    char big[3000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    BN_ERROR(BN_ERR_FORMAT, "%s", big);
    size_t len = strlen(bn_last_error());
    CHECK(len == BN_ERROR_MAX - 1 && strcmp(bn_last_error() + len - 3, "...") == 0,
          "truncated to %zu", len);

    pthread_t th;
    void *clean = NULL;
    BN_ERROR(BN_ERR_RANGE, "main error");
    pthread_create(&th, NULL, other_thread, NULL);
    pthread_join(th, &clean);
    CHECK((intptr_t)clean == 1, "worker started clean");
    CHECK(strcmp(bn_last_error(), "main error") == 0, "thread-local: %s", bn_last_error());

    bn_log_level lv;
    CHECK_OK(bn_log_parse_level("debug", &lv));
    CHECK(lv == BN_LOG_DEBUG, "debug");
    CHECK_OK(bn_log_parse_level("error", &lv));
    CHECK(lv == BN_LOG_ERROR, "error");
    CHECK(bn_log_parse_level("loud", &lv) == BN_ERR_INVALID_ARG &&
              strstr(bn_last_error(), "loud") != NULL,
          "bad level named");
    bn_log_set_level(BN_LOG_ERROR);
    CHECK(bn_log_get_level() == BN_LOG_ERROR, "set level");
    bn_log(BN_LOG_WARN, "this warning is filtered out");

    uint64_t t0 = bn_time_ns();
    struct timespec ts = {0, 2000000};
    nanosleep(&ts, NULL);
    uint64_t t1 = bn_time_ns();
    CHECK(t1 - t0 >= 2000000 && t1 - t0 < 2000000000ull, "timer measured %llu ns",
          (unsigned long long)(t1 - t0));
    CHECK(bn_time_s() > 0.0, "seconds");
    return bn_test_finish("test_status");
}
