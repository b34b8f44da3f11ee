/*
 * The base layer: the attempts out with workers, the GPU session holds
 * after -EBUSY, the store-event wrapper and the kicks (attempts.h).
 */
#include "coordinator/attempts.h"
#include "coordinator/http.h"
#include "coordinator/stats.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "loop.h"

uint64_t co_now(void)
{
    return dcv_loop_now_ms();
}

int64_t co_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct co_job *co_job_find(struct dcv_coord *c, const char *id)
{
    for (struct co_job *j = c->att.jobs; j; j = j->next)
        if (strcmp(j->id, id) == 0)
            return j;
    return NULL;
}

struct co_job *co_job_add(struct dcv_coord *c, const char *id)
{
    struct co_job *j = co_job_find(c, id);
    if (j)
        return j;
    if (!(j = calloc(1, sizeof *j)))
        return NULL;
    copy_str(j->id, sizeof j->id, id);
    co_progress_init(&j->prog);
    j->next = c->att.jobs;
    c->att.jobs = j;
    return j;
}

unsigned co_held_by(struct dcv_coord *c, const struct co_worker *w)
{
    unsigned n = 0;
    for (struct co_job *j = c->att.jobs; j; j = j->next)
        if (strcmp(j->worker, w->id) == 0)
            n++;
    return n;
}

unsigned co_jobs_stalled(struct dcv_coord *c)
{
    unsigned n = 0;
    for (struct co_job *j = c->att.jobs; j; j = j->next)
        n += j->prog.stalled != 0;
    return n;
}

int co_apply_ev(struct dcv_coord *c, const char *job_id, enum dcv_job_event ev, int attempt,
                const char *note, const char *worker, const char *session, const char *error,
                struct dcv_job *out)
{
    char err[512];
    struct dcv_job mine;
    /* /metrics counts the jobs an event ends (stats.c), and the event
     * stream's clients see every change but PROGRESS (once a second, from
     * http_events.c's tick): only those need the job read back, never
     * PROGRESS at heartbeat rate. */
    int may_end = ev == DCV_EV_SUCCEED || ev == DCV_EV_REJECT || ev == DCV_EV_FAIL_RETRYABLE ||
                  ev == DCV_EV_FAIL_PERMANENT || ev == DCV_EV_WORKER_LOST || ev == DCV_EV_CANCEL;
    int watched = ev != DCV_EV_PROGRESS && dcv_httpd_streams(c->http) > 0;
    struct dcv_job *j = out ? out : may_end || watched ? &mine : NULL;
    int r;

    memset(&mine, 0, sizeof mine);
    r = dcv_store_apply(c->store, job_id, ev, attempt, note, worker, session, error, j, err,
                        sizeof err);
    if (r == 0)
        co_stats_event(c, (int)ev, j ? (int)j->state : -1);
    if (r == 0 && watched)
        co_events_job(c, j);
    dcv_job_clear(&mine);
    if (r == -ESTALE || r == -EINVAL || r == -ENOENT)
        dcv_log(DCV_LOG_DEBUG, CO_LOG, "ignored %s for job %s attempt %d: %s",
                dcv_job_event_name(ev), job_id, attempt, err);
    else if (r < 0)
        dcv_log(DCV_LOG_ERROR, CO_LOG, "job %s: %s: %s", job_id, dcv_job_event_name(ev), err);
    return r;
}

static void pump_cb(struct dcv_loop *loop, uint64_t id, void *arg);

void co_arm_pump(struct dcv_coord *c)
{
    uint64_t d = dcv_xsrv_deadline(c->xsrv), now = co_now();
    char err[256];

    if (c->att.pump_timer && c->att.pump_at == d)
        return;
    if (c->att.pump_timer) {
        dcv_loop_cancel_timer(c->loop, c->att.pump_timer);
        c->att.pump_timer = 0;
    }
    if (d == UINT64_MAX)
        return;
    if (dcv_loop_add_timer(c->loop, d > now ? d - now : 0, 0, pump_cb, c, &c->att.pump_timer, err,
                           sizeof err) == 0)
        c->att.pump_at = d;
    else
        c->att.pump_timer = 0; /* the tick pumps as a fallback */
}

static void pump_cb(struct dcv_loop *loop, uint64_t id, void *arg)
{
    struct dcv_coord *c = arg;
    (void)loop;
    (void)id;
    c->att.pump_timer = 0;
    dcv_xsrv_pump(c->xsrv, co_now());
    co_arm_pump(c);
}

/* The kick: one dispatch pass from the loop, soon, however many ask. The
 * pass is dispatch.c's, reached through the pointer dcv_coord_new set. */
static void kick_cb(struct dcv_loop *loop, uint64_t id, void *arg)
{
    struct dcv_coord *c = arg;
    (void)loop;
    (void)id;
    c->att.kick_timer = 0;
    c->att.dispatch(c);
}

void co_dispatch_soon(struct dcv_coord *c)
{
    char err[256];
    if (c->att.kick_timer)
        return;
    if (dcv_loop_add_timer(c->loop, 0, 0, kick_cb, c, &c->att.kick_timer, err, sizeof err) < 0) {
        c->att.kick_timer = 0;
        c->att.dispatch(c);
    }
}

static struct co_hold *hold_find(struct dcv_coord *c, const char *key)
{
    for (size_t i = 0; i < c->holds.n; i++)
        if (strcmp(c->holds.v[i].key, key) == 0)
            return &c->holds.v[i];
    return NULL;
}

static void hold_drop(struct dcv_coord *c, const char *key)
{
    struct co_hold *h = hold_find(c, key);
    if (!h)
        return;
    dcv_log(DCV_LOG_DEBUG, CO_LOG, "%s: session limit hold ended (a job on it ended)", key);
    *h = c->holds.v[--c->holds.n];
    co_dispatch_soon(c);
}

/* Drop expired holds; 1 when one was dropped. */
int co_hold_expire(struct dcv_coord *c, uint64_t now)
{
    int any = 0;
    for (size_t i = 0; i < c->holds.n;) {
        if (now >= c->holds.v[i].until) {
            dcv_log(DCV_LOG_INFO, CO_LOG, "%s: session limit hold of %u expired",
                    c->holds.v[i].key, c->holds.v[i].limit);
            c->holds.v[i] = c->holds.v[--c->holds.n];
            any = 1;
        } else {
            i++;
        }
    }
    return any;
}

int co_hold_set(struct dcv_coord *c, const char *key, uint32_t limit, uint64_t until)
{
    struct co_hold *h = hold_find(c, key);
    if (!h) {
        if (c->holds.n == c->holds.cap) {
            size_t cap = c->holds.cap ? 2 * c->holds.cap : 8;
            struct co_hold *v = realloc(c->holds.v, cap * sizeof *v);
            if (!v)
                return -ENOMEM;
            c->holds.v = v;
            c->holds.cap = cap;
        }
        h = &c->holds.v[c->holds.n++];
        copy_str(h->key, sizeof h->key, key);
    }
    h->limit = limit;
    h->until = until;
    return 0;
}

void co_job_release(struct dcv_coord *c, const char *job_id, int code, const char *reason)
{
    struct co_job **pp = &c->att.jobs, *j;
    char id[DCV_PROTO_JOB_ID];
    int attempt = 0;

    copy_str(id, sizeof id, job_id);
    while ((j = *pp)) {
        if (strcmp(j->id, id) == 0) {
            *pp = j->next;
            attempt = j->attempt;
            /* A session freed on that GPU: what an -EBUSY taught us about
             * its limit is worth a fresh try. */
            if (j->skey[0])
                hold_drop(c, j->skey);
            free(j);
            break;
        }
        pp = &j->next;
    }
    /* After forgetting it: the abort's callbacks must find no attempt to update. */
    if (c->xsrv)
        dcv_xsrv_abort_job(c->xsrv, id, code, reason);
    if (c->xsrv)
        co_arm_pump(c);
    /* Nobody resumes an output of an attempt that is over: its part (the
     * abort above closed it) only takes disk. A committed output stays. */
    if (attempt > 0 && c->blobs) {
        char file[32], path[PATH_MAX], err[256];
        snprintf(file, sizeof file, "out-%d", attempt);
        if (dcv_blobs_job_path(c->blobs, id, file, 0, path, sizeof path, err, sizeof err) == 0)
            dcv_blobs_discard_part(path);
    }
}

void co_attempts_free(struct dcv_coord *c)
{
    while (c->att.jobs) {
        struct co_job *j = c->att.jobs;
        c->att.jobs = j->next;
        free(j);
    }
    free(c->holds.v);
    c->holds.v = NULL;
    c->holds.n = c->holds.cap = 0;
}
