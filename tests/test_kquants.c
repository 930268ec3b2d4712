/*
 * test_kquants.c - the legacy, k-quant and IQ4_NL rows of the dtype table: their traits; each
 * layout as kquants.h documents it (blocks written here byte by byte from that text, decoded by
 * the library); blocks of zero bytes; round trips of awkward rows within bounds per type; NaN
 * and Inf inputs that stay inside their block; blocks whose f16 scales are Inf or NaN.
 * gguf-py and llama-quantize's own bytes are the oracle in tests/py/test_formats_reference.py.
 */
#include "tensor/dtype.h"
#include "tensor/half.h"
#include "tensor/kquants.h"
#include "test.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

typedef struct kq_row {
    bn_dtype id;
    const char *name;
    int gguf;
    int64_t block;
    size_t bytes;
} kq_row;

static const kq_row rows[] = {
    {BN_DTYPE_Q4_0, "q4_0", 2, 32, 18},    {BN_DTYPE_Q4_1, "q4_1", 3, 32, 20},
    {BN_DTYPE_Q5_0, "q5_0", 6, 32, 22},    {BN_DTYPE_Q5_1, "q5_1", 7, 32, 24},
    {BN_DTYPE_Q2_K, "q2_k", 10, 256, 84},  {BN_DTYPE_Q3_K, "q3_k", 11, 256, 110},
    {BN_DTYPE_Q4_K, "q4_k", 12, 256, 144}, {BN_DTYPE_Q5_K, "q5_k", 13, 256, 176},
    {BN_DTYPE_Q6_K, "q6_k", 14, 256, 210}, {BN_DTYPE_IQ4_NL, "iq4_nl", 20, 32, 18},
};
enum { N_ROWS = sizeof rows / sizeof rows[0] };

static uint64_t rng_state = 0x243F6A8885A308D3ull;

static uint32_t rng_u32(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 32);
}

/* Standard normal (Box-Muller), deterministic. */
static float rng_normal(void) {
    double u1 = ((double)rng_u32() + 1.0) / 4294967297.0, u2 = (double)rng_u32() / 4294967296.0;
    return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}

static const bn_dtype_traits *traits(const kq_row *r) {
    return bn_dtype_get(r->id);
}

/* ---- the table ---------------------------------------------------------------------------- */

static void test_table(void) {
    for (int i = 0; i < N_ROWS; i++) {
        const kq_row *r = &rows[i];
        const bn_dtype_traits *t = traits(r);
        CHECK(t != NULL && strcmp(t->name, r->name) == 0 && t->gguf_type == r->gguf &&
                  t->block_size == r->block && t->block_bytes == r->bytes && t->is_quantized &&
                  t->to_f32 != NULL && t->from_f32 != NULL && t->tensor_tail_bytes == 0 &&
                  t->pack_ternary == NULL,
              "row %s", r->name);
        bn_dtype d = BN_DTYPE_F32;
        CHECK(bn_dtype_from_name(r->name, &d) == BN_OK && d == r->id, "%s by name", r->name);
        d = BN_DTYPE_F32;
        CHECK(bn_dtype_from_gguf(r->gguf, &d) == BN_OK && d == r->id, "%s by GGUF id %d", r->name,
              r->gguf);
        size_t rb = 0;
        CHECK_OK(bn_dtype_row_bytes(r->id, 2560, &rb));
        CHECK(rb == (size_t)(2560 / r->block) * r->bytes, "%s: 2560 values take %zu bytes", r->name,
              rb);
        CHECK(bn_dtype_row_bytes(r->id, r->block + 16, &rb) == BN_ERR_SHAPE, "%s partial block",
              r->name);
    }
    /* The enum values are ABI: they must never move. */
    CHECK(BN_DTYPE_Q4_0 == 13 && BN_DTYPE_Q5_1 == 16 && BN_DTYPE_Q2_K == 17 &&
              BN_DTYPE_Q6_K == 21 && BN_DTYPE_IQ4_NL == 22 && BN_DTYPE_T5V64 == 23 &&
              BN_DTYPE_COUNT == 24,
          "enum values");
    bn_dtype d;
    CHECK(bn_dtype_from_gguf(15, &d) == BN_ERR_DTYPE, "Q8_K (15) is not a row");
    CHECK(bn_dtype_from_gguf(23, &d) == BN_ERR_DTYPE, "IQ4_XS (23) is not a row");
}

/* ---- layouts, written from kquants.h's description ------------------------------------------ */

/* f16 values used below: 0.5, 0.25, 1/64, -1 and 2, all exact, so every decoded value is. */
#define F16_HALF    0x3800
#define F16_QUARTER 0x3400
#define F16_1_64    0x2400
#define F16_MINUS1  0xBC00
#define F16_TWO     0x4000

static int check_values(const char *what, const float *got, const double *want, int n) {
    int bad = 0;
    for (int e = 0; e < n; e++)
        if ((double)got[e] != want[e]) {
            if (bad++ == 0)
                CHECK(false, "%s value %d: got %.9g want %.9g", what, e, (double)got[e], want[e]);
        }
    CHECK(bad == 0, "%s: %d values differ", what, bad);
    return bad;
}

/* Nibbles of the 32-value types: byte j holds value j low, value j + 16 high. */
static void put_nibbles(uint8_t qs[16], const uint8_t u[32]) {
    for (int j = 0; j < 16; j++)
        qs[j] = (uint8_t)((u[j] & 15) | (u[j + 16] & 15) << 4);
}

static void test_legacy_layouts(void) {
    uint8_t u[32];
    float y[32];
    double want[32];
    for (int j = 0; j < 32; j++)
        u[j] = (uint8_t)((j * 7 + 3) % 32);

    bn_block_q4_0 q40 = {.d = F16_HALF};
    uint8_t u4[32];
    for (int j = 0; j < 32; j++)
        u4[j] = u[j] & 15;
    put_nibbles(q40.qs, u4);
    for (int j = 0; j < 32; j++)
        want[j] = 0.5 * (u4[j] - 8);
    bn_q4_0_to_f32(&q40, y, 32);
    check_values("q4_0", y, want, 32);

    bn_block_q4_1 q41 = {.d = F16_QUARTER, .m = F16_MINUS1};
    put_nibbles(q41.qs, u4);
    for (int j = 0; j < 32; j++)
        want[j] = 0.25 * u4[j] - 1.0;
    bn_q4_1_to_f32(&q41, y, 32);
    check_values("q4_1", y, want, 32);

    /* Q5: bit j of the little-endian uint32 qh is bit 4 of value j. */
    uint32_t qh = 0;
    for (int j = 0; j < 32; j++)
        qh |= (uint32_t)(u[j] >> 4) << j;
    bn_block_q5_0 q50 = {.d = F16_QUARTER};
    bn_block_q5_1 q51 = {.d = F16_HALF, .m = F16_TWO};
    for (int i = 0; i < 4; i++)
        q50.qh[i] = q51.qh[i] = (uint8_t)(qh >> (8 * i));
    put_nibbles(q50.qs, u);
    put_nibbles(q51.qs, u);
    for (int j = 0; j < 32; j++)
        want[j] = 0.25 * (u[j] - 16);
    bn_q5_0_to_f32(&q50, y, 32);
    check_values("q5_0", y, want, 32);
    for (int j = 0; j < 32; j++)
        want[j] = 0.5 * u[j] + 2.0;
    bn_q5_1_to_f32(&q51, y, 32);
    check_values("q5_1", y, want, 32);

    bn_block_iq4_nl iq = {.d = F16_TWO};
    put_nibbles(iq.qs, u4);
    const int levels[16] = {-127, -104, -83, -65, -49, -35, -22, -10,
                            1,    13,   25,  38,  53,  69,  89,  113};
    for (int j = 0; j < 32; j++)
        want[j] = 2.0 * levels[u4[j]];
    bn_iq4_nl_to_f32(&iq, y, 32);
    check_values("iq4_nl", y, want, 32);
}

static void test_k_layouts(void) {
    uint8_t u[256];
    float y[256];
    double want[256];

    /* Q2_K: value 128h + 32s + m at bits 2s of qs[32h + m]; scales[j] = sc | min << 4. */
    bn_block_q2_k q2 = {.d = F16_QUARTER, .dmin = F16_1_64};
    memset(q2.qs, 0, sizeof q2.qs);
    for (int e = 0; e < 256; e++) {
        u[e] = (uint8_t)((e * 5 + e / 16) % 4);
        q2.qs[32 * (e / 128) + e % 32] |= (uint8_t)(u[e] << (2 * (e / 32 % 4)));
    }
    for (int j = 0; j < 16; j++)
        q2.scales[j] = (uint8_t)((j * 3 + 1) % 16 | ((15 - j) << 4));
    for (int e = 0; e < 256; e++)
        want[e] = 0.25 * ((e / 16 * 3 + 1) % 16) * u[e] - (15 - e / 16) / 64.0;
    bn_q2_k_to_f32(&q2, y, 256);
    check_values("q2_k", y, want, 256);

    /* Q3_K: 6-bit scale j (stored + 32): low 4 bits in nibble j / 8 of scales[j % 8], top 2 at
     * bits 2 (j / 4) of scales[8 + j % 4]; the high bit of value e at bit e / 32 of
     * hmask[e % 32], set meaning no -4. */
    bn_block_q3_k q3 = {.d = F16_HALF};
    memset(q3.qs, 0, sizeof q3.qs);
    memset(q3.hmask, 0, sizeof q3.hmask);
    memset(q3.scales, 0, sizeof q3.scales);
    int s3[16];
    for (int j = 0; j < 16; j++) {
        s3[j] = (j * 9 + 5) % 64;
        q3.scales[j % 8] |= (uint8_t)((s3[j] & 15) << (j < 8 ? 0 : 4));
        q3.scales[8 + j % 4] |= (uint8_t)((s3[j] >> 4) << (2 * (j / 4)));
    }
    for (int e = 0; e < 256; e++) {
        int low = (e * 3 + e / 7) % 4, high = (e / 3) % 2;
        q3.qs[32 * (e / 128) + e % 32] |= (uint8_t)(low << (2 * (e / 32 % 4)));
        q3.hmask[e % 32] |= (uint8_t)(high << (e / 32));
        want[e] = 0.5 * (s3[e / 16] - 32) * (low - (high ? 0 : 4));
    }
    bn_q3_k_to_f32(&q3, y, 256);
    check_values("q3_k", y, want, 256);

    /* Q4_K / Q5_K scales: bytes 0-3 sc_0..3, bytes 4-7 m_0..3 (low 6 bits); for j = 4..7 the
     * low nibble of byte j + 4 is sc_j's low 4 bits and its high nibble m_j's, the top 2 bits of
     * bytes j - 4 and j give sc_j's and m_j's top 2 bits. */
    uint8_t sc[8], mn[8], scales[12] = {0};
    for (int j = 0; j < 8; j++) {
        sc[j] = (uint8_t)((j * 23 + 7) % 64);
        mn[j] = (uint8_t)((j * 13 + 50) % 64);
    }
    for (int j = 0; j < 4; j++) {
        scales[j] = (uint8_t)(sc[j] | (sc[j + 4] >> 4) << 6);
        scales[j + 4] = (uint8_t)(mn[j] | (mn[j + 4] >> 4) << 6);
        scales[j + 8] = (uint8_t)((sc[j + 4] & 15) | (mn[j + 4] & 15) << 4);
    }
    uint8_t sc2[8], mn2[8];
    bn_q4_k_scale_min(scales, sc2, mn2);
    CHECK(memcmp(sc, sc2, 8) == 0 && memcmp(mn, mn2, 8) == 0, "bn_q4_k_scale_min");

    /* Q4_K codes: value 64c + i in the low nibble of qs[32c + i], 64c + 32 + i in its high. */
    bn_block_q4_k q4 = {.d = F16_QUARTER, .dmin = F16_1_64};
    memcpy(q4.scales, scales, 12);
    for (int e = 0; e < 256; e++)
        u[e] = (uint8_t)((e * 11 + e / 13) % 16);
    for (int c = 0; c < 4; c++)
        for (int i = 0; i < 32; i++)
            q4.qs[32 * c + i] = (uint8_t)(u[64 * c + i] | u[64 * c + 32 + i] << 4);
    for (int e = 0; e < 256; e++)
        want[e] = 0.25 * sc[e / 32] * u[e] - mn[e / 32] / 64.0;
    bn_q4_k_to_f32(&q4, y, 256);
    check_values("q4_k", y, want, 256);
    uint8_t got_u[256];
    bn_q4_k_codes(&q4, got_u);
    CHECK(memcmp(got_u, u, 256) == 0, "bn_q4_k_codes");

    /* Q5_K: bit j of qh[i] is bit 4 of value 32j + i. */
    bn_block_q5_k q5 = {.d = F16_HALF, .dmin = F16_TWO};
    memcpy(q5.scales, scales, 12);
    memset(q5.qh, 0, sizeof q5.qh);
    for (int e = 0; e < 256; e++) {
        u[e] = (uint8_t)((e * 19 + e / 5) % 32);
        q5.qh[e % 32] |= (uint8_t)((u[e] >> 4) << (e / 32));
    }
    for (int c = 0; c < 4; c++)
        for (int i = 0; i < 32; i++)
            q5.qs[32 * c + i] = (uint8_t)((u[64 * c + i] & 15) | (u[64 * c + 32 + i] & 15) << 4);
    for (int e = 0; e < 256; e++)
        want[e] = 0.5 * sc[e / 32] * u[e] - 2.0 * mn[e / 32];
    bn_q5_k_to_f32(&q5, y, 256);
    check_values("q5_k", y, want, 256);

    /* Q6_K: value 128h + r: low 4 bits in nibble r / 64 of ql[64h + r % 64], top 2 at bits
     * 2 (r / 32) of qh[32h + r % 32]; int8 scales per 16. */
    bn_block_q6_k q6 = {.d = F16_1_64};
    memset(q6.ql, 0, sizeof q6.ql);
    memset(q6.qh, 0, sizeof q6.qh);
    for (int e = 0; e < 256; e++) {
        int h = e / 128, r = e % 128;
        u[e] = (uint8_t)((e * 37 + e / 9) % 64);
        q6.ql[64 * h + r % 64] |= (uint8_t)((u[e] & 15) << (4 * (r / 64)));
        q6.qh[32 * h + r % 32] |= (uint8_t)((u[e] >> 4) << (2 * (r / 32)));
    }
    for (int j = 0; j < 16; j++)
        q6.scales[j] = (int8_t)(j % 2 ? -128 + 17 * j : 127 - 9 * j);
    for (int e = 0; e < 256; e++)
        want[e] = q6.scales[e / 16] * (u[e] - 32) / 64.0;
    bn_q6_k_to_f32(&q6, y, 256);
    check_values("q6_k", y, want, 256);
    bn_q6_k_codes(&q6, got_u);
    CHECK(memcmp(got_u, u, 256) == 0, "bn_q6_k_codes");
}

/* ---- zeros, round trips, non-finite inputs --------------------------------------------------- */

static void test_zero_blocks(void) {
    uint8_t zeros[2 * 210] = {0}, buf[2 * 210];
    float y[512], x[512] = {0};
    for (int i = 0; i < N_ROWS; i++) {
        const bn_dtype_traits *t = traits(&rows[i]);
        int64_t n = 2 * t->block_size;
        int nonzero = 0;
        t->to_f32(zeros, y, n);
        for (int64_t e = 0; e < n; e++)
            nonzero += y[e] != 0.0f;
        t->from_f32(x, buf, n);
        t->to_f32(buf, y, n);
        for (int64_t e = 0; e < n; e++)
            nonzero += y[e] != 0.0f;
        CHECK(nonzero == 0, "%s: zero bytes or an encoded zero row decode to %d nonzero values",
              t->name, nonzero);
    }
}

/* Rows of 4 super-blocks: each case is a different kind of hard. */
enum { ROW = 1024, N_CASES = 9 };
static const char *const case_names[N_CASES] = {"normal",       "uniform",     "constant 0.5",
                                                "all negative", "outliers",    "ternary",
                                                "half zeros",   "large (1e4)", "tiny (1e-8)"};

static void make_case(int c, float *x) {
    for (int e = 0; e < ROW; e++) {
        float v = rng_normal();
        switch (c) {
        case 1:
            v = (float)rng_u32() / 2147483648.0f - 1.0f;
            break;
        case 2:
            v = 0.5f;
            break;
        case 3:
            v = -fabsf(v);
            break;
        case 4:
            v = e % 97 == 17 ? 100.0f * (e % 2 ? 1.0f : -1.0f) : 1e-3f * v;
            break;
        case 5:
            v = 0.0123f * (float)((int)(rng_u32() % 3) - 1);
            break;
        case 6:
            v = e % 256 < 128 ? 0.0f : 3.0f * v;
            break;
        case 7:
            v = 1e4f * v;
            break;
        case 8:
            v = 1e-8f * v;
            break;
        default:
            break;
        }
        x[e] = v;
    }
}

/* decode(encode(x)) against x, per block of the type, relative to the block's absmax:
 *  - legacy types: the largest error is at most half a step, or a whole step at the clamped
 *    end of Q4_0/Q5_0 (d = absmax/8 resp. /16; Q4_1/Q5_1: d/2 = range/30 resp. /62 <= absmax/15
 *    resp. /31), plus 2^-9 for the f16 rounding of d and m (d * 2^-11 * 16 codes, |m| * 2^-11);
 *  - k-quants and IQ4_NL (least-squares fits, no closed form): the RMS and the largest error
 *    must stay within 1.5 times the worst measured over these cases and 20 random normal rows
 *    (RMS: Q2_K 0.201, Q3_K 0.108, Q4_K 0.033, Q5_K 0.016, Q6_K 0.0082, IQ4_NL 0.052; largest:
 *    0.355, 0.219, 0.074, 0.038, 0.016, 0.119), rounded up.
 * Blocks whose scales fall below f16's range (the tiny case, absmax < 1e-4) are held only to
 * |y - x| <= absmax + 2^-20: the format cannot do better, but nothing may blow up. */
typedef struct bounds {
    double rms, max;
} bounds;

static bounds error_bounds(bn_dtype id) {
    const double f16 = 1.0 / 512.0;
    switch (id) {
    case BN_DTYPE_Q4_0:
        return (bounds){1.0, 1.0 / 8 + f16};
    case BN_DTYPE_Q4_1:
        return (bounds){1.0, 1.0 / 15 + f16};
    case BN_DTYPE_Q5_0:
        return (bounds){1.0, 1.0 / 16 + f16};
    case BN_DTYPE_Q5_1:
        return (bounds){1.0, 1.0 / 31 + f16};
    case BN_DTYPE_Q2_K:
        return (bounds){0.31, 0.54};
    case BN_DTYPE_Q3_K:
        return (bounds){0.17, 0.33};
    case BN_DTYPE_Q4_K:
        return (bounds){0.05, 0.12};
    case BN_DTYPE_Q5_K:
        return (bounds){0.025, 0.058};
    case BN_DTYPE_Q6_K:
        return (bounds){0.013, 0.025};
    case BN_DTYPE_IQ4_NL:
        return (bounds){0.08, 0.18};
    default:
        return (bounds){0.0, 0.0};
    }
}

static void test_round_trips(void) {
    static float x[ROW], y[ROW];
    static uint8_t buf[ROW * 2];
    for (int i = 0; i < N_ROWS; i++) {
        const bn_dtype_traits *t = traits(&rows[i]);
        bounds bound = error_bounds(rows[i].id);
        double worst_rms = 0.0, worst_max = 0.0;
        for (int c = 0; c < N_CASES + 20; c++) {
            const char *what = case_names[c < N_CASES ? c : 0];
            make_case(c < N_CASES ? c : 0, x);
            t->from_f32(x, buf, ROW);
            t->to_f32(buf, y, ROW);
            for (int64_t b = 0; b < ROW / t->block_size; b++) {
                const float *xb = x + b * t->block_size, *yb = y + b * t->block_size;
                double amax = 0.0, sq = 0.0, max = 0.0;
                for (int64_t e = 0; e < t->block_size; e++)
                    amax = fmax(amax, fabs((double)xb[e]));
                for (int64_t e = 0; e < t->block_size; e++) {
                    double d = fabs((double)yb[e] - xb[e]);
                    sq += d * d;
                    max = isnan(d) ? INFINITY : fmax(max, d);
                }
                if (amax < 1e-4) {
                    CHECK(max <= amax + ldexp(1.0, -20), "%s %s block %lld: error %.3g", t->name,
                          what, (long long)b, max);
                    continue;
                }
                double rms = sqrt(sq / (double)t->block_size) / amax;
                max /= amax;
                worst_rms = fmax(worst_rms, rms);
                worst_max = fmax(worst_max, max);
                CHECK(rms <= bound.rms && max <= bound.max,
                      "%s %s block %lld: RMS error %.4g, largest %.4g of the absmax", t->name, what,
                      (long long)b, rms, max);
            }
        }
        printf("  %-6s round trips: worst error RMS %.4f, largest %.4f of the block absmax\n",
               t->name, worst_rms, worst_max);
    }
}

/* A NaN or an Inf changes only its own block's bytes, and decoding what came out is defined. */
static void test_nonfinite_inputs(void) {
    static float x0[ROW], x[ROW], y[ROW];
    static uint8_t clean[ROW * 2], dirty[ROW * 2];
    make_case(0, x0);
    for (int i = 0; i < N_ROWS; i++) {
        const bn_dtype_traits *t = traits(&rows[i]);
        t->from_f32(x0, clean, ROW);
        for (int kind = 0; kind < 3; kind++) {
            memcpy(x, x0, sizeof x);
            int64_t at = t->block_size + 5; /* the second block */
            x[at] = kind == 0 ? NAN : (kind == 1 ? INFINITY : -INFINITY);
            if (kind == 2)
                for (int64_t e = t->block_size; e < 2 * t->block_size; e++)
                    x[e] = NAN; /* a block of NaN only */
            t->from_f32(x, dirty, ROW);
            size_t bb = t->block_bytes;
            bool others_same =
                memcmp(clean, dirty, bb) == 0 &&
                memcmp(clean + 2 * bb, dirty + 2 * bb, (size_t)(ROW / t->block_size - 2) * bb) == 0;
            CHECK(others_same, "%s: a non-finite value (kind %d) changed other blocks", t->name,
                  kind);
            t->to_f32(dirty, y, ROW);
            int finite_elsewhere = 0;
            for (int64_t e = 0; e < ROW; e++)
                if (e < t->block_size || e >= 2 * t->block_size)
                    finite_elsewhere += isfinite(y[e]) != 0;
            CHECK(finite_elsewhere == ROW - t->block_size, "%s: %d finite values outside", t->name,
                  finite_elsewhere);
        }
    }
}

/* f16 scales of Inf and NaN decode as numpy does: Inf * code or NaN, never a trap. */
static void test_nonfinite_scales(void) {
    bn_block_q6_k q6;
    memset(&q6, 0, sizeof q6);
    q6.d = 0x7C00; /* +Inf */
    for (int j = 0; j < 16; j++)
        q6.scales[j] = 1;
    q6.ql[0] = 0x01; /* value 0: u = 1 | 2 << 4 = 33, q = 1; value 1: u = 0, q = -32 */
    q6.qh[0] = 0x02;
    float y[256];
    bn_q6_k_to_f32(&q6, y, 256);
    CHECK(isinf(y[0]) && y[0] > 0 && isinf(y[1]) && y[1] < 0, "q6_k Inf scale: %g %g", (double)y[0],
          (double)y[1]);
    q6.scales[0] = 0; /* Inf * 0 */
    bn_q6_k_to_f32(&q6, y, 256);
    CHECK(isnan(y[0]), "q6_k Inf * scale 0 gives %g", (double)y[0]);

    bn_block_q4_k q4;
    memset(&q4, 0, sizeof q4);
    q4.d = 0x3C00;
    q4.dmin = 0x7E00; /* NaN */
    bn_q4_k_to_f32(&q4, y, 256);
    int nans = 0;
    for (int e = 0; e < 256; e++)
        nans += isnan(y[e]) != 0;
    CHECK(nans == 256, "q4_k NaN dmin: %d NaN values", nans);
}

int main(void) {
    test_table();
    test_legacy_layouts();
    test_k_layouts();
    test_zero_blocks();
    test_round_trips();
    test_nonfinite_inputs();
    test_nonfinite_scales();
    return bn_test_finish("test_kquants");
}
