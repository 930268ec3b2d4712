/* timer.c - CLOCK_MONOTONIC, immune to wall-clock changes. */
#define _POSIX_C_SOURCE 200809L
#include "base/timer.h"

#include <time.h>

uint64_t bn_time_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

double bn_time_s(void) {
    return (double)bn_time_ns() * 1e-9;
}
