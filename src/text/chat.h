/*
 * chat.h - chat templates: a conversation -> the prompt text a chat model was trained on.
 *
 * Models ship their template as Jinja (tokenizer_config.json or GGUF tokenizer.chat_template).
 * We do not run Jinja: we recognise which of the known formats a template is and render that
 * format in C, checked against Jinja's own rendering (tests/fixtures/tokenizer/chat.json).
 *   bitnet  <|begin_of_text|>System: ...<|eot_id|>User: ...<|eot_id|>Assistant:
 *   llama3  <|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\n...<|eot_id|>...
 *   chatml  <|im_start|>user\n...<|im_end|>\n...
 * The rendered text holds special tokens as text: encode it with BN_TOK_PARSE_SPECIAL and
 * without BN_TOK_ADD_SPECIAL (the template already put BOS first).
 */
#ifndef BN_TEXT_CHAT_H
#define BN_TEXT_CHAT_H

#include "text/tokenizer.h"

typedef enum bn_chat_format {
    BN_CHAT_UNKNOWN = 0,
    BN_CHAT_BITNET = 1,
    BN_CHAT_LLAMA3 = 2,
    BN_CHAT_CHATML = 3,
} bn_chat_format;

/* bn_chat_message {role, content} is the public API's (bitnet.h). */

/* Which known format a Jinja template renders; BN_CHAT_UNKNOWN when none (or NULL). */
bn_chat_format bn_chat_detect(const char *jinja);

/* "bitnet", "llama3", "chatml" -> format; BN_ERR_INVALID_ARG naming the choices otherwise. */
bn_status bn_chat_format_from_name(const char *name, bn_chat_format *out);
const char *bn_chat_format_name(bn_chat_format f);

/* Append the prompt text of messages[0..n) to out. bos is the text of the BOS token (used by
 * the formats that start with it). contents (NULL, or n spans) receives where each message's
 * content landed in out, for bn_tokenizer_encode_plain: the template's special tokens are text
 * to parse, what the user wrote is not. */
bn_status bn_chat_render(bn_chat_format f, const bn_chat_message *messages, size_t n,
                         bool add_generation_prompt, const char *bos, bn_bytes *out,
                         bn_span *contents);

#endif /* BN_TEXT_CHAT_H */
