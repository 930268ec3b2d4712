/* cli.h - what the subcommands of the `bitnet` binary share. */
#ifndef BN_CLI_H
#define BN_CLI_H

#include "bitnet.h"

#include <signal.h>
#include <stdbool.h>

/* One subcommand: argv[0] is the subcommand's name. Returns the process exit code. */
typedef int (*bn_cli_fn)(int argc, char **argv);

int bn_cmd_sysinfo(int argc, char **argv);
int bn_cmd_serve(int argc, char **argv);
int bn_cmd_selftest(int argc, char **argv);
int bn_cmd_info(int argc, char **argv);
int bn_cmd_convert(int argc, char **argv);
int bn_cmd_quantize(int argc, char **argv);
int bn_cmd_synth(int argc, char **argv);
int bn_cmd_bench(int argc, char **argv);
int bn_cmd_tokenize(int argc, char **argv);
int bn_cmd_run(int argc, char **argv);
int bn_cmd_chat(int argc, char **argv);
int bn_cmd_logits(int argc, char **argv);
int bn_cmd_perplexity(int argc, char **argv);
int bn_bench_tokenizer(int argc, char **argv); /* bitnet bench tokenizer */
int bn_bench_model(int argc, char **argv);     /* bitnet bench model (argv[0] = "model") */
int bn_bench_train(int argc, char **argv);     /* bitnet bench train (argv[0] = "train") */

/* Training's float GEMMs want OpenBLAS's AVX-512 kernels, which Debian's OpenBLAS does not pick
 * on AMD Zen 4/5: re-execute the process (argv: the subcommand's, NULL-terminated) once with
 * OPENBLAS_CORETYPE=SkylakeX when that is the case. Returns only when nothing was done. */
void bn_cli_choose_blas_core(char **argv);
int bn_cmd_detokenize(int argc, char **argv);
int bn_cmd_tokenize_data(int argc, char **argv);
int bn_cmd_train_tokenizer(int argc, char **argv);
int bn_cmd_train(int argc, char **argv);
int bn_cmd_export(int argc, char **argv);
int bn_cmd_plot(int argc, char **argv);

/* SIGINT and SIGTERM remove the temporary files of outputs being written and end the process.
 * bn_cli_catch_interrupt(true, ...) makes the first SIGINT only set bn_cli_interrupted (a
 * second one still ends the process): generation checks it and stops. restart = false lets a
 * SIGINT interrupt a blocking read (chat's prompt) instead of resuming it. Every call clears
 * bn_cli_interrupted. */
extern volatile sig_atomic_t bn_cli_interrupted;
void bn_cli_catch_interrupt(bool catch, bool restart);

/* Print "bitnet: error: <message>" (from bn_last_error) and return 1. */
int bn_cli_fail(bn_status status);

/* Print "bitnet <cmd>: <message>" for a usage error and return 2. */
int bn_cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Print a JSON document (indented) on stdout and delete it. Returns 0, or 1 with a message when
 * printing ran out of memory. */
struct cJSON;
int bn_cli_print_json(struct cJSON *root);

/* Text that came from a file (a model's name, a tensor's, a tokenizer's strings), for JSON:
 * a string item in which invalid UTF-8 became U+FFFD, so that the document stays valid JSON
 * (cJSON escapes control characters); NULL when out of memory. _add_ puts it under key. */
struct cJSON *bn_cli_json_text(const char *s);
void bn_cli_json_add_text(struct cJSON *o, const char *key, const char *s);

/* Text from a file, for printing on stdout: on a terminal, control characters (C0, DEL, C1) are
 * shown as \xNN, so that a file cannot move the cursor or reprogram the terminal; elsewhere s
 * itself. The result lives until eight more calls (for several arguments of one printf). */
const char *bn_cli_shown(const char *s);

/* The bytes of FILE ('-' for stdin), appended to text. Returns 0, or 1 after printing the
 * error. */
typedef struct bn_bytes bn_bytes;
int bn_cli_read_input(const char *file, bn_bytes *text);

/* The model `run` and `chat` use without -m: $BITNET_MODEL, else default.gguf in the share
 * folder beside an installed binary (PREFIX/share/bitnet), else models/default.gguf of the
 * source tree a built binary sits in (build/bin/bitnet). NULL, with the places tried written
 * into tried, when none exists. The result lives until the next call. */
const char *bn_cli_default_model(char *tried, size_t tried_size);

/* Append the ids of text (bn_tokenize's flags) to ids, through the public API. */
typedef struct bn_tokens bn_tokens;
bn_status bn_cli_tokenize(const bn_model *m, const char *text, size_t len, unsigned flags,
                          bn_tokens *ids);

/* Whether argv[i] is -h or --help. */
bool bn_cli_is_help(const char *arg);

/* A whole decimal integer in [min, max] into *out; false (and *out untouched) on anything else:
 * empty text, trailing characters, overflow, out of range. */
bool bn_cli_parse_int(const char *s, long min, long max, int *out);

/* The -t/--threads option shared by subcommands. If argv[*i] is -t or --threads, reads its
 * value (1..BN_MAX_THREADS, what a thread pool runs) into *threads, advances *i past it and returns
 * BN_CLI_TAKEN; on a missing or bad value prints a usage error and returns BN_CLI_BAD. Otherwise
 * returns BN_CLI_NOT_MINE. */
typedef enum bn_cli_opt { BN_CLI_NOT_MINE = 0, BN_CLI_TAKEN = 1, BN_CLI_BAD = 2 } bn_cli_opt;
bn_cli_opt bn_cli_threads_option(const char *cmd, int argc, char **argv, int *i, int *threads);

#endif /* BN_CLI_H */
