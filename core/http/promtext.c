/*
 * The Prometheus text format's shared pieces (promtext.h).
 */
#include "http/promtext.h"

#include <dirent.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "http/httpd.h"
#include "proto.h"

void dcv_prom_label(FILE *f, const char *v)
{
    for (const char *s = v ? v : ""; *s; s++) {
        if (*s == '\\' || *s == '"')
            fprintf(f, "\\%c", *s);
        else if (*s == '\n')
            fputs("\\n", f);
        else
            fputc(*s, f);
    }
}

void dcv_prom_family(FILE *f, const char *name, const char *type, const char *help)
{
    fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

void dcv_prom_worker_sample(FILE *f, const char *name, const char *worker, double v)
{
    fprintf(f, "%s{worker=\"", name);
    dcv_prom_label(f, worker);
    fprintf(f, "\"} %.17g\n", v);
}

void dcv_prom_process(FILE *f, int64_t start_wall_ms)
{
    struct rusage ru;
    long size_pages = 0, rss_pages = 0, page = sysconf(_SC_PAGESIZE);
    unsigned long fds = 0;
    FILE *sm = fopen("/proc/self/statm", "r");
    DIR *d = opendir("/proc/self/fd");

    if (sm) {
        if (fscanf(sm, "%ld %ld", &size_pages, &rss_pages) != 2)
            rss_pages = 0;
        fclose(sm);
    }
    if (d) {
        for (struct dirent *e; (e = readdir(d));)
            fds += e->d_name[0] != '.';
        closedir(d);
    }
    getrusage(RUSAGE_SELF, &ru);
    dcv_prom_family(f, "process_cpu_seconds_total", "counter", "User and system CPU time spent.");
    fprintf(f, "process_cpu_seconds_total %.6f\n",
            (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
                (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6);
    dcv_prom_family(f, "process_resident_memory_bytes", "gauge", "Resident memory size.");
    fprintf(f, "process_resident_memory_bytes %ld\n", rss_pages * page);
    dcv_prom_family(f, "process_open_fds", "gauge", "Open file descriptors.");
    fprintf(f, "process_open_fds %lu\n", fds > 0 ? fds - 1 : 0); /* less opendir's own */
    dcv_prom_family(f, "process_start_time_seconds", "gauge", "Start time since the Unix epoch.");
    fprintf(f, "process_start_time_seconds %.3f\n", (double)start_wall_ms / 1000.0);
}

/* name{worker="W",gpu="G"[,LABEL="VALUE"]} v */
static void gpu_sample(FILE *f, const char *name, const char *worker, const char *gpu,
                       const char *label, const char *value, double v)
{
    fprintf(f, "%s{worker=\"", name);
    dcv_prom_label(f, worker);
    fprintf(f, "\",gpu=\"");
    dcv_prom_label(f, gpu);
    if (label) {
        fprintf(f, "\",%s=\"", label);
        dcv_prom_label(f, value);
    }
    fprintf(f, "\"} %.17g\n", v);
}

static size_t n_gpus(const struct dcv_proto_telemetry *t)
{
    return t->n_gpus < DCV_PROTO_MAX_GPUS ? t->n_gpus : DCV_PROTO_MAX_GPUS;
}

/* The GPU families, one at a time over every machine's GPUs. */
static void gpus(FILE *f, const struct dcv_prom_host *v, size_t n)
{
    static const struct {
        const char *name, *type, *help;
    } fam[] = {
        {"distconv_gpu_info", "gauge", "1 per NVIDIA GPU a worker's NVML reports, with its model."},
        {"distconv_gpu_utilization_percent", "gauge",
         "GPU busy time by engine (core: 3D/compute, encoder, decoder), from NVML."},
        {"distconv_gpu_memory_bytes", "gauge", "GPU memory, used and total, from NVML."},
        {"distconv_gpu_temperature_celsius", "gauge", "GPU temperature, from NVML."},
        {"distconv_gpu_power_watts", "gauge", "GPU power draw, from NVML."},
    };

    for (size_t k = 0; k < sizeof fam / sizeof fam[0]; k++) {
        dcv_prom_family(f, fam[k].name, fam[k].type, fam[k].help);
        for (size_t i = 0; i < n; i++)
            for (size_t g = 0; g < n_gpus(v[i].tel); g++) {
                const struct dcv_proto_gpu *p = &v[i].tel->gpus[g];
                const char *w = v[i].worker, *nm = fam[k].name;
                switch (k) {
                case 0:
                    gpu_sample(f, nm, w, p->id, "model", p->name, 1);
                    break;
                case 1:
                    if (p->util_pct >= 0)
                        gpu_sample(f, nm, w, p->id, "engine", "core", p->util_pct);
                    if (p->enc_pct >= 0)
                        gpu_sample(f, nm, w, p->id, "engine", "encoder", p->enc_pct);
                    if (p->dec_pct >= 0)
                        gpu_sample(f, nm, w, p->id, "engine", "decoder", p->dec_pct);
                    break;
                case 2:
                    if (p->mem_used >= 0)
                        gpu_sample(f, nm, w, p->id, "kind", "used", (double)p->mem_used);
                    if (p->mem_total >= 0)
                        gpu_sample(f, nm, w, p->id, "kind", "total", (double)p->mem_total);
                    break;
                case 3:
                    if (p->temp_c >= 0)
                        gpu_sample(f, nm, w, p->id, NULL, NULL, p->temp_c);
                    break;
                default:
                    if (p->power_w >= 0)
                        gpu_sample(f, nm, w, p->id, NULL, NULL, p->power_w);
                    break;
                }
            }
    }
}

void dcv_prom_hosts(FILE *f, const struct dcv_prom_host *v, size_t n)
{
    dcv_prom_family(f, "distconv_worker_cpu_percent", "gauge", "Whole-machine CPU use of the worker.");
    for (size_t i = 0; i < n; i++)
        dcv_prom_worker_sample(f, "distconv_worker_cpu_percent", v[i].worker, v[i].tel->cpu_pct);
    dcv_prom_family(f, "distconv_worker_load1", "gauge", "The worker's 1-minute load average.");
    for (size_t i = 0; i < n; i++)
        dcv_prom_worker_sample(f, "distconv_worker_load1", v[i].worker, v[i].tel->load1);
    dcv_prom_family(f, "distconv_worker_memory_bytes", "gauge", "The worker machine's memory.");
    for (size_t i = 0; i < n; i++) {
        fprintf(f, "distconv_worker_memory_bytes{worker=\"");
        dcv_prom_label(f, v[i].worker);
        fprintf(f, "\",kind=\"total\"} %" PRId64 "\n", v[i].tel->mem_total);
        fprintf(f, "distconv_worker_memory_bytes{worker=\"");
        dcv_prom_label(f, v[i].worker);
        fprintf(f, "\",kind=\"available\"} %" PRId64 "\n", v[i].tel->mem_avail);
    }
    dcv_prom_family(f, "distconv_worker_temperature_celsius", "gauge",
                    "The worker's hottest CPU sensor, where it has one.");
    for (size_t i = 0; i < n; i++)
        if (v[i].tel->temp_c >= 0)
            dcv_prom_worker_sample(f, "distconv_worker_temperature_celsius", v[i].worker,
                                   v[i].tel->temp_c);
    gpus(f, v, n);
}

void dcv_prom_gpu_sessions(FILE *f, const struct dcv_prom_sessions *v, size_t n)
{
    const char *nm = "distconv_gpu_encoder_sessions";

    dcv_prom_family(f, nm, "gauge",
                    "Encoder sessions of a GPU: used (our jobs plus other software's where NVML "
                    "tells), other (other software's part of used), limit (the most the "
                    "scheduler opens).");
    for (size_t i = 0; i < n; i++) {
        if (v[i].used >= 0)
            gpu_sample(f, nm, v[i].worker, v[i].gpu, "kind", "used", (double)v[i].used);
        if (v[i].other >= 0)
            gpu_sample(f, nm, v[i].worker, v[i].gpu, "kind", "other", (double)v[i].other);
        if (v[i].limit >= 0)
            gpu_sample(f, nm, v[i].worker, v[i].gpu, "kind", "limit", (double)v[i].limit);
    }
}

void dcv_prom_reply(struct dcv_http_reply *out, int (*write)(void *ud, FILE *f), void *ud)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    int bad = !f;

    if (f) {
        bad = write(ud, f) < 0;
        bad |= ferror(f);
        if (fclose(f) != 0)
            bad = 1;
    }
    if (bad) {
        free(text);
        out->status = 500;
        out->body = strdup("{\"error\":\"out of memory\"}\n");
        out->len = out->body ? strlen(out->body) : 0;
        return;
    }
    out->content_type = "text/plain; version=0.0.4; charset=utf-8";
    out->body = text;
    out->len = len;
}
