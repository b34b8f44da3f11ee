/*
 * The worker's jobs (worker_int.h): JOB and CANCEL from the coordinator,
 * one job process each through the runner, its output lines turned into
 * ACCEPT/PROGRESS/DONE/FAIL, its exit, and the job table with the state of
 * each entry.
 */
#include "worker/worker_int.h"
#include "worker/workdir.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <json-c/json.h>

#include "config.h"
#include "errbuf.h"
#include "jsonutil.h"
#include "log.h"
#include "loop.h"
#include "pathutil.h"
#include "worker/jobspec.h"
#include "worker/logtail.h"
#include "worker/runner.h"

#define CANCEL_GRACE_MS 5000    /* TERM -> KILL for a cancelled job */
#define PROGRESS_MIN_MS 1000    /* protocol: at most one PROGRESS per second */
#define JOB_MAX_LINE 16384
#define LINGER_MS 30000         /* a job alive this long after its final line is killed */

/*
 * A job's life here is two states and a reason, moved only by wjob_step():
 *
 *   child    NONE -SPAWN-> STARTING -ACCEPT-> RUNNING
 *            STARTING|RUNNING -CANCEL|SUPERSEDE-> CANCELLING   TERM, then KILL
 *            STARTING|RUNNING -LINGER-> LINGERING   alive LINGER_MS after its
 *                                                   result: TERM, then KILL
 *            STARTING|RUNNING|CANCELLING|LINGERING -EXIT-> REAPED
 *   outcome  NONE -REPORT-> REPORTED -QUEUE-> QUEUED -SENT-> SENT
 *            REPORTED -SENT-> SENT   cannot be encoded, or superseded: nothing
 *                                    more will ever go out about the attempt
 *   stop     why it went CANCELLING: the coordinator's CANCEL, or SUPERSEDED
 *            by a newer attempt (which also settles its outcome at once)
 *
 * REPORTED: its final line arrived (or we made one up); QUEUED: the final
 * message is in the outbox; SENT: popped from it.
 *
 * Two departures from the sketch of issue 11 (child STARTING..REAPED, with
 * superseded a reason on CANCELLING), both because the code asks for them.
 * NONE: a JOB refused at once gets an entry only to carry its REJECT out;
 * it never had a process, so it is never listed as running in HELLO and
 * its REJECT is never turned into a FAIL on reconnect, both of which a
 * REAPED entry would get. And `stop` outlives CANCELLING: a cancelled
 * attempt whose FAIL is still queued after its process is reaped is not
 * held any more, so the reason must survive the move to REAPED.
 */
enum wjob_child {
    WJ_CHILD_NONE = 0, /* no process (yet, or ever: a refusal) */
    WJ_CHILD_STARTING, /* spawned, no accept line yet: a failure is a REJECT */
    WJ_CHILD_RUNNING,  /* printed accept (ACCEPT queued) */
    WJ_CHILD_CANCELLING,
    WJ_CHILD_LINGERING,
    WJ_CHILD_REAPED,
    WJ_CHILD_COUNT
};

enum wjob_outcome { WJ_OUT_NONE = 0, WJ_OUT_REPORTED, WJ_OUT_QUEUED, WJ_OUT_SENT, WJ_OUT_COUNT };

enum wjob_stop { WJ_STOP_NONE = 0, WJ_STOP_CANCELLED, WJ_STOP_SUPERSEDED };

struct wjob {
    struct wjob *next;
    struct dcv_worker *w;
    struct dcv_proto_fence fence;
    struct dcv_child *proc; /* the runner's handle; NULL unless child is alive */
    pid_t pid;
    enum wjob_child child;
    enum wjob_outcome outcome;
    enum wjob_stop stop;
    int gpu;           /* placed on a hardware encoder: counts as a GPU job */
    char place_plugin[DCV_PROTO_ID];  /* JOB.placement, "" without one: reported */
    char place_dev[DCV_PROTO_HOST];   /* in HELLO.running for re-attach */
    uint64_t reported_ms;
    int phase;         /* latest progress */
    double pct;
    int64_t frames, frames_total;
    double fps, speed;
    int progress_new;  /* newer than what was last forwarded */
    int64_t in_bytes;  /* an input fetched on the data plane: its size, for /metrics */
    int in_stream;     /* read as a stream (counted when done), else copied */
    uint64_t progress_sent_ms;
    char work_dir[PATH_MAX];
    char tag[48];      /* "0123abcd/1" for logs */
    struct dcv_logtail log; /* its last log lines, for REJECT/FAIL.log_tail */
};

/* ---- a job's state ---------------------------------------------------------- */

#define C(s) (1u << WJ_CHILD_##s)
#define O(s) (1u << WJ_OUT_##s)
#define KEEP (-1)

/* One row per event, because an event moves one or both of two states
 * (jobstate.c has one state, so it keeps a state x event matrix): the
 * states it is legal in, where it takes each, and the stop reason it
 * records. An event outside its row's states is a bug, refused and logged. */
static const struct wjob_rule {
    unsigned child_from, outcome_from;
    signed char child_to, outcome_to; /* KEEP: unchanged */
    enum wjob_stop stop;              /* NONE: unchanged */
} wjob_rules[WJ_EV_COUNT] = {
    [WJ_EV_SPAWN] = {C(NONE), O(NONE), WJ_CHILD_STARTING, KEEP, WJ_STOP_NONE},
    [WJ_EV_ACCEPT] = {C(STARTING), O(NONE), WJ_CHILD_RUNNING, KEEP, WJ_STOP_NONE},
    [WJ_EV_REPORT] = {C(NONE) | C(STARTING) | C(RUNNING) | C(REAPED), O(NONE), KEEP,
                      WJ_OUT_REPORTED, WJ_STOP_NONE},
    [WJ_EV_CANCEL] = {C(STARTING) | C(RUNNING), O(NONE), WJ_CHILD_CANCELLING, KEEP,
                      WJ_STOP_CANCELLED},
    [WJ_EV_SUPERSEDE] = {C(STARTING) | C(RUNNING), O(NONE), WJ_CHILD_CANCELLING,
                         WJ_OUT_REPORTED, WJ_STOP_SUPERSEDED},
    [WJ_EV_LINGER] = {C(STARTING) | C(RUNNING), O(REPORTED) | O(QUEUED) | O(SENT),
                      WJ_CHILD_LINGERING, KEEP, WJ_STOP_NONE},
    [WJ_EV_EXIT] = {C(STARTING) | C(RUNNING) | C(CANCELLING) | C(LINGERING),
                    (1u << WJ_OUT_COUNT) - 1, WJ_CHILD_REAPED, KEEP, WJ_STOP_NONE},
    [WJ_EV_QUEUE] = {C(NONE) | C(STARTING) | C(RUNNING) | C(REAPED), O(REPORTED), KEEP,
                     WJ_OUT_QUEUED, WJ_STOP_NONE},
    [WJ_EV_SENT] = {(1u << WJ_CHILD_COUNT) - 1, O(REPORTED) | O(QUEUED), KEEP, WJ_OUT_SENT,
                    WJ_STOP_NONE},
};

#undef C
#undef O

static const char *const wjob_child_names[WJ_CHILD_COUNT] = {
    "NONE", "STARTING", "RUNNING", "CANCELLING", "LINGERING", "REAPED",
};
static const char *const wjob_outcome_names[WJ_OUT_COUNT] = {
    "NONE", "REPORTED", "QUEUED", "SENT",
};
static const char *const wjob_event_names[WJ_EV_COUNT] = {
    "SPAWN", "ACCEPT", "REPORT", "CANCEL", "SUPERSEDE", "LINGER", "EXIT", "QUEUE", "SENT",
};

int wjob_step(struct wjob *j, enum wjob_event ev)
{
    const struct wjob_rule *r = (unsigned)ev < WJ_EV_COUNT ? &wjob_rules[ev] : NULL;

    if (!r || !(r->child_from & (1u << j->child)) || !(r->outcome_from & (1u << j->outcome))) {
        dcv_log(DCV_LOG_ERROR, COMP, "job %s: job state %s/%s cannot take %s (a bug); ignored",
                j->tag, wjob_child_names[j->child], wjob_outcome_names[j->outcome],
                r ? wjob_event_names[ev] : "an unknown event");
        return -EINVAL;
    }
    if (r->child_to != KEEP)
        j->child = (enum wjob_child)r->child_to;
    if (r->outcome_to != KEEP)
        j->outcome = (enum wjob_outcome)r->outcome_to;
    if (r->stop != WJ_STOP_NONE)
        j->stop = r->stop;
    return 0;
}

#undef KEEP

/* It has (or had) a process: a refusal never did. */
int wjob_spawned(const struct wjob *j)
{
    return j->child != WJ_CHILD_NONE;
}

static int wjob_alive(const struct wjob *j)
{
    return j->child != WJ_CHILD_NONE && j->child != WJ_CHILD_REAPED;
}

/* A job that printed its final line only cleans up before it exits: its
 * slot is free, as the coordinator sees it after DONE/FAIL. A cancelled one
 * holds its slot until it is gone; a superseded one frees it at once. */
static int wjob_holds_slot(const struct wjob *j)
{
    return wjob_alive(j) && j->outcome == WJ_OUT_NONE;
}

/* Running with nothing decided: its lines count, it renews its lease, and a
 * CANCEL or a newer attempt can stop it. */
static int wjob_open(const struct wjob *j)
{
    return (j->child == WJ_CHILD_STARTING || j->child == WJ_CHILD_RUNNING) &&
           j->outcome == WJ_OUT_NONE;
}

/* An attempt this process holds (HELLO.running, heartbeat jobs): running,
 * or finished with the outcome not yet delivered. Cancelled ones are the
 * coordinator's business no more; a refusal on its way out never started. */
static int wjob_is_held(const struct wjob *j)
{
    return wjob_spawned(j) && j->stop == WJ_STOP_NONE && j->outcome != WJ_OUT_SENT;
}

/* Its process is gone and its outcome went out (when the worker closes, an
 * outcome not in the outbox will never go: done with too). */
static int wjob_collectable(const struct wjob *j, int closing)
{
    return !wjob_alive(j) &&
           (j->outcome == WJ_OUT_SENT ||
            (closing && (j->outcome == WJ_OUT_NONE || j->outcome == WJ_OUT_REPORTED)));
}

/* Still alive LINGER_MS after its result, and not yet told to stop. */
static int wjob_lingers(const struct wjob *j, uint64_t now)
{
    return (j->child == WJ_CHILD_STARTING || j->child == WJ_CHILD_RUNNING) &&
           j->outcome != WJ_OUT_NONE && j->reported_ms && now - j->reported_ms > LINGER_MS;
}

/* ---- paths ------------------------------------------------------------------ */

/* JOB.input.path (the coordinator's view) -> our local path. */
static int map_path(const struct dcv_worker *w, const char *cpath, char *out, size_t len)
{
    const struct dcv_strlist *pm = &w->s->path_map;
    size_t best = 0;
    int found = 0;

    for (unsigned i = 0; i < pm->n; i++) {
        const char *eq = strchr(pm->v[i], '=');
        size_t l;
        if (!eq)
            continue;
        l = dcv_path_prefix_len(cpath, pm->v[i], (size_t)(eq - pm->v[i]));
        if (l > best) {
            const char *local = eq + 1, *rest = cpath + (l == 1 ? 0 : l);
            size_t ll = strlen(local);
            while (ll > 1 && local[ll - 1] == '/')
                ll--;
            if (ll == 1 && local[0] == '/')
                ll = 0; /* "/" + "/rest" */
            if ((size_t)snprintf(out, len, "%.*s%s", (int)ll, local, rest) >= len)
                return -ENAMETOOLONG;
            best = l;
            found = 1;
        }
    }
    for (size_t i = 0; i < w->n_local; i++) {
        size_t l = dcv_path_prefix_len(cpath, w->local[i], strlen(w->local[i]));
        if (l > best) {
            if ((size_t)snprintf(out, len, "%s", cpath) >= len)
                return -ENAMETOOLONG;
            best = l;
            found = 1;
        }
    }
    return found ? 0 : -ENOENT;
}

/* ---- messages --------------------------------------------------------------- */

/* busy: with code busy, what was full (enum dcv_proto_busy). */
static void send_failure(struct dcv_worker *w, struct wjob *j, int reject, int code, int busy,
                         int retryable, const char *fmt, ...) DCV_PRINTF(7, 8);
static void send_failure(struct dcv_worker *w, struct wjob *j, int reject, int code, int busy,
                         int retryable, const char *fmt, ...)
{
    struct dcv_proto_failure f;
    char msg[DCV_PROTO_TEXT * 2];
    va_list ap;

    memset(&f, 0, sizeof f);
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    f.fence = j->fence;
    f.code = code;
    f.busy = code == DCV_CODE_BUSY ? busy : DCV_BUSY_NONE;
    f.retryable = retryable;
    dcv_text_sanitize(f.message, sizeof f.message, msg);
    /* Why it failed is in its log, which otherwise stays on this host. A
     * busy device or a cancel says all there is in its message. */
    if (code != DCV_CODE_BUSY && code != DCV_CODE_CANCELLED)
        dcv_logtail_copy(&j->log, &f);
    dcv_log(code == DCV_CODE_BUSY || code == DCV_CODE_CANCELLED ? DCV_LOG_INFO : DCV_LOG_WARN,
            COMP, "job %s: %s %s (%s): %s", j->tag, reject ? "REJECT" : "FAIL",
            dcv_proto_code_name(code), retryable ? "retryable" : "final", f.message);
    if (reject)
        wk_send(w, DCV_CMD_REJECT, &f, j);
    else
        wk_send(w, DCV_CMD_FAIL, &f, j);
}

/* A JOB refused before any process: its entry only carries the REJECT out. */
static void refuse(struct dcv_worker *w, struct wjob *j, int code, const char *fmt, ...)
    DCV_PRINTF(4, 5);
static void refuse(struct dcv_worker *w, struct wjob *j, int code, const char *fmt, ...)
{
    char msg[DCV_PROTO_TEXT * 2];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    wjob_step(j, WJ_EV_REPORT);
    /* the worker's own refusals: a slot, draining, admission */
    send_failure(w, j, 1, code, DCV_BUSY_SLOT, 1, "%s", msg);
}

/* ---- jobs ------------------------------------------------------------------- */

/* Slots in use, as the coordinator counts them (wjob_holds_slot). */
unsigned wk_slots_used(const struct dcv_worker *w)
{
    unsigned n = 0;
    for (const struct wjob *j = w->jobs; j; j = j->next)
        if (wjob_holds_slot(j))
            n++;
    return n;
}

/* The same count for one job class (worker.max_cpu_jobs / max_gpu_jobs). */
static unsigned class_used(const struct dcv_worker *w, int gpu)
{
    unsigned n = 0;
    for (const struct wjob *j = w->jobs; j; j = j->next)
        if (wjob_holds_slot(j) && j->gpu == gpu)
            n++;
    return n;
}

static unsigned class_limit(const struct dcv_worker *w, int gpu)
{
    int32_t lim = gpu ? w->s->max_gpu_jobs : w->s->max_cpu_jobs;
    return (unsigned)(lim > 0 ? lim : w->s->max_jobs);
}

void wk_jobs_stats(const struct dcv_worker *w, struct wk_job_stats *out)
{
    memset(out, 0, sizeof *out);
    for (const struct wjob *j = w->jobs; j; j = j->next) {
        if (wjob_alive(j))
            out->processes++;
        if (!wjob_holds_slot(j))
            continue;
        out->used[j->gpu != 0]++;
        if (j->phase == DCV_PHASE_ENCODE && j->fps > 0)
            out->fps += j->fps;
    }
    out->limit[0] = class_limit(w, 0);
    out->limit[1] = class_limit(w, 1);
}

unsigned wk_jobs_on(const struct dcv_worker *w, const char *plugin, const char *device_id)
{
    unsigned n = 0;
    for (const struct wjob *j = w->jobs; j; j = j->next)
        n += wjob_holds_slot(j) && strcmp(j->place_plugin, plugin) == 0 &&
             strcmp(j->place_dev, device_id) == 0;
    return n;
}

static double job_progress(const struct wjob *j)
{
    if (j->outcome != WJ_OUT_NONE)
        return 100;
    if (j->phase == DCV_PHASE_ENCODE)
        return j->pct < 0 ? 0 : j->pct > 100 ? 100 : j->pct;
    if (j->phase == DCV_PHASE_VERIFY || j->phase == DCV_PHASE_UPLOAD)
        return 100;
    return 0;
}

size_t wk_held_jobs(const struct dcv_worker *w, struct dcv_proto_jobref *out, size_t cap)
{
    size_t n = 0;
    for (const struct wjob *j = w->jobs; j; j = j->next) {
        if (!wjob_is_held(j))
            continue;
        if (n >= cap)
            break;
        memcpy(out[n].job_id, j->fence.job_id, sizeof out[n].job_id);
        out[n].attempt = j->fence.attempt;
        out[n].progress = job_progress(j);
        memcpy(out[n].plugin, j->place_plugin, sizeof out[n].plugin);
        memcpy(out[n].device_id, j->place_dev, sizeof out[n].device_id);
        n++;
    }
    return n;
}

static void free_job(struct wjob *j)
{
    free(j);
}

void wk_gc_jobs(struct dcv_worker *w)
{
    struct wjob **pp = &w->jobs;
    while (*pp) {
        struct wjob *j = *pp;
        if (wjob_collectable(j, w->closing)) {
            *pp = j->next;
            free_job(j);
        } else {
            pp = &j->next;
        }
    }
}

static void send_progress(struct dcv_worker *w, struct wjob *j, uint64_t now)
{
    struct dcv_proto_progress p;

    memset(&p, 0, sizeof p);
    p.fence = j->fence;
    p.phase = j->phase >= 0 ? j->phase : DCV_PHASE_FETCH;
    p.pct = j->pct < 0 ? 0 : j->pct > 100 ? 100 : j->pct;
    p.frames = j->frames;
    p.fps = j->fps;
    p.frames_total = j->frames_total;
    p.speed = j->speed;
    j->progress_new = 0;
    j->progress_sent_ms = now;
    wk_send(w, DCV_CMD_PROGRESS, &p, NULL);
}

/* A job's stderr: JSON log lines from the job process, re-logged under the
 * job's name at their own level; anything else as it came. Either way the
 * line joins the job's log tail, "LEVEL COMPONENT: message". */
static void relay_log(struct wjob *j, const char *line, size_t len)
{
    struct json_object *o = NULL, *v;
    int level = DCV_LOG_INFO;
    char text[DCV_PROTO_LOG_LINE];

    if (len > 0 && line[0] == '{')
        o = json_tokener_parse(line);
    if (o && json_object_is_type(o, json_type_object) &&
        json_object_object_get_ex(o, "msg", &v) && json_object_is_type(v, json_type_string)) {
        const char *lv = dcv_json_str(o, "level", "");
        if (dcv_log_level_parse(lv, &level) < 0)
            level = DCV_LOG_INFO;
        if (dcv_log_enabled(level))
            dcv_log(level, "job", "%s %s: %s", j->tag, dcv_json_str(o, "component", ""),
                    json_object_get_string(v));
        snprintf(text, sizeof text, "%s %s: %s", lv && *lv ? lv : "info",
                 dcv_json_str(o, "component", ""), json_object_get_string(v));
        dcv_logtail_add(&j->log, text, strlen(text));
    } else {
        if (dcv_log_enabled(DCV_LOG_INFO))
            dcv_log(DCV_LOG_INFO, "job", "%s: %.*s", j->tag, (int)len, line);
        dcv_logtail_add(&j->log, line, len);
    }
    json_object_put(o);
}

static int same_fence(const struct dcv_proto_fence *a, const struct dcv_proto_fence *b)
{
    return strcmp(a->job_id, b->job_id) == 0 && a->attempt == b->attempt &&
           strcmp(a->session, b->session) == 0;
}

/* Bytes this worker's jobs fetched, whole files as the JOB named them: a
 * copy once the job accepted (fetched before it chose an encoder), a
 * stream once the job is done (it read the input through). */
static void count_input(struct wjob *j)
{
    j->w->xfer_rx += (uint64_t)j->in_bytes;
    j->in_bytes = 0;
}

static void on_job_line(struct dcv_child *c, enum dcv_child_stream stream, const char *line,
                        size_t len, unsigned flags, void *user)
{
    struct wjob *j = user;
    struct dcv_worker *w = j->w;
    struct dcv_jobline l;
    const struct dcv_proto_fence *f = NULL;
    char err[512];

    if (stream == DCV_CHILD_STDERR) {
        relay_log(j, line, len);
        return;
    }
    if (flags & DCV_LINE_TRUNCATED) {
        dcv_log(DCV_LOG_WARN, COMP, "job %s: overlong output line ignored", j->tag);
        return;
    }
    if (dcv_jobline_parse(line, len, &l, err, sizeof err) < 0) {
        dcv_log(DCV_LOG_WARN, COMP, "job %s: unexpected output ignored: %s", j->tag, err);
        return;
    }
    switch (l.kind) {
    case DCV_JOBLINE_ACCEPT: f = &l.accept.fence; break;
    case DCV_JOBLINE_PROGRESS: f = &l.progress.fence; break;
    case DCV_JOBLINE_DONE: f = &l.done.fence; break;
    default: f = &l.fail.fence; break;
    }
    if (!same_fence(f, &j->fence)) {
        dcv_log(DCV_LOG_WARN, COMP, "job %s: line for another attempt ignored", j->tag);
        return;
    }
    /* After a cancel or a final line nothing the job says changes the outcome. */
    if (!wjob_open(j) || w->closing)
        return;
    switch (l.kind) {
    case DCV_JOBLINE_ACCEPT:
        if (j->child == WJ_CHILD_RUNNING)
            return;
        wjob_step(j, WJ_EV_ACCEPT);
        if (!j->in_stream)
            count_input(j); /* a copy is whole before the job accepts */
        dcv_log(DCV_LOG_INFO, COMP, "job %s: encoding with %s (%s, device %s)", j->tag,
                l.accept.encoder, l.accept.plugin, l.accept.device_id);
        wk_send(w, DCV_CMD_ACCEPT, &l.accept, NULL);
        break;
    case DCV_JOBLINE_PROGRESS: {
        uint64_t now = dcv_loop_now_ms();
        int phase_changed = l.progress.phase != j->phase;
        j->phase = l.progress.phase;
        j->pct = l.progress.pct;
        j->frames = l.progress.frames;
        j->fps = l.progress.fps;
        j->frames_total = l.progress.frames_total;
        j->speed = l.progress.speed;
        j->progress_new = 1;
        if (w->state == CONN_READY &&
            (now - j->progress_sent_ms >= PROGRESS_MIN_MS ||
             (phase_changed && j->child == WJ_CHILD_RUNNING && now - j->progress_sent_ms >= 250)))
            send_progress(w, j, now);
        break;
    }
    case DCV_JOBLINE_DONE:
        wjob_step(j, WJ_EV_REPORT);
        count_input(j);
        if (l.done.output.xfer_id > 0 && l.done.output.size > 0)
            w->xfer_tx += (uint64_t)l.done.output.size; /* committed before the line */
        j->reported_ms = dcv_loop_now_ms();
        dcv_log(DCV_LOG_INFO, COMP,
                "job %s: done, output %" PRId64 " bytes (xfer %" PRId64 "), %" PRId64
                " frames in %" PRId64 " ms",
                j->tag, l.done.output.size, l.done.output.xfer_id, l.done.frames,
                l.done.elapsed_ms);
        wk_send(w, DCV_CMD_DONE, &l.done, j);
        break;
    case DCV_JOBLINE_FAIL:
        /* It logged why before it printed this line: take those lines in
         * first (stderr is another pipe, read in no fixed order). */
        dcv_child_drain(c, DCV_CHILD_STDERR);
        wjob_step(j, WJ_EV_REPORT);
        j->reported_ms = dcv_loop_now_ms();
        /* Before its accept the attempt never started (protocol §3.5). */
        send_failure(w, j, j->child == WJ_CHILD_STARTING, l.fail.code, l.fail.busy,
                     l.fail.retryable, "%s", l.fail.message);
        break;
    }
}

/* Its process is gone: so is its work dir. */
static void job_gone(struct wjob *j)
{
    wjob_step(j, WJ_EV_EXIT);
    j->proc = NULL;
    dcv_workdir_remove(j->work_dir, COMP);
}

static void on_job_exit(struct dcv_child *c, const struct dcv_child_status *st, void *user)
{
    struct wjob *j = user;
    struct dcv_worker *w = j->w;
    /* Before its accept the attempt never started (protocol §3.5). */
    int reject = j->child == WJ_CHILD_STARTING;

    (void)c;
    job_gone(j);
    if (w->closing)
        return;
    if (j->stop == WJ_STOP_SUPERSEDED) {
        /* Whatever it would say is stale (protocol §6): say nothing. */
        wjob_step(j, WJ_EV_SENT);
        return;
    }
    if (j->stop == WJ_STOP_CANCELLED) {
        dcv_log(DCV_LOG_INFO, COMP, "job %s: cancelled (pid %ld ended after %lld ms%s)", j->tag,
                (long)j->pid, st->runtime_ms, st->killed ? ", killed" : "");
        wjob_step(j, WJ_EV_REPORT);
        send_failure(w, j, 0, DCV_CODE_CANCELLED, DCV_BUSY_NONE, 0, "cancelled by the coordinator");
        return;
    }
    if (j->outcome != WJ_OUT_NONE)
        return;
    wjob_step(j, WJ_EV_REPORT);
    if (st->exited)
        send_failure(w, j, reject, DCV_CODE_INTERNAL, DCV_BUSY_NONE, 1,
                     "job process exited with status %d without a result", st->exit_code);
    else
        send_failure(w, j, reject, DCV_CODE_INTERNAL, DCV_BUSY_NONE, 1,
                     "job process killed by signal %d (%s)%s", st->term_signal,
                     strsignal(st->term_signal), st->core_dumped ? ", core dumped" : "");
}

static struct wjob *find_job(struct dcv_worker *w, const char *job_id, int64_t attempt)
{
    for (struct wjob *j = w->jobs; j; j = j->next)
        if (strcmp(j->fence.job_id, job_id) == 0 && j->fence.attempt == attempt)
            return j;
    return NULL;
}

static int spawn_job(struct dcv_worker *w, struct wjob *j, const struct dcv_proto_job *job,
                     char *err, size_t errlen)
{
    struct dcv_jobspec *spec = calloc(1, sizeof *spec);
    struct dcv_spawn_opts so;
    char *spec_json = NULL;
    const char *argv[12];
    int argc = 0, r;

    if (!spec)
        return dcv_err(err, errlen, -ENOMEM, "out of memory");
    spec->fence = job->fence;
    spec->has_placement = job->has_placement;
    spec->placement = job->placement;
    if (job->input.kind == DCV_INPUT_PATH) {
        spec->input_kind = DCV_INPUT_PATH;
        r = map_path(w, job->input.path, spec->path, sizeof spec->path);
        if (r < 0) {
            free(spec);
            return dcv_err(err, errlen, r == -ENOENT ? -ENOENT : r,
                           "input %s is under none of this worker's paths", job->input.path);
        }
        /* what the coordinator recorded: the job process compares */
        snprintf(spec->coord_path, sizeof spec->coord_path, "%s", job->input.path);
        spec->blob.size = job->input.blob.size;
        memcpy(spec->blob.sha256, job->input.blob.sha256, sizeof spec->blob.sha256);
        spec->mtime = job->input.mtime;
    } else if (job->input.kind == DCV_INPUT_URL) {
        spec->input_kind = DCV_INPUT_URL;
        snprintf(spec->path, sizeof spec->path, "%s", job->input.url);
        snprintf(spec->protocols, sizeof spec->protocols, "%s", job->input.protocols);
    } else {
        spec->input_kind = DCV_INPUT_XFER;
        spec->blob = job->input.blob;
        spec->mode = job->input.mode;
    }
    snprintf(spec->name, sizeof spec->name, "%s", job->input.name);
    snprintf(spec->data_endpoint, sizeof spec->data_endpoint, "%s", w->data_endpoint);
    spec->chunk_max = w->chunk_max;
    spec->credit_chunks = w->credit_chunks;
    spec->stall_ms = w->hb_ivl_ms * w->liveness;
    if (spec->stall_ms < 100)
        spec->stall_ms = 100;
    snprintf(spec->profile, sizeof spec->profile, "%s", job->profile[0] ? job->profile : "{}");
    snprintf(spec->work_dir, sizeof spec->work_dir, "%s", j->work_dir);
    spec->deadline_ms = job->deadline_ms;
    r = dcv_jobspec_to_json(spec, &spec_json, err, errlen);
    free(spec);
    if (r < 0)
        return r;

    /* A leftover of an earlier run of this very attempt is not ours to trust. */
    dcv_workdir_remove(j->work_dir, COMP);
    if (mkdir(j->work_dir, 0750) != 0) {
        r = -errno;
        free(spec_json);
        return dcv_err(err, errlen, r, "create %s: %s", j->work_dir, strerror(-r));
    }

    argv[argc++] = w->self_exe;
    if (w->conf_path[0]) {
        argv[argc++] = "-c";
        argv[argc++] = w->conf_path;
    }
    if (dcv_log_enabled(DCV_LOG_TRACE))
        argv[argc++] = "-vv";
    else if (dcv_log_enabled(DCV_LOG_DEBUG))
        argv[argc++] = "-v";
    else if (!dcv_log_enabled(DCV_LOG_INFO))
        argv[argc++] = "-q";
    argv[argc++] = "--job";
    argv[argc++] = spec_json;
    argv[argc] = NULL;

    memset(&so, 0, sizeof so);
    so.nice = w->s->job_nice;
    /* Hostile media is refused before decoding (media/verify.c); this
     * bounds whatever gets past that. AddressSanitizer reserves terabytes
     * of shadow address space, so such builds cannot run under a limit. */
#if !defined(__SANITIZE_ADDRESS__)
    so.rlimit_as = w->s->job_memory_limit > 0 ? (unsigned long long)w->s->job_memory_limit : 0;
#endif
    so.cwd = j->work_dir;
    so.log_prefix = j->tag;
    so.max_line = JOB_MAX_LINE;
    so.on_line = on_job_line;
    so.on_exit = on_job_exit;
    so.user = j;
    r = dcv_runner_spawn(w->runner, (char *const *)argv, NULL, &so, &j->proc, err, errlen);
    free(spec_json);
    if (r < 0) {
        dcv_workdir_remove(j->work_dir, COMP);
        return r;
    }
    j->pid = dcv_child_pid(j->proc);
    wjob_step(j, WJ_EV_SPAWN);
    wk_sync_fds(w);
    return 0;
}

void wk_on_job(struct dcv_worker *w, const struct dcv_proto_msg *m)
{
    struct dcv_proto_job *job = malloc(sizeof *job);
    struct wjob *j;
    char err[1024];
    int r;

    if (!job) {
        dcv_log(DCV_LOG_ERROR, COMP, "out of memory: JOB dropped");
        return;
    }
    r = dcv_proto_job_from_json(m->body, m->body_len, job, err, sizeof err);
    if (r < 0) {
        dcv_log(DCV_LOG_WARN, COMP, "invalid JOB ignored: %s", err);
        free(job);
        return;
    }
    if (strcmp(job->fence.session, w->hello->session) != 0) {
        dcv_log(DCV_LOG_DEBUG, COMP, "JOB %s/%" PRId64 " for session %s ignored (ours: %s)",
                job->fence.job_id, job->fence.attempt, job->fence.session, w->hello->session);
        free(job);
        return;
    }
    if (find_job(w, job->fence.job_id, job->fence.attempt)) {
        dcv_log(DCV_LOG_DEBUG, COMP, "JOB %s/%" PRId64 " already held: repeat ignored",
                job->fence.job_id, job->fence.attempt);
        free(job);
        return;
    }
    /* The coordinator moved on (it declared us lost while we were away):
     * an older attempt of the same job still running here is superseded,
     * and its slot is better used by the new one. */
    for (struct wjob *o = w->jobs; o; o = o->next)
        if (wjob_open(o) && o->fence.attempt < job->fence.attempt &&
            strcmp(o->fence.job_id, job->fence.job_id) == 0) {
            dcv_log(DCV_LOG_INFO, COMP, "job %s: superseded by attempt %" PRId64 "; stopping it",
                    o->tag, job->fence.attempt);
            wjob_step(o, WJ_EV_SUPERSEDE); /* frees its slot now */
            dcv_runner_cancel(w->runner, o->proc, CANCEL_GRACE_MS);
        }
    j = calloc(1, sizeof *j);
    if (!j) {
        dcv_log(DCV_LOG_ERROR, COMP, "out of memory: JOB dropped");
        free(job);
        return;
    }
    j->w = w;
    j->fence = job->fence;
    j->phase = -1;
    j->frames = j->frames_total = -1;
    j->fps = j->speed = -1;
    /* A job without a placement chooses its own encoder: counted as CPU. */
    j->gpu = job->has_placement && job->placement.hw;
    if (job->has_placement) {
        memcpy(j->place_plugin, job->placement.plugin, sizeof j->place_plugin);
        memcpy(j->place_dev, job->placement.device_id, sizeof j->place_dev);
    }
    if (job->input.kind == DCV_INPUT_XFER) {
        j->in_bytes = job->input.blob.size;
        j->in_stream = job->input.mode == DCV_FETCH_STREAM;
    }
    snprintf(j->tag, sizeof j->tag, "%.8s/%" PRId64, job->fence.job_id, job->fence.attempt);
    /* work_dir is PATH_MAX at most and checked absolute by the config;
     * the 45 bytes of "/<job>-<attempt>" must fit besides. */
    snprintf(j->work_dir, sizeof j->work_dir, "%.*s/%s-%" PRId64,
             (int)(sizeof j->work_dir - 48), w->s->work_dir, job->fence.job_id,
             job->fence.attempt);
    j->next = w->jobs;
    w->jobs = j;

    if (w->draining) {
        refuse(w, j, DCV_CODE_BUSY, "worker is draining");
    } else if (wk_slots_used(w) >= (unsigned)w->s->max_jobs) {
        refuse(w, j, DCV_CODE_BUSY, "no free slot (%u of %d in use)", wk_slots_used(w),
               w->s->max_jobs);
    } else if (class_used(w, j->gpu) >= class_limit(w, j->gpu)) {
        refuse(w, j, DCV_CODE_BUSY, "no free %s slot (%u of %u in use)", j->gpu ? "GPU" : "CPU",
               class_used(w, j->gpu), class_limit(w, j->gpu));
    } else if (wk_busy_now(w)) {
        refuse(w, j, DCV_CODE_BUSY, "worker busy: %s", w->busy_reason);
    } else {
        r = spawn_job(w, j, job, err, sizeof err);
        if (r == -ENOENT && job->input.kind == DCV_INPUT_PATH) {
            refuse(w, j, DCV_CODE_UNSUPPORTED, "%s", err);
        } else if (r == -EBUSY) {
            refuse(w, j, DCV_CODE_BUSY, "%s", err);
        } else if (r < 0) {
            refuse(w, j, r == -ENOSPC ? DCV_CODE_NOSPACE : DCV_CODE_INTERNAL,
                   "cannot start the job process: %s", err);
        } else {
            dcv_log(DCV_LOG_INFO, COMP, "job %s: started (pid %ld, input %s%s%s)", j->tag,
                    (long)j->pid,
                    job->input.kind == DCV_INPUT_PATH  ? "path "
                    : job->input.kind == DCV_INPUT_URL ? "url "
                                                       : "xfer ",
                    job->input.kind == DCV_INPUT_PATH  ? job->input.path
                    : job->input.kind == DCV_INPUT_URL ? job->input.url
                    : job->input.mode == DCV_FETCH_STREAM ? "stream" : "copy",
                    "");
        }
    }
    free(job);
    wk_gc_jobs(w);
}

void wk_on_cancel(struct dcv_worker *w, const struct dcv_proto_msg *m)
{
    struct dcv_proto_cancel c;
    struct wjob *j;
    char err[512];

    if (dcv_proto_cancel_from_json(m->body, m->body_len, &c, err, sizeof err) < 0) {
        dcv_log(DCV_LOG_WARN, COMP, "invalid CANCEL ignored: %s", err);
        return;
    }
    if (strcmp(c.fence.session, w->hello->session) != 0) {
        dcv_log(DCV_LOG_DEBUG, COMP, "CANCEL %s for session %s ignored", c.fence.job_id,
                c.fence.session);
        return;
    }
    j = find_job(w, c.fence.job_id, c.fence.attempt);
    /* Already reported: its outcome is on its way, and a job carries one
     * final message only (the outbox entry points at it). */
    if (!j || !wjob_open(j)) {
        dcv_log(DCV_LOG_DEBUG, COMP, "CANCEL %s/%" PRId64 ": no such running attempt",
                c.fence.job_id, c.fence.attempt);
        return;
    }
    dcv_log(DCV_LOG_INFO, COMP, "job %s: cancel%s%s", j->tag, c.reason[0] ? ": " : "", c.reason);
    wjob_step(j, WJ_EV_CANCEL);
    dcv_runner_cancel(w->runner, j->proc, CANCEL_GRACE_MS);
}

/* ---- the connection's and the tick's steps --------------------------------------- */

/* WELCOME: running attempts renew their leases at once. */
void wk_jobs_renew(struct dcv_worker *w, uint64_t now)
{
    for (struct wjob *j = w->jobs; j; j = j->next)
        if (wjob_open(j))
            send_progress(w, j, now);
}

/* New progress at most once a second; the latest again at least once per
 * heartbeat interval, to renew the lease. */
void wk_jobs_progress(struct dcv_worker *w, uint64_t now)
{
    for (struct wjob *j = w->jobs; j; j = j->next) {
        if (!wjob_open(j))
            continue;
        if ((j->progress_new && now - j->progress_sent_ms >= PROGRESS_MIN_MS) ||
            now - j->progress_sent_ms >= (uint64_t)w->hb_ivl_ms)
            send_progress(w, j, now);
    }
}

/* Its slot was freed at the final line; a process that does not go
 * away after it (hung in cleanup) must not hold the runner's room. */
void wk_jobs_linger(struct dcv_worker *w, uint64_t now)
{
    for (struct wjob *j = w->jobs; j; j = j->next)
        if (wjob_lingers(j, now)) {
            dcv_log(DCV_LOG_WARN, COMP, "job %s: process %ld still running %d s after its "
                                        "result; stopping it", j->tag, (long)j->pid,
                    LINGER_MS / 1000);
            wjob_step(j, WJ_EV_LINGER);
            dcv_runner_cancel(w->runner, j->proc, CANCEL_GRACE_MS);
        }
}

/* ---- lifetime ---------------------------------------------------------------------- */

/* The worker stops: TERM every job process, KILL after grace_ms. */
void wk_jobs_stop(struct dcv_worker *w, unsigned grace_ms)
{
    for (struct wjob *j = w->jobs; j; j = j->next)
        if (wjob_alive(j))
            dcv_runner_cancel(w->runner, j->proc, grace_ms);
}

/* The runner is gone: so are the processes it still had. */
void wk_jobs_orphan(struct dcv_worker *w)
{
    for (struct wjob *j = w->jobs; j; j = j->next)
        if (wjob_alive(j))
            job_gone(j);
}

void wk_jobs_free(struct dcv_worker *w)
{
    while (w->jobs) {
        struct wjob *j = w->jobs;
        w->jobs = j->next;
        free_job(j);
    }
}
