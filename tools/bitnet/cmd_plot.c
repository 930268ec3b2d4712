/*
 * cmd_plot.c - `bitnet plot LOG.jsonl [MORE.jsonl ...] OUT.svg`: training and validation loss
 * curves of `bitnet train` logs as an SVG file (any browser opens it).
 */
#include "cli.h"

#include "io/outfile.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char USAGE[] =
    "usage: bitnet plot LOG.jsonl [MORE.jsonl ...] OUT.svg [--title TEXT] [--smooth N]\n"
    "\n"
    "Draw the loss curves of `bitnet train` logs (OUT/log.jsonl) as an SVG file: each log's\n"
    "training loss (a thin line, averaged over --smooth steps, default 20) and validation loss\n"
    "(a thick line with points, from the steps that evaluated), against the step, with a legend\n"
    "naming each log by its file. Several logs share the axes (a BitNet run and its float\n"
    "baseline).\n";

enum { W = 880, H = 520, LEFT = 70, RIGHT = 20, TOP = 44, BOTTOM = 56, MAX_LOGS = 8 };

typedef struct series {
    double *step, *loss;
    int n, cap;
} series;

typedef struct run_log {
    const char *path;
    series train, val;
} run_log;

static bool push(series *s, double x, double y) {
    if (s->n == s->cap) {
        int cap = s->cap ? 2 * s->cap : 256;
        double *a = realloc(s->step, (size_t)cap * sizeof(double));
        if (a == NULL)
            return false;
        s->step = a;
        double *b = realloc(s->loss, (size_t)cap * sizeof(double));
        if (b == NULL)
            return false;
        s->loss = b;
        s->cap = cap;
    }
    s->step[s->n] = x;
    s->loss[s->n++] = y;
    return true;
}

static double number(const cJSON *o, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(v) && isfinite(v->valuedouble) ? v->valuedouble : NAN;
}

static int read_log(run_log *r) {
    FILE *f = fopen(r->path, "rb");
    if (f == NULL) {
        fprintf(stderr, "bitnet: error: %s: %s\n", r->path, strerror(errno));
        return 1;
    }
    char *line = NULL;
    size_t cap = 0;
    long lineno = 0;
    int rc = 0;
    while (rc == 0 && getline(&line, &cap, f) > 0) {
        lineno++;
        cJSON *o = cJSON_Parse(line);
        double step = number(o, "step"), loss = number(o, "loss"), val = number(o, "val_loss");
        if (o == NULL || isnan(step) || isnan(loss)) {
            fprintf(stderr,
                    "bitnet: error: %s:%ld: not a training log line (want a JSON object "
                    "with step and loss)\n",
                    r->path, lineno);
            rc = 1;
        } else if (!push(&r->train, step, loss) || (!isnan(val) && !push(&r->val, step, val))) {
            fprintf(stderr, "bitnet: error: out of memory\n");
            rc = 1;
        }
        cJSON_Delete(o);
    }
    free(line);
    fclose(f);
    if (rc == 0 && r->train.n == 0) {
        fprintf(stderr, "bitnet: error: %s: no steps logged\n", r->path);
        rc = 1;
    }
    return rc;
}

/* A step of 1, 2 or 5 times a power of ten giving about n ticks over [lo, hi]. */
static double nice_step(double lo, double hi, int n) {
    double raw = (hi - lo) / n, p = pow(10.0, floor(log10(raw))), m = raw / p;
    return (m < 1.5 ? 1.0 : m < 3.5 ? 2.0 : m < 7.5 ? 5.0 : 10.0) * p;
}

typedef struct svg {
    char *buf;
    size_t n, cap;
    bool failed;
} svg;

static void out(svg *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void out(svg *s, const char *fmt, ...) {
    va_list ap;
    for (;;) {
        va_start(ap, fmt);
        int k = vsnprintf(s->buf ? s->buf + s->n : NULL, s->buf ? s->cap - s->n : 0, fmt, ap);
        va_end(ap);
        if (k < 0) {
            s->failed = true;
            return;
        }
        if (s->buf != NULL && s->n + (size_t)k < s->cap) {
            s->n += (size_t)k;
            return;
        }
        size_t cap = (s->cap + (size_t)k + 1) * 2;
        char *b = realloc(s->buf, cap);
        if (b == NULL) {
            s->failed = true;
            return;
        }
        s->buf = b;
        s->cap = cap;
    }
}

/* Text from a file name, escaped for XML. */
static void out_text(svg *s, const char *t) {
    for (; *t; t++) {
        if (*t == '<')
            out(s, "&lt;");
        else if (*t == '>')
            out(s, "&gt;");
        else if (*t == '&')
            out(s, "&amp;");
        else if (*t == '"')
            out(s, "&quot;");
        else if ((unsigned char)*t >= 0x20)
            out(s, "%c", *t);
    }
}

typedef struct frame {
    double x0, x1, y0, y1;
} frame;

static double px(const frame *f, double x) {
    return LEFT + (x - f->x0) / (f->x1 - f->x0) * (W - LEFT - RIGHT);
}

static double py(const frame *f, double y) {
    return TOP + (f->y1 - y) / (f->y1 - f->y0) * (H - TOP - BOTTOM);
}

static void axes(svg *s, const frame *f, const char *title) {
    out(s, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"none\" stroke=\"#444\"/>\n",
        LEFT, TOP, W - LEFT - RIGHT, H - TOP - BOTTOM);
    double ys = nice_step(f->y0, f->y1, 8), xs = nice_step(f->x0, f->x1, 10);
    for (double y = ceil(f->y0 / ys) * ys; y <= f->y1 + 1e-9; y += ys)
        out(s,
            "<line x1=\"%d\" x2=\"%d\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>"
            "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%g</text>\n",
            LEFT, W - RIGHT, py(f, y), py(f, y), LEFT - 6, py(f, y) + 4, y);
    for (double x = ceil(f->x0 / xs) * xs; x <= f->x1 + 1e-9; x += xs)
        out(s,
            "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%d\" y2=\"%d\" stroke=\"#eee\"/>"
            "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%g</text>\n",
            px(f, x), px(f, x), TOP, H - BOTTOM, px(f, x), H - BOTTOM + 18, x);
    out(s, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">step</text>\n", (LEFT + W - RIGHT) / 2,
        H - 14);
    out(s,
        "<text x=\"18\" y=\"%d\" text-anchor=\"middle\" transform=\"rotate(-90 18 %d)\">"
        "loss (nats per token)</text>\n",
        (TOP + H - BOTTOM) / 2, (TOP + H - BOTTOM) / 2);
    out(s, "<text x=\"%d\" y=\"26\" text-anchor=\"middle\" font-size=\"16\">", W / 2);
    out_text(s, title);
    out(s, "</text>\n");
}

static const char *const colors[MAX_LOGS] = {"#1f77b4", "#d62728", "#2ca02c", "#9467bd",
                                             "#ff7f0e", "#8c564b", "#e377c2", "#17becf"};

/* The training loss averaged over a window of `smooth` logged steps, and the validation loss. */
static void curves(svg *s, const frame *f, const run_log *r, int k, int smooth) {
    out(s,
        "<polyline fill=\"none\" stroke=\"%s\" stroke-opacity=\"0.55\" stroke-width=\"1.2\" "
        "points=\"",
        colors[k]);
    double sum = 0.0;
    for (int i = 0; i < r->train.n; i++) {
        sum += r->train.loss[i];
        if (i >= smooth)
            sum -= r->train.loss[i - smooth];
        int n = i + 1 < smooth ? i + 1 : smooth;
        double y = fmin(fmax(sum / n, f->y0), f->y1);
        out(s, "%.1f,%.1f ", px(f, r->train.step[i]), py(f, y));
    }
    out(s, "\"/>\n");
    if (r->val.n == 0)
        return;
    out(s, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2.5\" points=\"", colors[k]);
    for (int i = 0; i < r->val.n; i++)
        out(s, "%.1f,%.1f ", px(f, r->val.step[i]),
            py(f, fmin(fmax(r->val.loss[i], f->y0), f->y1)));
    out(s, "\"/>\n");
    for (int i = 0; i < r->val.n; i++)
        out(s, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3.5\" fill=\"%s\"/>\n", px(f, r->val.step[i]),
            py(f, fmin(fmax(r->val.loss[i], f->y0), f->y1)), colors[k]);
}

static void legend(svg *s, const run_log *r, int n) {
    int y = TOP + 16;
    out(s,
        "<rect x=\"%d\" y=\"%d\" width=\"336\" height=\"%d\" fill=\"white\" "
        "fill-opacity=\"0.85\"/>\n",
        W - RIGHT - 338, TOP + 2, n * 36 + 6);
    for (int k = 0; k < n; k++) {
        const series *v = &r[k].val;
        for (int kind = 0; kind < 2; kind++, y += 18) {
            out(s,
                "<line x1=\"%d\" x2=\"%d\" y1=\"%d\" y2=\"%d\" stroke=\"%s\" stroke-width=\"%s\" "
                "stroke-opacity=\"%s\"/><text x=\"%d\" y=\"%d\">",
                W - RIGHT - 330, W - RIGHT - 300, y - 4, y - 4, colors[k], kind ? "2.5" : "1.2",
                kind ? "1" : "0.55", W - RIGHT - 292, y);
            out_text(s, r[k].path);
            if (kind && v->n > 0)
                out(s, " validation (last %.4f)</text>\n", v->loss[v->n - 1]);
            else
                out(s, " %s</text>\n", kind ? "validation (none)" : "training");
        }
    }
}

/* The frame: steps from the first to the last logged; losses from the lowest plotted value to
 * a ceiling that keeps the first steps' very high losses from flattening the rest. */
static frame frame_of(const run_log *r, int n) {
    frame f = {INFINITY, -INFINITY, INFINITY, -INFINITY};
    for (int k = 0; k < n; k++) {
        const series *ss[2] = {&r[k].train, &r[k].val};
        for (int j = 0; j < 2; j++)
            for (int i = 0; i < ss[j]->n; i++) {
                f.x0 = fmin(f.x0, ss[j]->step[i]);
                f.x1 = fmax(f.x1, ss[j]->step[i]);
                f.y0 = fmin(f.y0, ss[j]->loss[i]);
            }
        /* the ceiling: the loss a tenth of the way into the run, or the first evaluation's
         * if higher (every validation point shows) */
        const series *t = &r[k].train;
        f.y1 = fmax(f.y1, t->loss[t->n / 10]);
        if (r[k].val.n > 0)
            f.y1 = fmax(f.y1, r[k].val.loss[0]);
    }
    if (!(f.x1 > f.x0))
        f.x1 = f.x0 + 1;
    double pad = (f.y1 - f.y0) * 0.05 + 1e-3;
    f.y0 -= pad;
    f.y1 += pad;
    return f;
}

int bn_cmd_plot(int argc, char **argv) {
    run_log logs[MAX_LOGS];
    memset(logs, 0, sizeof logs);
    const char *paths[MAX_LOGS + 1], *title = "BitNet-C training";
    int n_paths = 0, smooth = 20, rc = 0;
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i];
        if (bn_cli_is_help(o)) {
            fputs(USAGE, stdout);
            return 0;
        } else if (!strcmp(o, "--title") && i + 1 < argc) {
            title = argv[++i];
        } else if (!strcmp(o, "--smooth") && i + 1 < argc) {
            if (!bn_cli_parse_int(argv[++i], 1, 100000, &smooth))
                return bn_cli_usage_error("plot", "--smooth %s: not a step count", argv[i]);
        } else if (o[0] == '-' && o[1] != '\0') {
            return bn_cli_usage_error("plot", "unknown option or missing value: %s", o);
        } else if (n_paths <= MAX_LOGS) {
            paths[n_paths++] = o;
        } else {
            return bn_cli_usage_error("plot", "at most %d logs", MAX_LOGS);
        }
    }
    if (n_paths < 2)
        return bn_cli_usage_error("plot", "want LOG.jsonl and OUT.svg (bitnet plot --help)");
    const char *out_path = paths[n_paths - 1];
    int n = n_paths - 1;
    for (int k = 0; k < n; k++) {
        if (bn_outfile_check_not_input(out_path, paths[k], "the log") != BN_OK)
            return bn_cli_fail(BN_ERR_INVALID_ARG);
        logs[k].path = paths[k];
        if (rc == 0)
            rc = read_log(&logs[k]);
    }
    svg s = {0};
    if (rc == 0) {
        frame f = frame_of(logs, n);
        out(&s,
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
            "viewBox=\"0 0 %d %d\" font-family=\"sans-serif\" font-size=\"12\">\n"
            "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n",
            W, H, W, H);
        axes(&s, &f, title);
        for (int k = 0; k < n; k++)
            curves(&s, &f, &logs[k], k, smooth);
        legend(&s, logs, n);
        out(&s, "</svg>\n");
        bn_outfile of;
        bn_status st =
            s.failed ? BN_ERROR(BN_ERR_OUT_OF_MEMORY, "plot") : bn_outfile_open(&of, out_path);
        if (st == BN_OK && (st = bn_outfile_write(&of, s.buf, s.n)) != BN_OK)
            bn_outfile_discard(&of);
        else if (st == BN_OK)
            st = bn_outfile_commit(&of);
        rc = st == BN_OK ? 0 : bn_cli_fail(st);
    }
    free(s.buf);
    for (int k = 0; k < n; k++) {
        free(logs[k].train.step);
        free(logs[k].train.loss);
        free(logs[k].val.step);
        free(logs[k].val.loss);
    }
    return rc;
}
