/*
 * The worker registry (registry.h): workers coming and going, HELLO,
 * heartbeats and liveness.
 */
#include "coordinator/registry.h"

#include <libavcodec/avcodec.h>
#include "errbuf.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "coordinator/attempts.h"
#include "coordinator/outbox.h"
#include "coordinator/sessions.h"
#include "log.h"
#include "pathutil.h"

struct co_worker *co_worker_find(struct dcv_coord *c, const char *id)
{
    for (struct co_worker *w = c->reg.workers; w; w = w->next)
        if (strcmp(w->id, id) == 0)
            return w;
    return NULL;
}

struct co_worker *co_worker_by_peer(struct dcv_coord *c, const struct dcv_tx_peer *p)
{
    for (struct co_worker *w = c->reg.workers; w; w = w->next)
        if (w->peer.len && dcv_peer_equal(&w->peer, p))
            return w;
    return NULL;
}

int co_worker_reads_path(const struct co_worker *w, const char *file)
{
    for (size_t i = 0; i < w->n_paths; i++)
        if (dcv_path_under(file, w->paths[i]))
            return 1;
    return 0;
}

int co_worker_eligible(const struct co_worker *w)
{
    return w->online && w->peer.len;
}

int co_collect_active(const struct dcv_job *j, void *ud)
{
    struct co_active *a = ud;
    if (a->n == a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 16;
        struct act *v = realloc(a->v, cap * sizeof *v);
        if (!v) {
            a->err = -ENOMEM;
            return 1;
        }
        a->v = v;
        a->cap = cap;
    }
    memset(&a->v[a->n], 0, sizeof a->v[a->n]);
    copy_str(a->v[a->n].id, sizeof a->v[a->n].id, j->id);
    a->v[a->n].attempt = j->attempt;
    a->v[a->n].state = j->state;
    copy_str(a->v[a->n].session, sizeof a->v[a->n].session, j->session);
    copy_str(a->v[a->n].worker, sizeof a->v[a->n].worker, j->worker);
    a->n++;
    return 0;
}

/* The worker is gone: every attempt it held goes back to the queue. */
static void worker_forget(struct dcv_coord *c, struct co_worker *w, const char *why)
{
    struct co_active a = { 0 };
    char err[512];
    int r;

    if (w->peer.len)
        co_drop_backlog(c, c->ctl, &w->peer);
    w->online = 0;
    w->peer.len = 0;
    if (dcv_store_list_active(c->store, w->id, co_collect_active, &a, err, sizeof err) < 0)
        dcv_log(DCV_LOG_ERROR, CO_LOG, "worker %s: %s", w->id, err);
    r = dcv_store_requeue_running_of_worker(c->store, w->id, NULL, why, err, sizeof err);
    if (r < 0)
        dcv_log(DCV_LOG_ERROR, CO_LOG, "requeue jobs of worker %s: %s", w->id, err);
    else if (r > 0)
        dcv_log(DCV_LOG_INFO, CO_LOG, "requeued %d job(s) of worker %s", r, w->id);
    for (size_t i = 0; i < a.n; i++)
        co_job_release(c, a.v[i].id, DCV_CODE_STALE, "worker lost");
    /* in-memory attempts the store no longer has as held (should be none) */
    for (struct co_job *j = c->att.jobs, *next; j; j = next) {
        next = j->next;
        if (strcmp(j->worker, w->id) == 0)
            co_job_release(c, j->id, DCV_CODE_STALE, "worker lost");
    }
    free(a.v);
    co_dispatch_soon(c);
}

/* Silent past its liveness window, or no longer enrolled: an admin should
 * look, so a warning. */
void co_worker_lost(struct dcv_coord *c, struct co_worker *w, const char *why)
{
    dcv_log(DCV_LOG_WARN, CO_LOG, "worker %s (session %s) lost: %s", w->id, w->session, why);
    worker_forget(c, w, why);
}

/* It said DISCONNECT (a clean stop, a restart): nothing is wrong, so an
 * info line; its jobs are requeued all the same. */
void co_worker_left(struct dcv_coord *c, struct co_worker *w, const char *reason)
{
    char why[DCV_PROTO_TEXT + 32];
    snprintf(why, sizeof why, "worker left: %s", reason && reason[0] ? reason : "DISCONNECT");
    dcv_log(DCV_LOG_INFO, CO_LOG, "worker %s (session %s) disconnected: %s", w->id, w->session,
            reason && reason[0] ? reason : "no reason given");
    worker_forget(c, w, why);
}

/* A send found the peer gone: forget the connection; its liveness window
 * decides whether it comes back (HELLO) or is lost. */
void co_peer_gone(struct dcv_coord *c, struct dcv_sock *s, const struct dcv_tx_peer *p)
{
    struct co_worker *w;
    if (s != c->ctl || !(w = co_worker_by_peer(c, p)))
        return;
    dcv_log(DCV_LOG_INFO, CO_LOG, "worker %s: connection gone", w->id);
    w->peer.len = 0;
}

static void send_welcome(struct dcv_coord *c, struct co_worker *w)
{
    struct dcv_proto_welcome m;
    memset(&m, 0, sizeof m);
    copy_str(m.session, sizeof m.session, w->session);
    copy_str(m.coordinator_epoch, sizeof m.coordinator_epoch, c->epoch);
    m.proto = 1;
    m.hb_ivl_ms = c->set->heartbeat_ms;
    m.liveness = c->set->liveness;
    m.chunk_max = c->set->chunk_size;
    m.credit_chunks = c->set->credit_chunks;
    copy_str(m.data_endpoint, sizeof m.data_endpoint,
             c->set->data_endpoint[0] ? c->set->data_endpoint : c->ep_data);
    (void)co_send_msg(c, c->ctl, &w->peer, DCV_CMD_WELCOME, &m, NULL, 0);
}

/* HELLO, first half: who the connection proved to be (its enrolled key's
 * NAME), a common protocol minor, and the worker's record (created when
 * new; *fresh says so). NULL when refused: the peer was told DISCONNECT. */
static struct co_worker *hello_admit(struct dcv_coord *c, const struct dcv_tx_peer *from,
                                     const struct dcv_proto_hello *h, int *fresh)
{
    struct co_worker *w, *other;
    char err[512];

    *fresh = 0;
    if (h->proto_min > 1 || h->proto_max < 1) {
        snprintf(err, sizeof err, "no common protocol minor: worker speaks %" PRId64 "..%" PRId64
                 ", coordinator 1", h->proto_min, h->proto_max);
        co_send_disconnect(c, from, err);
        return NULL;
    }
    /* The claimed worker_id must be the identity the connection proved
     * (its enrolled key's NAME): one worker's key cannot speak for another. */
    {
        int64_t uid;
        const char *user = dcv_sock_user(c->ctl, &uid);
        if (user[0] && strcmp(user, h->worker_id) != 0) {
            dcv_log(DCV_LOG_WARN, CO_LOG, "worker %s presented the key of %s: disconnected",
                    h->worker_id, user);
            co_send_disconnect(c, from, "worker_id is not the identity of this connection's key");
            return NULL;
        }
        if (!(dcv_auth_role(dcv_net_auth(c->net), user, uid) & DCV_AUTH_WORKER)) {
            dcv_log(DCV_LOG_WARN, CO_LOG, "HELLO from %s refused: not an enrolled worker", user);
            co_send_disconnect(c, from, "not an enrolled worker");
            return NULL;
        }
    }
    /* The connection may have belonged to another worker id (a restarted
     * process reusing a socket cannot, but be safe): detach it. */
    if ((other = co_worker_by_peer(c, from)) && strcmp(other->id, h->worker_id) != 0)
        other->peer.len = 0;
    if (!(w = co_worker_find(c, h->worker_id))) {
        if (!(w = calloc(1, sizeof *w))) {
            co_send_disconnect(c, from, "coordinator out of memory");
            return NULL;
        }
        copy_str(w->id, sizeof w->id, h->worker_id);
        w->next = c->reg.workers;
        c->reg.workers = w;
        *fresh = 1;
    } else if (w->online && w->peer.len && !dcv_peer_equal(&w->peer, from) &&
               strcmp(w->session, h->session) != 0) {
        /* A second process with this name (and key) while the first is
         * still heartbeating: letting it in would retire the first, whose
         * next message takes the name back, and so on every heartbeat. The
         * newcomer is refused; a restarted worker (the old process died)
         * gets in once the old session's liveness window has passed. */
        uint64_t now = co_now();
        char hex[80], why[DCV_PROTO_TEXT];
        snprintf(why, sizeof why,
                 "worker name '%s' is in use by another running worker (session %.12s, heard "
                 "%.1f s ago): give each worker its own name (name / DISTCONV_NAME) and key; "
                 "a restarted worker is admitted once the old session is %.1f s silent",
                 w->id, w->session, (double)(now - w->last_rx) / 1000.0,
                 (double)c->dead_ms / 1000.0);
        if (!w->dup_logged || now - w->dup_logged >= 60000) {
            dcv_peer_hex(from, hex, sizeof hex);
            dcv_log(DCV_LOG_WARN, CO_LOG, "HELLO of session %.12s (connection %s) refused: %s",
                    h->session, hex, why);
            w->dup_logged = now;
        }
        co_send_disconnect(c, from, why);
        return NULL;
    } else if (w->peer.len && !dcv_peer_equal(&w->peer, from)) {
        co_drop_backlog(c, c->ctl, &w->peer);
    }
    if (!*fresh && strcmp(w->session, h->session) != 0)
        dcv_log(DCV_LOG_INFO, CO_LOG, "worker %s: new session %s retires %s", w->id, h->session,
                w->session);
    return w;
}

/* HELLO, second half: reconcile what the store says the worker holds with
 * what it says it runs. Held and running: re-attached. Held, not running:
 * lost. Running, not held: told to stop. */
static void hello_reconcile(struct dcv_coord *c, const struct dcv_tx_peer *from,
                            const struct dcv_proto_hello *h)
{
    struct co_active a = { 0 };
    char err[512];

    if (dcv_store_list_active(c->store, h->worker_id, co_collect_active, &a, err, sizeof err) < 0 ||
        a.err < 0)
        dcv_log(DCV_LOG_ERROR, CO_LOG, "worker %s: list its jobs: %s", h->worker_id, err);
    for (size_t i = 0; i < a.n; i++) {
        const struct act *j = &a.v[i];
        const struct dcv_proto_jobref *run = NULL;
        for (size_t k = 0; k < h->n_running; k++)
            if (strcmp(h->running[k].job_id, j->id) == 0 && h->running[k].attempt == j->attempt)
                run = &h->running[k];
        if (run) {
            struct co_job *cj;
            int ok = 1;
            if (strcmp(j->session, h->session) != 0 &&
                dcv_store_set_session(c->store, j->id, j->attempt, h->worker_id, h->session, err,
                                      sizeof err) < 0) {
                dcv_log(DCV_LOG_WARN, CO_LOG, "job %s: cannot re-attach: %s", j->id, err);
                ok = 0;
            }
            if (ok && j->state == DCV_JOB_ASSIGNED &&
                co_apply_ev(c, j->id, DCV_EV_START, j->attempt, "re-attached from HELLO.running",
                            NULL, h->session, NULL, NULL) < 0)
                ok = 0;
            if (ok && (cj = co_job_add(c, j->id))) {
                copy_str(cj->worker, sizeof cj->worker, h->worker_id);
                copy_str(cj->session, sizeof cj->session, h->session);
                if (cj->attempt != j->attempt) {
                    cj->out_state = 0;
                    cj->in_xfer = 0;
                }
                /* After a restart we no longer know the input xfer_id the
                 * JOB carried: adopt the one its FETCH names (the fence
                 * already says it is this attempt). */
                if (!cj->in_xfer)
                    cj->in_xfer = CO_XFER_ADOPT;
                cj->attempt = j->attempt;
                cj->accepted = 1;
                cj->assigned_at = co_now();
                {
                    /* HELLO.running says how far, not in which phase. */
                    struct dcv_proto_progress m = {.phase = cj->prog.has ? cj->prog.phase : 0,
                                                   .pct = run->progress, .frames = -1, .fps = -1,
                                                   .frames_total = -1, .speed = -1};
                    co_progress_update(&cj->prog, &m, co_now(), co_wall_ms());
                }
                /* Counted against its device once this HELLO's devices are
                 * known (co_reattach_sessions below). */
                if (run->plugin[0] && run->device_id[0]) {
                    cj->skey[0] = '\0';
                    copy_str(cj->reattach_plugin, sizeof cj->reattach_plugin, run->plugin);
                    copy_str(cj->place_dev, sizeof cj->place_dev, run->device_id);
                }
                dcv_log(DCV_LOG_INFO, CO_LOG, "job %s attempt %d re-attached to worker %s", j->id,
                        j->attempt, h->worker_id);
                continue;
            }
            if (ok)
                continue;
        }
        /* The same process saying HELLO again (a re-sent HELLO that crossed
         * our WELCOME, a reconnect) may not have received a JOB that is
         * still in flight: leave an unaccepted one to the accept timeout. */
        if (!run && j->state == DCV_JOB_ASSIGNED && strcmp(j->session, h->session) == 0) {
            struct co_job *cj = co_job_find(c, j->id);
            if (cj && cj->attempt == j->attempt && !cj->accepted)
                continue;
        }
        /* Not running there any more: that attempt is lost. */
        co_apply_ev(c, j->id, DCV_EV_WORKER_LOST, j->attempt, "not in the worker's HELLO.running",
                    NULL, NULL, "worker lost", NULL);
        co_job_release(c, j->id, DCV_CODE_STALE, "worker restarted");
    }
    /* What it runs that it does not hold (any more): tell it to stop. */
    for (size_t k = 0; k < h->n_running; k++) {
        struct co_job *cj = co_job_find(c, h->running[k].job_id);
        if (!cj || cj->attempt != h->running[k].attempt || strcmp(cj->worker, h->worker_id) != 0) {
            struct dcv_proto_cancel m;
            memset(&m, 0, sizeof m);
            copy_str(m.fence.job_id, sizeof m.fence.job_id, h->running[k].job_id);
            m.fence.attempt = h->running[k].attempt;
            copy_str(m.fence.session, sizeof m.fence.session, h->session);
            copy_str(m.reason, sizeof m.reason, "attempt is no longer assigned to this worker");
            (void)co_send_msg(c, c->ctl, from, DCV_CMD_CANCEL, &m, NULL, 0);
        }
    }
    free(a.v);
}

/* HELLO, last: the record takes what the worker says now, and it hears
 * WELCOME (and its drain, if an operator set one). */
static void worker_update(struct dcv_coord *c, struct co_worker *w, const struct dcv_tx_peer *from,
                          const struct dcv_proto_hello *h, int fresh)
{
    copy_str(w->session, sizeof w->session, h->session);
    copy_str(w->host, sizeof w->host, h->host);
    copy_str(w->hostname, sizeof w->hostname, h->hostname);
    copy_str(w->version, sizeof w->version, h->version);
    w->peer = *from;
    w->online = 1;
    w->slots = h->slots;
    w->max_cpu_jobs = h->max_cpu_jobs;
    w->max_gpu_jobs = h->max_gpu_jobs;
    w->n_plugins = h->n_plugins;
    memcpy(w->plugins, h->plugins, sizeof w->plugins);
    w->n_devices = h->n_devices;
    memcpy(w->devices, h->devices, sizeof w->devices);
    w->benchmarking = h->benchmarking;
    co_reattach_sessions(c, w);
    free(w->paths);
    w->paths = NULL;
    w->n_paths = 0;
    if (h->n_paths && (w->paths = calloc(h->n_paths, sizeof *w->paths))) {
        memcpy(w->paths, h->paths, h->n_paths * sizeof *w->paths);
        w->n_paths = h->n_paths;
    }
    w->has_tel = 0;
    w->busy_until = 0;
    w->last_rx = w->last_hb_tx = co_now();
    w->last_seen_ms = co_wall_ms();
    dcv_log(DCV_LOG_INFO, CO_LOG, "worker %s online: session %s, %" PRId64 " slot(s), %zu device(s)%s",
            w->id, w->session, w->slots, w->n_devices, fresh ? "" : " (again)");
    send_welcome(c, w);
    if (w->admin_drain)
        co_send_drain(c, w);
    co_dispatch_soon(c);
}

void co_on_hello(struct dcv_coord *c, const struct dcv_tx_peer *from, const void *body, size_t len)
{
    struct dcv_proto_hello *h = calloc(1, sizeof *h);
    struct co_worker *w;
    char err[512];
    int fresh;

    if (!h) {
        co_send_disconnect(c, from, "coordinator out of memory");
        return;
    }
    if (dcv_proto_decode(DCV_PLANE_CONTROL, DCV_CMD_HELLO, body, len, h, err, sizeof err) < 0) {
        dcv_log(DCV_LOG_WARN, CO_LOG, "bad HELLO: %s", err);
        co_send_disconnect(c, from, err);
    } else if ((w = hello_admit(c, from, h, &fresh))) {
        hello_reconcile(c, from, h);
        worker_update(c, w, from, h, fresh);
    }
    free(h);
}

/* Other software opened or closed encoder sessions on a GPU of w (NVML):
 * jobs waiting for a session may fit now, or fewer may. */
static int gpu_sessions_changed(const struct co_worker *w, const struct dcv_proto_telemetry *t)
{
    if (!w->has_tel || w->tel.n_gpus != t->n_gpus)
        return t->n_gpus > 0;
    for (size_t i = 0; i < t->n_gpus && i < DCV_PROTO_MAX_GPUS; i++)
        if (w->tel.gpus[i].enc_sessions != t->gpus[i].enc_sessions ||
            strcmp(w->tel.gpus[i].id, t->gpus[i].id) != 0)
            return 1;
    return 0;
}

/* Figures of a benchmark that ran after HELLO (HEARTBEAT.bench), onto the
 * devices HELLO announced; a device not announced is ignored. 1 when the
 * ranking may have changed. */
static int bench_update(struct co_worker *w, const struct dcv_proto_heartbeat *m)
{
    int changed = !!w->benchmarking != !!m->benchmarking;

    if (changed)
        dcv_log(DCV_LOG_INFO, CO_LOG, "worker %s: startup benchmark %s", w->id,
                m->benchmarking ? "measuring" : m->n_bench ? "done" : "ended without figures");
    w->benchmarking = m->benchmarking;
    for (size_t i = 0; i < m->n_bench; i++) {
        const struct dcv_proto_devbench *b = &m->bench[i];
        for (size_t k = 0; k < w->n_devices; k++) {
            struct dcv_proto_device *d = &w->devices[k];
            if (strcmp(d->plugin, b->plugin) != 0 || strcmp(d->caps.device_id, b->device_id) != 0)
                continue;
            if (d->bench_fps != b->bench_fps || d->n_bench != b->n_bench)
                changed = 1;
            d->bench_fps = b->bench_fps;
            d->n_bench = b->n_bench;
            memcpy(d->bench, b->bench, sizeof d->bench);
        }
    }
    return changed;
}

void co_on_heartbeat(struct dcv_coord *c, struct co_worker *w, const struct dcv_proto_heartbeat *m)
{
    int was_busy, was_draining, sessions_moved;

    if (bench_update(w, m))
        co_dispatch_soon(c);
    if (!m->has_telemetry)
        return;
    was_busy = w->has_tel && w->tel.busy;
    was_draining = w->has_tel && w->tel.draining;
    sessions_moved = gpu_sessions_changed(w, &m->telemetry);
    w->tel = m->telemetry;
    w->tel_at = co_now();
    /* Admission (the worker's own limits): log the change, not each beat. */
    if (w->tel.busy && !was_busy)
        dcv_log(DCV_LOG_INFO, CO_LOG, "worker %s is busy, not eligible for jobs: %s", w->id,
                w->tel.busy_reason[0] ? w->tel.busy_reason : "no reason given");
    else if (!w->tel.busy && was_busy)
        dcv_log(DCV_LOG_INFO, CO_LOG, "worker %s is no longer busy", w->id);
    if (!w->has_tel || was_busy != w->tel.busy || was_draining != w->tel.draining ||
        sessions_moved)
        co_dispatch_soon(c);
    w->has_tel = 1;
    /* Attempts it still runs that it no longer holds (requeued elsewhere, or
     * cancelled while it could not hear us): tell it again to stop. */
    for (size_t i = 0; i < w->tel.n_jobs; i++) {
        const struct dcv_proto_jobref *r = &w->tel.jobs[i];
        struct co_job *j = co_job_find(c, r->job_id);
        if (!j || j->attempt != r->attempt || strcmp(j->worker, w->id) != 0) {
            struct dcv_proto_cancel cm;
            memset(&cm, 0, sizeof cm);
            copy_str(cm.fence.job_id, sizeof cm.fence.job_id, r->job_id);
            cm.fence.attempt = r->attempt;
            copy_str(cm.fence.session, sizeof cm.fence.session, w->session);
            copy_str(cm.reason, sizeof cm.reason, "attempt is no longer assigned to this worker");
            (void)co_send_msg(c, c->ctl, &w->peer, DCV_CMD_CANCEL, &cm, NULL, 0);
        }
    }
}

/* 1 when some registered device offers the encoder preference `name` (its
 * plugin family or one of its encoders) and every such device probed as
 * hardware: the names dcv_profile_hw_only() cannot know (a third-party
 * plugin, the test-only fakegpu). */
static int hw_only_registered(const struct dcv_coord *c, const char *name)
{
    int found = 0;

    for (const struct co_worker *w = c->reg.workers; w; w = w->next)
        for (size_t d = 0; d < w->n_devices; d++) {
            const struct dcv_device_caps *caps = &w->devices[d].caps;
            int named = strcmp(w->devices[d].plugin, name) == 0;
            for (uint32_t k = 0; k < caps->n_codecs && k < DCV_MAX_CODECS && !named; k++)
                named = strncmp(caps->codecs[k].encoder, name, sizeof caps->codecs[k].encoder) == 0;
            if (!named)
                continue;
            if (!(caps->flags & DCV_CAP_HARDWARE))
                return 0;
            found = 1;
        }
    return found;
}

int co_profile_known(struct dcv_coord *c, const struct dcv_profile *p, char *err, size_t errlen)
{
    /* The portable codecs and the plugin families this project ships or
     * documents: a job for them may wait for a worker that has them. */
    static const char *const codecs[] = {"h264", "hevc", "av1", "vp9"};
    static const char *const families[] = {"auto", "hw", "sw", "x264", "x265", "nvenc",
                                           "vaapi", "qsv", "vtb", "amf", "svtav1"};
    int codec_ok = 0, enc_ok = 0;

    for (size_t i = 0; i < sizeof codecs / sizeof *codecs; i++)
        codec_ok |= strcmp(p->codec, codecs[i]) == 0;
    for (size_t i = 0; i < sizeof families / sizeof *families; i++)
        enc_ok |= strcmp(p->encoder, families[i]) == 0;
    if (!enc_ok)
        enc_ok = avcodec_find_encoder_by_name(p->encoder) != NULL;
    for (const struct co_worker *w = c->reg.workers; w && !(codec_ok && enc_ok); w = w->next) {
        for (size_t i = 0; i < w->n_plugins; i++)
            enc_ok |= strcmp(w->plugins[i].name, p->encoder) == 0;
        for (size_t d = 0; d < w->n_devices; d++) {
            const struct dcv_device_caps *caps = &w->devices[d].caps;
            for (uint32_t k = 0; k < caps->n_codecs && k < DCV_MAX_CODECS; k++) {
                codec_ok |= strncmp(caps->codecs[k].codec, p->codec, sizeof caps->codecs[k].codec) == 0;
                enc_ok |= strncmp(caps->codecs[k].encoder, p->encoder,
                                  sizeof caps->codecs[k].encoder) == 0;
            }
        }
    }
    if (!codec_ok)
        return dcv_err(err, errlen, -EINVAL, "codec '%s': no plugin offers it (known: h264, hevc, "
                       "av1, vp9, and what registered workers offer)", p->codec);
    if (!enc_ok)
        return dcv_err(err, errlen, -EINVAL, "encoder '%s': not auto, hw, sw, a plugin (x264, x265, "
                       "nvenc, vaapi, qsv, vtb, or one a worker registered) or an encoder of this "
                       "FFmpeg", p->encoder);
    if (p->gpu_policy == DCV_PROFILE_GPU_FALLBACK && hw_only_registered(c, p->encoder))
        return dcv_profile_fallback_refused(p, err, errlen);
    return 0;
}

void registry_cron(struct dcv_coord *c, uint64_t now)
{
    for (struct co_worker *w = c->reg.workers; w; w = w->next) {
        if (!w->online)
            continue;
        if (w->busy_until && now >= w->busy_until) {
            w->busy_until = 0; /* its pause after a busy answer is over */
            co_dispatch_soon(c);
        }
        if (now - w->last_rx > c->dead_ms) {
            char why[128];
            snprintf(why, sizeof why, "silent for %" PRIu64 " ms", now - w->last_rx);
            co_worker_lost(c, w, why);
            continue;
        }
        if (w->peer.len && now - w->last_hb_tx >= c->hb_ms) {
            w->last_hb_tx = now;
            (void)co_send(c, c->ctl, &w->peer, DCV_CMD_HEARTBEAT, "{}", 2);
        }
    }
}

void co_registry_free(struct dcv_coord *c)
{
    while (c->reg.workers) {
        struct co_worker *w = c->reg.workers;
        c->reg.workers = w->next;
        free(w->paths);
        free(w);
    }
}
