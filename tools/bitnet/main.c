/*
 * main.c - the `bitnet` command: dispatches to one file per subcommand.
 */
#include "cli.h"

#include "base/log.h"
#include "base/status.h"
#include "base/threadpool.h"
#include "io/outfile.h"
#include "text/tokenizer.h"
#include "text/utf8.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct command {
    const char *name;
    bn_cli_fn fn;
    const char *summary;
} command;

static const command commands[] = {
    {"sysinfo", bn_cmd_sysinfo, "CPU model and features, kernel path, threads, CUDA devices"},
    {"selftest", bn_cmd_selftest, "check every fast kernel path against its scalar reference"},
    {"info", bn_cmd_info, "architecture, tokenizer and tensor table of a GGUF file or HF folder"},
    {"convert", bn_cmd_convert, "Hugging Face BitNet folder -> GGUF (tq2_0, tq1_0, i2_s, ...)"},
    {"quantize", bn_cmd_quantize, "re-encode the linear layers of a GGUF in another type"},
    {"synth", bn_cmd_synth, "a GGUF model with random weights and a real shape, for benchmarks"},
    {"run", bn_cmd_run, "generate text from a prompt (streams to stdout)"},
    {"chat", bn_cmd_chat, "talk with a chat model: lines of stdin in, replies out"},
    {"logits", bn_cmd_logits, "write a prompt's logits as a NumPy .npy file"},
    {"perplexity", bn_cmd_perplexity, "perplexity over a text file, in windows (as llama.cpp)"},
    {"tokenize", bn_cmd_tokenize, "text -> token ids and pieces, with a model's tokenizer"},
    {"detokenize", bn_cmd_detokenize, "token ids -> text"},
    {"tokenize-data", bn_cmd_tokenize_data, "text files -> token files for training + validation"},
    {"train-tokenizer", bn_cmd_train_tokenizer, "learn a byte-level BPE tokenizer from text files"},
    {"train", bn_cmd_train, "train a BitNet b1.58 model (QAT) from a JSON config"},
    {"plot", bn_cmd_plot, "draw the loss curves of training logs as an SVG file"},
    {"export", bn_cmd_export, "a trained checkpoint -> GGUF or a Hugging Face folder"},
    {"bench", bn_cmd_bench, "benchmarks: model (pp/tg tokens/s), kernels, tokenizer, train"},
    {"serve", bn_cmd_serve, "an OpenAI-compatible HTTP server with continuous batching"},
};

static int read_all(FILE *f, const char *name, bn_bytes *out) {
    char buf[65536];
    size_t got;
    while ((got = fread(buf, 1, sizeof buf, f)) > 0)
        if (bn_bytes_append(out, buf, got) != BN_OK)
            return bn_cli_fail(BN_ERR_OUT_OF_MEMORY);
    if (ferror(f)) {
        fprintf(stderr, "bitnet: error: %s: read failed: %s\n", name, strerror(errno));
        return 1;
    }
    return 0;
}

int bn_cli_read_input(const char *file, bn_bytes *text) {
    if (strcmp(file, "-") == 0)
        return read_all(stdin, "stdin", text);
    FILE *f = fopen(file, "rb");
    if (f == NULL) {
        fprintf(stderr, "bitnet: error: %s: cannot open: %s\n", file, strerror(errno));
        return 1;
    }
    int rc = read_all(f, file, text);
    fclose(f);
    return rc;
}

static void print_help(FILE *out) {
    fprintf(out, "bitnet %s - 1.58-bit (ternary) neural networks\n\n", bn_version());
    fprintf(out,
            "usage: bitnet <command> [options]    (bitnet <command> --help for its options)\n\n");
    fprintf(out, "commands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(out, "  %-15s %s\n", commands[i].name, commands[i].summary);
    fprintf(out, "\noptions:\n  --version  print the version\n  --help     print this help\n");
    fprintf(out, "\nenvironment:\n"
                 "  BITNET_LOG=error|warn|info|debug   log level on stderr (default warn)\n"
                 "  BITNET_CPU=scalar|avx2|avx512|neon cap the CPU kernel path\n"
                 "  BITNET_MODEL=PATH                  the model of run and chat without -m\n"
                 "                                     (default: the shipped default.gguf)\n");
}

/* s with control characters shown as \\xNN when fd is a terminal (bn_cli_shown). */
static const char *shown_on(int fd, const char *s) {
    static int tty[3] = {-1, -1, -1};
    static char bufs[8][BN_ERROR_MAX];
    static int next;
    if (tty[fd] < 0)
        tty[fd] = isatty(fd);
    if (!tty[fd])
        return s;
    char *b = bufs[next++ % 8];
    size_t k = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p && k + 5 < sizeof bufs[0]; p++) {
        /* C0, DEL, and C1 (U+0080..U+009F, which UTF-8 writes as C2 80..C2 9F) */
        bool c1 = p[0] == 0xC2 && p[1] >= 0x80 && p[1] <= 0x9F;
        if (*p < 0x20 || *p == 0x7F || c1) {
            k += (size_t)snprintf(b + k, sizeof bufs[0] - k, "\\x%02x", c1 ? p[1] : p[0]);
            p += c1;
        } else {
            b[k++] = (char)*p;
        }
    }
    b[k] = '\0';
    return b;
}

/* Error messages name what came from files (tensor names, keys, a model's architecture), so on
 * a terminal they are escaped like stdout's file text. */
int bn_cli_fail(bn_status status) {
    const char *msg = bn_last_error();
    fprintf(stderr, "bitnet: error: %s\n",
            msg[0] ? shown_on(STDERR_FILENO, msg) : bn_status_str(status));
    return 1;
}

int bn_cli_usage_error(const char *cmd, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "bitnet %s: ", cmd);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, " (see bitnet %s --help)\n", cmd);
    va_end(ap);
    return 2;
}

int bn_cli_print_json(struct cJSON *root) {
    char *text = cJSON_Print(root);
    cJSON_Delete(root);
    if (text == NULL) {
        fprintf(stderr, "bitnet: error: out of memory printing JSON\n");
        return 1;
    }
    puts(text);
    cJSON_free(text);
    return 0;
}

cJSON *bn_cli_json_text(const char *s) {
    size_t n = strlen(s);
    uint8_t *clean = malloc(3 * n + 1);
    if (clean == NULL)
        return NULL;
    clean[bn_utf8_sanitize((const uint8_t *)s, n, clean)] = '\0';
    cJSON *item = cJSON_CreateString((const char *)clean);
    free(clean);
    return item;
}

void bn_cli_json_add_text(cJSON *o, const char *key, const char *s) {
    cJSON *item = bn_cli_json_text(s);
    if (item != NULL)
        cJSON_AddItemToObject(o, key, item);
}

const char *bn_cli_shown(const char *s) {
    return shown_on(STDOUT_FILENO, s);
}
bool bn_cli_parse_int(const char *s, long min, long max, int *out) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (end == s || *end != '\0' || errno != 0 || v < min || v > max)
        return false;
    *out = (int)v;
    return true;
}

const char *bn_cli_default_model(char *tried, size_t tried_size) {
    static char path[4200];
    tried[0] = '\0';
    const char *env = getenv("BITNET_MODEL");
    if (env != NULL && env[0] != '\0') {
        snprintf(path, sizeof path, "%s", env);
        return path; /* named by the user: missing or not, it is the one */
    }
    char exe[4096];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0)
        return NULL;
    exe[n] = '\0';
    char *slash = strrchr(exe, '/');
    if (slash == NULL)
        return NULL;
    *slash = '\0'; /* the binary's folder */
    static const char *const places[] = {"../share/bitnet/default.gguf",
                                         "../../models/default.gguf"};
    for (size_t i = 0; i < sizeof places / sizeof places[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", exe, places[i]);
        if (access(path, R_OK) == 0)
            return path;
        snprintf(tried + strlen(tried), tried_size - strlen(tried), "%s%s", i ? ", " : "", path);
    }
    return NULL;
}

bn_status bn_cli_tokenize(const bn_model *m, const char *text, size_t len, unsigned flags,
                          bn_tokens *ids) {
    int32_t n = 0;
    bn_status st = bn_tokenize(m, text, len, flags, NULL, 0, &n);
    if (st != BN_OK && st != BN_ERR_RANGE) /* RANGE: the count is in n */
        return st;
    for (int32_t i = 0; i < n; i++) /* room for n more */
        BN_TRY(bn_tokens_push(ids, 0));
    ids->n -= (size_t)n;
    BN_TRY(bn_tokenize(m, text, len, flags, ids->ids + ids->n, n, &n));
    ids->n += (size_t)n;
    return BN_OK;
}

bool bn_cli_is_help(const char *arg) {
    return strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0;
}

bn_cli_opt bn_cli_threads_option(const char *cmd, int argc, char **argv, int *i, int *threads) {
    const char *opt = argv[*i];
    if (strcmp(opt, "-t") != 0 && strcmp(opt, "--threads") != 0)
        return BN_CLI_NOT_MINE;
    if (*i + 1 >= argc) {
        bn_cli_usage_error(cmd, "%s needs a thread count", opt);
        return BN_CLI_BAD;
    }
    const char *text = argv[++*i];
    if (!bn_cli_parse_int(text, 1, BN_MAX_THREADS, threads)) {
        bn_cli_usage_error(cmd, "%s %s: the thread count must be a whole number 1..%d", opt, text,
                           BN_MAX_THREADS);
        return BN_CLI_BAD;
    }
    return BN_CLI_TAKEN;
}

/* ---- signals ------------------------------------------------------------------------------
 * SIGINT and SIGTERM remove the temporary files of outputs being written (io/outfile.h), then
 * end the process as the signal would have. While a command catches interrupts (run and chat
 * generating), the first SIGINT only sets bn_cli_interrupted; a second one ends the process. */
volatile sig_atomic_t bn_cli_interrupted = 0;
static volatile sig_atomic_t catching = 0;
static pthread_t main_thread;

static void on_signal(int sig) {
    /* A process-directed signal may land on any thread that does not block it, such as the
     * threads OpenBLAS starts before main. The main thread is the one that blocks signals while
     * it creates and registers a temporary file, so the cleanup must run there: a signal taken
     * elsewhere is passed on, and waits until the file is registered. */
    if (!pthread_equal(pthread_self(), main_thread)) {
        pthread_kill(main_thread, sig);
        return;
    }
    if (sig == SIGINT && catching && !bn_cli_interrupted) {
        bn_cli_interrupted = 1;
        return;
    }
    bn_outfile_remove_temps();
    signal(sig, SIG_DFL);
    raise(sig);
}

static void install(int sig, bool restart) {
    main_thread = pthread_self(); /* installed from main (the CLI's one thread of its own) */
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sa.sa_flags = restart ? SA_RESTART : 0;
    sigemptyset(&sa.sa_mask);
    sigaction(sig, &sa, NULL);
}

void bn_cli_catch_interrupt(bool catch, bool restart) {
    bn_cli_interrupted = 0;
    catching = catch;
    install(SIGINT, restart);
}

/* A closed standard descriptor would be the next file we open: a model file or, worse, the
 * temporary file of an output, which printf would then write into. Park /dev/null there
 * instead, read-only, so that writes to a closed stdout fail (and are reported) rather than
 * vanish. */
static void occupy_closed_std_fds(void) {
    for (int fd = 0; fd <= 2; fd++) {
        if (fcntl(fd, F_GETFD) >= 0 || errno != EBADF)
            continue;
        int null = open("/dev/null", O_RDONLY);
        if (null >= 0 && null != fd) {
            dup2(null, fd);
            close(null);
        }
    }
}

/* Output the user did not get is a failure: a full disk or a closed pipe behind stdout makes
 * the command fail, whatever it returned. */
static int check_stdout(int rc) {
    errno = 0;
    if ((fflush(stdout) == 0 && !ferror(stdout)) || rc != 0) /* a failure was reported already */
        return rc;
    fprintf(stderr, "bitnet: error: writing to standard output failed%s%s\n", errno ? ": " : "",
            errno ? strerror(errno) : "");
    return rc == 0 ? 1 : rc;
}

static int dispatch(int argc, char **argv) {
    if (argc < 2) {
        print_help(stderr);
        return 2;
    }
    if (bn_cli_is_help(argv[1])) {
        print_help(stdout);
        return 0;
    }
    if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "version") == 0) {
        printf("bitnet %s\n", bn_version());
        return 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(argv[1], commands[i].name) == 0)
            return commands[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "bitnet: unknown command '%s' (see bitnet --help)\n", argv[1]);
    return 2;
}

int main(int argc, char **argv) {
    occupy_closed_std_fds();
    bn_log_get_level(); /* reads BITNET_LOG now, so a bad value is reported whatever runs */
    install(SIGINT, true);
    install(SIGTERM, true);
    return check_stdout(dispatch(argc, argv));
}
