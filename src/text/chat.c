/*
 * chat.c - the chat formats of chat.h, written out as the Jinja templates do it.
 */
#include "text/chat.h"
#include "text/utf8.h"

#include <string.h>

static const char *const names[] = {"unknown", "bitnet", "llama3", "chatml"};

bn_chat_format bn_chat_detect(const char *jinja) {
    if (jinja == NULL)
        return BN_CHAT_UNKNOWN;
    if (strstr(jinja, "<|start_header_id|>") != NULL)
        return BN_CHAT_LLAMA3;
    if (strstr(jinja, "<|im_start|>") != NULL)
        return BN_CHAT_CHATML;
    if (strstr(jinja, "capitalize") != NULL && strstr(jinja, "Assistant: ") != NULL)
        return BN_CHAT_BITNET; /* microsoft/bitnet-b1.58-2B-4T: Role: content<|eot_id|> */
    return BN_CHAT_UNKNOWN;
}

bn_status bn_chat_format_from_name(const char *name, bn_chat_format *out) {
    for (int i = 1; i < 4; i++)
        if (strcmp(name, names[i]) == 0) {
            *out = (bn_chat_format)i;
            return BN_OK;
        }
    return BN_ERROR(BN_ERR_INVALID_ARG, "chat template '%s': known ones are bitnet, llama3, chatml",
                    name);
}

const char *bn_chat_format_name(bn_chat_format f) {
    return (unsigned)f < 4 ? names[f] : names[0];
}

/* Python's str.isspace, which Jinja's trim filter (str.strip) uses: Unicode White_Space plus
 * the four information separators 1C..1F. */
static bool py_space(uint32_t c) {
    return bn_utf8_is_white_space(c) || (c >= 0x1C && c <= 0x1F);
}

/* The character starting at s[at] (U+FFFD for a byte that starts none), its length in *len. */
static uint32_t char_at(const uint8_t *s, size_t n, size_t at, size_t *len) {
    size_t k = bn_utf8_valid_len(s + at, n - at);
    if (k == 0) {
        *len = 1;
        return 0xFFFD;
    }
    return bn_utf8_decode(s + at, len);
}

static bn_status append_trimmed(bn_bytes *out, const char *text) {
    const uint8_t *s = (const uint8_t *)text;
    size_t n = strlen(text), start = 0, end = n, k;
    while (start < n && py_space(char_at(s, n, start, &k)))
        start += k;
    while (end > start) {
        size_t j = end - 1;
        while (j > start && (s[j] & 0xC0) == 0x80)
            j--;
        /* Bytes after the character at j are stray continuation bytes: each is a U+FFFD to
         * Python, which is not space, so trimming stops there. */
        if (!py_space(char_at(s, end, j, &k)) || j + k != end)
            break;
        end = j;
    }
    return bn_bytes_append(out, s + start, end - start);
}

/* Python's str.capitalize for ASCII roles: first letter upper case, the rest lower case. */
static bn_status append_capitalized(bn_bytes *out, const char *role) {
    for (size_t i = 0; role[i]; i++) {
        char c = role[i];
        if (i == 0 && c >= 'a' && c <= 'z')
            c = (char)(c - 'a' + 'A');
        else if (i > 0 && c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        BN_TRY(bn_bytes_append(out, &c, 1));
    }
    return BN_OK;
}

static bn_status put(bn_bytes *out, const char *s) {
    return bn_bytes_append(out, s, strlen(s));
}

/* The message's content, recording where it lands in out. */
static bn_status put_content(bn_bytes *out, const char *content, bool trim, bn_span *at) {
    size_t start = out->n;
    BN_TRY(trim ? append_trimmed(out, content) : put(out, content));
    if (at != NULL)
        *at = (bn_span){start, out->n};
    return BN_OK;
}

static bn_status render_message(bn_chat_format f, const bn_chat_message *m, bn_bytes *out,
                                bn_span *at) {
    switch (f) {
    case BN_CHAT_BITNET:
        BN_TRY(append_capitalized(out, m->role));
        BN_TRY(put(out, ": "));
        BN_TRY(put_content(out, m->content, true, at));
        return put(out, "<|eot_id|>");
    case BN_CHAT_LLAMA3:
        BN_TRY(put(out, "<|start_header_id|>"));
        BN_TRY(put(out, m->role));
        BN_TRY(put(out, "<|end_header_id|>\n\n"));
        BN_TRY(put_content(out, m->content, true, at));
        return put(out, "<|eot_id|>");
    case BN_CHAT_CHATML:
        BN_TRY(put(out, "<|im_start|>"));
        BN_TRY(put(out, m->role));
        BN_TRY(put(out, "\n"));
        BN_TRY(put_content(out, m->content, false, at));
        return put(out, "<|im_end|>\n");
    default:
        return BN_ERROR(BN_ERR_INVALID_ARG, "no chat format to render with");
    }
}

bn_status bn_chat_render(bn_chat_format f, const bn_chat_message *messages, size_t n,
                         bool add_generation_prompt, const char *bos, bn_bytes *out,
                         bn_span *contents) {
    static const char *const prompts[] = {
        NULL, "Assistant: ", "<|start_header_id|>assistant<|end_header_id|>\n\n",
        "<|im_start|>assistant\n"};
    if ((unsigned)f - 1 >= 3)
        return BN_ERROR(BN_ERR_INVALID_ARG, "no chat format to render with");
    for (size_t i = 0; i < n; i++) {
        if (messages[i].role == NULL || messages[i].content == NULL)
            return BN_ERROR(BN_ERR_INVALID_ARG, "chat message %zu has no role or content", i);
        if (i == 0 && f != BN_CHAT_CHATML && bos != NULL)
            BN_TRY(put(out, bos));
        BN_TRY(render_message(f, &messages[i], out, contents != NULL ? &contents[i] : NULL));
    }
    return add_generation_prompt ? put(out, prompts[f]) : BN_OK;
}
