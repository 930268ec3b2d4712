/*
 * cmd_sysinfo.c - `bitnet sysinfo [--json] [-t THREADS]`: what this machine offers the library.
 */
#include "cli.h"

#include "base/cpu.h"
#include "base/threadpool.h"
#include "kernels/cuda/cuda.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>

typedef struct feature {
    const char *name;
    bool on;
} feature;

/* The features in the order they are printed. Returns the count. */
static int list_features(const bn_cpu_features *f, feature *out) {
    const feature all[] = {
        {"sse4.2", f->sse42},
        {"avx", f->avx},
        {"avx2", f->avx2},
        {"fma", f->fma},
        {"f16c", f->f16c},
        {"bmi2", f->bmi2},
        {"avx512f", f->avx512f},
        {"avx512bw", f->avx512bw},
        {"avx512vl", f->avx512vl},
        {"avx512dq", f->avx512dq},
        {"avx512vnni", f->avx512vnni},
        {"avx512vbmi", f->avx512vbmi},
        {"avx512bf16", f->avx512bf16},
        {"avxvnni", f->avxvnni},
        {"neon", f->neon},
        {"dotprod", f->dotprod},
    };
    int n = (int)(sizeof all / sizeof all[0]);
    memcpy(out, all, sizeof all);
    return n;
}

typedef struct cuda_report {
    bool compiled;
    int count;
    const char *why;
    bn_cuda_device_info devices[16];
} cuda_report;

static bn_status probe_cuda(cuda_report *r) {
    memset(r, 0, sizeof *r);
    r->compiled = bn_cuda_compiled();
    if (!r->compiled) {
        r->why = "built without CUDA";
        return BN_OK;
    }
    BN_TRY(bn_cuda_device_count(&r->count, &r->why));
    if (r->count > 16)
        r->count = 16;
    for (int i = 0; i < r->count; i++)
        BN_TRY(bn_cuda_device_info_get(i, &r->devices[i]));
    return BN_OK;
}

static int print_json(const bn_cpu_features *f, int threads, const cuda_report *cr) {
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "version", bn_version());
    cJSON *cpu = cJSON_AddObjectToObject(root, "cpu");
    cJSON_AddStringToObject(cpu, "vendor", f->vendor);
    cJSON_AddStringToObject(cpu, "model", f->model);
    cJSON_AddNumberToObject(cpu, "logical_cpus", f->logical_cpus);
    cJSON *feats = cJSON_AddObjectToObject(cpu, "features");
    feature list[32];
    int n = list_features(f, list);
    for (int i = 0; i < n; i++)
        cJSON_AddBoolToObject(feats, list[i].name, list[i].on);
    cJSON_AddStringToObject(root, "kernel_path", bn_isa_name(bn_cpu_isa()));
    cJSON_AddStringToObject(root, "kernel_path_reason", bn_cpu_isa_reason());
    cJSON_AddStringToObject(root, "best_kernel_path", bn_isa_name(bn_cpu_best_isa()));
    cJSON_AddNumberToObject(root, "threads", threads);
    cJSON *cuda = cJSON_AddObjectToObject(root, "cuda");
    cJSON_AddBoolToObject(cuda, "compiled", cr->compiled);
    cJSON *devs = cJSON_AddArrayToObject(cuda, "devices");
    for (int i = 0; i < cr->count; i++) {
        const bn_cuda_device_info *d = &cr->devices[i];
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "index", d->index);
        cJSON_AddStringToObject(o, "name", d->name);
        char cc[16];
        snprintf(cc, sizeof cc, "%d.%d", d->cc_major, d->cc_minor);
        cJSON_AddStringToObject(o, "compute_capability", cc);
        cJSON_AddNumberToObject(o, "sm_count", d->sm_count);
        cJSON_AddNumberToObject(o, "memory_bytes", (double)d->total_memory);
        cJSON_AddItemToArray(devs, o);
    }
    if (cr->count == 0)
        cJSON_AddStringToObject(cuda, "note", cr->why ? cr->why : "");
    return bn_cli_print_json(root);
}

static void print_text(const bn_cpu_features *f, int threads, const cuda_report *cr) {
    printf("bitnet %s\n", bn_version());
    printf("cpu:         %s (%s), %d logical CPUs\n", f->model, f->vendor, f->logical_cpus);
    printf("features:   ");
    feature list[32];
    int n = list_features(f, list);
    for (int i = 0; i < n; i++)
        if (list[i].on)
            printf(" %s", list[i].name);
    printf("\nkernel path: %s (%s; best here: %s)\n", bn_isa_name(bn_cpu_isa()),
           bn_cpu_isa_reason(), bn_isa_name(bn_cpu_best_isa()));
    printf("threads:     %d\n", threads);
    if (!cr->compiled || cr->count == 0)
        printf("cuda:        none (%s)\n", cr->why ? cr->why : "");
    for (int i = 0; i < cr->count; i++) {
        const bn_cuda_device_info *d = &cr->devices[i];
        printf("cuda:        #%d %s, sm_%d%d, %d SMs, %.1f GiB, driver %d, runtime %d\n", d->index,
               d->name, d->cc_major, d->cc_minor, d->sm_count,
               (double)d->total_memory / (1024.0 * 1024.0 * 1024.0), d->driver_version,
               d->runtime_version);
    }
}

static void usage(void) {
    printf("usage: bitnet sysinfo [--json] [-t THREADS]\n\n"
           "Print the CPU model and features, the kernel path chosen (BITNET_CPU caps it), the\n"
           "thread count and the CUDA devices.\n\n"
           "  --json        one JSON object on stdout\n"
           "  -t, --threads the thread count to report (default: online CPUs)\n");
}

int bn_cmd_sysinfo(int argc, char **argv) {
    bool json = false;
    int threads = bn_cpu_count();
    for (int i = 1; i < argc; i++) {
        if (bn_cli_is_help(argv[i])) {
            usage();
            return 0;
        } else if (strcmp(argv[i], "--json") == 0) {
            json = true;
        } else {
            bn_cli_opt t = bn_cli_threads_option("sysinfo", argc, argv, &i, &threads);
            if (t == BN_CLI_BAD)
                return 2;
            if (t == BN_CLI_NOT_MINE)
                return bn_cli_usage_error("sysinfo", "unknown option '%s'", argv[i]);
        }
    }
    const bn_cpu_features *f = bn_cpu_features_get();
    cuda_report cr;
    bn_status st = probe_cuda(&cr);
    if (st != BN_OK)
        return bn_cli_fail(st);
    if (json)
        return print_json(f, threads, &cr);
    print_text(f, threads, &cr);
    return 0;
}
