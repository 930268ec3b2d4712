/* test_cuda.c - the CUDA conversion kernels equal the CPU reference bit for bit, and device
 * queries work. Skips (exit 77) with "skipped: no GPU" where there is none. */
#include "kernels/cuda/cuda.h"
#include "tensor/half.h"
#include "test.h"

#include <string.h>

enum { N = 1 << 22 };

static int run_conversions(void) {
    static uint16_t codes[65536], h_gpu[N], h_cpu[N];
    static float f_gpu[N], f_cpu[N], rnd[N];
    for (int i = 0; i < 65536; i++)
        codes[i] = (uint16_t)i;
    uint32_t x = 0x2545F491u;
    for (int i = 0; i < N; i++) {
        x ^= x << 13, x ^= x >> 17, x ^= x << 5;
        memcpy(&rnd[i], &x, 4);
    }
    /* every f16/bf16 subnormal and rounding boundary region, as f32 */
    for (int i = 0; i < 65536; i++) {
        uint32_t b = (uint32_t)i << 13 | 0x1000u; /* f16 midpoints, scaled into f32 space */
        memcpy(&rnd[i], &b, 4);
    }
    void *d_codes = NULL, *d_f = NULL, *d_h = NULL;
    CHECK_OK(bn_cuda_malloc(&d_codes, sizeof codes));
    CHECK_OK(bn_cuda_malloc(&d_f, sizeof rnd));
    CHECK_OK(bn_cuda_malloc(&d_h, sizeof h_gpu));
    if (bn_test_failures)
        return bn_test_finish("test_cuda");
    CHECK_OK(bn_cuda_copy_to_device(d_codes, codes, sizeof codes));

    CHECK_OK(bn_cuda_f16_to_f32(d_codes, d_f, 65536, NULL));
    CHECK_OK(bn_cuda_copy_to_host(f_gpu, d_f, 65536 * sizeof(float)));
    bn_f16_to_f32_row_ref(codes, f_cpu, 65536);
    CHECK(memcmp(f_gpu, f_cpu, 65536 * sizeof(float)) == 0, "f16->f32 all codes");

    CHECK_OK(bn_cuda_bf16_to_f32(d_codes, d_f, 65536, NULL));
    CHECK_OK(bn_cuda_copy_to_host(f_gpu, d_f, 65536 * sizeof(float)));
    bn_bf16_to_f32_row_ref(codes, f_cpu, 65536);
    CHECK(memcmp(f_gpu, f_cpu, 65536 * sizeof(float)) == 0, "bf16->f32 all codes");

    CHECK_OK(bn_cuda_copy_to_device(d_f, rnd, sizeof rnd));
    CHECK_OK(bn_cuda_f32_to_f16(d_f, d_h, N, NULL));
    CHECK_OK(bn_cuda_copy_to_host(h_gpu, d_h, sizeof h_gpu));
    bn_f32_to_f16_row_ref(rnd, h_cpu, N);
    int bad = 0;
    for (int i = 0; i < N; i++)
        bad += h_gpu[i] != h_cpu[i];
    CHECK(bad == 0, "f32->f16: %d of %d differ", bad, N);

    CHECK_OK(bn_cuda_f32_to_bf16(d_f, d_h, N, NULL));
    CHECK_OK(bn_cuda_copy_to_host(h_gpu, d_h, sizeof h_gpu));
    bn_f32_to_bf16_row_ref(rnd, h_cpu, N);
    bad = 0;
    for (int i = 0; i < N; i++)
        bad += h_gpu[i] != h_cpu[i];
    CHECK(bad == 0, "f32->bf16: %d of %d differ", bad, N);

    CHECK(bn_cuda_f16_to_f32(NULL, d_f, 10, NULL) == BN_ERR_INVALID_ARG, "NULL rejected");
    CHECK_OK(bn_cuda_f16_to_f32(NULL, NULL, 0, NULL));
    CHECK_OK(bn_cuda_synchronize());
    bn_cuda_free(d_codes);
    bn_cuda_free(d_f);
    bn_cuda_free(d_h);
    return bn_test_finish("test_cuda");
}

int main(void) {
    if (!bn_cuda_compiled()) {
        int count = 1;
        CHECK(bn_cuda_device_count(&count, NULL) == BN_ERR_UNSUPPORTED && count == 0,
              "a build without CUDA says so");
        if (bn_test_failures)
            return bn_test_finish("test_cuda");
        return bn_test_skip("test_cuda", "no GPU (built without CUDA)");
    }
    int count = 0;
    const char *why = "";
    CHECK_OK(bn_cuda_device_count(&count, &why));
    if (count == 0)
        return bn_test_skip("test_cuda", "no GPU");
    bn_cuda_device_info info;
    CHECK_OK(bn_cuda_device_info_get(0, &info));
    CHECK(info.cc_major >= 5 && info.sm_count > 0 && info.total_memory > 0, "device 0 info");
    printf("device 0: %s sm_%d%d, %d SMs\n", info.name, info.cc_major, info.cc_minor,
           info.sm_count);
    return run_conversions();
}
