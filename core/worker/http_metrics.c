/*
 * A worker's own /metrics (worker_int.h; docs/operations.md "The HTTP
 * plane"): what this worker knows of itself, also while no coordinator
 * hears it. worker.http_bind, off by default, loopback only (the plane has
 * no authentication yet). The server runs on the worker's loop
 * (http/httpd.h), so handlers read the worker's state without locks.
 *
 * The families the coordinator also exports (machine telemetry, GPUs,
 * encoder sessions, process_*) come from the same writers (http/promtext.h)
 * with the same names and labels; labels never name jobs.
 */
#include "worker/worker_int.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "build-config.h"
#include "errbuf.h"
#include "auth.h"
#include "http/httpd.h"
#include "http/promtext.h"
#include "log.h"

/* name{worker="W",plugin="P",device="D"[,LABEL="VALUE"]} v */
static void device_sample(FILE *f, const char *name, const char *worker,
                          const struct dcv_proto_device *d, const char *label, const char *value,
                          double v)
{
    fprintf(f, "%s{worker=\"", name);
    dcv_prom_label(f, worker);
    fprintf(f, "\",plugin=\"");
    dcv_prom_label(f, d->plugin);
    fprintf(f, "\",device=\"");
    dcv_prom_label(f, d->caps.device_id);
    if (label) {
        fprintf(f, "\",%s=\"", label);
        dcv_prom_label(f, value);
    }
    fprintf(f, "\"} %.17g\n", v);
}

static void state(struct dcv_worker *w, FILE *f)
{
    const char *id = w->hello->worker_id;
    struct wk_job_stats js;
    static const struct {
        const char *name, *help;
    } fam[] = {
        {"distconv_worker_up", "1: this worker process serves."},
        {"distconv_worker_connected", "1 while the worker is registered with its coordinator."},
        {"distconv_worker_draining", "1 while the worker takes no new jobs (drain)."},
        {"distconv_worker_busy", "1 while the worker's admission control refuses jobs."},
        {"distconv_worker_benchmarking", "1 while its startup benchmark measures."},
        {"distconv_worker_slots", "Jobs the worker runs at once."},
        {"distconv_worker_slots_used", "Jobs holding a slot of the worker."},
        {"distconv_worker_job_processes",
         "Job processes alive (running, or cleaning up after their result)."},
        {"distconv_worker_encode_fps", "Frames per second of the worker's encoding jobs, summed."},
    };

    wk_jobs_stats(w, &js);
    for (size_t k = 0; k < sizeof fam / sizeof fam[0]; k++) {
        double v;
        switch (k) {
        case 0: v = 1; break;
        case 1: v = w->state == CONN_READY; break;
        case 2: v = w->draining; break;
        case 3: v = w->busy; break;
        case 4: v = w->hello->benchmarking; break;
        case 5: v = (double)w->s->max_jobs; break;
        case 6: v = js.used[0] + js.used[1]; break;
        case 7: v = js.processes; break;
        default: v = js.fps; break;
        }
        dcv_prom_family(f, fam[k].name, "gauge", fam[k].help);
        dcv_prom_worker_sample(f, fam[k].name, id, v);
    }
    dcv_prom_family(f, "distconv_worker_class_slots", "gauge",
                    "Jobs of a class (cpu: software encoders, gpu: hardware) the worker runs at "
                    "once.");
    for (int g = 0; g < 2; g++) {
        fprintf(f, "distconv_worker_class_slots{worker=\"");
        dcv_prom_label(f, id);
        fprintf(f, "\",class=\"%s\"} %u\n", g ? "gpu" : "cpu", js.limit[g]);
    }
    dcv_prom_family(f, "distconv_worker_class_slots_used", "gauge",
                    "Jobs of a class holding a slot of the worker.");
    for (int g = 0; g < 2; g++) {
        fprintf(f, "distconv_worker_class_slots_used{worker=\"");
        dcv_prom_label(f, id);
        fprintf(f, "\",class=\"%s\"} %u\n", g ? "gpu" : "cpu", js.used[g]);
    }
    dcv_prom_family(f, "distconv_worker_transfer_bytes_total", "counter",
                    "Data-plane bytes of this worker's jobs since start, whole files: inputs "
                    "fetched (download; a copy once its job accepted, a stream once its job is "
                    "done) and outputs uploaded (upload).");
    fprintf(f, "distconv_worker_transfer_bytes_total{worker=\"");
    dcv_prom_label(f, id);
    fprintf(f, "\",direction=\"download\"} %" PRIu64 "\n", w->xfer_rx);
    fprintf(f, "distconv_worker_transfer_bytes_total{worker=\"");
    dcv_prom_label(f, id);
    fprintf(f, "\",direction=\"upload\"} %" PRIu64 "\n", w->xfer_tx);
}

/* What HELLO announces of each encoder device: capabilities, availability
 * and the startup benchmark's figures. */
static void devices(struct dcv_worker *w, FILE *f)
{
    const struct dcv_proto_hello *h = w->hello;

    dcv_prom_family(f, "distconv_device_available", "gauge",
                    "1 per encoder device the worker probed that can encode now, 0 when not "
                    "(its log and `distconvctl workers` say why).");
    for (size_t k = 0; k < h->n_devices; k++)
        device_sample(f, "distconv_device_available", h->worker_id, &h->devices[k], "hardware",
                      h->devices[k].caps.flags & DCV_CAP_HARDWARE ? "1" : "0",
                      (h->devices[k].caps.flags & DCV_CAP_AVAILABLE) != 0);
    dcv_prom_family(f, "distconv_device_codec_info", "gauge",
                    "1 per codec an encoder device encodes, with its libavcodec encoder.");
    for (size_t k = 0; k < h->n_devices; k++) {
        const struct dcv_device_caps *cp = &h->devices[k].caps;
        for (uint32_t c = 0; c < cp->n_codecs && c < DCV_MAX_CODECS; c++) {
            fprintf(f, "distconv_device_codec_info{worker=\"");
            dcv_prom_label(f, h->worker_id);
            fprintf(f, "\",plugin=\"");
            dcv_prom_label(f, h->devices[k].plugin);
            fprintf(f, "\",device=\"");
            dcv_prom_label(f, cp->device_id);
            fprintf(f, "\",codec=\"");
            dcv_prom_label(f, cp->codecs[c].codec);
            fprintf(f, "\",encoder=\"");
            dcv_prom_label(f, cp->codecs[c].encoder);
            fprintf(f, "\"} 1\n");
        }
    }
    dcv_prom_family(f, "distconv_device_bench_fps", "gauge",
                    "The startup benchmark's frames per second of a device by codec.");
    for (size_t k = 0; k < h->n_devices; k++)
        for (size_t b = 0; b < h->devices[k].n_bench && b < DCV_MAX_CODECS; b++)
            device_sample(f, "distconv_device_bench_fps", h->worker_id, &h->devices[k], "codec",
                          h->devices[k].bench[b].codec, h->devices[k].bench[b].fps);
}

/* Per GPU of a hardware device: this worker's jobs on it, NVML's count of
 * every process's sessions (other software's part), the device's limit. */
static int gpu_sessions(struct dcv_worker *w, const struct dcv_proto_telemetry *t, FILE *f)
{
    const struct dcv_proto_hello *h = w->hello;
    struct dcv_prom_sessions *rows = calloc(h->n_devices + 1, sizeof *rows);
    size_t n = 0;

    if (!rows)
        return -ENOMEM;
    for (size_t k = 0; k < h->n_devices; k++) {
        const struct dcv_device_caps *cp = &h->devices[k].caps;
        size_t i;
        if ((cp->flags & (DCV_CAP_HARDWARE | DCV_CAP_AVAILABLE)) !=
            (DCV_CAP_HARDWARE | DCV_CAP_AVAILABLE))
            continue; /* software, or a GPU it could not use ("none") */
        for (i = 0; i < n && strcmp(rows[i].gpu, cp->device_id) != 0; i++)
            ;
        if (i == n)
            rows[n++] = (struct dcv_prom_sessions){h->worker_id, cp->device_id, 0, -1,
                                                   cp->max_sessions ? (int64_t)cp->max_sessions : -1};
        rows[i].used += wk_jobs_on(w, h->devices[k].plugin, cp->device_id);
    }
    for (size_t i = 0; i < n && t; i++)
        for (size_t g = 0; g < t->n_gpus && g < DCV_PROTO_MAX_GPUS; g++)
            if (t->gpus[g].enc_sessions >= 0 && strcmp(t->gpus[g].id, rows[i].gpu) == 0) {
                int64_t all = t->gpus[g].enc_sessions;
                rows[i].other = all > rows[i].used ? all - rows[i].used : 0;
                rows[i].used += rows[i].other;
            }
    dcv_prom_gpu_sessions(f, rows, n);
    free(rows);
    return 0;
}

static int write_metrics(void *ud, FILE *f)
{
    struct dcv_worker *w = ud;
    const struct dcv_proto_telemetry *t = wk_telemetry(w);
    struct dcv_prom_host host = {.worker = w->hello->worker_id, .tel = t};

    dcv_prom_family(f, "distconv_build_info", "gauge", "The running distconv version.");
    fprintf(f, "distconv_build_info{version=\"%s\"} 1\n", PACKAGE_VERSION);
    state(w, f);
    devices(w, f);
    dcv_prom_hosts(f, &host, t ? 1 : 0);
    if (gpu_sessions(w, t, f) < 0)
        return -ENOMEM;
    dcv_prom_process(f, w->started_wall_ms);
    return 0;
}

static void on_metrics(void *ud, const struct dcv_http_req *rq, struct dcv_http_reply *out)
{
    (void)rq;
    dcv_prom_reply(out, write_metrics, ud);
}

/* A worker keeps no tokens: its listener is loopback only (checked at
 * start), read-only, and open to whoever reaches it there. */
static int authorize(void *ud, struct dcv_http_req *rq, enum dcv_action act,
                     struct dcv_http_reply *deny)
{
    (void)ud;
    (void)deny;
    (void)act;
    rq->who.roles = DCV_AUTH_VIEWER;
    return 0;
}

static const struct dcv_http_route routes[] = {
    {"GET", "/metrics", DCV_ACT_METRICS, on_metrics, 0},
};

int wk_http_start(struct dcv_worker *w, char *err, size_t errlen)
{
    const struct dcv_settings *s = w->s;
    struct dcv_http_opts o = {
        .bind = s->worker_http_bind,
        .max_connections = (unsigned)s->http_max_connections,
        .per_ip = (unsigned)s->http_per_ip,
        .timeout_s = (unsigned)s->http_timeout_s,
        .authorize = authorize,
    };
    struct timespec ts;
    int off, r;

    if ((r = dcv_http_bind_local("worker.http_bind", s->worker_http_bind, "127.0.0.1:7481", &off,
                                 err, errlen)) < 0 || off)
        return r;
    clock_gettime(CLOCK_REALTIME, &ts);
    w->started_wall_ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    if ((r = dcv_httpd_start(w->loop, &o, routes, sizeof routes / sizeof routes[0], w, &w->http,
                             err, errlen)) < 0)
        return r;
    dcv_log(DCV_LOG_INFO, COMP, "worker http endpoint bound: http://%s/metrics",
            s->worker_http_bind);
    return 0;
}

void wk_http_free(struct dcv_worker *w)
{
    dcv_httpd_free(&w->http);
}
