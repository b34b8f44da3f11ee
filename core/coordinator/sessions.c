/*
 * The cluster-wide GPU session table for the scheduler (sessions.h).
 */
#include "coordinator/sessions.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coordinator/attempts.h"
#include "log.h"

void co_sessions_free(struct co_sess *t)
{
    free(t->s);
    free(t->obs);
    free(t->txt);
    memset(t, 0, sizeof *t);
}

struct dcv_sched_session *co_sessions_slot(struct co_sess *t, const char *key)
{
    size_t k;
    for (k = 0; k < t->n && strcmp(t->s[k].key, key) != 0; k++)
        ;
    if (k == t->n) {
        if (t->n == t->cap)
            return NULL;
        memset(&t->s[k], 0, sizeof t->s[k]);
        t->s[k].key = key;
        t->n++;
    }
    return &t->s[k];
}

int co_sessions_build(struct dcv_coord *c, const char *exclude, size_t extra, struct co_sess *t)
{
    size_t nj = 0, ng = 0, no = 0;
    memset(t, 0, sizeof *t);
    for (struct co_job *j = c->att.jobs; j; j = j->next)
        nj++;
    for (struct co_worker *w = c->reg.workers; w; w = w->next)
        if (w->online && w->has_tel)
            ng += w->tel.n_gpus < DCV_PROTO_MAX_GPUS ? w->tel.n_gpus : DCV_PROTO_MAX_GPUS;
    t->cap = nj + ng + c->holds.n + extra + 1;
    t->s = calloc(t->cap, sizeof *t->s);
    t->obs = calloc(ng + 1, sizeof *t->obs);
    t->txt = calloc(2 * ng + 1, sizeof *t->txt);
    if (!t->s || !t->obs || !t->txt) {
        co_sessions_free(t);
        return -ENOMEM;
    }
    for (struct co_job *j = c->att.jobs; j; j = j->next) {
        struct dcv_sched_session *x;
        if (!j->skey[0] || (exclude && strcmp(j->id, exclude) == 0))
            continue;
        if ((x = co_sessions_slot(t, j->skey)))
            x->used++;
    }
    /* Sessions other software holds: NVML counts every process's, ours
     * included, per physical GPU. */
    for (struct co_worker *w = c->reg.workers; w; w = w->next) {
        size_t n;
        if (!w->online || !w->has_tel)
            continue;
        n = w->tel.n_gpus < DCV_PROTO_MAX_GPUS ? w->tel.n_gpus : DCV_PROTO_MAX_GPUS;
        for (size_t g = 0; g < n; g++) {
            const struct dcv_proto_gpu *gp = &w->tel.gpus[g];
            struct dcv_sched_worker view = {0};
            struct dcv_sched_device dv = {0};
            size_t k;
            uint32_t ours = 0;
            if (gp->enc_sessions < 0 || !gp->id[0])
                continue;
            for (k = 0; k < w->n_devices; k++) {
                const struct dcv_device_caps *cp = &w->devices[k].caps;
                if ((cp->flags & DCV_CAP_HARDWARE) &&
                    strncmp(cp->device_id, gp->id, sizeof cp->device_id) == 0)
                    break;
            }
            if (k == w->n_devices)
                continue; /* a GPU no encoder plugin of this worker uses */
            view.id = w->id;
            view.host = w->host;
            dv.plugin = w->devices[k].plugin;
            dv.caps = &w->devices[k].caps;
            if (dcv_sched_session_key(&view, &dv, t->txt[2 * no], sizeof t->txt[0]) != 0)
                continue;
            snprintf(t->txt[2 * no + 1], sizeof t->txt[0], "%s/%s", w->host, gp->id);
            for (struct co_job *j = c->att.jobs; j; j = j->next)
                if (j->phys[0] && strcmp(j->phys, t->txt[2 * no + 1]) == 0 &&
                    !(exclude && strcmp(j->id, exclude) == 0))
                    ours++;
            t->obs[no].key = t->txt[2 * no];
            t->obs[no].phys = t->txt[2 * no + 1];
            t->obs[no].enc_sessions = gp->enc_sessions;
            t->obs[no].ours = ours;
            t->obs[no].at = (int64_t)w->tel_at;
            no++;
        }
    }
    (void)dcv_sched_add_external(t->s, &t->n, t->cap, t->obs, no);
    for (size_t i = 0; i < c->holds.n; i++) {
        struct dcv_sched_session *x = co_sessions_slot(t, c->holds.v[i].key);
        if (x) {
            x->limit = c->holds.v[i].limit;
            x->hold = true;
        }
    }
    dcv_sched_sessions_sort(t->s, t->n);
    return 0;
}

/* A job with a hardware placement came back busy (-EBUSY at open): the
 * device has fewer sessions than we thought. Count it full at what is in
 * use there now, without this job, for queue.busy_hold_s. 1 when held. */
int co_hold_after_busy(struct dcv_coord *c, const char *job_id, const char *skey, const char *dev)
{
    struct co_sess t;
    uint32_t used = 0;
    if (co_sessions_build(c, job_id, 0, &t) < 0)
        return 0;
    for (size_t i = 0; i < t.n; i++)
        if (strcmp(t.s[i].key, skey) == 0)
            used = t.s[i].used;
    co_sessions_free(&t);
    if (co_hold_set(c, skey, used, co_now() + (uint64_t)c->set->busy_hold_s * 1000u) < 0)
        return 0;
    dcv_log(DCV_LOG_WARN, CO_LOG, "%s refused a session with %u in use: limit %u for %d s (key %s)",
            dev, used, used, c->set->busy_hold_s, skey);
    return 1;
}

/* Count job j against device dev of worker view, as the session table,
 * the GPU classes and the -EBUSY holds see it: its session key ("" for
 * an unlimited device), whether it is a GPU job, and for a GPU job its
 * physical device "host/device_id". */
void co_job_place(struct co_job *j, const struct dcv_sched_worker *view,
                  const struct dcv_sched_device *dev)
{
    const struct dcv_device_caps *caps = dev->caps;
    int n = (int)strnlen(caps->device_id, sizeof caps->device_id);

    if (dcv_sched_session_key(view, dev, j->skey, sizeof j->skey) != 0)
        j->skey[0] = '\0';
    j->hw = (caps->flags & DCV_CAP_HARDWARE) != 0;
    j->phys[0] = '\0';
    if (j->hw)
        snprintf(j->phys, sizeof j->phys, "%s/%.*s", view->host ? view->host : "", n,
                 caps->device_id);
    snprintf(j->place_dev, sizeof j->place_dev, "%.*s", n, caps->device_id);
}

/* A restarted coordinator learns where re-attached jobs encode from
 * HELLO.running (the JOB's placement): count them against that device's
 * session key again, as assign() did, or a GPU whose sessions are all in use
 * would look free. */
void co_reattach_sessions(struct dcv_coord *c, const struct co_worker *w)
{
    for (struct co_job *j = c->att.jobs; j; j = j->next) {
        struct dcv_sched_worker view = {0};
        struct dcv_sched_device dv = {0};
        const struct dcv_device_caps *cp = NULL;
        size_t k;
        if (!j->reattach_plugin[0] || strcmp(j->worker, w->id) != 0)
            continue;
        for (k = 0; k < w->n_devices; k++) {
            cp = &w->devices[k].caps;
            if (strcmp(w->devices[k].plugin, j->reattach_plugin) == 0 &&
                strncmp(cp->device_id, j->place_dev, sizeof cp->device_id) == 0)
                break;
        }
        j->reattach_plugin[0] = '\0';
        if (k == w->n_devices)
            continue; /* the device is gone: the job will fail and free nothing */
        view.id = w->id;
        view.host = w->host;
        dv.plugin = w->devices[k].plugin;
        dv.caps = cp;
        co_job_place(j, &view, &dv);
        dcv_log(DCV_LOG_DEBUG, CO_LOG, "job %s re-attached on %s %s: session key \"%s\"", j->id,
                dv.plugin, j->place_dev, j->skey);
    }
}
