/*
 * /metrics (http.h) in the Prometheus text exposition format 0.0.4.
 *
 * Cardinality is bounded by the cluster, not the queue: labels name
 * states, workers and GPUs, never jobs.
 */
#include "coordinator/http.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "build-config.h"
#include "config.h"
#include "coordinator/attempts.h"
#include "coordinator/jobstate.h"
#include "coordinator/registry.h"
#include "coordinator/stats.h"
#include "coordinator/store.h"
#include "errbuf.h"
#include "http/httpd.h"
#include "log.h"

/* A label value: backslash, double quote and newline escaped. */
static void mb_label(FILE *f, const char *v)
{
    for (const char *s = v; *s; s++) {
        if (*s == '\\' || *s == '"')
            fprintf(f, "\\%c", *s);
        else if (*s == '\n')
            fputs("\\n", f);
        else
            fputc(*s, f);
    }
}

static void mb_family(FILE *f, const char *name, const char *type, const char *help)
{
    fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* name{worker="w1"} value: one sample of a per-worker family. */
static void worker_sample(FILE *f, const char *name, const struct co_worker *w, double v)
{
    fprintf(f, "%s{worker=\"", name);
    mb_label(f, w->id);
    fprintf(f, "\"} %.17g\n", v);
}

static void jobs_by_state(struct dcv_coord *c, FILE *f)
{
    char err[256];

    mb_family(f, "distconv_jobs", "gauge", "Jobs in the store by state.");
    for (int s = 0; s < DCV_JOB_STATE_COUNT; s++) {
        int64_t n = 0;
        if (dcv_store_count(c->store, s, &n, err, sizeof err) < 0) {
            dcv_log(DCV_LOG_WARN, CO_LOG, "metrics: %s", err);
            continue;
        }
        fprintf(f, "distconv_jobs{state=\"%s\"} %" PRId64 "\n", dcv_job_state_wire_name(s), n);
    }
}

/* Counters since this process started (stats.c). */
static void counters(struct dcv_coord *c, FILE *f)
{
    static const struct {
        int ev;
        const char *outcome;
    } att[] = {
        {DCV_EV_SUCCEED, "done"},           {DCV_EV_FAIL_RETRYABLE, "failed_retryable"},
        {DCV_EV_FAIL_PERMANENT, "failed"},  {DCV_EV_REJECT, "rejected"},
        {DCV_EV_WORKER_LOST, "worker_lost"}, {DCV_EV_REQUEUE_BUSY, "busy"},
    };
    static const int ends[] = {DCV_JOB_DONE, DCV_JOB_FAILED, DCV_JOB_CANCELLED};

    mb_family(f, "distconv_jobs_submitted_total", "counter", "Jobs submitted since start.");
    fprintf(f, "distconv_jobs_submitted_total %" PRIu64 "\n", c->stats.submitted);
    mb_family(f, "distconv_jobs_ended_total", "counter",
              "Jobs that reached a final state since start, by that state.");
    for (size_t i = 0; i < sizeof ends / sizeof ends[0]; i++)
        fprintf(f, "distconv_jobs_ended_total{state=\"%s\"} %" PRIu64 "\n",
               dcv_job_state_wire_name(ends[i]), c->stats.ended[ends[i]]);
    mb_family(f, "distconv_attempts_total", "counter",
              "Attempts ended since start, by outcome (busy: requeued, not spent).");
    for (size_t i = 0; i < sizeof att / sizeof att[0]; i++)
        fprintf(f, "distconv_attempts_total{outcome=\"%s\"} %" PRIu64 "\n", att[i].outcome,
               c->stats.attempts[att[i].ev]);
}

static void histogram(FILE *f, const char *name, const char *help,
                      const struct co_hist *h, size_t n)
{
    mb_family(f, name, "histogram", help);
    for (size_t i = 0; i < n; i++) {
        uint64_t cum = 0;
        for (size_t k = 0; k <= CO_HIST_BOUNDS; k++) {
            cum += h[i].bucket[k];
            fprintf(f, "%s_bucket{codec=\"", name);
            mb_label(f, h[i].codec);
            fprintf(f, "\",family=\"");
            mb_label(f, h[i].family);
            if (k < CO_HIST_BOUNDS)
                fprintf(f, "\",le=\"%g\"} %" PRIu64 "\n", co_hist_bounds[k], cum);
            else
                fprintf(f, "\",le=\"+Inf\"} %" PRIu64 "\n", cum);
        }
        fprintf(f, "%s_sum{codec=\"", name);
        mb_label(f, h[i].codec);
        fprintf(f, "\",family=\"");
        mb_label(f, h[i].family);
        fprintf(f, "\"} %.3f\n%s_count{codec=\"", h[i].sum, name);
        mb_label(f, h[i].codec);
        fprintf(f, "\",family=\"");
        mb_label(f, h[i].family);
        fprintf(f, "\"} %" PRIu64 "\n", h[i].count);
    }
}

/* Every worker the registry knows, online or not; telemetry only where a
 * heartbeat brought it (a figure the worker does not know is left out). */
static void workers(struct dcv_coord *c, FILE *f)
{
    static const struct {
        const char *name, *help;
    } fam[] = {
        {"distconv_worker_up", "1 while the worker's heartbeats arrive."},
        {"distconv_worker_draining", "1 while the worker takes no new jobs (drain)."},
        {"distconv_worker_busy", "1 while the worker's admission control refuses jobs."},
        {"distconv_worker_benchmarking", "1 while its startup benchmark measures."},
        {"distconv_worker_slots", "Jobs the worker runs at once."},
        {"distconv_worker_slots_used", "Jobs the coordinator has placed on the worker."},
    };
    int online = 0, offline = 0;

    for (size_t k = 0; k < sizeof fam / sizeof fam[0]; k++) {
        mb_family(f, fam[k].name, "gauge", fam[k].help);
        for (struct co_worker *w = c->reg.workers; w; w = w->next) {
            double v = 0;
            switch (k) {
            case 0: v = w->online; break;
            case 1: v = w->admin_drain || (w->has_tel && w->tel.draining); break;
            case 2: v = w->has_tel && w->tel.busy; break;
            case 3: v = w->online && w->benchmarking; break;
            case 4: v = (double)w->slots; break;
            default: v = co_held_by(c, w); break;
            }
            worker_sample(f, fam[k].name, w, v);
        }
    }
    for (struct co_worker *w = c->reg.workers; w; w = w->next) {
        if (w->online)
            online++;
        else
            offline++;
    }
    mb_family(f, "distconv_workers", "gauge", "Workers the coordinator knows, by state.");
    fprintf(f, "distconv_workers{state=\"online\"} %d\ndistconv_workers{state=\"offline\"} %d\n",
           online, offline);

    mb_family(f, "distconv_worker_cpu_percent", "gauge", "Whole-machine CPU use of the worker.");
    for (struct co_worker *w = c->reg.workers; w; w = w->next)
        if (w->online && w->has_tel)
            worker_sample(f, "distconv_worker_cpu_percent", w, w->tel.cpu_pct);
    mb_family(f, "distconv_worker_load1", "gauge", "The worker's 1-minute load average.");
    for (struct co_worker *w = c->reg.workers; w; w = w->next)
        if (w->online && w->has_tel)
            worker_sample(f, "distconv_worker_load1", w, w->tel.load1);
    mb_family(f, "distconv_worker_memory_bytes", "gauge", "The worker machine's memory.");
    for (struct co_worker *w = c->reg.workers; w; w = w->next)
        if (w->online && w->has_tel) {
            fprintf(f, "distconv_worker_memory_bytes{worker=\"");
            mb_label(f, w->id);
            fprintf(f, "\",kind=\"total\"} %" PRId64 "\n", w->tel.mem_total);
            fprintf(f, "distconv_worker_memory_bytes{worker=\"");
            mb_label(f, w->id);
            fprintf(f, "\",kind=\"available\"} %" PRId64 "\n", w->tel.mem_avail);
        }
    mb_family(f, "distconv_worker_temperature_celsius", "gauge",
              "The worker's hottest CPU sensor, where it has one.");
    for (struct co_worker *w = c->reg.workers; w; w = w->next)
        if (w->online && w->has_tel && w->tel.temp_c >= 0)
            worker_sample(f, "distconv_worker_temperature_celsius", w, w->tel.temp_c);
    mb_family(f, "distconv_gpu_encoder_sessions", "gauge",
              "Encoder sessions open on an NVIDIA GPU (every process of its machine), from NVML.");
    for (struct co_worker *w = c->reg.workers; w; w = w->next)
        for (size_t g = 0; w->online && w->has_tel && g < w->tel.n_gpus && g < DCV_PROTO_MAX_GPUS; g++)
            if (w->tel.gpus[g].enc_sessions >= 0) {
                fprintf(f, "distconv_gpu_encoder_sessions{worker=\"");
                mb_label(f, w->id);
                fprintf(f, "\",gpu=\"");
                mb_label(f, w->tel.gpus[g].id);
                fprintf(f, "\"} %" PRId64 "\n", w->tel.gpus[g].enc_sessions);
            }
}

/* The process_* families Prometheus client libraries export. */
static void process(struct dcv_coord *c, FILE *f)
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
    mb_family(f, "process_cpu_seconds_total", "counter", "User and system CPU time spent.");
    fprintf(f, "process_cpu_seconds_total %.6f\n",
           (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
               ru.ru_stime.tv_usec / 1e6);
    mb_family(f, "process_resident_memory_bytes", "gauge", "Resident memory size.");
    fprintf(f, "process_resident_memory_bytes %ld\n", rss_pages * page);
    mb_family(f, "process_open_fds", "gauge", "Open file descriptors.");
    fprintf(f, "process_open_fds %lu\n", fds > 0 ? fds - 1 : 0); /* less opendir's own */
    mb_family(f, "process_start_time_seconds", "gauge", "Start time since the Unix epoch.");
    fprintf(f, "process_start_time_seconds %.3f\n", (double)c->started_wall_ms / 1000.0);
}

void co_http_metrics(void *ud, const struct dcv_http_req *rq, struct dcv_http_reply *out)
{
    struct dcv_coord *c = ud;
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    int bad;

    (void)rq;
    if (!f) {
        out->status = 500;
        out->body = strdup("{\"error\":\"coordinator out of memory\"}\n");
        out->len = out->body ? strlen(out->body) : 0;
        return;
    }
    mb_family(f, "distconv_build_info", "gauge", "The running distconv version.");
    fprintf(f, "distconv_build_info{version=\"%s\"} 1\n", PACKAGE_VERSION);
    jobs_by_state(c, f);
    counters(c, f);
    histogram(f, "distconv_queue_wait_seconds",
              "Time a job waited in the queue before each placement, by codec and the "
              "placed device's encoder family.",
              c->stats.wait, c->stats.n_wait);
    histogram(f, "distconv_attempt_run_seconds",
              "Time from placement to DONE of successful attempts, by codec and encoder family.",
              c->stats.run, c->stats.n_run);
    workers(c, f);
    process(c, f);
    bad = ferror(f);
    if (fclose(f) != 0 || bad) {
        free(text);
        out->status = 500;
        out->body = strdup("{\"error\":\"coordinator out of memory\"}\n");
        out->len = out->body ? strlen(out->body) : 0;
        return;
    }
    out->content_type = "text/plain; version=0.0.4; charset=utf-8";
    out->body = text;
    out->len = len;
}
