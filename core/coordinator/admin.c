/*
 * Admin verbs of the coordinator (docs/protocol.md §8, §8.1): one REQUEST
 * in, one FINAL out, from the loop thread. One table row per verb says who
 * may call it and which handler answers; the jobs' verbs are here, the
 * workers' in admin_workers.c. Replies are built with json-c and bounded:
 * lists stop before the reply would exceed the protocol's reply limit (and
 * say so with "truncated": true).
 */
#include "coordinator/admin_int.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <json-c/json.h>

#include "auth.h"
#include "build-config.h"
#include "caps_json.h"
#include "coordinator/attempts.h"
#include "coordinator/http.h"
#include "coordinator/inputhash.h"
#include "coordinator/jobrec.h"
#include "coordinator/outbox.h"
#include "coordinator/registry.h"
#include "coordinator/waits.h"
#include "coordinator/stats.h"
#include "errbuf.h"
#include "urlpolicy.h"
#include "log.h"
#include "pathutil.h"
#include "rand.h"
#include "profile.h"

#define JOBS_DEFAULT_LIMIT 100
#define HISTORY_MAX 200
#define LOG_TAILS_MAX 10 /* attempts whose log tail status shows: the reply stays small */


static const char *lower(const char *s, char *buf, size_t len)
{
    size_t i = 0;
    for (; s && s[i] && i + 1 < len; i++)
        buf[i] = (char)(s[i] >= 'A' && s[i] <= 'Z' ? s[i] - 'A' + 'a' : s[i]);
    buf[i] = '\0';
    return buf;
}

/* ---- replies ------------------------------------------------------------------ */

void admin_reply(struct dcv_coord *c, const struct dcv_tx_peer *to, const char *req_id,
                  int status, const char *error, json_object *body)
{
    struct dcv_proto_reply r;
    char *out = NULL, err[512];
    size_t len = 0;

    if (c->admin_sink) {
        /* co_admin_call: the reply goes back to the HTTP API, not a peer. */
        struct co_admin_res *res = c->admin_sink;
        res->status = status;
        copy_str(res->error, sizeof res->error, status >= 400 && error && *error ? error : "");
        json_object_put(res->body);
        res->body = body;
        res->replied = 1;
        return;
    }
    memset(&r, 0, sizeof r);
    copy_str(r.req_id, sizeof r.req_id, req_id);
    r.status = status;
    if (status >= 400) {
        copy_str(r.error, sizeof r.error, error && *error ? error : "error");
        for (char *p = r.error; *p; p++)
            if ((unsigned char)*p < 0x20 || *p == 0x7f)
                *p = ' ';
    }
    if (body) {
        r.body = strdup(json_object_to_json_string_ext(body, JSON_C_TO_STRING_PLAIN));
        json_object_put(body);
        if (!r.body) {
            r.status = 500;
            copy_str(r.error, sizeof r.error, "coordinator out of memory");
        }
    }
    if (dcv_proto_final_to_json(&r, &out, &len, err, sizeof err) < 0) {
        dcv_log(DCV_LOG_ERROR, CO_LOG, "admin reply: %s", err);
        dcv_proto_reply_clear(&r);
        free(out);
        out = NULL;
        memset(&r, 0, sizeof r);
        copy_str(r.req_id, sizeof r.req_id, req_id);
        r.status = 500;
        snprintf(r.error, sizeof r.error, "cannot build the reply: %.900s", err);
        if (dcv_proto_final_to_json(&r, &out, &len, err, sizeof err) < 0) {
            free(out);
            return;
        }
    }
    (void)co_send(c, c->adm, to, DCV_CMD_FINAL, out, len);
    free(out);
    dcv_proto_reply_clear(&r);
}

void admin_reply_err(struct dcv_coord *c, const struct dcv_tx_peer *to, const char *req_id,
                      int status, const char *fmt, ...)
{
    char msg[DCV_PROTO_TEXT];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    admin_reply(c, to, req_id, status, msg, NULL);
}

/* Store errors: unknown job 404, bad input 400, the rest 500. */
static int store_status(int r)
{
    return r == -ENOENT ? 404 : r == -EINVAL ? 400 : 500;
}

/* ---- objects ----------------------------------------------------------------------- */

static json_object *parse_obj(const char *text)
{
    json_object *o = text ? json_tokener_parse(text) : NULL;
    if (o && !json_object_is_type(o, json_type_object)) {
        json_object_put(o);
        o = NULL;
    }
    return o;
}

/* Why a queued job waits (waits.h): {reason, unschedulable, since_ms}. */
static void add_waiting(struct dcv_coord *c, json_object *o, const char *id)
{
    const struct co_wait *w = co_wait_find(c, id);
    json_object *e;
    char why[CO_WAIT_WHY_MAX + 64];

    co_wait_text(c, w, why, sizeof why);
    if (!why[0] || !(e = json_object_new_object()))
        return;
    json_object_object_add(e, "reason", jstr(why));
    json_object_object_add(e, "unschedulable", json_object_new_boolean(w && w->unschedulable));
    if (w && w->unschedulable)
        json_object_object_add(e, "since_ms", json_object_new_int64(w->since_ms));
    json_object_object_add(o, "waiting", e);
}

/* A stored log tail, '\n'-separated, as an array of lines. */
static json_object *admin_lines(const char *text)
{
    json_object *a = json_object_new_array();
    for (const char *p = text; a && *p;) {
        size_t n = strcspn(p, "\n");
        json_object_array_add(a, json_object_new_string_len(p, (int)n));
        p += n + (p[n] == '\n');
    }
    return a;
}

json_object *co_admin_job_json(struct dcv_coord *c, const struct dcv_job *j, int full)
{
    json_object *o = json_object_new_object(), *p;
    struct co_job *cj = co_job_find(c, j->id);
    struct co_input ir;
    struct co_output orec;
    char ierr[256];
    int have_out;

    if (!o)
        return NULL;
    json_object_object_add(o, "job_id", jstr(j->id));
    json_object_object_add(o, "state", jstr(dcv_job_state_wire_name(j->state)));
    json_object_object_add(o, "attempt", json_object_new_int(j->attempt));
    json_object_object_add(o, "max_attempts", json_object_new_int(j->max_attempts));
    json_object_object_add(o, "prio_class", jstr(dcv_prio_class_name(j->prio_class)));
    json_object_object_add(o, "priority", json_object_new_int(j->priority));
    json_object_object_add(o, "created_ms", json_object_new_int64(j->created_ms));
    json_object_object_add(o, "updated_ms", json_object_new_int64(j->updated_ms));
    /* A record that does not parse still names the file where it can. */
    (void)co_input_parse(c, j->input_json, &ir, ierr, sizeof ierr);
    if (ir.name[0])
        json_object_object_add(o, "name", jstr(ir.name));
    if (ir.size >= 0)
        json_object_object_add(o, "input_size", json_object_new_int64(ir.size));
    json_object_object_add(o, "profile", (p = parse_obj(j->profile_json)) ? p : json_object_new_object());
    if (j->worker)
        json_object_object_add(o, "worker", jstr(j->worker));
    if (cj && cj->prog.has && (j->state == DCV_JOB_ASSIGNED || j->state == DCV_JOB_RUNNING ||
                               j->state == DCV_JOB_VERIFYING)) {
        json_object *pr = co_progress_json(&cj->prog, co_now());
        if (pr)
            json_object_object_add(o, "progress", pr);
    }
    have_out = j->state == DCV_JOB_DONE && co_output_parse(j->output_json, &orec) == 0;
    if (cj && cj->has_encoder) {
        json_object *e = json_object_new_object();
        if (e) {
            json_object_object_add(e, "plugin", jstr(cj->plugin));
            json_object_object_add(e, "encoder", jstr(cj->encoder));
            json_object_object_add(e, "device_id", jstr(cj->device_id));
            json_object_object_add(o, "encoder", e);
        }
    } else if (have_out && orec.has_encoder) {
        json_object *e = json_object_new_object();
        if (e) {
            json_object_object_add(e, "plugin", jstr(orec.plugin));
            json_object_object_add(e, "encoder", jstr(orec.encoder));
            json_object_object_add(e, "device_id", jstr(orec.device_id));
            json_object_object_add(o, "encoder", e);
        }
    }
    if (j->last_error)
        json_object_object_add(o, "error", jstr(j->last_error));
    /* Requeued after a retryable failure: its back-off ends then (wall ms). */
    if (j->state == DCV_JOB_QUEUED && j->not_before_ms > co_wall_ms())
        json_object_object_add(o, "next_attempt_ms", json_object_new_int64(j->not_before_ms));
    else if (j->state == DCV_JOB_QUEUED)
        add_waiting(c, o, j->id);
    if (have_out) {
        /* What the attempt produced (protocol DONE.outcome). */
        json_object_object_add(o, "outcome", jstr(orec.outcome));
        if (orec.note[0])
            json_object_object_add(o, "note", jstr(orec.note));
    }
    if (have_out && orec.file[0]) {
        json_object *r = json_object_new_object();
        if (r) {
            if (orec.size >= 0)
                json_object_object_add(r, "size", json_object_new_int64(orec.size));
            if (orec.sha[0])
                json_object_object_add(r, "sha256", jstr(orec.sha));
            if (orec.name[0])
                json_object_object_add(r, "name", jstr(orec.name));
            json_object_object_add(o, "output", r);
        }
    }
    admin_job_facts(c, j, o);
    if (full) {
        struct dcv_attempt *a = NULL;
        struct dcv_transition *h = NULL;
        size_t na = 0, nh = 0;
        char err[256], b2[32];
        json_object *arr;

        if (dcv_store_attempts(c->store, j->id, &a, &na, err, sizeof err) == 0 &&
            (arr = json_object_new_array())) {
            size_t tails = 0, tails_from = na;
            /* the log tails of the newest LOG_TAILS_MAX attempts with one */
            while (tails_from > 0 && tails < LOG_TAILS_MAX) {
                tails_from--;
                if (a[tails_from].log_tail && a[tails_from].log_tail[0])
                    tails++;
            }
            /* busy requeues add rows without spending attempts: keep the newest */
            for (size_t i = na > HISTORY_MAX ? na - HISTORY_MAX : 0; i < na; i++) {
                json_object *e = json_object_new_object();
                if (!e)
                    break;
                json_object_object_add(e, "attempt", json_object_new_int(a[i].attempt));
                json_object_object_add(e, "worker", jstr(a[i].worker));
                json_object_object_add(e, "started_ms", json_object_new_int64(a[i].started_ms));
                json_object_object_add(e, "ended_ms", json_object_new_int64(a[i].ended_ms));
                json_object_object_add(e, "outcome", jstr(a[i].outcome));
                json_object_object_add(e, "error", jstr(a[i].error));
                if (i >= tails_from && a[i].log_tail && a[i].log_tail[0])
                    json_object_object_add(e, "log_tail", admin_lines(a[i].log_tail));
                json_object_array_add(arr, e);
            }
            json_object_object_add(o, "attempts", arr);
        }
        dcv_store_attempts_free(a, na);
        if (dcv_store_history(c->store, j->id, &h, &nh, err, sizeof err) == 0 &&
            (arr = json_object_new_array())) {
            /* The newest entries matter most when a job bounced for long. */
            for (size_t i = nh > HISTORY_MAX ? nh - HISTORY_MAX : 0; i < nh; i++) {
                json_object *e = json_object_new_object();
                if (!e)
                    break;
                json_object_object_add(e, "from", jstr(dcv_job_state_wire_name(h[i].from)));
                json_object_object_add(e, "to", jstr(dcv_job_state_wire_name(h[i].to)));
                json_object_object_add(e, "event", jstr(lower(dcv_job_event_name(h[i].event), b2, sizeof b2)));
                json_object_object_add(e, "attempt", json_object_new_int(h[i].attempt));
                json_object_object_add(e, "time_ms", json_object_new_int64(h[i].time_ms));
                json_object_object_add(e, "note", jstr(h[i].note));
                json_object_array_add(arr, e);
            }
            json_object_object_add(o, "history", arr);
        }
        dcv_store_history_free(h, nh);
    }
    return o;
}

/* ---- verbs --------------------------------------------------------------------- */

/* A submitter (not an operator, nor a viewer for reading) sees only the
 * jobs it submitted (perm.h). */
static int own_jobs_only(const struct req_ctx *x)
{
    return dcv_perm_own_only(x->roles, x->act);
}

/* The identity recorded on a job at submit ("" for jobs from before
 * security, or from an unauthenticated socket). */
static void job_owner(struct dcv_coord *c, const struct dcv_job *j, char *out, size_t len)
{
    struct co_input in;
    char err[256];
    (void)co_input_parse(c, j->input_json, &in, err, sizeof err);
    snprintf(out, len, "%s", in.submitter);
}

static int shared_root_of(struct dcv_coord *c, const char *real, char *roots, size_t rlen)
{
    const struct dcv_strlist *l = &c->set->shared_roots;
    size_t pos = 0;

    roots[0] = '\0';
    for (unsigned i = 0; i < l->n; i++) {
        char rr[PATH_MAX];
        int n;
        if (!realpath(l->v[i], rr))
            continue; /* a root that does not exist (yet) holds nothing */
        if (dcv_path_under(real, rr))
            return 1;
        n = snprintf(roots + pos, rlen - pos, "%s%s", pos ? ", " : "", l->v[i]);
        if (n > 0 && (size_t)n < rlen - pos)
            pos += (size_t)n;
    }
    return 0;
}

static void verb_submit(struct req_ctx *x)
{
    struct dcv_coord *c = x->c;
    const struct dcv_proto_args *a = &x->rq->args;
    struct dcv_profile prof;
    struct dcv_job_new req;
    struct dcv_job job;
    struct co_input *in;
    json_object *body;
    char err[DCV_PROTO_TEXT], path[PATH_MAX], real[PATH_MAX], sha[DCV_PROTO_SHA], roots[900];
    char *record = NULL;
    int64_t size;
    int created = 0, r;

    if (co_profile_parse(a->profile, &prof, err, sizeof err) < 0 ||
        co_profile_known(c, &prof, err, sizeof err) < 0) {
        FAILR(x, 400, "%s", err);
        return;
    }
    if (!(in = calloc(1, sizeof *in))) {
        FAILR(x, 500, "coordinator out of memory");
        return;
    }
    switch (a->input_kind) {
    case DCV_SUBMIT_UPLOAD:
        if (dcv_blobs_upload_path(c->blobs, a->blob.xfer_id, path, sizeof path) < 0 ||
            dcv_blobs_read_record(path, &size, sha) < 0) {
            FAILR(x, 400, "upload %" PRId64 " is not committed: upload the file first", a->blob.xfer_id);
            goto out;
        }
        if (size != a->blob.size || strcmp(sha, a->blob.sha256) != 0) {
            FAILR(x, 400, "upload %" PRId64 " does not match: the coordinator holds %" PRId64
                  " bytes with sha256 %s", a->blob.xfer_id, size, sha);
            goto out;
        }
        in->kind = DCV_SUBMIT_UPLOAD;
        in->xfer_id = a->blob.xfer_id;
        in->size = size;
        copy_str(in->sha, sizeof in->sha, sha);
        if (a->name[0])
            copy_str(in->name, sizeof in->name, a->name);
        else
            snprintf(in->name, sizeof in->name, "upload-%" PRId64, a->blob.xfer_id);
        break;
    case DCV_SUBMIT_PATH: {
        struct stat st;
        const char *base;
        if (c->set->shared_roots.n == 0) {
            FAILR(x, 403, "path inputs are refused: the coordinator has no shared_roots configured");
            goto out;
        }
        if (!realpath(a->path, real)) {
            FAILR(x, 400, "input %s: %s", a->path, strerror(errno));
            goto out;
        }
        if (!shared_root_of(c, real, roots, sizeof roots)) {
            FAILR(x, 403, "input %s is outside the shared roots (%s)", a->path,
                  roots[0] ? roots : "none exists");
            goto out;
        }
        if (stat(real, &st) < 0 || !S_ISREG(st.st_mode)) {
            FAILR(x, 400, "input %s is not a regular file", a->path);
            goto out;
        }
        if (access(real, R_OK) < 0) {
            FAILR(x, 403, "input %s is not readable by the coordinator: %s", a->path, strerror(errno));
            goto out;
        }
        base = strrchr(real, '/');
        in->kind = DCV_SUBMIT_PATH;
        copy_str(in->path, sizeof in->path, real);
        in->size = st.st_size;
        in->mtime = (int64_t)st.st_mtim.tv_sec;
        /* a file name: NAME_MAX (255) bytes at most, as the record's field */
        snprintf(in->name, sizeof in->name, "%.*s", (int)sizeof in->name - 1,
                 a->name[0] ? a->name : base ? base + 1 : real);
        break;
    }
    default: {
        const char *allowed[DCV_STRLIST_MAX];
        const struct dcv_strlist *l = &c->set->url_protocols;
        char name[DCV_PROTO_HOST * 2];
        for (unsigned i = 0; i < l->n; i++)
            allowed[i] = l->v[i];
        if ((r = dcv_url_check(a->path, allowed, l->n, err, sizeof err)) < 0) {
            FAILR(x, r == -EPERM ? 403 : 400, "input: %s", err);
            goto out;
        }
        dcv_url_name(a->path, name, sizeof name);
        in->kind = DCV_SUBMIT_URL;
        copy_str(in->path, sizeof in->path, a->path);
        copy_str(in->name, sizeof in->name, a->name[0] ? a->name : name);
        break;
    }
    }

    memset(&req, 0, sizeof req);
    req.idempotency_key = x->rq->idempotency_key[0] ? x->rq->idempotency_key : NULL;
    req.prio_class = (enum dcv_prio_class)a->prio_class;
    req.priority = (int)a->priority;
    req.max_attempts = a->max_attempts > 0 ? (int)a->max_attempts : c->set->max_attempts;
    req.profile_json = a->profile;
    /* Who submitted it: submitters see only their own jobs. */
    copy_str(in->submitter, sizeof in->submitter, x->user);
    if (!(req.input_json = record = co_input_record(in))) {
        FAILR(x, 500, "coordinator out of memory");
        goto out;
    }
    if ((r = dcv_store_submit(c->store, &req, &job, &created, err, sizeof err)) < 0) {
        FAILR(x, store_status(r), "%s", err);
        goto out;
    }
    if (created) {
        co_stats_submitted(c);
        dcv_log(DCV_LOG_INFO, CO_LOG, "job %s submitted (%s, %s priority %d)", job.id,
                in->name,
                dcv_prio_class_name(job.prio_class), job.priority);
        co_dispatch_soon(c);
        co_events_job(c, &job);
    }
    if ((body = json_object_new_object())) {
        json_object_object_add(body, "job_id", jstr(job.id));
        json_object_object_add(body, "created", json_object_new_boolean(created));
    }
    dcv_job_clear(&job);
    admin_reply(c, x->peer, x->rq->req_id, body ? 200 : 500, "coordinator out of memory", body);
out:
    free(record);
    free(in);
}

static int load(struct req_ctx *x, struct dcv_job *job)
{
    char err[512];
    int r = dcv_store_get(x->c->store, x->rq->args.job_id, job, err, sizeof err);
    if (r == -ENOENT)
        FAILR(x, 404, "no job %s", x->rq->args.job_id);
    else if (r < 0)
        FAILR(x, store_status(r), "%s", err);
    if (r == 0 && own_jobs_only(x)) {
        char owner[DCV_TX_MAX_USER_ID + 1];
        job_owner(x->c, job, owner, sizeof owner);
        if (strcmp(owner, x->user) != 0) {
            dcv_log(DCV_LOG_WARN, CO_LOG, "admin %s refused: submitter %s asked for job %s of %s",
                    dcv_proto_verb_name(x->rq->verb), x->user, job->id,
                    owner[0] ? owner : "nobody");
            FAILR(x, 403, "permission denied: job %s was not submitted by %s", job->id, x->user);
            dcv_job_clear(job);
            return -EACCES;
        }
    }
    return r;
}

static void reply_job(struct req_ctx *x, const struct dcv_job *job, int full)
{
    json_object *o = co_admin_job_json(x->c, job, full);
    admin_reply(x->c, x->peer, x->rq->req_id, o ? 200 : 500, "coordinator out of memory", o);
}

static void verb_status(struct req_ctx *x)
{
    struct dcv_job job;
    if (load(x, &job) < 0)
        return;
    reply_job(x, &job, 1);
    dcv_job_clear(&job);
}

struct list_ud {
    struct dcv_coord *c;
    json_object *arr;
    size_t bytes;
    int truncated;
};

static int list_one(const struct dcv_job *j, void *ud)
{
    struct list_ud *u = ud;
    json_object *o;
    size_t n;

    o = co_admin_job_json(u->c, j, 0);
    if (!o)
        return -ENOMEM;
    n = strlen(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN)) + 1;
    if (u->bytes + n > REPLY_BUDGET) {
        json_object_put(o);
        u->truncated = 1;
        return 1;
    }
    u->bytes += n;
    json_object_array_add(u->arr, o);
    return 0;
}

static void verb_jobs(struct req_ctx *x)
{
    const struct dcv_proto_args *a = &x->rq->args;
    struct list_ud u = { x->c, NULL, 0, 0 };
    json_object *body;
    char err[512];
    int64_t total = 0;
    int r;

    /* A submitter (own_jobs_only) lists and counts only its own jobs. */
    const char *owner = own_jobs_only(x) ? x->user : NULL;

    if ((r = dcv_store_count_owned(x->c->store, a->state, owner, &total, err, sizeof err)) < 0) {
        FAILR(x, store_status(r), "%s", err);
        return;
    }
    if (!(body = json_object_new_object()) || !(u.arr = json_object_new_array())) {
        json_object_put(body);
        FAILR(x, 500, "coordinator out of memory");
        return;
    }
    r = dcv_store_list_owned(x->c->store, a->state, owner, 1,
                             a->limit > 0 ? (int)a->limit : JOBS_DEFAULT_LIMIT, (int)a->offset,
                             list_one, &u, err, sizeof err);
    if (r < 0) {
        json_object_put(u.arr);
        json_object_put(body);
        FAILR(x, store_status(r), "%s", err);
        return;
    }
    json_object_object_add(body, "jobs", u.arr);
    json_object_object_add(body, "total", json_object_new_int64(total));
    if (u.truncated)
        json_object_object_add(body, "truncated", json_object_new_boolean(1));
    admin_reply(x->c, x->peer, x->rq->req_id, 200, NULL, body);
}

static void verb_cancel(struct req_ctx *x)
{
    struct dcv_coord *c = x->c;
    struct dcv_job job, after;
    char err[512], worker[DCV_PROTO_ID], session[DCV_PROTO_ID];
    struct co_job *cj;
    int r, attempt, held;

    if (load(x, &job) < 0)
        return;
    if (job.state == DCV_JOB_CANCELLED) { /* a retried request: already done */
        reply_job(x, &job, 0);
        dcv_job_clear(&job);
        return;
    }
    if (dcv_job_state_is_terminal(job.state)) {
        FAILR(x, 400, "job %s is %s: nothing to cancel", job.id, dcv_job_state_name(job.state));
        dcv_job_clear(&job);
        return;
    }
    held = dcv_job_state_is_active(job.state);
    attempt = job.attempt;
    copy_str(worker, sizeof worker, job.worker);
    copy_str(session, sizeof session, job.session);
    if ((cj = co_job_find(c, job.id)) && cj->attempt == attempt) {
        copy_str(worker, sizeof worker, cj->worker);
        copy_str(session, sizeof session, cj->session);
    }
    r = dcv_store_apply(c->store, job.id, DCV_EV_CANCEL, attempt, "cancelled by an operator", NULL,
                        NULL, "cancelled", &after, err, sizeof err);
    dcv_job_clear(&job);
    if (r < 0) {
        FAILR(x, r == -ESTALE ? 500 : store_status(r), "%s", err);
        return;
    }
    dcv_log(DCV_LOG_INFO, CO_LOG, "job %s cancelled", after.id);
    co_events_job(c, &after);
    if (held) {
        co_send_cancel(c, co_worker_find(c, worker), after.id, attempt, session,
                       "cancelled by an operator");
        co_job_release(c, after.id, DCV_CODE_CANCELLED, "job cancelled");
        co_dispatch_soon(c);
    }
    reply_job(x, &after, 0);
    dcv_job_clear(&after);
}

static void verb_retry(struct req_ctx *x)
{
    struct dcv_job job, after;
    char err[512];
    int r;

    if (load(x, &job) < 0)
        return;
    if (job.state == DCV_JOB_QUEUED) { /* a retried request, or nothing to do */
        reply_job(x, &job, 0);
        dcv_job_clear(&job);
        return;
    }
    if (job.state != DCV_JOB_FAILED && job.state != DCV_JOB_CANCELLED) {
        FAILR(x, 400, "job %s is %s: only failed or cancelled jobs can be retried", job.id,
              dcv_job_state_name(job.state));
        dcv_job_clear(&job);
        return;
    }
    if (admin_blob_removed(x->c, job.id, 1, err, sizeof err)) {
        FAILR(x, 400, "job %s cannot be retried: %s; submit the file again", job.id, err);
        dcv_job_clear(&job);
        return;
    }
    r = dcv_store_apply(x->c->store, job.id, DCV_EV_RETRY, job.attempt, "retried by an operator",
                        NULL, NULL, NULL, &after, err, sizeof err);
    dcv_job_clear(&job);
    if (r < 0) {
        FAILR(x, r == -ESTALE ? 500 : store_status(r), "%s", err);
        return;
    }
    co_dispatch_soon(x->c);
    co_events_job(x->c, &after);
    reply_job(x, &after, 0);
    dcv_job_clear(&after);
}

static void verb_get(struct req_ctx *x)
{
    struct dcv_coord *c = x->c;
    struct co_download *d, **pp;
    struct dcv_job job;
    struct co_input in;
    struct co_output orec;
    json_object *body;
    char err[512], path[PATH_MAX], sha[DCV_PROTO_SHA], name[sizeof orec.name];
    int64_t size;
    size_t n = 0;
    int r, have_out;

    if (load(x, &job) < 0)
        return;
    if (x->rq->args.what == 0) {
        if (job.state != DCV_JOB_DONE) {
            FAILR(x, 404, "job %s is %s, not done: no output yet", job.id,
                  dcv_job_state_wire_name(job.state));
            goto out;
        }
        have_out = co_output_parse(job.output_json, &orec) == 0;
        if (have_out && !orec.file[0] && strcmp(orec.outcome, "encoded") != 0) {
            /* Done without an output (library rules): the source is the
             * result. 404 as for any absent object, with the reason. */
            FAILR(x, 404, "job %s has no output: %s (%s); keep the original file", job.id,
                  orec.outcome, orec.note[0] ? orec.note : "-");
            goto out;
        }
        if (!have_out || !orec.file[0] ||
            dcv_blobs_job_path(c->blobs, job.id, orec.file, 0, path, sizeof path, err,
                               sizeof err) < 0 ||
            dcv_blobs_read_record(path, &size, sha) < 0) {
            if (admin_blob_removed(c, job.id, 0, err, sizeof err))
                FAILR(x, 404, "job %s: %s", job.id, err);
            else
                FAILR(x, 500, "job %s: its output file is missing on the coordinator", job.id);
            goto out;
        }
        copy_str(name, sizeof name, orec.name[0] ? orec.name : "output");
    } else {
        if (co_input_parse(c, job.input_json, &in, err, sizeof err) < 0) {
            FAILR(x, 500, "job %s: %s", job.id, err);
            goto out;
        }
        copy_str(path, sizeof path, in.path);
        copy_str(name, sizeof name, in.name);
        size = in.size;
        if (in.kind == DCV_SUBMIT_UPLOAD) {
            if (dcv_blobs_read_record(path, &size, sha) < 0) {
                if (!admin_blob_removed(c, job.id, 1, err, sizeof err))
                    copy_str(err, sizeof err, "its input upload is no longer on the coordinator");
                FAILR(x, 404, "job %s: %s", job.id, err);
                goto out;
            }
        } else if ((r = co_hash_get(c, path, size, sha)) <= 0) {
            if (r == 0)
                admin_reply_err(c, x->peer, x->rq->req_id, 202,
                          "computing the input's sha256: ask again shortly");
            else
                FAILR(x, 404, "job %s: input %s: %s", job.id, path,
                      r == -ESTALE ? "changed since it was submitted" : strerror(-r));
            goto out;
        }
    }
    /* Register (or refresh) the download; the oldest goes beyond the cap. */
    for (pp = &c->dp.downloads; *pp; pp = &(*pp)->next)
        n++;
    if (n >= CO_DOWNLOAD_MAX && c->dp.downloads) {
        struct co_download **op = &c->dp.downloads, *oldest;
        for (pp = &c->dp.downloads; *pp; pp = &(*pp)->next)
            if ((*pp)->expires < (*op)->expires)
                op = pp;
        oldest = *op;
        *op = oldest->next;
        free(oldest);
    }
    if (!(d = calloc(1, sizeof *d))) {
        FAILR(x, 500, "coordinator out of memory");
        goto out;
    }
    if (dcv_random_id53(&d->xfer_id, err, sizeof err) < 0) {
        free(d);
        FAILR(x, 500, "download id: %s", err);
        goto out;
    }
    d->size = size;
    copy_str(d->sha, sizeof d->sha, sha);
    copy_str(d->path, sizeof d->path, path);
    d->expires = co_now() + CO_DOWNLOAD_TTL_MS;
    copy_str(d->job_id, sizeof d->job_id, job.id);
    d->output = x->rq->args.what == 0;
    d->next = c->dp.downloads;
    c->dp.downloads = d;
    if ((body = json_object_new_object())) {
        json_object_object_add(body, "xfer_id", json_object_new_int64(d->xfer_id));
        json_object_object_add(body, "size", json_object_new_int64(size));
        json_object_object_add(body, "sha256", jstr(sha));
        json_object_object_add(body, "name", jstr(name));
    }
    admin_reply(c, x->peer, x->rq->req_id, body ? 200 : 500, "coordinator out of memory", body);
out:
    dcv_job_clear(&job);
}

static void verb_info(struct req_ctx *x)
{
    struct dcv_coord *c = x->c;
    const char *announced = c->set->data_endpoint[0] ? c->set->data_endpoint : c->ep_data;
    char ep[DCV_ENDPOINT_MAX * 2];
    json_object *body;

    if (dcv_endpoint_for_peer(announced, c->ep_adm, ep, sizeof ep) < 0)
        copy_str(ep, sizeof ep, announced);
    if ((body = json_object_new_object())) {
        json_object_object_add(body, "data_endpoint", jstr(ep));
        json_object_object_add(body, "version", jstr(PACKAGE_VERSION));
        json_object_object_add(body, "coordinator_epoch", jstr(c->epoch));
        /* The HTTP plane, when it listens (http.bind). */
        if (c->http) {
            char url[160];
            snprintf(url, sizeof url, "%s://%s/", c->web.tls_cert ? "https" : "http",
                     c->set->http_bind);
            json_object_object_add(body, "http_url", jstr(url));
        }
        if (x->roles & DCV_AUTH_OPERATOR)
            admin_info_storage(c, body);
    }
    admin_reply(c, x->peer, x->rq->req_id, body ? 200 : 500, "coordinator out of memory", body);
}

/* Every verb: its entry in the permission table (perm.h, shared with the
 * HTTP routes) and its handler (Redis's command table). */
struct admin_verb {
    int verb;
    enum dcv_action act;
    void (*fn)(struct req_ctx *x);
};
static const struct admin_verb verbs[] = {
    {DCV_VERB_SUBMIT, DCV_ACT_JOBS_SUBMIT, verb_submit},
    {DCV_VERB_STATUS, DCV_ACT_JOBS_READ, verb_status},
    {DCV_VERB_JOBS, DCV_ACT_JOBS_READ, verb_jobs},
    {DCV_VERB_CANCEL, DCV_ACT_JOBS_CONTROL, verb_cancel},
    {DCV_VERB_RETRY, DCV_ACT_JOBS_CONTROL, verb_retry},
    {DCV_VERB_GET, DCV_ACT_JOBS_DOWNLOAD, verb_get},
    {DCV_VERB_INFO, DCV_ACT_INFO, verb_info},
    {DCV_VERB_WORKERS, DCV_ACT_WORKERS_READ, admin_workers},
    {DCV_VERB_WORKER, DCV_ACT_WORKERS_READ, admin_worker},
    {DCV_VERB_DRAIN, DCV_ACT_WORKERS_CONTROL, admin_drain},
    {DCV_VERB_UNDRAIN, DCV_ACT_WORKERS_CONTROL, admin_undrain},
    {DCV_VERB_RM, DCV_ACT_STORAGE, admin_rm},
    {DCV_VERB_PURGE, DCV_ACT_STORAGE, admin_purge},
    {DCV_VERB_TOKEN_CREATE, DCV_ACT_TOKENS, admin_token_create},
    {DCV_VERB_TOKEN_LIST, DCV_ACT_TOKENS, admin_token_list},
    {DCV_VERB_TOKEN_REVOKE, DCV_ACT_TOKENS, admin_token_revoke},
};

/* The verb's row, or NULL. */
static const struct admin_verb *verb_row(int verb)
{
    for (size_t i = 0; i < sizeof verbs / sizeof verbs[0]; i++)
        if (verbs[i].verb == verb)
            return &verbs[i];
    return NULL;
}

/* The table's check: 0, or a 403 sent and -EACCES. */
static int permitted(struct req_ctx *x, const struct admin_verb *row)
{
    const char *verb = dcv_proto_verb_name(x->rq->verb) ? dcv_proto_verb_name(x->rq->verb) : "?";

    x->act = row ? row->act : DCV_ACT_NONE;
    if (dcv_perm_allows(x->roles, x->act) && x->act != DCV_ACT_NONE)
        return 0;
    dcv_log(DCV_LOG_WARN, CO_LOG, "admin %s refused: %s %s is not allowed to", verb,
            dcv_auth_role_name(x->roles), x->user);
    FAILR(x, 403, "permission denied: %s %s may not %s", dcv_auth_role_name(x->roles), x->user,
          verb);
    return -EACCES;
}

int co_admin_call(struct dcv_coord *c, const char *user, int roles,
                  const struct dcv_proto_request *rq, struct co_admin_res *res)
{
    struct req_ctx x = {.c = c, .peer = NULL, .rq = rq, .user = user, .roles = roles};
    const struct admin_verb *row = verb_row(rq->verb);

    memset(res, 0, sizeof *res);
    c->admin_sink = res;
    if (permitted(&x, row) == 0)
        row->fn(&x);
    c->admin_sink = NULL;
    if (!res->replied) {
        /* Every verb answers before it returns; one that did not is a bug
         * to see, not a request to leave hanging. */
        res->status = 500;
        copy_str(res->error, sizeof res->error, "the verb gave no reply");
    }
    return 0;
}

/* The req_id of a REQUEST we could not decode, so the error still reaches
 * the client (it is waiting for that id); NULL when there is none. */
static int req_id_ok(const char *s, size_t n, size_t outlen)
{
    if (n == 0 || n >= outlen)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= 'a' && s[i] <= 'z') ||
              (s[i] >= '0' && s[i] <= '9') || s[i] == '.' || s[i] == '_' || s[i] == ':' ||
              s[i] == '-'))
            return 0;
    return 1;
}

/* What JSON cannot give (a body cut short, one over the size limit): the
 * first `"req_id": "TOKEN"` in its first 64 KiB, read as text. It only
 * addresses the error reply to the client waiting for it. */
static int scan_req_id(const char *b, size_t len, char *out, size_t outlen)
{
    static const char key[] = "\"req_id\"";
    size_t n = len < 65536 ? len : 65536;
    const char *p = memmem(b, n, key, sizeof key - 1), *end = b + n, *q;

    if (!p)
        return 0;
    for (p += sizeof key - 1; p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'); p++)
        ;
    if (p >= end || *p++ != ':')
        return 0;
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
        p++;
    if (p >= end || *p++ != '"' || !(q = memchr(p, '"', (size_t)(end - p))) ||
        !req_id_ok(p, (size_t)(q - p), outlen))
        return 0;
    memcpy(out, p, (size_t)(q - p));
    out[q - p] = '\0';
    return 1;
}

static int salvage_req_id(const void *body, size_t len, char *out, size_t outlen)
{
    json_tokener *t = json_tokener_new();
    json_object *o = NULL, *v;
    const char *s;
    int ok = 0;

    if (!t)
        return 0;
    if (len < DCV_PROTO_MAX_BODY)
        o = json_tokener_parse_ex(t, body, (int)len);
    json_tokener_free(t);
    if (!o)
        return scan_req_id(body, len, out, outlen);
    if (json_object_is_type(o, json_type_object) && json_object_object_get_ex(o, "req_id", &v) &&
        json_object_is_type(v, json_type_string)) {
        s = json_object_get_string(v);
        if ((ok = req_id_ok(s, strlen(s), outlen)))
            copy_str(out, outlen, s);
    }
    json_object_put(o);
    return ok;
}

void co_admin_refuse(struct dcv_coord *c, const struct dcv_tx_peer *from,
                     const struct dcv_proto_msg *m, const char *why)
{
    char id[DCV_PROTO_ID];
    /* Never parsed (too large): its req_id is read as text. */
    if (scan_req_id(m->body, m->body_len, id, sizeof id))
        admin_reply(c, from, id, 400, why, NULL);
}

void co_admin_input(struct dcv_coord *c, const struct dcv_tx_peer *from, const struct dcv_proto_msg *m)
{
    struct dcv_proto_request *rq;
    const struct admin_verb *row = NULL;
    struct req_ctx x;
    char err[DCV_PROTO_TEXT], id[DCV_PROTO_ID];

    if (m->cmd != DCV_CMD_REQUEST)
        return; /* PARTIAL/FINAL go the other way: nothing to answer */
    if (!(rq = calloc(1, sizeof *rq)))
        return;
    if (dcv_proto_decode(DCV_PLANE_ADMIN, DCV_CMD_REQUEST, m->body, m->body_len, rq, err,
                         sizeof err) < 0) {
        dcv_log(DCV_LOG_INFO, CO_LOG, "bad admin request: %s", err);
        if (salvage_req_id(m->body, m->body_len, id, sizeof id))
            admin_reply(c, from, id, 400, err, NULL);
        free(rq);
        return;
    }
    row = verb_row(rq->verb);
    x.c = c;
    x.peer = from;
    x.rq = rq;
    {
        /* Roles per verb (the permission table): workers have no business here. */
        int64_t uid;
        x.user = dcv_sock_user(c->adm, &uid);
        x.roles = dcv_auth_role(dcv_net_auth(c->net), x.user, uid);
    }
    if (!row) {
        FAILR(&x, 400, "unknown verb");
    } else if (permitted(&x, row) == 0) {
        dcv_log(DCV_LOG_DEBUG, CO_LOG, "admin %s (req %s)", dcv_proto_verb_name(rq->verb),
                rq->req_id);
        row->fn(&x);
    }
    free(rq);
}
