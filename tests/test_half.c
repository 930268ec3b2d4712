/*
 * test_half.c - f16 / bf16 <-> f32 conversions (src/tensor/half.c, half_x86.c).
 *
 * The library converts with bit manipulation; this test computes every expected value another
 * way, with real arithmetic in double (ldexp to decode, distances to pick the nearest code), so
 * a shared misreading of the formats cannot pass. Then every SIMD path is held to the bits of
 * the scalar reference rows, on all 65,536 codes and millions of random f32 bit patterns, at
 * every row length up to 67 and odd offsets so that each tail is exercised.
 */
#include "base/cpu.h"
#include "base/status.h"
#include "tensor/half.h"
#include "test.h"
#include "test_rng.h"

#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

/* A 16-bit float format: 1 sign bit, exp_bits, man_bits, IEEE-style subnormals, Inf and NaN. */
typedef struct half_format {
    const char *name;
    int exp_bits;
    int man_bits;
    int bias;
    double min_normal;     /* 2^(1-bias) */
    double sub_ulp;        /* 2^(1-bias-man_bits), the smallest subnormal */
    double overflow;       /* 2^(emax+1): one ulp past the largest finite value, where Inf sits */
    bool widen_quiets_nan; /* f16 -> f32 sets the quiet bit (as F16C does); bf16 is a shift */
    float (*widen)(uint16_t);
    uint16_t (*narrow)(float);
    void (*widen_row_ref)(const uint16_t *, float *, size_t);
    void (*narrow_row_ref)(const float *, uint16_t *, size_t);
    void (*widen_row)(const uint16_t *, float *, size_t);
    void (*narrow_row)(const float *, uint16_t *, size_t);
} half_format;

static const half_format formats[] = {
    {"f16", 5, 10, 15, 0x1p-14, 0x1p-24, 0x1p16, true, bn_f16_to_f32, bn_f32_to_f16,
     bn_f16_to_f32_row_ref, bn_f32_to_f16_row_ref, bn_f16_to_f32_row, bn_f32_to_f16_row},
    {"bf16", 8, 7, 127, 0x1p-126, 0x1p-133, 0x1p128, false, bn_bf16_to_f32, bn_f32_to_bf16,
     bn_bf16_to_f32_row_ref, bn_f32_to_bf16_row_ref, bn_bf16_to_f32_row, bn_f32_to_bf16_row},
};
#define N_FORMATS (sizeof formats / sizeof formats[0])

static uint32_t bits_of(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static float float_of(uint32_t u) {
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* This program's seed for tests/test_rng.h. */
#define TEST_SEED 0x243f6a8885a308d3u

/* Random f32 bits: half fully random (every class, ~1/256 NaN and subnormal), half with the
 * exponent near the range of fmt, where rounding does something. */
static uint32_t random_f32_bits(const half_format *fmt) {
    uint64_t r = rng_next();
    uint32_t bits = (uint32_t)r;
    if ((r >> 32) & 1)
        return bits;
    int lo = 127 - fmt->bias - fmt->man_bits - 3; /* below half the smallest subnormal */
    int span = (1 << fmt->exp_bits) + fmt->man_bits + 6;
    int e = lo + (int)((r >> 33) % (uint64_t)span);
    if (e < 0)
        e = 0;
    if (e > 255)
        e = 255;
    return (bits & 0x807fffffu) | ((uint32_t)e << 23);
}

/* ---------------------------------------------------------------------------------------------
 * The independent model of a format, in double
 * ------------------------------------------------------------------------------------------- */

static int max_exp_field(const half_format *fmt) {
    return (1 << fmt->exp_bits) - 1;
}

static uint16_t inf_code(const half_format *fmt) {
    return (uint16_t)(max_exp_field(fmt) << fmt->man_bits);
}

static uint16_t quiet_bit(const half_format *fmt) {
    return (uint16_t)(1u << (fmt->man_bits - 1));
}

/* Value of a code by its fields (NaN for NaN codes); each finite one is exact in double. */
static double decode(const half_format *fmt, uint16_t code) {
    int sign = code >> 15;
    int e = (code >> fmt->man_bits) & max_exp_field(fmt);
    int m = code & ((1 << fmt->man_bits) - 1);
    double v;
    if (e == max_exp_field(fmt))
        v = m == 0 ? INFINITY : NAN;
    else if (e == 0)
        v = ldexp(m, 1 - fmt->bias - fmt->man_bits);
    else
        v = ldexp(m + (1 << fmt->man_bits), e - fmt->bias - fmt->man_bits);
    return sign ? -v : v;
}

/* Code of v >= 0, which must be representable or fmt->overflow (giving Inf), by arithmetic. */
static uint16_t encode(const half_format *fmt, double v) {
    if (v >= fmt->overflow)
        return inf_code(fmt);
    if (v < fmt->min_normal)
        return (uint16_t)(v / fmt->sub_ulp);
    int ex;
    double fr = frexp(v, &ex); /* v = fr * 2^ex, fr in [0.5, 1) */
    int field = ex - 1 + fmt->bias;
    int man = (int)((2.0 * fr - 1.0) * (double)(1 << fmt->man_bits));
    return (uint16_t)((field << fmt->man_bits) | man);
}

/* Nearest code to a non-negative finite a, ties to the even code; distances in double are
 * exact because a has 24 significant bits and lo, hi are a cut down to fewer. */
static uint16_t nearest_code(const half_format *fmt, double a) {
    if (a >= fmt->overflow)
        return inf_code(fmt);
    double ulp;
    if (a < fmt->min_normal) {
        ulp = fmt->sub_ulp;
    } else {
        int ex;
        frexp(a, &ex);
        ulp = ldexp(1.0, ex - 1 - fmt->man_bits);
    }
    double lo = floor(a / ulp) * ulp;
    double hi = lo + ulp;
    uint16_t code_lo = encode(fmt, lo), code_hi = encode(fmt, hi);
    if (a - lo < hi - a)
        return code_lo;
    if (hi - a < a - lo)
        return code_hi;
    return (code_lo & 1) == 0 ? code_lo : code_hi;
}

/* What narrowing must give for any f32, by the rules in half.h. */
static uint16_t expected_narrow(const half_format *fmt, float f) {
    uint32_t x = bits_of(f);
    uint16_t sign = (uint16_t)((x >> 16) & 0x8000);
    if (isnan(f)) { /* sign, quiet bit, and the top payload bits that fit */
        uint16_t payload = (uint16_t)((x & 0x7fffffu) >> (23 - fmt->man_bits));
        return (uint16_t)(sign | inf_code(fmt) | quiet_bit(fmt) | payload);
    }
    return (uint16_t)(sign | nearest_code(fmt, fabs((double)f)));
}

/* ---------------------------------------------------------------------------------------------
 * Exhaustive over the 65,536 codes
 * ------------------------------------------------------------------------------------------- */

static void check_widened_nan(const half_format *fmt, uint16_t code, float got) {
    uint32_t g = bits_of(got);
    uint32_t m = code & ((1u << fmt->man_bits) - 1);
    CHECK(isnan(got), "%s %04x -> %08x is not NaN", fmt->name, code, g);
    CHECK((g >> 31) == (uint32_t)(code >> 15), "%s %04x -> %08x lost the sign", fmt->name, code, g);
    if (fmt->widen_quiets_nan) {
        uint32_t quiet = 0x400000u, payload = m << (23 - fmt->man_bits);
        CHECK(g == ((g & 0x80000000u) | 0x7f800000u | quiet | payload),
              "%s %04x -> %08x: want quiet NaN with payload %06x", fmt->name, code, g, payload);
    } else {
        CHECK(g == (uint32_t)code << 16, "%s %04x -> %08x: want the bits shifted", fmt->name, code,
              g);
    }
}

static void test_all_codes(const half_format *fmt) {
    /* The table's constants agree with the fields. */
    CHECK(decode(fmt, 1) == fmt->sub_ulp, "%s smallest subnormal", fmt->name);
    CHECK(decode(fmt, (uint16_t)(1 << fmt->man_bits)) == fmt->min_normal, "%s min normal",
          fmt->name);
    CHECK(2 * decode(fmt, (uint16_t)(inf_code(fmt) - (1 << fmt->man_bits))) == fmt->overflow,
          "%s overflow", fmt->name);
    for (uint32_t c = 0; c <= 0xffff; c++) {
        uint16_t code = (uint16_t)c;
        double want = decode(fmt, code);
        float got = fmt->widen(code);
        if (isnan(want)) {
            check_widened_nan(fmt, code, got);
            uint16_t back = fmt->narrow(got);
            CHECK(back == (code | quiet_bit(fmt)), "%s NaN %04x round trip gave %04x", fmt->name,
                  code, back);
            continue;
        }
        float want_f = (float)want; /* exact: every f16 and bf16 value is an f32 */
        CHECK((double)want_f == want, "%s %04x: %.17g is not an f32", fmt->name, code, want);
        CHECK(bits_of(got) == bits_of(want_f), "%s %04x -> %08x (%.9g), want %08x (%.9g)",
              fmt->name, code, bits_of(got), (double)got, bits_of(want_f), want);
        uint16_t back = fmt->narrow(got);
        CHECK(back == code, "%s %04x round trip gave %04x", fmt->name, code, back);
    }
}

/* ---------------------------------------------------------------------------------------------
 * Rounding at every midpoint
 * ------------------------------------------------------------------------------------------- */

/* Between each pair of neighbouring non-negative codes c, c+1 (the last pair is the largest
 * finite value and Inf, whose place is fmt->overflow), the exact midpoint goes to the even
 * code and one f32 ulp either side goes to the nearer one. Both signs. */
static void test_midpoints(const half_format *fmt) {
    for (uint16_t c = 0; c < inf_code(fmt); c++) {
        double lo = decode(fmt, c);
        double hi = c + 1 == inf_code(fmt) ? fmt->overflow : decode(fmt, (uint16_t)(c + 1));
        double mid = (lo + hi) / 2;
        float fm = (float)mid;
        CHECK((double)fm == mid, "%s midpoint %.17g of %04x is not an f32", fmt->name, mid, c);
        uint16_t even = (c & 1) == 0 ? c : (uint16_t)(c + 1);
        for (int s = 0; s < 2; s++) {
            uint16_t sign = s ? 0x8000 : 0;
            float m = s ? -fm : fm;
            float below = nextafterf(m, 0.0f);
            float above = nextafterf(m, s ? -INFINITY : INFINITY);
            uint16_t got_mid = fmt->narrow(m);
            uint16_t got_below = fmt->narrow(below);
            uint16_t got_above = fmt->narrow(above);
            CHECK(got_mid == (sign | even), "%s tie %.9g -> %04x, want %04x", fmt->name, (double)m,
                  got_mid, sign | even);
            CHECK(got_below == (sign | c), "%s %.9g (below tie) -> %04x, want %04x", fmt->name,
                  (double)below, got_below, sign | c);
            CHECK(got_above == (sign | (c + 1)), "%s %.9g (above tie) -> %04x, want %04x",
                  fmt->name, (double)above, got_above, sign | (c + 1));
        }
    }
}

/* The boundaries named in half.h's contract, spelled out. */
static void test_named_edges(void) {
    struct {
        uint32_t f32;
        uint16_t f16, bf16;
    } cases[] = {
        {0x477fe000u, 0x7bff, 0x4780}, /* 65504: largest f16 */
        {0x477ff000u, 0x7c00, 0x4780}, /* 65520: f16 tie with 2^16 -> even -> Inf */
        {0x477fefffu, 0x7bff, 0x4780}, /* 65519.998: just below that tie */
        {0xc77ff000u, 0xfc00, 0xc780}, /* -65520 -> -Inf */
        {0x7f7fffffu, 0x7c00, 0x7f80}, /* FLT_MAX: overflows both */
        {0x7f7f8000u, 0x7c00, 0x7f80}, /* bf16 tie of its largest (odd) value with 2^128 */
        {0x7f7f7fffu, 0x7c00, 0x7f7f}, /* just below it */
        {0x33000000u, 0x0000, 0x3300}, /* 2^-25: f16 tie of 0 and 2^-24 -> even -> 0 */
        {0x33000001u, 0x0001, 0x3300}, /* just above: the smallest subnormal 2^-24 */
        {0xb3000000u, 0x8000, 0xb300}, /* -2^-25 -> -0 */
        {0x33800000u, 0x0001, 0x3380}, /* 2^-24 exactly */
        {0x33c00000u, 0x0002, 0x33c0}, /* 1.5 * 2^-24: tie of 1 and 2 -> 2 */
        {0x387fc000u, 0x03ff, 0x3880}, /* largest f16 subnormal, 1023 * 2^-24 */
        {0x387fe000u, 0x0400, 0x3880}, /* its tie with 2^-14 rounds up into the normals */
        {0x00000001u, 0x0000, 0x0000}, /* smallest f32 subnormal */
        {0x00008000u, 0x0000, 0x0000}, /* bf16 tie of 0 and its first subnormal -> 0 */
        {0x00018000u, 0x0000, 0x0002}, /* bf16 tie of 1 and 2 -> 2 (subnormal, no flush) */
        {0x00008001u, 0x0000, 0x0001}, /* just above the first tie */
        {0x807fffffu, 0x8000, 0x8080}, /* largest negative subnormal rounds into bf16 normals */
        {0x7f800000u, 0x7c00, 0x7f80}, /* Inf */
        {0xff800000u, 0xfc00, 0xff80}, /* -Inf */
        {0x7fffffffu, 0x7fff, 0x7fff}, /* NaN, all payload bits */
        {0x7f800001u, 0x7e00, 0x7fc0}, /* sNaN, payload below both formats: not Inf, quiet */
        {0xff80ffffu, 0xfe07, 0xffc0}, /* negative sNaN: bf16 rounding would not quiet it */
        {0x7fa00000u, 0x7f00, 0x7fe0}, /* signalling NaN with a high payload bit kept */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        float f = float_of(cases[i].f32);
        uint16_t h = bn_f32_to_f16(f), b = bn_f32_to_bf16(f);
        CHECK(h == cases[i].f16, "f16 of %08x: got %04x want %04x", cases[i].f32, h, cases[i].f16);
        CHECK(b == cases[i].bf16, "bf16 of %08x: got %04x want %04x", cases[i].f32, b,
              cases[i].bf16);
    }
}

/* ---------------------------------------------------------------------------------------------
 * Narrowing against the double model: random patterns and the exponents at the range edges
 * ------------------------------------------------------------------------------------------- */

static void check_narrow(const half_format *fmt, uint32_t x) {
    float f = float_of(x);
    uint16_t got = fmt->narrow(f), want = expected_narrow(fmt, f);
    CHECK(got == want, "%s of %08x (%.9g): got %04x want %04x", fmt->name, x, (double)f, got, want);
}

/* Every sign-less f32 with this biased exponent whose mantissa is a multiple of 5: the stride is
 * odd, so the low mantissa bits that decide rounding run through all their values. */
static void sweep_exponent(const half_format *fmt, uint32_t e) {
    for (uint32_t m = 0; m < (1u << 23); m += 5) {
        uint32_t sign = (m / 5) & 1 ? 0x80000000u : 0;
        check_narrow(fmt, sign | (e << 23) | m);
    }
}

static void test_narrow_model(const half_format *fmt, const uint32_t *edge_exps, size_t n_edges) {
    for (int i = 0; i < 2000000; i++)
        check_narrow(fmt, random_f32_bits(fmt));
    for (size_t i = 0; i < n_edges; i++)
        sweep_exponent(fmt, edge_exps[i]);
}

/* ---------------------------------------------------------------------------------------------
 * Every path in force gives the reference's bits
 * ------------------------------------------------------------------------------------------- */

enum { N_RANDOM = 1 << 21, MAX_TAIL_LEN = 67, GUARD = 16 };
static const size_t tail_offsets[] = {0, 1, 3, 7};
#define N_TAIL_OFFSETS (sizeof tail_offsets / sizeof tail_offsets[0])

static uint16_t all_codes[65536];
static float widened_ref[N_FORMATS][65536];

/* The inputs and reference outputs every path is compared against, computed once. */
typedef struct path_inputs {
    float *random_f32[N_FORMATS];      /* N_RANDOM patterns per format */
    uint16_t *narrowed_ref[N_FORMATS]; /* their reference conversions */
} path_inputs;

static bool prepare_path_inputs(path_inputs *in) {
    for (uint32_t c = 0; c <= 0xffff; c++)
        all_codes[c] = (uint16_t)c;
    for (size_t k = 0; k < N_FORMATS; k++) {
        in->random_f32[k] = malloc(N_RANDOM * sizeof *in->random_f32[k]);
        in->narrowed_ref[k] = malloc(N_RANDOM * sizeof *in->narrowed_ref[k]);
        if (in->random_f32[k] == NULL || in->narrowed_ref[k] == NULL)
            return false;
        for (size_t i = 0; i < N_RANDOM; i++)
            in->random_f32[k][i] = float_of(random_f32_bits(&formats[k]));
        formats[k].widen_row_ref(all_codes, widened_ref[k], 65536);
        formats[k].narrow_row_ref(in->random_f32[k], in->narrowed_ref[k], N_RANDOM);
    }
    return true;
}

static void free_path_inputs(path_inputs *in) {
    for (size_t k = 0; k < N_FORMATS; k++) {
        free(in->random_f32[k]);
        free(in->narrowed_ref[k]);
    }
}

/* Whole arrays through the path in force: all codes widened, N_RANDOM patterns narrowed. */
static void check_whole_arrays(const path_inputs *in, size_t k, const char *path) {
    const half_format *fmt = &formats[k];
    float *wide = malloc(65536 * sizeof *wide);
    uint16_t *narrow = malloc(N_RANDOM * sizeof *narrow);
    CHECK(wide != NULL && narrow != NULL, "out of memory");
    if (wide != NULL && narrow != NULL) {
        fmt->widen_row(all_codes, wide, 65536);
        for (size_t i = 0; i < 65536; i++)
            CHECK(bits_of(wide[i]) == bits_of(widened_ref[k][i]),
                  "%s %s to_f32 of %04zx: got %08x want %08x", path, fmt->name, i, bits_of(wide[i]),
                  bits_of(widened_ref[k][i]));
        const float *src = in->random_f32[k];
        const uint16_t *want = in->narrowed_ref[k];
        fmt->narrow_row(src, narrow, N_RANDOM);
        for (size_t i = 0; i < N_RANDOM; i++)
            CHECK(narrow[i] == want[i], "%s %s from_f32 of %08x: got %04x want %04x", path,
                  fmt->name, bits_of(src[i]), narrow[i], want[i]);
    }
    free(wide);
    free(narrow);
}

/* One widening row of len codes at element offset off. The source ends exactly at the end of
 * its allocation, so a sanitizer sees any read past it (the block has one spare element in
 * front, so it is never of size zero); the destination has guards on both sides, so any build
 * sees a stray write. */
static void check_widen_tail(const half_format *fmt, const char *path, size_t len, size_t off) {
    uint16_t *block = malloc((1 + off + len) * sizeof *block);
    float *dst = malloc((off + len + GUARD) * sizeof *dst);
    float want[MAX_TAIL_LEN];
    CHECK(block != NULL && dst != NULL, "out of memory");
    if (block != NULL && dst != NULL) {
        const uint16_t *src = block + 1 + off;
        for (size_t i = 0; i < 1 + off + len; i++)
            block[i] = (uint16_t)rng_next();
        for (size_t i = 0; i < off + len + GUARD; i++)
            dst[i] = float_of(0xdeadbeefu);
        fmt->widen_row(src, dst + off, len);
        fmt->widen_row_ref(src, want, len);
        for (size_t i = 0; i < off + len + GUARD; i++) {
            uint32_t expect = i >= off && i < off + len ? bits_of(want[i - off]) : 0xdeadbeefu;
            CHECK(bits_of(dst[i]) == expect, "%s %s to_f32 len %zu off %zu: [%zu] = %08x want %08x",
                  path, fmt->name, len, off, i, bits_of(dst[i]), expect);
        }
    }
    free(block);
    free(dst);
}

/* As check_widen_tail, for narrowing. */
static void check_narrow_tail(const half_format *fmt, const char *path, size_t len, size_t off) {
    float *block = malloc((1 + off + len) * sizeof *block);
    uint16_t *dst = malloc((off + len + GUARD) * sizeof *dst);
    uint16_t want[MAX_TAIL_LEN];
    CHECK(block != NULL && dst != NULL, "out of memory");
    if (block != NULL && dst != NULL) {
        const float *src = block + 1 + off;
        for (size_t i = 0; i < 1 + off + len; i++)
            block[i] = float_of(random_f32_bits(fmt));
        for (size_t i = 0; i < off + len + GUARD; i++)
            dst[i] = 0xa5a5;
        fmt->narrow_row(src, dst + off, len);
        fmt->narrow_row_ref(src, want, len);
        for (size_t i = 0; i < off + len + GUARD; i++) {
            uint16_t expect = i >= off && i < off + len ? want[i - off] : 0xa5a5;
            CHECK(dst[i] == expect, "%s %s from_f32 len %zu off %zu: [%zu] = %04x want %04x", path,
                  fmt->name, len, off, i, dst[i], expect);
        }
    }
    free(block);
    free(dst);
}

static void test_paths(void) {
    path_inputs in = {{NULL}, {NULL}};
    bool ready = prepare_path_inputs(&in);
    CHECK(ready, "out of memory");
    for (int p = 0; ready && p < BN_ISA_COUNT; p++) {
        const char *path = bn_isa_name((bn_isa)p);
        if (!bn_cpu_isa_supported((bn_isa)p)) {
            printf("test_half: %s path skipped (not supported by this CPU)\n", path);
            continue;
        }
        CHECK_OK(bn_cpu_set_isa((bn_isa)p));
        CHECK(bn_cpu_isa() == (bn_isa)p, "path in force is %s, want %s", bn_isa_name(bn_cpu_isa()),
              path);
        for (size_t k = 0; k < N_FORMATS; k++) {
            check_whole_arrays(&in, k, path);
            for (size_t len = 0; len <= MAX_TAIL_LEN; len++) {
                for (size_t o = 0; o < N_TAIL_OFFSETS; o++) {
                    check_widen_tail(&formats[k], path, len, tail_offsets[o]);
                    check_narrow_tail(&formats[k], path, len, tail_offsets[o]);
                }
            }
        }
        printf("test_half: %s path checked\n", path);
    }
    CHECK_OK(bn_cpu_set_isa(bn_cpu_best_isa()));
    free_path_inputs(&in);
}

int main(void) {
    bn_test_rng_state = TEST_SEED;
    /* f32 exponents where f16 rounding changes regime: under half the smallest subnormal, the
     * subnormal results, the first normal binade, the overflow binade and beyond. */
    static const uint32_t f16_edges[] = {101, 102, 103, 112, 113, 142, 143};
    /* For bf16: f32 subnormals, the first normal binade, the overflow binade, Inf/NaN. */
    static const uint32_t bf16_edges[] = {0, 1, 254, 255};

    for (size_t k = 0; k < N_FORMATS; k++) {
        test_all_codes(&formats[k]);
        test_midpoints(&formats[k]);
    }
    test_named_edges();
    test_narrow_model(&formats[0], f16_edges, sizeof f16_edges / sizeof f16_edges[0]);
    test_narrow_model(&formats[1], bf16_edges, sizeof bf16_edges / sizeof bf16_edges[0]);
    test_paths();
    return bn_test_finish("test_half");
}
