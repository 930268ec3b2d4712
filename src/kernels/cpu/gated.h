/*
 * gated.h - the gated FFN activation of a batch row, in place: x[i] = act(x[i]) * up[i]
 * (relu^2 for BitNet b1.58, SiLU for the LLaMA-style checkpoints, plain ReLU).
 *
 * The scalar reference is bn_ref_gated (tensor/ops_ref.h). The AVX2 path computes ReLU as a
 * vector max with 0, which returns 0 for NaN and -0 as the reference's x > 0 ? x : 0 does, and
 * then the same products in the same order, so its bits are the reference's. SiLU keeps the
 * reference's expf per element. In a prompt, the reference's data-dependent branch on the sign
 * mispredicted half the time: 10% of pp128 on 2B-4T.
 */
#ifndef BN_KERNELS_CPU_GATED_H
#define BN_KERNELS_CPU_GATED_H

#include "base/cpu.h"
#include "tensor/ops_ref.h"

#include <stddef.h>

typedef void (*bn_gated_fn)(float *x, const float *up, size_t n, bn_act act);

void bn_gated_scalar(float *x, const float *up, size_t n, bn_act act);
#if defined(__x86_64__)
void bn_gated_avx2(float *x, const float *up, size_t n, bn_act act);
#endif

/* The variant for a kernel path (the scalar one where there is no other). */
bn_gated_fn bn_gated_for(bn_isa isa);

#endif /* BN_KERNELS_CPU_GATED_H */
