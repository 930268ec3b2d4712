/*
 * bitnet.h - the public API of libbitnet, a C library for 1.58-bit (ternary) neural networks:
 * load a BitNet b1.58 model (GGUF, or a Hugging Face folder), tokenize, evaluate batches of
 * tokens from several sequences, sample, generate with stop strings, measure perplexity, and
 * convert or re-quantize model files. This is the only header the library installs.
 *
 * Conventions (as SQLite's):
 *   - Every function that can fail returns a bn_status; on failure bn_last_error() gives a
 *     message naming the file, tensor, field or argument at fault. Messages are per thread.
 *   - Handles (bn_model, bn_context, bn_sampler, bn_generator) are opaque. A NULL handle where
 *     one is needed gives BN_ERR_INVALID_ARG, never a crash.
 *   - Ownership: what a bn_*_create / bn_model_load returns is the caller's, freed with the
 *     matching bn_*_free (each accepts NULL). Strings the library allocates for the caller are
 *     freed with bn_free. Pointers into a model (token pieces, info strings) live as long as
 *     the model.
 *   - Lifetimes: a context holds a reference to its model: bn_model_free while contexts live
 *     drops the caller's handle and the last bn_context_free frees the weights (as SQLite's
 *     sqlite3_close_v2), so a context stays usable. A generator must be freed before its
 *     context. Using any handle after its own free is the caller's error (not detectable).
 *   - Threads: different objects may be used from different threads at once; a model is
 *     read-only after loading and may be shared by any number of contexts on any threads. One
 *     context (and its generators) takes one call at a time: a second thread calling
 *     bn_context_decode, _eval or _seq_truncate while a call runs is refused with
 *     BN_ERR_INVALID_ARG ("in use by another thread") rather than racing; bn_context_reset
 *     and bn_context_free are not checked, so serialize those yourself. The check covers one
 *     call: bn_perplexity and a generator make many, and another thread's calls on the same
 *     context in between are not detected (they would change what the sequence holds). A
 *     sampler is used by one thread at a time (unchecked). Each context has its own worker
 *     threads.
 *   - Stability: the numbered values of enums and the layout of the structs here only grow at
 *     their end; BN_VERSION_* follows semantic versioning, the shared library's soname its
 *     major version.
 */
#ifndef BITNET_H
#define BITNET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__) || defined(__clang__)
#define BN_API __attribute__((visibility("default")))
#else
#define BN_API
#endif

#define BN_VERSION_MAJOR 0
#define BN_VERSION_MINOR 3
#define BN_VERSION_PATCH 0

/* ---- status and errors -------------------------------------------------------------------- */

/* Status codes. Values are part of the ABI and never change; new codes are appended. */
typedef enum bn_status {
    BN_OK = 0,
    BN_ERR_INVALID_ARG = 1,   /* a caller passed a bad argument (a NULL handle, a bad size) */
    BN_ERR_OUT_OF_MEMORY = 2, /* an allocation failed */
    BN_ERR_IO = 3,            /* open/read/write/mmap failed (errno kept in the message) */
    BN_ERR_FORMAT = 4,        /* a file or request is malformed */
    BN_ERR_UNSUPPORTED = 5,   /* valid, but not supported by this build or machine */
    BN_ERR_SHAPE = 6,         /* tensor shapes do not fit together */
    BN_ERR_DTYPE = 7,         /* unknown or wrong data type */
    BN_ERR_NOT_FOUND = 8,     /* a named key, tensor or file is missing */
    BN_ERR_RANGE = 9,         /* a value is outside its allowed range (a token id, a position) */
    BN_ERR_CUDA = 10,         /* a CUDA runtime call failed */
    BN_ERR_THREAD = 11,       /* creating or joining a thread failed */
    BN_ERR_INTERNAL = 12,     /* an invariant of the library broke: a bug */
    BN_STATUS_COUNT
} bn_status;

/* Fixed English text of a status code ("out of memory"); never NULL. */
BN_API const char *bn_status_str(bn_status status);

/* Message of the last error raised on this thread, or "" when none. Valid until the next call
 * into the library on this thread. */
BN_API const char *bn_last_error(void);

/* Forget the last error of this thread. */
BN_API void bn_clear_error(void);

/* Version string, e.g. "0.2.0" (BN_VERSION_* of the library actually loaded). */
BN_API const char *bn_version(void);

/* Free memory the library allocated for the caller (bn_chat_apply's text). NULL is a no-op. */
BN_API void bn_free(void *p);

/* ---- models -------------------------------------------------------------------------------- */

typedef struct bn_model bn_model;

typedef enum bn_device {
    BN_DEVICE_CPU = 0,
    BN_DEVICE_CUDA = 1, /* an NVIDIA GPU (device_index): the whole forward pass there */
    BN_DEVICE_AUTO = 2, /* CUDA when this build has it and a usable GPU and driver exist, else
                           the CPU (saying why in one info line) */
} bn_device;

typedef struct bn_model_params {
    bn_device device;
    int n_threads;             /* threads for loading (repacking the layers); 0 = one per CPU the
                                  process may use (affinity mask and cgroup quota) */
    const char *cpu_kernels;   /* NULL or "" = the best this CPU runs; "scalar", "avx2",
                                  "avx512" or "neon" to choose (BN_ERR_UNSUPPORTED if the CPU
                                  lacks it) */
    const char *head_type;     /* NULL or "" = the head as the file stores it; "q8_0", "q6_k"
                                  or "q4_k" = a head the int8 kernels run: a float head (f16,
                                  bf16, f32, or a type without an int8 kernel) is re-encoded
                                  once at load (q8_0: half the bytes per generated token of
                                  f16, about 0.5% error in the logits; q6_k and q4_k leaner
                                  still, for hidden sizes that are multiples of 256, q8_0
                                  otherwise); q8_0, q6_k and q4_k heads, and hidden sizes not a
                                  multiple of 32, stay as they are */
    const char *weight_layout; /* NULL, "" or "auto" = the faster runtime layout of the ternary
                                  layers for the kernel path: "t5" (1.6 bits a weight, 20%
                                  fewer bytes per token) on avx512, "i2" (2 bits) elsewhere;
                                  "i2" or "t5" to choose (t5: avx512 and scalar paths only,
                                  BN_ERR_UNSUPPORTED elsewhere). Logits are identical. */
    int device_index;          /* the GPU of BN_DEVICE_CUDA / _AUTO: 0 = the first */
} bn_model_params;

/* device CPU, all CPUs, the best kernels, the file's head, the faster weight layout. */
BN_API bn_model_params bn_model_default_params(void);

/* Load a GGUF file (architecture bitnet, bitnet-b1.58 or bitnet-25) or a Hugging Face BitNet
 * folder (converted in memory). params NULL means the defaults. Errors: BN_ERR_IO, _FORMAT,
 * _UNSUPPORTED, _NOT_FOUND, _SHAPE, _DTYPE, naming the file and the tensor or key at fault.
 * *out is NULL on failure. */
BN_API bn_status bn_model_load(bn_model **out, const char *path, const bn_model_params *params);

/* Release the caller's handle; NULL is a no-op. The weights are freed now, or with the last
 * context made from the model when some are still alive. */
BN_API void bn_model_free(bn_model *model);

/* What a model is. Strings point into the model. */
typedef struct bn_model_info {
    const char *name;        /* general.name, or the file's */
    const char *arch;        /* "bitnet" */
    const char *linear_type; /* the ternary layers' file type: "tq2_0", "tq1_0", "i2_s", ... */
    const char *embed_type;  /* "f16", "q8_0", "q6_k", ... */
    const char *head_type;   /* the head as it runs (after params.head_type) */
    const char *activation;  /* "relu2", "silu", "relu" */
    const char *chat_format; /* "bitnet", "llama3", "chatml" or "" (no known template) */
    int32_t n_vocab;         /* rows of the embeddings and the head: the logits' length */
    int32_t n_tokens;        /* tokens the tokenizer has (<= n_vocab: embeddings may be padded); the
                                rows past it are never worth sampling */
    int32_t dim, n_layers, n_heads, n_kv_heads, head_dim, ffn_dim, n_ctx_train;
    float rope_theta, norm_eps;
    bool tied_embeddings;
    int32_t bos, eos, eot;     /* token ids, -1 when the tokenizer has none */
    int64_t n_params;          /* every weight of the model */
    size_t bytes_per_token;    /* weight bytes one generated token reads */
    const char *weight_layout; /* the ternary layers' runtime layout: "i2v64", "t5v64", ... */
    const char *device;        /* where the model runs: "cpu" or "cuda" */
} bn_model_info;

BN_API bn_status bn_model_get_info(const bn_model *model, bn_model_info *out);

/* ---- vocabulary ---------------------------------------------------------------------------- */

enum {
    BN_TOKENIZE_ADD_SPECIAL = 1u << 0,   /* the tokenizer's BOS/EOS around the text */
    BN_TOKENIZE_PARSE_SPECIAL = 1u << 1, /* "<|eot_id|>" in the text is that token */
};

/* Token ids of text[0..len) (len bytes; invalid UTF-8 is replaced as Hugging Face tokenizers
 * would see it). Writes at most cap ids; *n_tokens gets the count the text needs, so a call
 * with cap 0 measures and BN_ERR_RANGE means "cap too small" with *n_tokens set. */
BN_API bn_status bn_tokenize(const bn_model *model, const char *text, size_t len, unsigned flags,
                             int32_t *tokens, int32_t cap, int32_t *n_tokens);

enum {
    BN_DETOKENIZE_SKIP_SPECIAL = 1u << 0, /* leave out BOS, EOS and other control tokens */
};

/* The text of tokens[0..n) (bytes, which may end inside a UTF-8 character). Writes at most cap
 * bytes and a terminating NUL when there is room; *len gets the length the text needs (without
 * the NUL), BN_ERR_RANGE when cap is too small. BN_ERR_RANGE also for an id outside the
 * vocabulary, naming it. */
BN_API bn_status bn_detokenize(const bn_model *model, const int32_t *tokens, int32_t n,
                               unsigned flags, char *text, size_t cap, size_t *len);

/* The bytes token id stands for (not NUL-terminated; *len bytes), or NULL for an id out of
 * range. */
BN_API const char *bn_token_piece(const bn_model *model, int32_t id, size_t *len);

/* A token that ends generation (eos, eot and their kin), and a special (control) token. */
BN_API bool bn_token_is_eog(const bn_model *model, int32_t id);
BN_API bool bn_token_is_special(const bn_model *model, int32_t id);

typedef struct bn_chat_message {
    const char *role; /* "system", "user", "assistant" */
    const char *content;
} bn_chat_message;

/* The prompt text of a conversation in the model's chat format (or format: "bitnet", "llama3",
 * "chatml"), ending with the assistant's turn opened when add_assistant. *out is a
 * NUL-terminated string for bn_free, *len its length. Tokenize it with
 * BN_TOKENIZE_PARSE_SPECIAL and without BN_TOKENIZE_ADD_SPECIAL. BN_ERR_NOT_FOUND when the
 * model has no template the library knows and format is NULL. */
BN_API bn_status bn_chat_apply(const bn_model *model, const char *format,
                               const bn_chat_message *messages, size_t n, bool add_assistant,
                               char **out, size_t *len);

/* The token ids of a conversation, rendered as bn_chat_apply does and tokenized so that only
 * the template's own markers are special tokens: what the messages contain is text
 * ("<|eot_id|>" typed into a message stays those characters) unless flags has
 * BN_TOKENIZE_PARSE_SPECIAL. Buffer and count as bn_tokenize. In both chat calls, invalid
 * UTF-8 in a message is replaced by U+FFFD, as bn_tokenize reads text. */
BN_API bn_status bn_chat_tokenize(const bn_model *model, const char *format,
                                  const bn_chat_message *messages, size_t n, bool add_assistant,
                                  unsigned flags, int32_t *tokens, int32_t cap, int32_t *n_tokens);

/* ---- contexts: the KV cache, and evaluation ------------------------------------------------ */

typedef struct bn_context bn_context;

typedef enum bn_kv_type {
    BN_KV_F16 = 0, /* half the memory (generation's default) */
    BN_KV_F32 = 1, /* exact */
} bn_kv_type;

typedef struct bn_context_params {
    int n_ctx;     /* positions each sequence may hold; 0 = the model's, at most 4096. A
                      context that cannot fit in the memory available is refused
                      (BN_ERR_OUT_OF_MEMORY) with the size that would */
    int n_seq_max; /* sequences the context holds at once (0 = 1), ids 0..n_seq_max-1, each
                      with its own n_ctx positions; memory is taken as positions are used */
    int n_threads; /* worker threads of this context; 0 = one per CPU the process may use */
    bn_kv_type kv_type;
    bool float_head; /* the head's rows decoded to float32 and dotted in float32 (exact, for
                        comparisons) instead of its int8 kernels (q8_0, q6_k, q4_k heads) */
} bn_context_params;

/* n_ctx 0, one sequence, all CPUs, f16 cache, the head's own kernels. */
BN_API bn_context_params bn_context_default_params(void);

BN_API bn_status bn_context_create(bn_context **out, const bn_model *model,
                                   const bn_context_params *params);
BN_API void bn_context_free(bn_context *ctx);

BN_API const bn_model *bn_context_model(const bn_context *ctx);
BN_API int bn_context_n_ctx(const bn_context *ctx);
BN_API int bn_context_n_seq_max(const bn_context *ctx);

/* A batch: n tokens, each of a sequence (seq[i]) at a position (pos[i]). Within a sequence the
 * positions must continue what the cache holds, in order: a sequence holding p positions takes
 * its batch tokens at p, p + 1, ... (tokens of several sequences may interleave). logits[i]
 * nonzero asks for token i's logits. seq NULL means every token is sequence 0's; pos NULL
 * means each token takes the next position of its own sequence (continuing what the cache
 * holds, in batch order); logits NULL asks for the last token's logits only. */
typedef struct bn_batch {
    int32_t n;
    const int32_t *tokens;
    const int32_t *pos;
    const int32_t *seq;
    const int8_t *logits;
} bn_batch;

/* Evaluate a batch: each token attends to its own sequence's cache only, so a sequence's
 * logits do not depend on what else is in the batch (they are bit for bit those of the
 * sequence evaluated alone). logits receives n_vocab floats per requested token, in batch
 * order. Everything is checked first (ids in the vocabulary, sequences in range, positions
 * continuing each sequence, room in each sequence); any failure leaves the cache as it was
 * (BN_ERR_RANGE / BN_ERR_INVALID_ARG naming the token). Non-finite activations stop the pass
 * with BN_ERR_RANGE naming the layer. */
BN_API bn_status bn_context_decode(bn_context *ctx, const bn_batch *batch, float *logits);

/* Sequence 0 shorthand: evaluate tokens[0..n) after what it holds; logits receives the last
 * token's row, or every token's with all. */
BN_API bn_status bn_context_eval(bn_context *ctx, const int32_t *tokens, int n, float *logits,
                                 bool all);

/* Positions sequence seq holds; -1 for a sequence out of range. */
BN_API int bn_context_seq_len(const bn_context *ctx, int seq);

/* Keep only the first n positions of sequence seq (0: empty it). BN_ERR_RANGE when n is more
 * than it holds. */
BN_API bn_status bn_context_seq_truncate(bn_context *ctx, int seq, int n);

/* Empty every sequence. */
BN_API void bn_context_reset(bn_context *ctx);

/* ---- sampling ------------------------------------------------------------------------------ */

typedef struct bn_sampler bn_sampler;

/* Applied in this order (transformers' logits processors): penalties over the history
 * window, then temperature, top-k, top-p, min-p, and a seeded draw. temperature 0 is greedy. */
typedef struct bn_sampler_params {
    float temperature;       /* >= 0, finite; 0 = greedy (argmax, lowest id on ties) */
    int top_k;               /* >= 0; 0 = off */
    float top_p;             /* (0, 1]; 1 = off */
    float min_p;             /* [0, 1]; 0 = off */
    float repeat_penalty;    /* > 0, finite; 1 = off */
    int repeat_last_n;       /* history window in tokens: >= 1, 0 = no history (all penalties
                                off), -1 = every token accepted since create/reset */
    float frequency_penalty; /* finite; 0 = off (OpenAI uses [-2, 2]) */
    float presence_penalty;  /* finite; 0 = off (OpenAI uses [-2, 2]) */
    uint64_t seed;           /* seeds the generator at create and at every reset */
} bn_sampler_params;

/* temperature 0.8, top_k 40, top_p 0.95, min_p 0.05, repeat_penalty 1, repeat_last_n 64,
 * frequency and presence 0, seed 0xB17E7. */
BN_API bn_sampler_params bn_sampler_default_params(void);

/* BN_ERR_INVALID_ARG naming the first bad field, its value and the allowed range. */
BN_API bn_status bn_sampler_params_check(const bn_sampler_params *p);

/* A sampler for n_vocab tokens; p NULL means the defaults. Allocates everything once. */
BN_API bn_status bn_sampler_create(bn_sampler **out, int32_t n_vocab, const bn_sampler_params *p);
BN_API void bn_sampler_free(bn_sampler *s);

/* Forget the history and reseed: the sampler behaves as a new one. */
BN_API void bn_sampler_reset(bn_sampler *s);

/* Add token to the penalty history. */
BN_API void bn_sampler_accept(bn_sampler *s, int32_t token);

/* The next token for logits[n_vocab] (modified in place by the penalties). Does not accept it.
 * -1 when s or logits is NULL. */
BN_API int32_t bn_sampler_sample(bn_sampler *s, float *logits);

/* ---- generation ---------------------------------------------------------------------------- */

/* Why generation ended. */
typedef enum bn_stop_reason {
    BN_STOP_NONE = 0,     /* it has not ended */
    BN_STOP_LIMIT = 1,    /* n_predict tokens were made */
    BN_STOP_EOG = 2,      /* the model chose an end-of-generation token */
    BN_STOP_STRING = 3,   /* the text reached a stop string */
    BN_STOP_FULL = 4,     /* the sequence filled the context */
    BN_STOP_CALLBACK = 5, /* the caller's callback asked to stop */
} bn_stop_reason;

typedef struct bn_generate_params {
    int n_predict;           /* tokens to make at most; -1 = until the context is full */
    const char *const *stop; /* n_stop stop strings: the text ends before the first one seen
                                (not included); copied at create */
    int n_stop;
    bool ignore_eos;   /* never sample end-of-generation tokens */
    int seq;           /* the sequence to continue (0 for most uses) */
    bool defer_prompt; /* create only copies the prompt: bn_generator_step_batch evaluates it
                          in chunks beside other sequences' tokens (continuous batching) */
    bool logprobs;     /* keep each sampled token's log-probability (bn_generator_logprobs) */
    int top_logprobs;  /* ... and the 0..20 most likely tokens' */
} bn_generate_params;

/* n_predict 128, no stop strings, seq 0. */
BN_API bn_generate_params bn_generate_default_params(void);

typedef struct bn_generate_result {
    int n_prompt;    /* prompt tokens evaluated */
    int n_generated; /* tokens sampled (an end-of-generation token counts) */
    bn_stop_reason reason;
    double prompt_seconds;   /* evaluating the prompt */
    double generate_seconds; /* sampling and evaluating the rest */
} bn_generate_result;

typedef struct bn_generator bn_generator;

/* Start generating in sequence p->seq: the prompt is evaluated after what the sequence holds
 * (so a conversation can append its new turn), then each bn_generator_next samples a token
 * (accepted into the sampler's history), evaluates it and returns the new text. The text is
 * final: a UTF-8 character cut by a token boundary, or the start of a possible stop string, is
 * held back until it is decided. The sampler is not reset; it may be made for n_tokens or
 * n_vocab (bn_model_info) but no more (BN_ERR_INVALID_ARG): rows past the tokenizer's tokens
 * are never sampled. */
BN_API bn_status bn_generator_create(bn_generator **out, bn_context *ctx, bn_sampler *sampler,
                                     const int32_t *prompt, int n_prompt,
                                     const bn_generate_params *p);

/* The next piece of text: *text (valid until the next call) and *len, possibly empty; *done
 * true when generation has ended (the piece is then the last). The token sampled is in
 * *token (-1 when none was). */
BN_API bn_status bn_generator_next(bn_generator *g, const char **text, size_t *len, int32_t *token,
                                   bool *done);

/* What one generator made in a batched step. */
typedef struct bn_generator_piece {
    const char *text; /* valid until the generator's next step; "" when none */
    size_t len;
    int32_t token;    /* the token sampled, -1 when none was (its prompt is still going in) */
    bool done;        /* generation ended (the piece is then the last) */
    bn_status status; /* BN_OK, or what ended this generator (it is then done) */
} bn_generator_piece;

/*
 * Advance n generators of the same context, each on its own sequence, in one batched forward
 * pass: each contributes the token it sampled last, or (made with defer_prompt) the next chunk
 * of its prompt, at most prompt_chunk tokens of prompts in all per step (> 0; prompts share it
 * in order, so running sequences keep streaming while a long prompt goes in). Then each
 * generator that has logits samples its next token, exactly as bn_generator_next would:
 * out[i] gets generator i's piece. Generators that are done are skipped (their piece says
 * done). A generator's sequence gets the same tokens and logits as when it runs alone.
 * BN_ERR_INVALID_ARG for NULL, generators of different contexts, two on one sequence, or
 * prompt_chunk < 1; an error of the pass itself ends every generator in it (each piece's
 * status says so) and is returned. out (n pieces) is the caller's; the generators and the
 * samplers stay the caller's. One thread at a time on the context, as for every call on it
 * (a second thread's call is refused by the context's busy flag); the other generators of
 * the context must not be used meanwhile.
 */
BN_API bn_status bn_generator_step_batch(bn_generator *const *gens, int n, int prompt_chunk,
                                         bn_generator_piece *out);

/* The log-probability of the token sampled last under the model's distribution (the log-softmax
 * of its logits, before temperature and penalties; tokens the generator never samples, such as
 * the embeddings' padding or EOG with ignore_eos, excluded), and the top_logprobs most likely
 * tokens with theirs, most likely first (ids and values valid until the next step). BN_ERR_
 * INVALID_ARG when the generator was made without logprobs or has sampled nothing yet. */
BN_API bn_status bn_generator_logprobs(const bn_generator *g, float *logprob, int *n_top,
                                       const int32_t **top_ids, const float **top_logprobs);

BN_API void bn_generator_result(const bn_generator *g, bn_generate_result *out);
BN_API void bn_generator_free(bn_generator *g);

/* Called with each piece of text (len may be 0) and the token that made it; return false to
 * stop (BN_STOP_CALLBACK). */
typedef bool (*bn_text_fn)(void *user, const char *text, size_t len, int32_t token);

/* The whole loop: create, next until done, free. result may be NULL. */
BN_API bn_status bn_generate(bn_context *ctx, bn_sampler *sampler, const int32_t *prompt,
                             int n_prompt, const bn_generate_params *p, bn_text_fn on_text,
                             void *user, bn_generate_result *result);

/* ---- perplexity ---------------------------------------------------------------------------- */

typedef struct bn_perplexity_result {
    double ppl, ppl_err;        /* exp(mean NLL) and its standard error carried through exp */
    double mean_nll, nll_err;   /* nats per scored token, and its standard error */
    int64_t n_tokens, n_scored; /* tokens of the text (BOS included), tokens scored so far */
    int n_windows;              /* windows scored so far */
    int n_windows_total;        /* windows the run scores in all */
} bn_perplexity_result;

/* Called after each window with the running result; return false to stop early. */
typedef bool (*bn_perplexity_fn)(void *user, const bn_perplexity_result *running);

/* Perplexity of text as llama.cpp's perplexity tool computes it: tokenized once with BOS,
 * non-overlapping windows of window tokens (<= the context's n_ctx), each from an empty
 * sequence 0 with BOS first, the second half of each scored. max_windows 0 = all that fit.
 * BN_ERR_RANGE when the text has fewer than 2 * window tokens. */
BN_API bn_status bn_perplexity(bn_context *ctx, const char *text, size_t len, int window,
                               int max_windows, bn_perplexity_fn on_window, void *user,
                               bn_perplexity_result *out);

/* ---- model files --------------------------------------------------------------------------- */

/* Called as tensors are written: done of total, the tensor's name. */
typedef void (*bn_progress_fn)(void *user, int64_t done, int64_t total, const char *name);

typedef struct bn_convert_params {
    const char *type;       /* linear layers: "tq2_0" (NULL), "tq1_0", "i2_s", "f16", "bf16",
                               "f32" */
    const char *embed_type; /* embeddings (and a tied head): "f16" (NULL), "bf16", "q8_0",
                               "q6_k", "q4_k", "f32", ... */
    const char *head_type;  /* an untied head: NULL = the checkpoint's own float type */
    bn_progress_fn progress;
    void *user;
} bn_convert_params;

/* A Hugging Face BitNet folder to a GGUF file (written whole or not at all; an output that is
 * one of the inputs is refused). p NULL means the defaults. */
BN_API bn_status bn_convert(const char *hf_dir, const char *out_gguf, const bn_convert_params *p);

/* A GGUF model re-encoded: linear layers in p->type (NULL: as they are), embeddings and head
 * in their types (NULL: as they are). */
BN_API bn_status bn_quantize(const char *in_gguf, const char *out_gguf, const bn_convert_params *p);

#ifdef __cplusplus
}
#endif

#endif /* BITNET_H */
