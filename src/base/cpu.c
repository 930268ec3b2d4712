/*
 * cpu.c - run-time CPU feature detection and the choice of kernel path.
 *
 * x86: CPUID leaves 1, 7 (subleaves 0 and 1) and the brand string; XGETBV tells whether the OS
 * saves the YMM (bits 1-2) and ZMM/opmask (bits 5-7) state. ARM: getauxval(AT_HWCAP).
 */
#include "base/cpu.h"

#include "base/log.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#define BN_X86 1
#elif defined(__aarch64__)
#include <sys/auxv.h>
#define BN_ARM64 1
#endif

static const char *const isa_names[BN_ISA_COUNT] = {
    [BN_ISA_SCALAR] = "scalar",
    [BN_ISA_AVX2] = "avx2",
    [BN_ISA_AVX512] = "avx512",
    [BN_ISA_NEON] = "neon",
};

static bn_cpu_features features;
static bn_isa isa_in_force = BN_ISA_SCALAR;
static char isa_reason[96] = "best available";
static pthread_once_t detect_once = PTHREAD_ONCE_INIT;
static pthread_mutex_t isa_lock = PTHREAD_MUTEX_INITIALIZER;

#ifdef BN_X86
static unsigned long long read_xcr0(void) {
    unsigned int lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((unsigned long long)hi << 32) | lo;
}

static void detect_x86(bn_cpu_features *f) {
    unsigned int a, b, c, d;
    if (!__get_cpuid(0, &a, &b, &c, &d))
        return;
    unsigned int max_leaf = a;
    memcpy(f->vendor + 0, &b, 4);
    memcpy(f->vendor + 4, &d, 4);
    memcpy(f->vendor + 8, &c, 4);
    f->vendor[12] = '\0';

    __cpuid(1, a, b, c, d);
    bool osxsave = (c >> 27) & 1;
    f->sse42 = (c >> 20) & 1;
    bool cpu_avx = (c >> 28) & 1;
    bool cpu_fma = (c >> 12) & 1;
    bool cpu_f16c = (c >> 29) & 1;

    unsigned long long xcr0 = osxsave ? read_xcr0() : 0;
    bool os_ymm = (xcr0 & 0x6) == 0x6;   /* SSE + AVX state */
    bool os_zmm = (xcr0 & 0xe6) == 0xe6; /* + opmask, ZMM_Hi256, Hi16_ZMM */

    f->avx = cpu_avx && os_ymm;
    f->fma = cpu_fma && os_ymm;
    f->f16c = cpu_f16c && os_ymm;
    if (max_leaf >= 7) {
        __cpuid_count(7, 0, a, b, c, d);
        f->avx2 = ((b >> 5) & 1) && os_ymm;
        f->bmi2 = (b >> 8) & 1;
        f->avx512f = ((b >> 16) & 1) && os_zmm;
        f->avx512dq = ((b >> 17) & 1) && os_zmm;
        f->avx512bw = ((b >> 30) & 1) && os_zmm;
        f->avx512vl = ((b >> 31) & 1) && os_zmm;
        f->avx512vnni = ((c >> 11) & 1) && os_zmm;
        f->avx512vbmi = ((c >> 1) & 1) && os_zmm;
        __cpuid_count(7, 1, a, b, c, d);
        f->avxvnni = ((a >> 4) & 1) && os_ymm;
        f->avx512bf16 = ((a >> 5) & 1) && os_zmm;
    }

    __cpuid(0x80000000, a, b, c, d);
    if (a >= 0x80000004) {
        unsigned int brand[12];
        for (unsigned int i = 0; i < 3; i++)
            __cpuid(0x80000002 + i, brand[4 * i], brand[4 * i + 1], brand[4 * i + 2],
                    brand[4 * i + 3]);
        char text[49];
        memcpy(text, brand, 48);
        text[48] = '\0';
        const char *s = text;
        while (*s == ' ')
            s++;
        strncpy(f->model, s, sizeof f->model - 1);
        for (size_t n = strlen(f->model); n > 0 && f->model[n - 1] == ' '; n--)
            f->model[n - 1] = '\0';
    }
}
#endif

#ifdef BN_ARM64
static void detect_arm64(bn_cpu_features *f) {
    unsigned long hw = getauxval(AT_HWCAP);
    strcpy(f->vendor, "ARM");
    strcpy(f->model, "AArch64");
    f->neon = (hw & (1UL << 1)) != 0;     /* HWCAP_ASIMD */
    f->dotprod = (hw & (1UL << 20)) != 0; /* HWCAP_ASIMDDP */
}
#endif

/* Whether features f can run a path. Takes f explicitly so detect() can use it before the
 * features are published. */
static bool features_support(const bn_cpu_features *f, bn_isa isa) {
    switch (isa) {
    case BN_ISA_SCALAR:
        return true;
    case BN_ISA_AVX2:
        return f->avx2 && f->fma && f->f16c;
    case BN_ISA_AVX512:
        return features_support(f, BN_ISA_AVX2) && f->avx512f && f->avx512bw && f->avx512vl &&
               f->avx512dq && f->avx512vnni;
    case BN_ISA_NEON:
        return f->neon && f->dotprod;
    default:
        return false;
    }
}

static bn_isa best_isa_of(const bn_cpu_features *f) {
    static const bn_isa by_preference[] = {BN_ISA_AVX512, BN_ISA_AVX2, BN_ISA_NEON};
    for (size_t i = 0; i < sizeof by_preference / sizeof by_preference[0]; i++)
        if (features_support(f, by_preference[i]))
            return by_preference[i];
    return BN_ISA_SCALAR;
}

bool bn_cpu_isa_supported(bn_isa isa) {
    return features_support(bn_cpu_features_get(), isa);
}

bn_isa bn_cpu_best_isa(void) {
    return best_isa_of(bn_cpu_features_get());
}

/* BITNET_CPU caps the path: asking for avx2 on an AVX-512 machine gives avx2; asking for more
 * than the machine has gives the best it has, with a warning. */
static void choose_isa_from_env(void) {
    bn_isa best = best_isa_of(&features);
    isa_in_force = best;
    const char *env = getenv("BITNET_CPU");
    if (env == NULL || env[0] == '\0')
        return;
    bn_isa want = BN_ISA_SCALAR;
    if (bn_isa_parse(env, &want) != BN_OK) {
        bn_log(BN_LOG_WARN, "BITNET_CPU='%s' is not scalar|avx2|avx512|neon; using %s", env,
               isa_names[best]);
        return;
    }
    if (!features_support(&features, want)) {
        bn_log(BN_LOG_WARN, "BITNET_CPU=%s: this CPU cannot run it; using %s", env,
               isa_names[best]);
        snprintf(isa_reason, sizeof isa_reason, "BITNET_CPU=%s unsupported, best available", env);
        return;
    }
    isa_in_force = want;
    snprintf(isa_reason, sizeof isa_reason, "BITNET_CPU=%s", isa_names[want]);
}

static void detect(void) {
    memset(&features, 0, sizeof features);
    strcpy(features.vendor, "unknown");
    strcpy(features.model, "unknown");
#if defined(BN_X86)
    detect_x86(&features);
#elif defined(BN_ARM64)
    detect_arm64(&features);
#endif
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    features.logical_cpus = n > 0 ? (int)n : 1;
    choose_isa_from_env();
}

const bn_cpu_features *bn_cpu_features_get(void) {
    pthread_once(&detect_once, detect);
    return &features;
}

bn_isa bn_cpu_isa(void) {
    pthread_once(&detect_once, detect);
    pthread_mutex_lock(&isa_lock);
    bn_isa isa = isa_in_force;
    pthread_mutex_unlock(&isa_lock);
    return isa;
}

const char *bn_cpu_isa_reason(void) {
    pthread_once(&detect_once, detect);
    return isa_reason;
}

bn_status bn_cpu_set_isa(bn_isa isa) {
    if ((int)isa < 0 || isa >= BN_ISA_COUNT)
        return BN_ERROR(BN_ERR_INVALID_ARG, "kernel path id %d is not a path", (int)isa);
    if (!bn_cpu_isa_supported(isa))
        return BN_ERROR(BN_ERR_UNSUPPORTED, "this CPU cannot run the %s kernel path",
                        isa_names[isa]);
    pthread_once(&detect_once, detect);
    pthread_mutex_lock(&isa_lock);
    isa_in_force = isa;
    snprintf(isa_reason, sizeof isa_reason, "set by the program");
    pthread_mutex_unlock(&isa_lock);
    return BN_OK;
}

const char *bn_isa_name(bn_isa isa) {
    if ((int)isa < 0 || isa >= BN_ISA_COUNT)
        return "?";
    return isa_names[isa];
}

bn_status bn_isa_parse(const char *name, bn_isa *out) {
    for (int i = 0; i < BN_ISA_COUNT; i++) {
        if (strcmp(name, isa_names[i]) == 0) {
            *out = (bn_isa)i;
            return BN_OK;
        }
    }
    return BN_ERROR(BN_ERR_INVALID_ARG,
                    "unknown kernel path '%s' (want scalar, avx2, avx512 or neon)", name);
}

size_t bn_resident_bytes(void) {
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long size = 0, resident = 0;
    int got = f != NULL ? fscanf(f, "%lu %lu", &size, &resident) : 0;
    if (f != NULL)
        fclose(f);
    long page = sysconf(_SC_PAGESIZE);
    return got == 2 && page > 0 ? (size_t)resident * (size_t)page : 0;
}
