/*
 * GET /api/v1/events (docs/api.md): Server-Sent Events so the dashboard
 * updates without polling. A job event goes out when a job changes state
 * (co_events_job, from where the change is applied) and, at most once a
 * second, while its progress moves; a worker event when it comes, goes,
 * drains or its slots change, and every 5 s with its telemetry. Nothing
 * is built while no stream is open.
 *
 * Who sees what follows the permission table: a submitter's stream carries
 * its own jobs only and no workers.
 */
#include "coordinator/http.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "auth.h"
#include "coordinator/admin.h"
#include "coordinator/attempts.h"
#include "coordinator/jobrec.h"
#include "coordinator/registry.h"
#include "coordinator/store.h"
#include "log.h"
#include "loop.h"

#define TICK_MS 1000
#define WORKER_EVERY_MS 5000

/* A worker as last published. */
struct co_wsig {
    char id[DCV_PROTO_ID];
    int online, draining, busy, benchmarking;
    int64_t slots, used;
    uint64_t sent;
};

/* "event: NAME\ndata: JSON\n\n" (JSON has no newline: one data line). */
static char *sse(const char *name, json_object *o, size_t *len)
{
    const char *j = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
    char *text = NULL;
    int n = j ? asprintf(&text, "event: %s\ndata: %s\n\n", name, j) : -1;

    if (n < 0)
        return NULL;
    *len = (size_t)n;
    return text;
}

struct job_want {
    const char *owner;
};

static int want_job(void *ctx, const struct dcv_http_who *who)
{
    const struct job_want *w = ctx;
    if (!dcv_perm_allows(who->roles, DCV_ACT_EVENTS) || !dcv_perm_allows(who->roles, DCV_ACT_JOBS_READ))
        return 0;
    return !dcv_perm_own_only(who->roles, DCV_ACT_EVENTS) || strcmp(w->owner, who->name) == 0;
}

static int want_worker(void *ctx, const struct dcv_http_who *who)
{
    (void)ctx;
    return dcv_perm_allows(who->roles, DCV_ACT_WORKERS_READ);
}

void co_events_job(struct dcv_coord *c, const struct dcv_job *job)
{
    struct co_input in;
    struct job_want w;
    json_object *o;
    char err[256], *text;
    size_t len;

    if (!dcv_httpd_streams(c->http))
        return;
    (void)co_input_parse(c, job->input_json, &in, err, sizeof err);
    w.owner = in.submitter;
    if ((o = co_admin_job_json(c, job, 0))) {
        if ((text = sse("job", o, &len))) {
            dcv_httpd_publish(c->http, text, len, want_job, &w);
            free(text);
        }
        json_object_put(o);
    }
}

/* The same for a job known by its id (the progress tick's). */
static void events_job_id(struct dcv_coord *c, const char *job_id)
{
    struct dcv_job job;
    char err[256];

    if (!dcv_httpd_streams(c->http) || dcv_store_get(c->store, job_id, &job, err, sizeof err) < 0)
        return;
    co_events_job(c, &job);
    dcv_job_clear(&job);
}

static struct co_wsig *wsig_for(struct dcv_coord *c, const char *id)
{
    struct co_wsig *v;

    for (size_t i = 0; i < c->web.n_wsig; i++)
        if (strcmp(c->web.wsig[i].id, id) == 0)
            return &c->web.wsig[i];
    if (!(v = realloc(c->web.wsig, (c->web.n_wsig + 1) * sizeof *v)))
        return NULL;
    c->web.wsig = v;
    v = &v[c->web.n_wsig++];
    memset(v, 0, sizeof *v);
    snprintf(v->id, sizeof v->id, "%s", id);
    v->online = -1; /* never published */
    return v;
}

static void publish_workers(struct dcv_coord *c, uint64_t now)
{
    for (struct co_worker *w = c->reg.workers; w; w = w->next) {
        struct co_wsig *s = wsig_for(c, w->id), n;
        json_object *o;
        char *text;
        size_t len;

        if (!s)
            return;
        memset(&n, 0, sizeof n);
        n.online = w->online;
        n.draining = w->admin_drain || (w->has_tel && w->tel.draining);
        n.busy = w->has_tel && w->tel.busy;
        n.benchmarking = w->benchmarking;
        n.slots = w->slots;
        n.used = co_held_by(c, w);
        if (s->online == n.online && s->draining == n.draining && s->busy == n.busy &&
            s->benchmarking == n.benchmarking && s->slots == n.slots && s->used == n.used &&
            (!w->online || now - s->sent < WORKER_EVERY_MS))
            continue;
        s->online = n.online;
        s->draining = n.draining;
        s->busy = n.busy;
        s->benchmarking = n.benchmarking;
        s->slots = n.slots;
        s->used = n.used;
        s->sent = now;
        if (!(o = co_admin_worker_json(c, w, 0)))
            continue;
        if ((text = sse("worker", o, &len))) {
            dcv_httpd_publish(c->http, text, len, want_worker, NULL);
            free(text);
        }
        json_object_put(o);
    }
}

static void on_tick(struct dcv_loop *loop, uint64_t id, void *arg)
{
    struct dcv_coord *c = arg;
    uint64_t now = co_now();
    (void)loop;
    (void)id;

    if (!dcv_httpd_streams(c->http))
        return;
    publish_workers(c, now);
    /* Progress that moved (or stalled) since the last event. */
    for (struct co_job *j = c->att.jobs; j; j = j->next)
        if (j->prog.has && (j->ev_pct != j->prog.pct || j->ev_frames != j->prog.frames ||
                            j->ev_stalled != j->prog.stalled)) {
            j->ev_pct = j->prog.pct;
            j->ev_frames = j->prog.frames;
            j->ev_stalled = j->prog.stalled;
            events_job_id(c, j->id);
        }
}

void co_api_events(void *ud, const struct dcv_http_req *rq, struct dcv_http_reply *out)
{
    struct dcv_coord *c = ud;
    char *text = NULL;
    int n;

    (void)rq;
    /* Workers already published stay as they were for the others; this
     * client reads the current state from /workers and /jobs. */
    n = asprintf(&text, "retry: 3000\nevent: hello\ndata: {\"coordinator_epoch\":\"%s\"}\n\n",
                 c->epoch);
    if (n < 0) {
        dcv_http_error(out, 500, "coordinator out of memory");
        return;
    }
    out->body = text;
    out->len = (size_t)n;
    out->stream = 1;
    dcv_http_add_header(out, "Cache-Control", "no-store");
    dcv_http_add_header(out, "X-Accel-Buffering", "no");
}

int co_events_start(struct dcv_coord *c, char *err, size_t errlen)
{
    return dcv_loop_add_timer(c->loop, TICK_MS, TICK_MS, on_tick, c, &c->web.events_timer, err,
                              errlen);
}

void co_events_stop(struct dcv_coord *c)
{
    if (c->web.events_timer)
        dcv_loop_cancel_timer(c->loop, c->web.events_timer);
    c->web.events_timer = 0;
    free(c->web.wsig);
    c->web.wsig = NULL;
    c->web.n_wsig = 0;
}
