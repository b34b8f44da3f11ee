/*
 * Admin verbs about workers (admin_int.h): workers, worker, drain, undrain.
 */
#include "coordinator/admin_int.h"

#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

#include "caps_json.h"
#include "coordinator/attempts.h"
#include "coordinator/outbox.h"
#include "coordinator/registry.h"
#include "log.h"

static void opt_dbl(json_object *o, const char *key, double v)
{
    if (v >= 0)
        json_object_object_add(o, key, json_object_new_double(v));
}

static void opt_int(json_object *o, const char *key, int64_t v)
{
    if (v >= 0)
        json_object_object_add(o, key, json_object_new_int64(v));
}

/* full: also the per-core figures (up to 512 numbers a worker: kept out
 * of the `workers` list, which must fit in one reply for many workers). */
static json_object *telemetry_json(const struct dcv_proto_telemetry *t, int full)
{
    json_object *o = json_object_new_object();
    if (!o)
        return NULL;
    json_object_object_add(o, "cpu_pct", json_object_new_double(t->cpu_pct));
    json_object_object_add(o, "load1", json_object_new_double(t->load1));
    json_object_object_add(o, "ncpu", json_object_new_int64(t->ncpu));
    json_object_object_add(o, "mem_total", json_object_new_int64(t->mem_total));
    json_object_object_add(o, "mem_avail", json_object_new_int64(t->mem_avail));
    json_object_object_add(o, "disk_total", json_object_new_int64(t->disk_total));
    json_object_object_add(o, "disk_free", json_object_new_int64(t->disk_free));
    json_object_object_add(o, "slots_used", json_object_new_int64(t->slots_used));
    json_object_object_add(o, "busy", json_object_new_boolean(t->busy));
    json_object_object_add(o, "draining", json_object_new_boolean(t->draining));
    /* The optional figures (issue 5) as the worker sent them: an unknown
     * one (-1) is left out, as on the wire. */
    if (t->busy_reason[0])
        json_object_object_add(o, "busy_reason", jstr(t->busy_reason));
    opt_dbl(o, "load5", t->load5);
    opt_dbl(o, "load15", t->load15);
    opt_int(o, "swap_total", t->swap_total);
    opt_int(o, "swap_free", t->swap_free);
    opt_dbl(o, "net_rx_bps", t->net_rx_bps);
    opt_dbl(o, "net_tx_bps", t->net_tx_bps);
    opt_dbl(o, "temp_c", t->temp_c);
    if (full && t->n_cores) {
        json_object *a = json_object_new_array();
        for (size_t i = 0; a && i < t->n_cores && i < DCV_PROTO_MAX_CORES; i++)
            json_object_array_add(a, json_object_new_double(t->cores[i]));
        if (a)
            json_object_object_add(o, "cores", a);
    }
    if (t->has_psi) {
        json_object *p = json_object_new_object();
        if (p) {
            json_object_object_add(p, "cpu_some", json_object_new_double(t->psi.cpu_some));
            json_object_object_add(p, "mem_some", json_object_new_double(t->psi.mem_some));
            json_object_object_add(p, "mem_full", json_object_new_double(t->psi.mem_full));
            json_object_object_add(p, "io_some", json_object_new_double(t->psi.io_some));
            json_object_object_add(p, "io_full", json_object_new_double(t->psi.io_full));
            json_object_object_add(o, "psi", p);
        }
    }
    if (t->n_gpus) {
        json_object *a = json_object_new_array();
        for (size_t i = 0; a && i < t->n_gpus && i < DCV_PROTO_MAX_GPUS; i++) {
            const struct dcv_proto_gpu *g = &t->gpus[i];
            json_object *e = json_object_new_object();
            if (!e)
                continue;
            json_object_object_add(e, "id", jstr(g->id));
            if (g->name[0])
                json_object_object_add(e, "name", jstr(g->name));
            if (g->pci[0])
                json_object_object_add(e, "pci", jstr(g->pci));
            opt_dbl(e, "util_pct", g->util_pct);
            opt_dbl(e, "enc_pct", g->enc_pct);
            opt_dbl(e, "dec_pct", g->dec_pct);
            opt_int(e, "mem_total", g->mem_total);
            opt_int(e, "mem_used", g->mem_used);
            opt_dbl(e, "temp_c", g->temp_c);
            opt_dbl(e, "power_w", g->power_w);
            opt_int(e, "enc_sessions", g->enc_sessions);
            json_object_array_add(a, e);
        }
        if (a)
            json_object_object_add(o, "gpus", a);
    }
    return o;
}

json_object *co_admin_worker_json(struct dcv_coord *c, struct co_worker *w, int full)
{
    json_object *o = json_object_new_object(), *arr;
    char err[256];

    if (!o)
        return NULL;
    json_object_object_add(o, "worker_id", jstr(w->id));
    json_object_object_add(o, "state", jstr(w->online ? "online" : "offline"));
    json_object_object_add(o, "draining",
                           json_object_new_boolean(w->admin_drain || (w->has_tel && w->tel.draining)));
    json_object_object_add(o, "busy", json_object_new_boolean(w->has_tel && w->tel.busy));
    /* Registered, startup benchmark still measuring: unknown speed. */
    json_object_object_add(o, "benchmarking", json_object_new_boolean(w->online && w->benchmarking));
    if (w->has_tel && w->tel.busy && w->tel.busy_reason[0])
        json_object_object_add(o, "busy_reason", jstr(w->tel.busy_reason));
    json_object_object_add(o, "slots", json_object_new_int64(w->slots));
    json_object_object_add(o, "slots_used", json_object_new_int64(co_held_by(c, w)));
    json_object_object_add(o, "host", jstr(w->host));
    json_object_object_add(o, "hostname", jstr(w->hostname));
    json_object_object_add(o, "version", jstr(w->version));
    json_object_object_add(o, "session", jstr(w->session));
    json_object_object_add(o, "last_seen_ms", json_object_new_int64(w->last_seen_ms));
    json_object_object_add(o, "telemetry", w->has_tel ? telemetry_json(&w->tel, full) : json_object_new_object());
    if ((arr = json_object_new_array())) {
        for (struct co_job *j = c->att.jobs; j; j = j->next) {
            json_object *e;
            if (strcmp(j->worker, w->id) != 0 || !(e = json_object_new_object()))
                continue;
            json_object_object_add(e, "job_id", jstr(j->id));
            json_object_object_add(e, "attempt", json_object_new_int(j->attempt));
            json_object_object_add(e, "progress", json_object_new_double(j->prog.has ? j->prog.pct : 0));
            json_object_array_add(arr, e);
        }
        json_object_object_add(o, "jobs", arr);
    }
    if ((arr = json_object_new_array())) {
        for (size_t i = 0; i < w->n_devices; i++) {
            const struct dcv_device_caps *cp = &w->devices[i].caps;
            json_object *e = NULL;
            if (full) {
                if (dcv_caps_to_json(cp, &e, err, sizeof err) < 0)
                    continue;
            } else {
                json_object *codecs = json_object_new_array();
                if (!(e = json_object_new_object())) {
                    json_object_put(codecs);
                    continue;
                }
                json_object_object_add(e, "device_id", json_object_new_string_len(cp->device_id, (int)strnlen(cp->device_id, sizeof cp->device_id)));
                json_object_object_add(e, "name", json_object_new_string_len(cp->device_name, (int)strnlen(cp->device_name, sizeof cp->device_name)));
                json_object_object_add(e, "available", json_object_new_boolean(!!(cp->flags & DCV_CAP_AVAILABLE)));
                json_object_object_add(e, "hardware", json_object_new_boolean(!!(cp->flags & DCV_CAP_HARDWARE)));
                for (uint32_t k = 0; codecs && k < cp->n_codecs && k < DCV_MAX_CODECS; k++)
                    json_object_array_add(codecs, json_object_new_string_len(cp->codecs[k].codec, (int)strnlen(cp->codecs[k].codec, sizeof cp->codecs[k].codec)));
                json_object_object_add(e, "codecs", codecs);
            }
            json_object_object_add(e, "plugin", jstr(w->devices[i].plugin));
            /* The startup benchmark's figures (-1 / none: not measured). */
            json_object_object_add(e, "bench_fps", json_object_new_double(w->devices[i].bench_fps));
            {
                json_object *b = json_object_new_array();
                for (size_t k = 0; b && k < w->devices[i].n_bench && k < DCV_MAX_CODECS; k++) {
                    json_object *f = json_object_new_object();
                    if (!f)
                        continue;
                    json_object_object_add(f, "codec", jstr(w->devices[i].bench[k].codec));
                    json_object_object_add(f, "fps", json_object_new_double(w->devices[i].bench[k].fps));
                    json_object_array_add(b, f);
                }
                json_object_object_add(e, "bench", b);
            }
            json_object_array_add(arr, e);
        }
        json_object_object_add(o, "devices", arr);
    }
    if (full && (arr = json_object_new_array())) {
        for (size_t i = 0; i < w->n_plugins; i++) {
            json_object *e = json_object_new_object();
            if (!e)
                continue;
            json_object_object_add(e, "name", jstr(w->plugins[i].name));
            json_object_object_add(e, "version", jstr(w->plugins[i].version));
            json_object_object_add(e, "abi_minor", json_object_new_int64(w->plugins[i].abi_minor));
            json_object_array_add(arr, e);
        }
        json_object_object_add(o, "plugins", arr);
    }
    return o;
}

static struct co_worker *find_worker(struct req_ctx *x)
{
    struct co_worker *w = co_worker_find(x->c, x->rq->args.worker_id);
    if (!w)
        FAILR(x, 404, "no worker %s", x->rq->args.worker_id);
    return w;
}

static void reply_worker(struct req_ctx *x, struct co_worker *w, int full)
{
    json_object *o = co_admin_worker_json(x->c, w, full);
    admin_reply(x->c, x->peer, x->rq->req_id, o ? 200 : 500, "coordinator out of memory", o);
}

void admin_workers(struct req_ctx *x)
{
    json_object *body = json_object_new_object(), *arr = json_object_new_array();
    size_t bytes = 0;

    if (!body || !arr) {
        json_object_put(body);
        json_object_put(arr);
        FAILR(x, 500, "coordinator out of memory");
        return;
    }
    for (struct co_worker *w = x->c->reg.workers; w; w = w->next) {
        json_object *o = co_admin_worker_json(x->c, w, 0);
        if (!o)
            continue;
        bytes += strlen(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN)) + 1;
        if (bytes > REPLY_BUDGET) {
            json_object_put(o);
            json_object_object_add(body, "truncated", json_object_new_boolean(1));
            break;
        }
        json_object_array_add(arr, o);
    }
    json_object_object_add(body, "workers", arr);
    admin_reply(x->c, x->peer, x->rq->req_id, 200, NULL, body);
}

static void drain(struct req_ctx *x, int drain)
{
    struct co_worker *w = find_worker(x);
    if (!w)
        return;
    if (w->admin_drain != drain)
        dcv_log(DCV_LOG_INFO, CO_LOG, "worker %s %s by an operator", w->id,
                drain ? "draining" : "undrained");
    w->admin_drain = drain;
    co_send_drain(x->c, w);
    if (!drain)
        co_dispatch_soon(x->c);
    reply_worker(x, w, 0);
}

void admin_worker(struct req_ctx *x)
{
    struct co_worker *w = find_worker(x);
    if (w)
        reply_worker(x, w, 1);
}

void admin_drain(struct req_ctx *x)
{
    drain(x, 1);
}

void admin_undrain(struct req_ctx *x)
{
    drain(x, 0);
}
