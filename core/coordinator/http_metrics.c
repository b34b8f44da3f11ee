/*
 * /metrics (http.h) in the Prometheus text exposition format 0.0.4.
 *
 * Cardinality is bounded by the cluster, not the queue: labels name
 * states, workers and GPUs, never jobs.
 */
#include "coordinator/http.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "build-config.h"
#include "config.h"
#include "coordinator/attempts.h"
#include "coordinator/jobstate.h"
#include "coordinator/registry.h"
#include "coordinator/sessions.h"
#include "coordinator/stats.h"
#include "coordinator/store.h"
#include "errbuf.h"
#include "http/httpd.h"
#include "http/promtext.h"
#include "log.h"

static void jobs_by_state(struct dcv_coord *c, FILE *f)
{
    char err[256];

    dcv_prom_family(f, "distconv_jobs", "gauge", "Jobs in the store by state.");
    for (int s = 0; s < DCV_JOB_STATE_COUNT; s++) {
        int64_t n = 0;
        if (dcv_store_count(c->store, s, &n, err, sizeof err) < 0) {
            dcv_log(DCV_LOG_WARN, CO_LOG, "metrics: %s", err);
            continue;
        }
        fprintf(f, "distconv_jobs{state=\"%s\"} %" PRId64 "\n", dcv_job_state_wire_name(s), n);
    }
    dcv_prom_family(f, "distconv_jobs_stalled", "gauge",
                    "Running jobs whose progress has not moved for queue.stall_after seconds.");
    fprintf(f, "distconv_jobs_stalled %u\n", co_jobs_stalled(c));
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

    dcv_prom_family(f, "distconv_jobs_submitted_total", "counter", "Jobs submitted since start.");
    fprintf(f, "distconv_jobs_submitted_total %" PRIu64 "\n", c->stats.submitted);
    dcv_prom_family(f, "distconv_jobs_ended_total", "counter",
              "Jobs that reached a final state since start, by that state.");
    for (size_t i = 0; i < sizeof ends / sizeof ends[0]; i++)
        fprintf(f, "distconv_jobs_ended_total{state=\"%s\"} %" PRIu64 "\n",
               dcv_job_state_wire_name(ends[i]), c->stats.ended[ends[i]]);
    dcv_prom_family(f, "distconv_attempts_total", "counter",
              "Attempts ended since start, by outcome (busy: requeued, not spent).");
    for (size_t i = 0; i < sizeof att / sizeof att[0]; i++)
        fprintf(f, "distconv_attempts_total{outcome=\"%s\"} %" PRIu64 "\n", att[i].outcome,
               c->stats.attempts[att[i].ev]);
}

static void histogram(FILE *f, const char *name, const char *help,
                      const struct co_hist *h, size_t n)
{
    dcv_prom_family(f, name, "histogram", help);
    for (size_t i = 0; i < n; i++) {
        uint64_t cum = 0;
        for (size_t k = 0; k <= CO_HIST_BOUNDS; k++) {
            cum += h[i].bucket[k];
            fprintf(f, "%s_bucket{codec=\"", name);
            dcv_prom_label(f, h[i].codec);
            fprintf(f, "\",family=\"");
            dcv_prom_label(f, h[i].family);
            if (k < CO_HIST_BOUNDS)
                fprintf(f, "\",le=\"%g\"} %" PRIu64 "\n", co_hist_bounds[k], cum);
            else
                fprintf(f, "\",le=\"+Inf\"} %" PRIu64 "\n", cum);
        }
        fprintf(f, "%s_sum{codec=\"", name);
        dcv_prom_label(f, h[i].codec);
        fprintf(f, "\",family=\"");
        dcv_prom_label(f, h[i].family);
        fprintf(f, "\"} %.3f\n%s_count{codec=\"", h[i].sum, name);
        dcv_prom_label(f, h[i].codec);
        fprintf(f, "\",family=\"");
        dcv_prom_label(f, h[i].family);
        fprintf(f, "\"} %" PRIu64 "\n", h[i].count);
    }
}

/* Every worker the registry knows, online or not. */
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
        {"distconv_worker_encode_fps",
         "Frames per second the worker's encoding jobs report (PROGRESS), summed."},
    };
    int online = 0, offline = 0;

    for (size_t k = 0; k < sizeof fam / sizeof fam[0]; k++) {
        dcv_prom_family(f, fam[k].name, "gauge", fam[k].help);
        for (struct co_worker *w = c->reg.workers; w; w = w->next) {
            double v = 0;
            switch (k) {
            case 0: v = w->online; break;
            case 1: v = w->admin_drain || (w->has_tel && w->tel.draining); break;
            case 2: v = w->has_tel && w->tel.busy; break;
            case 3: v = w->online && w->benchmarking; break;
            case 4: v = (double)w->slots; break;
            case 5: v = co_held_by(c, w); break;
            default:
                for (const struct co_job *j = c->att.jobs; j; j = j->next)
                    if (j->prog.has && j->prog.phase == DCV_PHASE_ENCODE && j->prog.fps > 0 &&
                        strcmp(j->worker, w->id) == 0)
                        v += j->prog.fps;
                break;
            }
            dcv_prom_worker_sample(f, fam[k].name, w->id, v);
        }
    }
    for (struct co_worker *w = c->reg.workers; w; w = w->next) {
        if (w->online)
            online++;
        else
            offline++;
    }
    dcv_prom_family(f, "distconv_workers", "gauge", "Workers the coordinator knows, by state.");
    fprintf(f, "distconv_workers{state=\"online\"} %d\ndistconv_workers{state=\"offline\"} %d\n",
            online, offline);
}

/* A job needs a free slot of its class (a hardware device's: gpu) besides
 * one of the total (worker.max_cpu_jobs / max_gpu_jobs, 0 = slots). */
static void class_slots(struct dcv_coord *c, FILE *f)
{
    dcv_prom_family(f, "distconv_worker_class_slots", "gauge",
                    "Jobs of a class (cpu: software encoders, gpu: hardware) the worker runs at "
                    "once.");
    for (struct co_worker *w = c->reg.workers; w; w = w->next)
        for (int gpu = 0; gpu < 2; gpu++) {
            int64_t lim = gpu ? w->max_gpu_jobs : w->max_cpu_jobs;
            fprintf(f, "distconv_worker_class_slots{worker=\"");
            dcv_prom_label(f, w->id);
            fprintf(f, "\",class=\"%s\"} %" PRId64 "\n", gpu ? "gpu" : "cpu",
                    lim > 0 ? lim : w->slots);
        }
    dcv_prom_family(f, "distconv_worker_class_slots_used", "gauge",
                    "Jobs of a class the coordinator has placed on the worker.");
    for (struct co_worker *w = c->reg.workers; w; w = w->next) {
        unsigned used[2] = {0, 0};
        for (const struct co_job *j = c->att.jobs; j; j = j->next)
            if (strcmp(j->worker, w->id) == 0)
                used[j->hw != 0]++;
        for (int gpu = 0; gpu < 2; gpu++) {
            fprintf(f, "distconv_worker_class_slots_used{worker=\"");
            dcv_prom_label(f, w->id);
            fprintf(f, "\",class=\"%s\"} %u\n", gpu ? "gpu" : "cpu", used[gpu]);
        }
    }
}

/* The heartbeat's machine and NVML figures of every online worker. */
static int telemetry(struct dcv_coord *c, FILE *f)
{
    struct dcv_prom_host *v;
    size_t n = 0, cap = 0;

    for (struct co_worker *w = c->reg.workers; w; w = w->next)
        cap++;
    if (!(v = calloc(cap + 1, sizeof *v)))
        return -ENOMEM;
    for (struct co_worker *w = c->reg.workers; w; w = w->next)
        if (w->online && w->has_tel)
            v[n++] = (struct dcv_prom_host){.worker = w->id, .tel = &w->tel};
    dcv_prom_hosts(f, v, n);
    free(v);
    return 0;
}

/* The session limit the scheduler applies to a device: its own, lowered
 * by an override or a hold (scheduler.c's rule); -1 unlimited. */
static int64_t effective_limit(const struct dcv_device_caps *cp, const struct dcv_sched_session *s)
{
    int64_t lim = cp->max_sessions;
    int limited = lim > 0;
    if (s && (s->hold || (s->limit && (!limited || s->limit < lim)))) {
        if (!limited || s->limit < lim)
            lim = s->limit;
        limited = 1;
    }
    return limited ? lim : -1;
}

/* The row of hardware device cp of worker w: the session table's count on
 * its key (every worker sharing the GPU, other software included), or for
 * a device without a limit our jobs on it. */
static void session_row(struct dcv_coord *c, const struct co_sess *t, const struct co_worker *w,
                        size_t k, struct dcv_prom_sessions *row)
{
    const struct dcv_device_caps *cp = &w->devices[k].caps;
    struct dcv_sched_worker view = {.id = w->id, .host = w->host};
    struct dcv_sched_device dv = {.plugin = w->devices[k].plugin, .caps = cp};
    const struct dcv_sched_session *s = NULL;
    char key[DCV_SCHED_KEY_MAX], phys[DCV_SCHED_KEY_MAX];
    int64_t nvml = -1; /* every process's sessions on it, where NVML reports it */

    row->worker = w->id;
    row->gpu = cp->device_id;
    row->used = 0;
    row->other = -1;
    for (size_t g = 0; w->has_tel && g < w->tel.n_gpus && g < DCV_PROTO_MAX_GPUS; g++)
        if (w->tel.gpus[g].enc_sessions >= 0 &&
            strncmp(w->tel.gpus[g].id, cp->device_id, sizeof cp->device_id) == 0)
            nvml = w->tel.gpus[g].enc_sessions;
    if (nvml >= 0)
        row->other = 0;
    if (dcv_sched_session_key(&view, &dv, key, sizeof key) == 0 && key[0]) {
        for (size_t i = 0; i < t->n && !s; i++)
            if (strcmp(t->s[i].key, key) == 0)
                s = &t->s[i];
        if (s) {
            row->used = s->used;
            if (row->other == 0)
                row->other = s->external < s->used ? s->external : s->used;
        }
    } else {
        /* co_job_place's form of the physical device */
        int len = snprintf(phys, sizeof phys, "%s/%.*s", w->host, (int)sizeof cp->device_id,
                           cp->device_id);
        for (const struct co_job *j = c->att.jobs; j && len > 0 && (size_t)len < sizeof phys;
             j = j->next)
            row->used += j->phys[0] && strcmp(j->phys, phys) == 0;
        if (nvml > row->used) { /* sessions.c's rule: NVML's count less ours */
            row->other = nvml - row->used;
            row->used = nvml;
        }
    }
    row->limit = effective_limit(cp, s);
}

/* Per physical GPU of each online worker (a hardware device of its HELLO,
 * or a GPU only NVML reports, whose sessions are all other software's). */
static int gpu_sessions(struct dcv_coord *c, FILE *f)
{
    struct co_sess t;
    struct dcv_prom_sessions *rows;
    size_t n = 0, cap = 0;

    for (struct co_worker *w = c->reg.workers; w; w = w->next)
        cap += w->n_devices + DCV_PROTO_MAX_GPUS;
    if (co_sessions_build(c, NULL, 0, &t) < 0)
        return -ENOMEM;
    if (!(rows = calloc(cap + 1, sizeof *rows))) {
        co_sessions_free(&t);
        return -ENOMEM;
    }
    for (struct co_worker *w = c->reg.workers; w; w = w->next) {
        size_t first = n;
        if (!w->online)
            continue;
        for (size_t k = 0; k < w->n_devices; k++) {
            const struct dcv_device_caps *cp = &w->devices[k].caps;
            size_t i;
            if ((cp->flags & (DCV_CAP_HARDWARE | DCV_CAP_AVAILABLE)) !=
                (DCV_CAP_HARDWARE | DCV_CAP_AVAILABLE))
                continue; /* software, or a GPU it could not use ("none") */
            for (i = first; i < n && strcmp(rows[i].gpu, cp->device_id) != 0; i++)
                ;
            if (i == n) /* one row per GPU, not per plugin using it */
                session_row(c, &t, w, k, &rows[n++]);
        }
        for (size_t g = 0; w->has_tel && g < w->tel.n_gpus && g < DCV_PROTO_MAX_GPUS; g++) {
            const struct dcv_proto_gpu *gp = &w->tel.gpus[g];
            size_t i;
            for (i = first; i < n && strcmp(rows[i].gpu, gp->id) != 0; i++)
                ;
            if (i == n && gp->enc_sessions >= 0)
                rows[n++] = (struct dcv_prom_sessions){w->id, gp->id, gp->enc_sessions,
                                                       gp->enc_sessions, -1};
        }
    }
    dcv_prom_gpu_sessions(f, rows, n);
    free(rows);
    co_sessions_free(&t);
    return 0;
}

/* Bytes through the data plane since start (xfer/server.c counts them):
 * upload = into the coordinator (outputs from workers, inputs from
 * distconvctl submit), download = out of it (inputs to workers, `get`). */
static void transfers(struct dcv_coord *c, FILE *f)
{
    struct dcv_xsrv_stats st = {0};

    if (c->xsrv)
        dcv_xsrv_stats(c->xsrv, &st);
    dcv_prom_family(f, "distconv_transfer_bytes_total", "counter",
                    "Data-plane payload bytes since start: upload into the coordinator (outputs, "
                    "submitted inputs), download out of it (inputs to workers, get).");
    fprintf(f, "distconv_transfer_bytes_total{direction=\"upload\"} %" PRIu64 "\n", st.bytes_in);
    fprintf(f, "distconv_transfer_bytes_total{direction=\"download\"} %" PRIu64 "\n",
            st.bytes_out);
    dcv_prom_family(f, "distconv_transfers_active", "gauge", "Data-plane transfers under way.");
    fprintf(f, "distconv_transfers_active{direction=\"upload\"} %u\n", st.active_rx);
    fprintf(f, "distconv_transfers_active{direction=\"download\"} %u\n", st.active_tx);
}

static int write_metrics(void *ud, FILE *f)
{
    struct dcv_coord *c = ud;

    dcv_prom_family(f, "distconv_build_info", "gauge", "The running distconv version.");
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
    class_slots(c, f);
    if (telemetry(c, f) < 0 || gpu_sessions(c, f) < 0)
        return -ENOMEM;
    transfers(c, f);
    dcv_prom_process(f, c->started_wall_ms);
    return 0;
}

void co_http_metrics(void *ud, const struct dcv_http_req *rq, struct dcv_http_reply *out)
{
    (void)rq;
    dcv_prom_reply(out, write_metrics, ud);
}
