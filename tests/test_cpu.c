/* test_cpu.c - feature detection is self-consistent, and the kernel path can be capped by
 * BITNET_CPU and forced by bn_cpu_set_isa. */
#include "base/cpu.h"
#include "test.h"

#include <stdlib.h>
#include <string.h>

int main(void) {
    /* Read before the first query: the cap applies to the whole process. */
    setenv("BITNET_CPU", "avx2", 1);
    const bn_cpu_features *f = bn_cpu_features_get();
    CHECK(f->logical_cpus >= 1, "cpus %d", f->logical_cpus);
    CHECK(f->model[0] != '\0' && f->vendor[0] != '\0', "model/vendor");
    /* Implications every real CPU satisfies (and our OS-state checks must keep). */
    if (f->avx512bw || f->avx512vl || f->avx512vnni || f->avx512bf16)
        CHECK(f->avx512f, "AVX-512 extensions without AVX-512F");
    if (f->avx512f)
        CHECK(f->avx2 && f->avx, "AVX-512 without AVX2");
    if (f->avx2)
        CHECK(f->avx, "AVX2 without AVX");
    if (f->dotprod)
        CHECK(f->neon, "dotprod without NEON");

    bn_isa best = bn_cpu_best_isa();
    CHECK(bn_cpu_isa_supported(best) && bn_cpu_isa_supported(BN_ISA_SCALAR), "best supported");
    if (bn_cpu_isa_supported(BN_ISA_AVX2)) {
        CHECK(bn_cpu_isa() == BN_ISA_AVX2, "BITNET_CPU=avx2 gives %s", bn_isa_name(bn_cpu_isa()));
        CHECK(strcmp(bn_cpu_isa_reason(), "BITNET_CPU=avx2") == 0, "reason %s",
              bn_cpu_isa_reason());
    } else {
        CHECK(bn_cpu_isa() == best, "unsupported request falls back to best");
    }
#if defined(__x86_64__)
    CHECK(f->sse42, "every x86-64 CPU we target has SSE4.2");
    CHECK(!f->neon, "no NEON on x86");
#endif

    CHECK_OK(bn_cpu_set_isa(BN_ISA_SCALAR));
    CHECK(bn_cpu_isa() == BN_ISA_SCALAR, "forced scalar");
    for (int i = 0; i < BN_ISA_COUNT; i++) {
        bn_status st = bn_cpu_set_isa((bn_isa)i);
        CHECK((st == BN_OK) == bn_cpu_isa_supported((bn_isa)i), "set %s", bn_isa_name((bn_isa)i));
        if (st != BN_OK)
            CHECK(st == BN_ERR_UNSUPPORTED && strstr(bn_last_error(), bn_isa_name((bn_isa)i)),
                  "unsupported path named: %s", bn_last_error());
        bn_isa parsed;
        CHECK_OK(bn_isa_parse(bn_isa_name((bn_isa)i), &parsed));
        CHECK(parsed == (bn_isa)i, "parse round trip");
    }
    bn_isa parsed;
    CHECK(bn_isa_parse("sse9", &parsed) == BN_ERR_INVALID_ARG, "bad name");
    CHECK(bn_cpu_set_isa((bn_isa)17) == BN_ERR_INVALID_ARG, "bad id");
    printf("cpu: %s, best path %s\n", f->model, bn_isa_name(best));
    return bn_test_finish("test_cpu");
}
