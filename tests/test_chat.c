/*
 * test_chat.c - chat formats against Jinja2's rendering of the real templates
 * (tests/fixtures/tokenizer/chat.json, made by scripts/make_tokenizer_fixtures.py).
 */
#include "test.h"

#include "text/chat.h"
#include "tools/json_spec.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FIXTURE BN_SOURCE_DIR "/tests/fixtures/tokenizer/chat.json"

static cJSON *load(void) {
    size_t n = 0;
    char *text = spec_read_file(FIXTURE, &n);
    cJSON *root = text ? cJSON_ParseWithLength(text, n) : NULL;
    free(text);
    return root;
}

static void test_case(const cJSON *c, const char *bos, const cJSON *templates) {
    const char *name = cJSON_GetObjectItem(c, "template")->valuestring;
    bn_chat_format f;
    CHECK_OK(bn_chat_format_from_name(name, &f));
    CHECK(bn_chat_detect(cJSON_GetObjectItem(templates, name)->valuestring) == f,
          "the %s template is detected as itself", name);
    bn_chat_message msgs[16];
    size_t n = 0;
    const cJSON *m;
    cJSON_ArrayForEach(m, cJSON_GetObjectItem(c, "messages")) {
        if (n < 16)
            msgs[n++] = (bn_chat_message){cJSON_GetObjectItem(m, "role")->valuestring,
                                          cJSON_GetObjectItem(m, "content")->valuestring};
    }
    bool gen = cJSON_IsTrue(cJSON_GetObjectItem(c, "add_generation_prompt"));
    bn_bytes out = {0};
    CHECK_OK(bn_chat_render(f, msgs, n, gen, bos, &out, NULL));
    const char *want = cJSON_GetObjectItem(c, "rendered")->valuestring;
    CHECK(out.n == strlen(want) && memcmp(out.data, want, out.n) == 0,
          "%s: rendered\n  got  [%.*s]\n  want [%s]", name, (int)out.n, out.data ? out.data : "",
          want);
    bn_bytes_free(&out);
}

int main(void) {
    cJSON *root = load();
    if (root == NULL)
        return bn_test_skip("test_chat", "no " FIXTURE);
    const char *bos = cJSON_GetObjectItem(root, "bos_token")->valuestring;
    const cJSON *templates = cJSON_GetObjectItem(root, "templates");
    const cJSON *c;
    int n = 0;
    cJSON_ArrayForEach(c, cJSON_GetObjectItem(root, "cases")) {
        test_case(c, bos, templates);
        n++;
    }
    CHECK(n >= 20, "%d chat cases", n);
    bn_chat_format f;
    CHECK(bn_chat_format_from_name("vicuna", &f) == BN_ERR_INVALID_ARG &&
              strstr(bn_last_error(), "chatml") != NULL,
          "unknown names are refused with the choices");
    CHECK(bn_chat_detect("{{ messages }}") == BN_CHAT_UNKNOWN, "unknown template");
    CHECK(bn_chat_detect(NULL) == BN_CHAT_UNKNOWN, "no template");
    /* A stray continuation byte after a space is U+FFFD to Jinja (Python), not space: trim keeps
     * both (it used to drop them, seeing only the space before). */
    bn_bytes out = {0};
    bn_chat_message stray = {"user", " a\r\x97"};
    CHECK_OK(bn_chat_render(BN_CHAT_BITNET, &stray, 1, false, NULL, &out, NULL));
    CHECK(out.n == 19 && memcmp(out.data, "User: a\r\x97<|eot_id|>", 19) == 0,
          "trim keeps a stray byte: [%.*s]", (int)out.n, out.data ? out.data : "");
    bn_bytes_free(&out);
    cJSON_Delete(root);
    return bn_test_finish("test_chat");
}
