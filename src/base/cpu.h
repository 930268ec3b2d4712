/*
 * cpu.h - CPU features detected at run time, and the kernel path chosen from them.
 *
 * A feature counts only when both the CPU has it and the OS saves its registers (XCR0), so a
 * kernel never faults on a machine whose OS disabled AVX-512. BITNET_CPU=scalar|avx2|avx512|neon
 * caps the path (tests force each one on a machine that has them all).
 */
#ifndef BN_BASE_CPU_H
#define BN_BASE_CPU_H

#include "base/status.h"

#include <stdbool.h>

typedef struct bn_cpu_features {
    char vendor[16];
    char model[64];
    int logical_cpus;
    /* x86 */
    bool sse42, avx, avx2, fma, f16c, bmi2;
    bool avx512f, avx512bw, avx512vl, avx512dq, avx512vnni, avx512bf16;
    bool avx512vbmi; /* byte permutes (vpermi2b): the t5v64 prefill decoder's table lookups */
    bool avxvnni;
    /* ARM */
    bool neon, dotprod;
} bn_cpu_features;

/* Kernel paths, in increasing order of capability within an architecture. */
typedef enum bn_isa {
    BN_ISA_SCALAR = 0,
    BN_ISA_AVX2 = 1,   /* AVX2 + FMA + F16C */
    BN_ISA_AVX512 = 2, /* AVX-512 F/BW/VL/DQ + VNNI */
    BN_ISA_NEON = 3,   /* AArch64 NEON + dotprod */
    BN_ISA_COUNT
} bn_isa;

/* Features of this machine, detected once. */
const bn_cpu_features *bn_cpu_features_get(void);

/* Best path the hardware supports, ignoring BITNET_CPU. */
bn_isa bn_cpu_best_isa(void);

/* Path in force: BITNET_CPU (read once) caps bn_cpu_best_isa(); bn_cpu_set_isa overrides. */
bn_isa bn_cpu_isa(void);

/* Force a path. BN_ERR_UNSUPPORTED if this machine cannot run it. */
bn_status bn_cpu_set_isa(bn_isa isa);

/* Whether this machine can run a path. */
bool bn_cpu_isa_supported(bn_isa isa);

/* This process's resident set in bytes (Linux /proc/self/statm), or 0 where unknown. */
size_t bn_resident_bytes(void);

/* "scalar", "avx2", "avx512", "neon". */
const char *bn_isa_name(bn_isa isa);

/* Parse a path name; BN_ERR_INVALID_ARG for anything else. */
bn_status bn_isa_parse(const char *name, bn_isa *out);

/* Why the path in force was chosen: "best available", "BITNET_CPU=avx2", ... */
const char *bn_cpu_isa_reason(void);

#endif /* BN_BASE_CPU_H */
