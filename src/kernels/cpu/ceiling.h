/* ceiling.h - the machine's int8 multiply-add throughput, measured: the roofline that prefill
 * (compute-bound: every weight serves many tokens) is judged against, as bandwidth.h's read
 * bandwidth is for decode. */
#ifndef BN_KERNELS_CPU_CEILING_H
#define BN_KERNELS_CPU_CEILING_H

#include "base/cpu.h"
#include "base/threadpool.h"

/* GOP/s (two operations per multiply-add, as the kernels' GOP/s count them) of the instruction
 * pair at the heart of isa's ternary kernel, run with every thread of pool on operands from the
 * L1 cache, each product added into an accumulator as the kernels do:
 *   avx2    VPMADDUBSW then VPADDW (32 multiply-adds),
 *   avx512  VPDPBUSD on ZMM (64),
 *   neon    SDOT (16).
 * No unpacking, no reductions, no stores: a kernel can approach this, not pass it. Best of
 * `reps` runs of about `seconds` each. Returns 0 for the scalar path and for a path this build
 * or CPU cannot run, a negative value when out of memory. */
double bn_measure_int8_ceiling(bn_isa isa, double seconds, int reps, bn_threadpool *pool);

#endif /* BN_KERNELS_CPU_CEILING_H */
