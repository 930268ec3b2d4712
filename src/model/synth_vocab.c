/*
 * synth_vocab.c - the tokenizer of a synthetic model (bn_synth_tokenizer in synth.h).
 *
 * Merges are learned from the text below (ours, written for this purpose), then the vocabulary
 * is filled up with word-extending merges to the size asked (text/bpe_train.h); LLaMA-3's
 * special tokens follow, in its layout, so that ids such as <|eot_id|> sit where the 2B-4T
 * model has them when the shape is that model's.
 */
#include "model/synth.h"

#include "text/bpe_train.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char corpus[] =
    "A river does not hurry, yet it reaches the sea. Every morning the water that passed the "
    "old mill yesterday is somewhere further down the valley, and new water has taken its "
    "place. People who live near the river learn to read it: the colour after a storm, the "
    "sound it makes when the ice breaks in spring, the smell of mud in a dry summer. They say "
    "the river has a memory, but it is their own memory they are talking about.\n\n"
    "The town grew around the bridge. At first there was only a ford where the cattle crossed, "
    "then a wooden bridge that the floods took away twice, and in 1874 a stone bridge with "
    "three arches, which is still standing. The market moved to the square beside it, the "
    "school was built on the hill, and the railway arrived in 1902, bringing coal, letters and "
    "visitors from the city. Today the station has two platforms, a small cafe and a clock "
    "that runs four minutes fast; nobody has fixed it, because everyone knows.\n\n"
    "What makes a place worth returning to? Some would answer: the people. Others would name "
    "the light in the evening, when the sun drops behind the western hills and the windows "
    "of the houses turn gold for a few minutes. A child who grew up here and moved away "
    "might remember the bakery on the corner, where bread was sold until noon and the baker "
    "wrote the prices by hand on a board: 3 loaves for 2 pounds, 12 rolls for 1.50.\n\n"
    "Learning works much the same way. You don't understand a thing the first time you see "
    "it; you notice it, then you recognise it, and one day you find that you can explain it "
    "to someone else. Teachers know this, and good ones are patient. They ask questions "
    "rather than give answers, they let students make mistakes, and they remember that every "
    "expert was once a beginner who kept going. It's slow, but it's how understanding grows.\n\n"
    "Numbers tell part of the story. The river is 214 kilometres long, drops 680 metres from "
    "its source, and carries about 35 cubic metres of water each second past the bridge. "
    "In the dry summer of 2018 it fell to less than a third of that, and in the wet winter "
    "of 2020 it rose over the lowest arch. The numbers change; the river stays.\n";

static const char chat_template[] = /* microsoft/bitnet-b1.58-2B-4T's (bn_chat_detect: bitnet) */
    "{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = "
    "message['role'] | capitalize + ': '+ message['content'] | trim + '<|eot_id|>' %}{% if "
    "loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}{{ content }}{% "
    "endfor %}{% if add_generation_prompt %}{{ 'Assistant: ' }}{% endif %}";

/* LLaMA-3's k-th special token: named ones at 0, 1, 6, 7, 9 and reserved ones numbered in
 * order around them (facts §2.1). */
static void special_name(int k, char *buf, size_t size) {
    static const char *const named[10] = {
        [0] = "<|begin_of_text|>", [1] = "<|end_of_text|>", [6] = "<|start_header_id|>",
        [7] = "<|end_header_id|>", [9] = "<|eot_id|>",
    };
    if (k < 10 && named[k] != NULL) {
        snprintf(buf, size, "%s", named[k]);
        return;
    }
    int reserved = k < 6 ? k - 2 : k == 8 ? 4 : k - 5;
    snprintf(buf, size, "<|reserved_special_token_%d|>", reserved);
}

static bn_status add_specials(bn_tokenizer_spec *s, int32_t first) {
    int32_t n = s->n_tokens - first;
    if ((s->added = calloc((size_t)n, sizeof *s->added)) == NULL)
        return BN_ERROR(BN_ERR_OUT_OF_MEMORY, "synthetic vocabulary: special tokens");
    for (int32_t k = 0; k < n; k++) {
        char name[64];
        special_name(k, name, sizeof name);
        if ((s->tokens[first + k] = strdup(name)) == NULL)
            return BN_ERROR(BN_ERR_OUT_OF_MEMORY, "synthetic vocabulary: special tokens");
        s->types[first + k] = BN_TOKEN_CONTROL;
        s->added[s->n_added++] = (bn_tok_added){.id = first + k, .special = true};
    }
    s->bos_id = first;     /* <|begin_of_text|> */
    s->eos_id = first + 1; /* <|end_of_text|>, the 2B-4T config's eos */
    s->eot_id = first + 9; /* <|eot_id|> */
    s->prefix[s->n_prefix++] = s->bos_id;
    if ((s->chat_template = strdup(chat_template)) == NULL)
        return BN_ERROR(BN_ERR_OUT_OF_MEMORY, "synthetic vocabulary: chat template");
    bn_tokenizer_spec_find_eog(s);
    return BN_OK;
}

bn_status bn_synth_tokenizer(bn_tokenizer **out, int n_vocab, int n_special) {
    *out = NULL;
    if (n_special < 10 || n_vocab - n_special < 256)
        return BN_ERROR(BN_ERR_INVALID_ARG,
                        "synthetic vocabulary of %d tokens with %d special ones: want at least 10 "
                        "special tokens and 256 others (the bytes)",
                        n_vocab, n_special);
    bn_tokenizer_spec *s = calloc(1, sizeof *s);
    if (s == NULL)
        return BN_ERROR(BN_ERR_OUT_OF_MEMORY, "synthetic vocabulary");
    s->unk_id = s->bos_id = s->eos_id = s->eot_id = s->pad_id = -1;
    int32_t n_normal = n_vocab - n_special;
    bn_status st = bn_tokenizer_spec_alloc(s, n_vocab, "synthetic vocabulary");
    if (st == BN_OK)
        st = bn_bpe_train(s, n_normal, corpus, sizeof corpus - 1);
    if (st == BN_OK)
        st = add_specials(s, n_normal);
    if (st != BN_OK) {
        bn_tokenizer_spec_free(s);
        return st;
    }
    return bn_tokenizer_create(out, s); /* checks it as it would a file's, and takes s */
}
