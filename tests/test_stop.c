/*
 * test_stop.c - stop strings over streamed text (src/text/stop.h): what is released and when,
 * matches across pushes, which of several stop strings ends the text, false starts, flushing,
 * and a random comparison with the obvious answer (the text up to the stop string that ends
 * first) under random ways of cutting the text into pushes.
 */
#include "test.h"
#include "test_rng.h"

#include "text/stop.h"

#include <stdint.h>
#include <string.h>

/* Push text one piece at a time (cuts at the given lengths, the rest at the end); returns what
 * was released in total, NUL-terminated in buf. */
static const char *feed(const char *const *stops, size_t n_stops, const char *text, const int *cuts,
                        int n_cuts, bool flush, char *buf, size_t cap) {
    bn_stop s;
    bn_stop_init(&s, stops, n_stops);
    bn_bytes out = {0};
    size_t at = 0, len = strlen(text);
    for (int i = 0; i <= n_cuts; i++) {
        size_t piece = i < n_cuts ? (size_t)cuts[i] : len - at;
        if (piece > len - at)
            piece = len - at;
        CHECK_OK(bn_stop_push(&s, text + at, piece, &out));
        at += piece;
    }
    if (flush)
        CHECK_OK(bn_stop_flush(&s, &out));
    size_t n = out.n < cap - 1 ? out.n : cap - 1;
    memcpy(buf, out.data ? out.data : "", n);
    buf[n] = '\0';
    bn_bytes_free(&out);
    bn_stop_free(&s);
    return buf;
}

static void test_cases(void) {
    char buf[256];
    const char *user[] = {"User:"};
    int ones[64];
    for (int i = 0; i < 64; i++)
        ones[i] = 1;
    CHECK(!strcmp(feed(NULL, 0, "Hello User: x", ones, 13, true, buf, sizeof buf), "Hello User: x"),
          "no stop strings: everything passes");
    int cut[1] = {8};
    CHECK(!strcmp(feed(user, 1, "Hello User: x", cut, 1, false, buf, sizeof buf), "Hello "),
          "a stop string across two pushes: got '%s'", buf);
    CHECK(!strcmp(feed(user, 1, "Hello Us", NULL, 0, false, buf, sizeof buf), "Hello "),
          "a possible start is held back: got '%s'", buf);
    CHECK(!strcmp(feed(user, 1, "Hello Us", NULL, 0, true, buf, sizeof buf), "Hello Us"),
          "flush releases it: got '%s'", buf);
    CHECK(!strcmp(feed(user, 1, "Used it", ones, 7, false, buf, sizeof buf), "Used it"),
          "a false start is released once it fails: got '%s'", buf);
    const char *two[] = {"b", "abc"};
    CHECK(!strcmp(feed(two, 2, "xabcb", NULL, 0, true, buf, sizeof buf), "xa"),
          "the stop string that ends first wins: got '%s'", buf);
    const char *nested[] = {"bc", "abc"};
    CHECK(!strcmp(feed(nested, 2, "xabcd", NULL, 0, true, buf, sizeof buf), "x"),
          "of two that end together, the longer: got '%s'", buf);
    const char *cba[] = {"cba", "b"};
    CHECK(!strcmp(feed(cba, 2, "cbax", NULL, 0, true, buf, sizeof buf), "c") &&
              !strcmp(feed(cba, 2, "cbax", ones, 4, true, buf, sizeof buf), "c"),
          "the same answer in one push and byte by byte: got '%s'", buf);
    const char *aab[] = {"aab"};
    CHECK(!strcmp(feed(aab, 1, "aaab", ones, 4, true, buf, sizeof buf), "a"),
          "overlapping start: got '%s'", buf);
    const char *e[] = {"\xc3\xa9"};
    CHECK(!strcmp(feed(e, 1, "caf\xc3\xa9 au lait", ones, 16, true, buf, sizeof buf), "caf"),
          "a UTF-8 stop string fed byte by byte: got '%s'", buf);
    CHECK(!strcmp(feed(user, 1, "User: at once", NULL, 0, true, buf, sizeof buf), ""),
          "a stop string first: nothing: got '%s'", buf);
}

static void test_after_hit(void) {
    const char *stops[] = {"END"};
    bn_stop s;
    bn_stop_init(&s, stops, 1);
    bn_bytes out = {0};
    CHECK_OK(bn_stop_push(&s, "abcEN", 5, &out));
    CHECK(out.n == 3 && !bn_stop_hit(&s), "abc out, EN held");
    CHECK_OK(bn_stop_push(&s, "Dxyz", 4, &out));
    CHECK(out.n == 3 && bn_stop_hit(&s), "hit, nothing of END or after");
    CHECK_OK(bn_stop_push(&s, "more", 4, &out));
    CHECK_OK(bn_stop_flush(&s, &out));
    CHECK(out.n == 3, "nothing after a hit");
    bn_bytes_free(&out);
    bn_stop_free(&s);
}

/* Random texts over a 3-letter alphabet, so that stop strings and false starts are common. */
static void test_random(void) {
    bn_test_rng_state = 0x5709;
    char text[64], stops_buf[3][6], buf[128];
    for (int iter = 0; iter < 3000; iter++) {
        int len = rng_int(0, 40), n_stops = rng_int(1, 3);
        for (int i = 0; i < len; i++)
            text[i] = (char)('a' + rng_int(0, 2));
        text[len] = '\0';
        const char *stops[3];
        size_t first = (size_t)len, first_end = SIZE_MAX; /* the stop string that ends first */
        for (int k = 0; k < n_stops; k++) {
            int sl = rng_int(1, 5);
            for (int i = 0; i < sl; i++)
                stops_buf[k][i] = (char)('a' + rng_int(0, 2));
            stops_buf[k][sl] = '\0';
            stops[k] = stops_buf[k];
            const char *at = strstr(text, stops[k]);
            size_t start = at ? (size_t)(at - text) : 0, end = at ? start + (size_t)sl : SIZE_MAX;
            if (at != NULL && (end < first_end || (end == first_end && start < first))) {
                first = start;
                first_end = end;
            }
        }
        int cuts[40], n_cuts = rng_int(0, 12);
        for (int i = 0; i < n_cuts; i++)
            cuts[i] = rng_int(0, 6);
        feed(stops, (size_t)n_stops, text, cuts, n_cuts, true, buf, sizeof buf);
        CHECK(strlen(buf) == first && !strncmp(buf, text, first),
              "text '%s' stops {%s,%s,%s}: got '%s', want the first %zu bytes", text, stops[0],
              n_stops > 1 ? stops[1] : "", n_stops > 2 ? stops[2] : "", buf, first);
    }
}

int main(void) {
    test_cases();
    test_after_hit();
    test_random();
    return bn_test_finish("test_stop");
}
