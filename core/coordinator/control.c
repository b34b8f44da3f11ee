/*
 * The control plane's job messages (control.h): each is checked against
 * the fence of the attempt out with the worker that sent it.
 */
#include "coordinator/control.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <libavformat/avformat.h>

#include "auth.h"
#include "coordinator/attempts.h"
#include "coordinator/jobrec.h"
#include "coordinator/outbox.h"
#include "coordinator/registry.h"
#include "coordinator/stats.h"
#include "coordinator/sessions.h"
#include "errbuf.h"
#include "log.h"

/* The attempt a fenced message names, if this worker holds it. */
static struct co_job *fenced(struct dcv_coord *c, struct co_worker *w, const struct dcv_proto_fence *f)
{
    struct co_job *j = co_job_find(c, f->job_id);
    if (j && j->attempt == f->attempt && strcmp(j->session, f->session) == 0 &&
        strcmp(j->worker, w->id) == 0)
        return j;
    return NULL;
}

static void on_accept(struct dcv_coord *c, struct co_worker *w, const void *msg)
{
    const struct dcv_proto_accept *m = msg;
    struct co_job *j;
    char note[300];

    snprintf(note, sizeof note, "%s/%s on %s", m->plugin, m->encoder, m->device_id);
    if (co_apply_ev(c, m->fence.job_id, DCV_EV_ACCEPT, (int)m->fence.attempt, note, NULL,
                    m->fence.session, NULL, NULL) < 0)
        return;
    if ((j = fenced(c, w, &m->fence))) {
        j->accepted = 1;
        j->has_encoder = 1;
        copy_str(j->plugin, sizeof j->plugin, m->plugin);
        copy_str(j->encoder, sizeof j->encoder, m->encoder);
        copy_str(j->device_id, sizeof j->device_id, m->device_id);
    }
    dcv_log(DCV_LOG_INFO, CO_LOG, "job %s attempt %" PRId64 " accepted by %s: %s", m->fence.job_id,
            m->fence.attempt, w->id, note);
}

static void failure_text(char *buf, size_t len, const struct co_worker *w,
                         const struct dcv_proto_failure *m)
{
    snprintf(buf, len, "%s: %s (worker %s, attempt %" PRId64 ")",
             dcv_proto_code_name(m->code) ? dcv_proto_code_name(m->code) : "?", m->message, w->id,
             m->fence.attempt);
}

/* The job process's last log lines, kept with the attempt the failure
 * closed: '\n'-separated (the codec let no control character through). */
static void keep_log_tail(struct dcv_coord *c, const struct dcv_proto_failure *m)
{
    char text[DCV_PROTO_LOG_LINES * DCV_PROTO_LOG_LINE], err[512];
    size_t n = 0;

    if (m->n_log_tail == 0)
        return;
    text[0] = '\0';
    for (size_t i = 0; i < m->n_log_tail && i < DCV_PROTO_LOG_LINES; i++) {
        int w = snprintf(text + n, sizeof text - n, "%s%s", i ? "\n" : "", m->log_tail[i]);
        if (w < 0 || (size_t)w >= sizeof text - n)
            break;
        n += (size_t)w;
    }
    if (dcv_store_set_attempt_log(c->store, m->fence.job_id, (int)m->fence.attempt, text, err,
                                  sizeof err) < 0)
        dcv_log(DCV_LOG_WARN, CO_LOG, "job %s: its log tail is not kept: %s", m->fence.job_id,
                err);
}

/* REJECT and FAIL: busy requeues on the same attempt; otherwise the attempt
 * is spent (retryable or not). */
static void on_failure(struct dcv_coord *c, struct co_worker *w, const struct dcv_proto_failure *m,
                       int is_reject)
{
    struct dcv_job job;
    enum dcv_job_event ev;
    struct co_job *j;
    char text[DCV_PROTO_TEXT + 200], err[512];
    char held_key[DCV_SCHED_KEY_MAX] = "", held_dev[DCV_PROTO_HOST] = "";
    int r;

    /* Read the state first: REJECT is only legal from ASSIGNED, busy only
     * from ASSIGNED/RUNNING, and a FAIL `cancelled` after our CANCEL finds
     * the job CANCELLED already. */
    if (dcv_store_get(c->store, m->fence.job_id, &job, err, sizeof err) < 0) {
        dcv_log(DCV_LOG_DEBUG, CO_LOG, "%s for unknown job: %s", is_reject ? "REJECT" : "FAIL", err);
        return;
    }
    if (m->code == DCV_CODE_BUSY && (job.state == DCV_JOB_ASSIGNED || job.state == DCV_JOB_RUNNING))
        ev = DCV_EV_REQUEUE_BUSY;
    else if (is_reject && job.state == DCV_JOB_ASSIGNED && m->retryable)
        ev = DCV_EV_REJECT;
    else if (m->retryable || m->code == DCV_CODE_BUSY)
        ev = DCV_EV_FAIL_RETRYABLE;
    else
        ev = DCV_EV_FAIL_PERMANENT;
    dcv_job_clear(&job);
    if (ev == DCV_EV_REQUEUE_BUSY && (j = fenced(c, w, &m->fence)) && j->hw && j->skey[0] &&
        (m->busy == DCV_BUSY_DEVICE ||
         (m->busy == DCV_BUSY_NONE && strncmp(m->message, "no free ", 8) != 0))) {
        /* The device itself refused (busy "device"; not the worker's own
         * capacity, busy "slot"): remember where, to hold its limit once
         * the attempt is released. A worker older than the field says
         * neither: its slot refusals start "no free". */
        copy_str(held_key, sizeof held_key, j->skey);
        copy_str(held_dev, sizeof held_dev, j->place_dev);
    }
    failure_text(text, sizeof text, w, m);
    r = co_apply_ev(c, m->fence.job_id, ev, (int)m->fence.attempt, is_reject ? "rejected" : "failed",
                    NULL, m->fence.session, text, &job);
    if (r < 0)
        return;
    keep_log_tail(c, m);
    dcv_log(ev == DCV_EV_REQUEUE_BUSY ? DCV_LOG_INFO : DCV_LOG_WARN, CO_LOG,
            "job %s %s: %s -> %s", m->fence.job_id, is_reject ? "rejected" : "failed", text,
            dcv_job_state_name(job.state));
    dcv_job_clear(&job);
    co_job_release(c, m->fence.job_id, DCV_CODE_STALE, "attempt ended");
    /* A device that refused a session counts as full at what it has now;
     * any other busy answer pauses the worker until its counts settle. */
    if (ev == DCV_EV_REQUEUE_BUSY &&
        !(held_key[0] && co_hold_after_busy(c, m->fence.job_id, held_key, held_dev)))
        w->busy_until = co_now() + c->hb_ms;
    co_dispatch_soon(c);
}

static void on_reject(struct dcv_coord *c, struct co_worker *w, const void *m)
{
    on_failure(c, w, m, 1);
}

static void on_fail(struct dcv_coord *c, struct co_worker *w, const void *m)
{
    on_failure(c, w, m, 0);
}

/* PROGRESS arrives about once a second per attempt: the fence is checked
 * against the attempt we know is out (the same check the store makes), and
 * the store's clock is touched only every PROGRESS_STORE_MS, so a busy
 * cluster does not turn progress into a stream of fsyncs. */
#define PROGRESS_STORE_MS 10000

static void on_progress(struct dcv_coord *c, struct co_worker *w, const void *msg)
{
    const struct dcv_proto_progress *m = msg;
    struct co_job *j = fenced(c, w, &m->fence);
    uint64_t now = co_now();

    if (!j) {
        dcv_log(DCV_LOG_DEBUG, CO_LOG, "stale PROGRESS for job %s attempt %" PRId64 " from %s",
                m->fence.job_id, m->fence.attempt, w->id);
        return;
    }
    if (!j->progress_stored || now - j->progress_stored >= PROGRESS_STORE_MS) {
        if (co_apply_ev(c, m->fence.job_id, DCV_EV_PROGRESS, (int)m->fence.attempt, NULL, NULL,
                        m->fence.session, NULL, NULL) < 0)
            return;
        j->progress_stored = now;
    }
    /* PROGRESS renews the attempt's lease (protocol §3.5): a job still
     * fetching a large input before its ACCEPT is alive, not lost. */
    if (!j->accepted)
        j->assigned_at = now;
    {
        int was_stalled = j->prog.stalled;
        uint64_t idle = co_progress_idle_ms(&j->prog, now);
        if (co_progress_update(&j->prog, m, now, co_wall_ms()) && was_stalled)
            dcv_log(DCV_LOG_INFO, CO_LOG,
                    "job %s attempt %d on %s: progress resumed after a stall of %" PRIu64 " s",
                    j->id, j->attempt, w->id, idle / 1000);
    }
}

/* Open the output with libavformat: it must have streams and a duration. */
static int verify_media(const char *path, char *err, size_t errlen)
{
    AVFormatContext *fc = NULL;
    int r, has_duration = 0;

    if ((r = avformat_open_input(&fc, path, NULL, NULL)) < 0)
        return dcv_err(err, errlen, -EBADMSG, "not a media file (%s)", av_err2str(r));
    if ((r = avformat_find_stream_info(fc, NULL)) < 0) {
        avformat_close_input(&fc);
        return dcv_err(err, errlen, -EBADMSG, "cannot read stream info (%s)", av_err2str(r));
    }
    if (fc->nb_streams == 0) {
        avformat_close_input(&fc);
        return dcv_err(err, errlen, -EBADMSG, "no streams");
    }
    /* The worker decoded it all (media/verify.c); this is the cheap check
     * that what arrived is still a video. */
    if (av_find_best_stream(fc, AVMEDIA_TYPE_VIDEO, -1, -1, NULL, 0) < 0) {
        avformat_close_input(&fc);
        return dcv_err(err, errlen, -EBADMSG, "no video stream");
    }
    has_duration = fc->duration > 0;
    for (unsigned i = 0; i < fc->nb_streams && !has_duration; i++)
        has_duration = fc->streams[i]->duration > 0;
    avformat_close_input(&fc);
    if (!has_duration)
        return dcv_err(err, errlen, -EBADMSG, "no duration");
    return 0;
}

static int verify_output(const char *path, int64_t size, const char *sha, char *err, size_t errlen)
{
    int64_t rsize;
    char rsha[DCV_PROTO_SHA];
    struct stat st;

    if (stat(path, &st) < 0)
        return dcv_err(err, errlen, -errno, "output file: %s", strerror(errno));
    if (st.st_size != size)
        return dcv_err(err, errlen, -EBADMSG, "output holds %lld bytes, DONE says %lld",
                       (long long)st.st_size, (long long)size);
    if (dcv_blobs_read_record(path, &rsize, rsha) == 0 && strcmp(rsha, sha) != 0)
        return dcv_err(err, errlen, -EBADMSG, "output sha256 differs from DONE's");
    return verify_media(path, err, errlen);
}

/* A library rule made the source the result (outcome skipped or
 * kept-original): nothing was uploaded and there is nothing to verify. The
 * record (output_json without "file") keeps the outcome and its reason, so
 * status shows them and `get` can say why there is no output. */
static void done_without_output(struct dcv_coord *c, struct co_worker *w, struct co_job *j,
                                const struct dcv_proto_done *m)
{
    const char *outcome = dcv_proto_outcome_name(m->outcome);
    char err[512], note[DCV_PROTO_TEXT + 32], *text;
    struct co_output rec;
    int r;

    /* A skip is decided before any encoder is chosen, so no ACCEPT came:
     * the attempt ran all the same (ASSIGNED -> RUNNING -> DONE). */
    if (!j->accepted)
        (void)co_apply_ev(c, j->id, DCV_EV_START, j->attempt, outcome, NULL, m->fence.session, NULL,
                          NULL);
    memset(&rec, 0, sizeof rec);
    copy_str(rec.outcome, sizeof rec.outcome, outcome);
    copy_str(rec.note, sizeof rec.note, m->note);
    rec.elapsed_ms = m->elapsed_ms;
    copy_str(rec.worker, sizeof rec.worker, w->id);
    if (!(text = co_output_record(&rec)))
        return;
    r = dcv_store_set_output(c->store, j->id, text, err, sizeof err);
    free(text);
    snprintf(note, sizeof note, "%s: %s", outcome, m->note[0] ? m->note : "no output");
    if (r < 0) {
        dcv_log(DCV_LOG_ERROR, CO_LOG, "job %s: record outcome: %s", j->id, err);
        co_apply_ev(c, j->id, DCV_EV_FAIL_RETRYABLE, j->attempt, "outcome not recorded", NULL,
                    j->session, err, NULL);
    } else if (co_apply_ev(c, j->id, DCV_EV_SUCCEED, j->attempt, note, NULL, j->session, NULL,
                           NULL) == 0) {
        dcv_log(DCV_LOG_INFO, CO_LOG, "job %s done on %s without output: %s", j->id, w->id, note);
    }
    co_job_release(c, m->fence.job_id, DCV_CODE_STALE, "attempt ended");
    co_dispatch_soon(c);
}

static void on_done(struct dcv_coord *c, struct co_worker *w, const void *msg)
{
    const struct dcv_proto_done *m = msg;
    struct co_job *j = fenced(c, w, &m->fence);
    struct dcv_job job;
    char file[32], path[PATH_MAX], err[512], text[700], name[600], cont[64];
    struct co_input in;
    int64_t rsize;
    char rsha[DCV_PROTO_SHA];
    struct co_output *rec;
    char *rec_json;
    int r, committed;

    if (!j) {
        dcv_log(DCV_LOG_DEBUG, CO_LOG, "stale DONE for job %s attempt %" PRId64 " from %s",
                m->fence.job_id, m->fence.attempt, w->id);
        return;
    }
    if (m->outcome != DCV_OUTCOME_ENCODED) {
        done_without_output(c, w, j, m);
        return;
    }
    snprintf(file, sizeof file, "out-%d", j->attempt);
    if (dcv_blobs_job_path(c->blobs, j->id, file, 0, path, sizeof path, err, sizeof err) < 0) {
        dcv_log(DCV_LOG_ERROR, CO_LOG, "job %s: %s", j->id, err);
        return;
    }
    committed = j->out_state == 2 && j->out_xfer == m->output.xfer_id &&
                j->out_size == m->output.size && strcmp(j->out_sha, m->output.sha256) == 0;
    /* After a coordinator restart the commit happened before we knew the
     * attempt: the record on disk says what was received. */
    if (!committed && j->out_state == 0 && dcv_blobs_read_record(path, &rsize, rsha) == 0)
        committed = rsize == m->output.size && strcmp(rsha, m->output.sha256) == 0;
    if (!committed) {
        snprintf(text, sizeof text,
                 "transfer: DONE names output transfer %" PRId64 " that was not committed here",
                 m->output.xfer_id);
        co_apply_ev(c, j->id, DCV_EV_FAIL_RETRYABLE, j->attempt, "done without output", NULL,
                    j->session, text, NULL);
        dcv_log(DCV_LOG_WARN, CO_LOG, "job %s: %s", j->id, text);
        co_job_release(c, j->id, DCV_CODE_STALE, "attempt ended");
        co_dispatch_soon(c);
        return;
    }
    if (co_apply_ev(c, j->id, DCV_EV_VERIFY, j->attempt, "output received", NULL, m->fence.session,
                    NULL, &job) < 0)
        return;
    if ((r = verify_output(path, m->output.size, m->output.sha256, err, sizeof err)) < 0) {
        dcv_job_clear(&job);
        snprintf(text, sizeof text, "verify: %s (worker %s, attempt %d)", err, w->id, j->attempt);
        co_apply_ev(c, j->id, DCV_EV_FAIL_RETRYABLE, j->attempt, "verification failed", NULL,
                    j->session, text, NULL);
        dcv_log(DCV_LOG_WARN, CO_LOG, "job %s: %s", j->id, text);
        co_job_release(c, j->id, DCV_CODE_STALE, "attempt ended");
        co_dispatch_soon(c);
        return;
    }
    if (co_input_parse(c, job.input_json, &in, err, sizeof err) < 0)
        in.name[0] = '\0';
    co_profile_container(job.profile_json, cont, sizeof cont);
    co_output_name(in.name, cont, name, sizeof name);
    dcv_job_clear(&job);

    rec = calloc(1, sizeof *rec);
    if (!rec)
        return;
    copy_str(rec->outcome, sizeof rec->outcome, "encoded");
    copy_str(rec->note, sizeof rec->note, m->note);
    copy_str(rec->file, sizeof rec->file, file);
    copy_str(rec->name, sizeof rec->name, name);
    rec->size = m->output.size;
    copy_str(rec->sha, sizeof rec->sha, m->output.sha256);
    rec->frames = m->frames;
    rec->elapsed_ms = m->elapsed_ms;
    if ((rec->has_encoder = j->has_encoder)) {
        copy_str(rec->plugin, sizeof rec->plugin, j->plugin);
        copy_str(rec->encoder, sizeof rec->encoder, j->encoder);
        copy_str(rec->device_id, sizeof rec->device_id, j->device_id);
    }
    copy_str(rec->worker, sizeof rec->worker, w->id);
    rec_json = co_output_record(rec);
    free(rec);
    if (!rec_json)
        return;
    r = dcv_store_set_output(c->store, j->id, rec_json, err, sizeof err);
    free(rec_json);
    if (r < 0) {
        /* Not done without a record of what `get` serves: retry later. */
        dcv_log(DCV_LOG_ERROR, CO_LOG, "job %s: record output: %s", j->id, err);
        co_apply_ev(c, j->id, DCV_EV_FAIL_RETRYABLE, j->attempt, "output not recorded", NULL,
                    j->session, err, NULL);
    } else if (co_apply_ev(c, j->id, DCV_EV_SUCCEED, j->attempt, "output verified", NULL, j->session,
                           NULL, NULL) == 0) {
        co_stats_run_time(c, j->codec, j->has_encoder ? j->plugin : j->reattach_plugin,
                          (double)(co_now() - j->assigned_at) / 1000.0);
        dcv_log(DCV_LOG_INFO, CO_LOG, "job %s done on %s: %s, %" PRId64 " bytes", j->id, w->id,
                name, m->output.size);
    }
    co_job_release(c, m->fence.job_id, DCV_CODE_STALE, "attempt ended");
    co_dispatch_soon(c);
}

static void on_heartbeat(struct dcv_coord *c, struct co_worker *w, const void *m)
{
    co_on_heartbeat(c, w, m);
}

static void on_disconnect(struct dcv_coord *c, struct co_worker *w, const void *m)
{
    const struct dcv_proto_disconnect *d = m;
    co_worker_left(c, w, d ? d->reason : "");
}

/* What a worker may send after HELLO: the body is decoded into a heap
 * struct of `size` bytes (some are large) for the handler; size 0 = no body
 * to read. */
static const struct {
    int cmd;
    size_t size;
    void (*fn)(struct dcv_coord *c, struct co_worker *w, const void *m);
} handlers[] = {
    {DCV_CMD_HEARTBEAT, sizeof(struct dcv_proto_heartbeat), on_heartbeat},
    {DCV_CMD_ACCEPT, sizeof(struct dcv_proto_accept), on_accept},
    {DCV_CMD_REJECT, sizeof(struct dcv_proto_failure), on_reject},
    {DCV_CMD_FAIL, sizeof(struct dcv_proto_failure), on_fail},
    {DCV_CMD_PROGRESS, sizeof(struct dcv_proto_progress), on_progress},
    {DCV_CMD_DONE, sizeof(struct dcv_proto_done), on_done},
    {DCV_CMD_DISCONNECT, sizeof(struct dcv_proto_disconnect), on_disconnect},
};

void co_on_control(struct dcv_coord *c, const struct dcv_tx_peer *from, const struct dcv_proto_msg *m)
{
    struct co_worker *w;
    char err[512];

    if (m->cmd == DCV_CMD_HELLO) {
        co_on_hello(c, from, m->body, m->body_len);
        return;
    }
    if (!(w = co_worker_by_peer(c, from))) {
        char hex[80];
        dcv_peer_hex(from, hex, sizeof hex);
        dcv_log(DCV_LOG_DEBUG, CO_LOG, "%s from unknown connection %s",
                dcv_proto_cmd_name(DCV_PLANE_CONTROL, m->cmd), hex);
        if (m->cmd != DCV_CMD_DISCONNECT)
            co_send_disconnect(c, from, "unknown connection: send HELLO first");
        return;
    }
    /* Every message: still the worker that said HELLO on this connection,
     * and still enrolled (a SIGHUP may have removed its key). */
    {
        int64_t uid;
        const char *user = dcv_sock_user(c->ctl, &uid);
        if (user[0] && strcmp(user, w->id) != 0) {
            dcv_log(DCV_LOG_WARN, CO_LOG, "%s from %s on the connection of worker %s: disconnected",
                    dcv_proto_cmd_name(DCV_PLANE_CONTROL, m->cmd), user, w->id);
            w->peer.len = 0;
            co_send_disconnect(c, from, "message identity does not match the worker");
            return;
        }
        if (!(dcv_auth_role(dcv_net_auth(c->net), user, uid) & DCV_AUTH_WORKER)) {
            dcv_log(DCV_LOG_WARN, CO_LOG, "worker %s is no longer enrolled: disconnected", w->id);
            co_send_disconnect(c, from, "this worker is no longer enrolled");
            co_worker_lost(c, w, "no longer enrolled");
            return;
        }
    }
    w->last_rx = co_now();
    w->last_seen_ms = co_wall_ms();
    for (size_t i = 0; i < sizeof handlers / sizeof handlers[0]; i++) {
        void *x;
        if (handlers[i].cmd != m->cmd)
            continue;
        if (!handlers[i].size) {
            handlers[i].fn(c, w, NULL);
            return;
        }
        if (m->cmd == DCV_CMD_DISCONNECT) {
            /* Never answered, whatever its body: the peer is leaving. */
            struct dcv_proto_disconnect d = {{0}};
            if (dcv_proto_decode(DCV_PLANE_CONTROL, m->cmd, m->body, m->body_len, &d, err,
                                 sizeof err) < 0)
                d.reason[0] = '\0';
            handlers[i].fn(c, w, &d);
            return;
        }
        if (!(x = calloc(1, handlers[i].size)))
            return;
        if (dcv_proto_decode(DCV_PLANE_CONTROL, m->cmd, m->body, m->body_len, x, err,
                             sizeof err) < 0) {
            dcv_log(DCV_LOG_WARN, CO_LOG, "worker %s: %s", w->id, err);
            co_send_disconnect(c, from, err);
        } else {
            handlers[i].fn(c, w, x);
        }
        free(x);
        return;
    }
    snprintf(err, sizeof err, "unexpected %s from a worker",
             dcv_proto_cmd_name(DCV_PLANE_CONTROL, m->cmd) ? dcv_proto_cmd_name(DCV_PLANE_CONTROL, m->cmd) : "command");
    co_send_disconnect(c, from, err);
}

#define RESTART_GRACE_EXTRA_MS 2000

/* Jobs the store has out with workers that never came back after our
 * restart: lost. */
static void restart_grace(struct dcv_coord *c)
{
    struct co_active a = { 0 };
    char err[512];

    if (dcv_store_list_active(c->store, NULL, co_collect_active, &a, err, sizeof err) < 0) {
        dcv_log(DCV_LOG_ERROR, CO_LOG, "restart grace: %s", err);
        return;
    }
    for (size_t i = 0; i < a.n; i++) {
        if (co_job_find(c, a.v[i].id))
            continue;
        dcv_log(DCV_LOG_WARN, CO_LOG, "job %s: worker %s did not come back after the restart",
                a.v[i].id, a.v[i].worker);
        co_apply_ev(c, a.v[i].id, DCV_EV_WORKER_LOST, a.v[i].attempt,
                    "worker did not come back after a coordinator restart", NULL, NULL, "worker lost",
                    NULL);
    }
    if (a.n)
        co_dispatch_soon(c);
    free(a.v);
}

/* End an attempt the coordinator gave up on (ev: WORKER_LOST or
 * FAIL_RETRYABLE, so it is retried while attempts remain), tell its worker
 * to stop it, and forget it. j is freed. */
static void expire_attempt(struct dcv_coord *c, struct co_job *j, enum dcv_job_event ev,
                           const char *note, const char *error)
{
    char jid[DCV_PROTO_JOB_ID], worker[DCV_PROTO_ID], session[DCV_PROTO_ID];
    int attempt = j->attempt;

    copy_str(jid, sizeof jid, j->id);
    copy_str(worker, sizeof worker, j->worker);
    copy_str(session, sizeof session, j->session);
    co_apply_ev(c, jid, ev, attempt, note, NULL, session, error, NULL);
    co_send_cancel(c, co_worker_find(c, worker), jid, attempt, session, note);
    co_job_release(c, jid, DCV_CODE_STALE, "attempt expired");
    co_dispatch_soon(c);
}

/* queue.stall_after: an attempt whose progress has not moved for that long
 * (a repeated PROGRESS renews the lease, not the progress) is flagged, and
 * logged once; with queue.stall_action "fail" its attempt also fails as
 * retryable. 1 when it was expired (the list changed). */
static int check_stall(struct dcv_coord *c, struct co_job *j, uint64_t now)
{
    uint64_t limit = (uint64_t)c->set->stall_after_s * 1000, idle;
    char why[96];

    if (!limit || (!j->accepted && !j->prog.has))
        return 0; /* before ACCEPT and any PROGRESS the accept lease watches it */
    if (!j->prog.moved_at) {
        /* accepted (or re-attached) without a report yet: count from now */
        j->prog.moved_at = now;
        return 0;
    }
    idle = co_progress_idle_ms(&j->prog, now);
    if (j->prog.stalled || idle < limit)
        return 0;
    j->prog.stalled = 1;
    snprintf(why, sizeof why, "stalled: no progress for %" PRIu64 " s", idle / 1000);
    dcv_log(DCV_LOG_WARN, CO_LOG, "job %s attempt %d on %s %s (queue.stall_after %" PRId64 " s)%s",
            j->id, j->attempt, j->worker, why, c->set->stall_after_s,
            c->set->stall_action == DCV_STALL_FAIL ? ": failing the attempt" : "");
    if (c->set->stall_action != DCV_STALL_FAIL)
        return 0;
    expire_attempt(c, j, DCV_EV_FAIL_RETRYABLE, why, why);
    return 1;
}

void attempts_cron(struct dcv_coord *c, uint64_t now)
{
    for (struct co_job *j = c->att.jobs, *next; j; j = next) {
        next = j->next;
        /* A JOB nobody ACCEPTed within two liveness windows: that worker lost it. */
        if (!j->accepted && now - j->assigned_at > 2 * c->dead_ms) {
            dcv_log(DCV_LOG_WARN, CO_LOG, "job %s: worker %s did not accept attempt %d in time",
                    j->id, j->worker, j->attempt);
            expire_attempt(c, j, DCV_EV_WORKER_LOST, "not accepted in time",
                           "worker did not accept the job in time");
            next = c->att.jobs; /* the list changed */
        } else if (check_stall(c, j, now)) {
            next = c->att.jobs;
        }
    }
    /* After a restart, workers first have to notice the old coordinator is
     * gone (up to one liveness window after its last message), then
     * reconnect (first HELLO at once, the next after ~1 s): a grace of one
     * window requeued jobs whose workers were seconds away from re-attaching
     * them, throwing away their encode. Workers in a long back-off still
     * miss it; their jobs are requeued, which costs time, never a job. */
    if (!c->grace_done && now - c->started_at >= 2 * c->dead_ms + RESTART_GRACE_EXTRA_MS) {
        c->grace_done = 1;
        restart_grace(c);
    }
}
