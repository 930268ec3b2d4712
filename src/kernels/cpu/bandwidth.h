/* bandwidth.h - the machine's memory read bandwidth, measured: the roofline that decode speed
 * (which streams every weight once per token) is judged against. */
#ifndef BN_KERNELS_CPU_BANDWIDTH_H
#define BN_KERNELS_CPU_BANDWIDTH_H

#include "base/threadpool.h"

#include <stddef.h>

/* Read a buffer of `bytes` (pick several times the last-level cache) with every thread of
 * pool, `reps` times after one warm-up pass; returns the best GB/s (1e9 bytes/s), or a
 * negative value when the buffer cannot be allocated (bn_last_error says why). */
double bn_measure_read_bandwidth(size_t bytes, int reps, bn_threadpool *pool);

/* Size of the last-level cache in bytes (from sysconf or /sys), or 32 MiB when unknown. */
size_t bn_llc_bytes(void);

/* A buffer size for bn_measure_read_bandwidth: four times the last-level cache, so that the
 * reads come from memory, within [512 MiB, 2 GiB]. */
size_t bn_bandwidth_probe_bytes(void);

#endif /* BN_KERNELS_CPU_BANDWIDTH_H */
