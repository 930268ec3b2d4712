/* timer.h - monotonic clock for benchmarks and progress reports. */
#ifndef BN_BASE_TIMER_H
#define BN_BASE_TIMER_H

#include <stdint.h>

/* Nanoseconds from an arbitrary fixed point; never goes backwards. */
uint64_t bn_time_ns(void);

/* The same in seconds. */
double bn_time_s(void);

#endif /* BN_BASE_TIMER_H */
