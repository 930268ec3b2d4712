/* formats.c - decoders of the quantized GGUF block types (layouts in formats.h). */
#include "tensor/formats.h"

#include "tensor/half.h"

void bn_q8_0_to_f32(const void *src, float *dst, int64_t n) {
    const bn_block_q8_0 *b = src;
    for (int64_t i = 0; i < n / BN_QK8_0; i++) {
        float d = bn_f16_to_f32(b[i].d);
        for (int j = 0; j < BN_QK8_0; j++)
            dst[i * BN_QK8_0 + j] = d * (float)b[i].qs[j];
    }
}

void bn_tq2_0_to_f32(const void *src, float *dst, int64_t n) {
    const bn_block_tq2_0 *b = src;
    for (int64_t i = 0; i < n / BN_QK_K; i++) {
        float d = bn_f16_to_f32(b[i].d);
        float *y = dst + i * BN_QK_K;
        for (int j = 0; j < 2; j++)           /* two chunks of 32 bytes, 128 values each */
            for (int l = 0; l < 4; l++)       /* bit pair */
                for (int m = 0; m < 32; m++) { /* byte */
                    int q = (b[i].qs[j * 32 + m] >> (2 * l)) & 3;
                    y[j * 128 + l * 32 + m] = (float)(q - 1) * d;
                }
    }
}

/* Digit n (0 = most significant) of a byte holding 5 base-3 digits scaled by 256/243. */
static int trit(uint8_t byte, int n) {
    static const uint8_t pow3[5] = {1, 3, 9, 27, 81};
    uint8_t shifted = (uint8_t)(byte * pow3[n]); /* wraps mod 256 on purpose */
    return ((uint16_t)shifted * 3) >> 8;
}

void bn_tq1_0_to_f32(const void *src, float *dst, int64_t n) {
    const bn_block_tq1_0 *b = src;
    for (int64_t i = 0; i < n / BN_QK_K; i++) {
        float d = bn_f16_to_f32(b[i].d);
        float *y = dst + i * BN_QK_K;
        for (int t = 0; t < 5; t++)
            for (int m = 0; m < 32; m++)
                y[t * 32 + m] = (float)(trit(b[i].qs[m], t) - 1) * d;
        for (int t = 0; t < 5; t++)
            for (int m = 0; m < 16; m++)
                y[160 + t * 16 + m] = (float)(trit(b[i].qs[32 + m], t) - 1) * d;
        for (int t = 0; t < 4; t++)
            for (int j = 0; j < 4; j++)
                y[240 + t * 4 + j] = (float)(trit(b[i].qh[j], t) - 1) * d;
    }
}
