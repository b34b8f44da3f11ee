/*
 * Dispatch (dispatch.h): queued jobs to workers through the pure
 * scheduler.
 */
#include "coordinator/dispatch.h"
#include "coordinator/waits.h"
#include "coordinator/stats.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <libavformat/avformat.h>

#include "coordinator/attempts.h"
#include "coordinator/inputhash.h"
#include "coordinator/jobrec.h"
#include "coordinator/outbox.h"
#include "coordinator/registry.h"
#include "coordinator/sessions.h"
#include "log.h"
#include "rand.h"
#include "profile.h"
#include "urlpolicy.h"

#define DISPATCH_BATCH 64        /* queued jobs read per page of a dispatch pass */
#define DISPATCH_SCAN_MAX 1024   /* queued jobs one pass may consider, page by page */

struct qjob {
    char id[DCV_PROTO_JOB_ID];
    int attempt;
    int64_t queued_ms; /* wall ms it was (re)queued: the store's, so durable */
    char *profile, *input;
};

struct queued_ud {
    struct qjob *v;
    size_t n, cap;
};

static int collect_queued(const struct dcv_job *j, void *ud)
{
    struct queued_ud *q = ud;
    struct qjob *x;
    if (q->n == q->cap)
        return 1;
    x = &q->v[q->n];
    copy_str(x->id, sizeof x->id, j->id);
    x->attempt = j->attempt;
    /* A queued job's row changes only when it is (re)queued. */
    x->queued_ms = j->updated_ms;
    x->profile = strdup(j->profile_json ? j->profile_json : "{}");
    x->input = strdup(j->input_json ? j->input_json : "{}");
    if (!x->profile || !x->input) {
        free(x->profile);
        free(x->input);
        return 1;
    }
    q->n++;
    return 0;
}

static void fail_queued(struct dcv_coord *c, const struct qjob *q, const char *why)
{
    co_wait_clear(c, q->id);
    dcv_log(DCV_LOG_WARN, CO_LOG, "job %s cannot run: %s", q->id, why);
    c->disp.failed_in_pass++;
    co_apply_ev(c, q->id, DCV_EV_FAIL_PERMANENT, q->attempt, "refused by the coordinator", NULL, NULL,
                why, NULL);
}

/* The device the scheduler chose, as JOB.placement and the history note. */
struct co_place {
    const struct dcv_sched_device *dev;
    int codec;    /* index into dev->caps->codecs */
    int fallback; /* software because no GPU session was free */
    const char *gpu_detail; /* the full GPUs, for a fallback's note */
};

static int assign(struct dcv_coord *c, const struct qjob *q, const struct co_input *in,
                  struct co_worker *w, const struct dcv_sched_worker *view,
                  const struct co_place *pl, char *skey, size_t skeylen)
{
    const struct dcv_sched_device *dev = pl->dev;
    const struct dcv_device_caps *caps = dev->caps;
    const struct dcv_codec_caps *cc = &caps->codecs[pl->codec];
    struct dcv_proto_job *m;
    struct co_job *j;
    char note[DCV_SCHED_DETAIL_MAX + 300], eerr[256] = "";
    int by_path = in->kind != DCV_SUBMIT_URL && co_worker_reads_path(w, in->path), r;

    int64_t xfer_id = 0;

    skey[0] = '\0';
    /* Drawn before anything is stored: no id, no assignment (never a
     * guessable one). */
    if (in->kind != DCV_SUBMIT_URL && !by_path &&
        dcv_random_id53(&xfer_id, eerr, sizeof eerr) < 0) {
        dcv_log(DCV_LOG_ERROR, CO_LOG, "job %s: input transfer id: %s", q->id, eerr);
        return -EAGAIN;
    }
    if (pl->fallback)
        snprintf(note, sizeof note, "assigned to %s: fallback to %s (%.*s): no GPU session free (%s)",
                 w->id, dev->plugin, (int)strnlen(cc->encoder, sizeof cc->encoder), cc->encoder,
                 pl->gpu_detail && *pl->gpu_detail ? pl->gpu_detail : "every GPU full");
    else
        snprintf(note, sizeof note, "assigned to %s: %.*s on %.*s", w->id,
                 (int)strnlen(cc->encoder, sizeof cc->encoder), cc->encoder,
                 (int)strnlen(caps->device_id, sizeof caps->device_id), caps->device_id);
    if (co_apply_ev(c, q->id, DCV_EV_ASSIGN, q->attempt, note, w->id, w->session, NULL, NULL) < 0)
        return -EAGAIN;
    if (!(j = co_job_add(c, q->id)) || !(m = calloc(1, sizeof *m))) {
        /* Keep the store consistent: the worker never hears of it. */
        co_apply_ev(c, q->id, DCV_EV_REQUEUE_BUSY, q->attempt, "coordinator out of memory", NULL,
                    w->session, NULL, NULL);
        if (j)
            co_job_release(c, q->id, DCV_CODE_INTERNAL, "out of memory");
        return -ENOMEM;
    }
    {
        struct co_job *next = j->next;
        memset(j, 0, sizeof *j);
        j->next = next;
    }
    copy_str(j->id, sizeof j->id, q->id);
    copy_str(j->worker, sizeof j->worker, w->id);
    copy_str(j->session, sizeof j->session, w->session);
    j->attempt = q->attempt;
    j->assigned_at = co_now();
    snprintf(j->codec, sizeof j->codec, "%.*s", (int)strnlen(cc->codec, sizeof cc->codec),
             cc->codec);
    co_job_place(j, view, dev);
    copy_str(skey, skeylen, j->skey);

    /* Where the session was counted is where the job must encode. */
    m->has_placement = 1;
    copy_str(m->placement.plugin, sizeof m->placement.plugin, dev->plugin);
    snprintf(m->placement.device_id, sizeof m->placement.device_id, "%.*s",
             (int)strnlen(caps->device_id, sizeof caps->device_id), caps->device_id);
    snprintf(m->placement.codec, sizeof m->placement.codec, "%.*s",
             (int)strnlen(cc->codec, sizeof cc->codec), cc->codec);
    snprintf(m->placement.encoder, sizeof m->placement.encoder, "%.*s",
             (int)strnlen(cc->encoder, sizeof cc->encoder), cc->encoder);
    m->placement.hw = j->hw;
    m->placement.fallback = pl->fallback;

    copy_str(m->fence.job_id, sizeof m->fence.job_id, q->id);
    m->fence.attempt = q->attempt;
    copy_str(m->fence.session, sizeof m->fence.session, w->session);
    const char *m_mode_name = "xfer";
    if (in->kind == DCV_SUBMIT_URL) {
        const char *allowed[DCV_STRLIST_MAX];
        for (unsigned i = 0; i < c->set->url_protocols.n; i++)
            allowed[i] = c->set->url_protocols.v[i];
        m->input.kind = DCV_INPUT_URL;
        copy_str(m->input.url, sizeof m->input.url, in->path);
        if (dcv_url_whitelist(allowed, c->set->url_protocols.n, m->input.protocols,
                              sizeof m->input.protocols) < 0)
            m->input.protocols[0] = '\0'; /* cannot happen with 16-byte names; JOB fails */
        m_mode_name = "url";
    } else if (by_path) {
        co_input_to_path_job(in, &m->input);
    } else {
        int64_t room = w->has_tel ? w->tel.disk_free - c->set->disk_reserve : INT64_MAX;
        m->input.kind = DCV_INPUT_XFER;
        m->input.blob.xfer_id = xfer_id;
        m->input.blob.size = in->size;
        copy_str(m->input.blob.sha256, sizeof m->input.blob.sha256, in->sha);
        m->input.mode = c->set->stream == DCV_STREAM_ALWAYS ||
                                (c->set->stream == DCV_STREAM_AUTO && room < in->size)
                            ? DCV_FETCH_STREAM
                            : DCV_FETCH_COPY;
        m_mode_name = m->input.mode == DCV_FETCH_STREAM ? "xfer stream" : "xfer copy";
        j->in_xfer = m->input.blob.xfer_id;
        j->in_size = in->size;
        copy_str(j->in_path, sizeof j->in_path, in->path);
        copy_str(j->in_sha, sizeof j->in_sha, in->sha);
    }
    copy_str(m->input.name, sizeof m->input.name, in->name);
    copy_str(m->profile, sizeof m->profile, q->profile);
    r = co_send_msg(c, c->ctl, &w->peer, DCV_CMD_JOB, m, eerr, sizeof eerr);
    free(m);
    if (r < 0 && r != -EHOSTUNREACH) {
        /* What we cannot even encode will never run anywhere. */
        co_apply_ev(c, q->id, DCV_EV_FAIL_PERMANENT, q->attempt, "cannot build JOB", NULL, w->session,
                    eerr[0] ? eerr : "cannot build the JOB message", NULL);
        co_job_release(c, q->id, DCV_CODE_INTERNAL, "cannot build JOB");
        return r;
    }
    /* -EHOSTUNREACH: it reconnects (HELLO reconciles) or its liveness ends. */
    dcv_log(DCV_LOG_INFO, CO_LOG, "job %s attempt %d -> worker %s (input %s%s): %s/%.32s on %s%s",
            q->id, q->attempt, w->id, by_path ? "path " : m_mode_name, by_path ? in->path : "",
            dev->plugin, cc->encoder, j->place_dev,
            pl->fallback ? ", fallback: no GPU session free" : "");
    return 0;
}

/* When the first job still in its retry back-off is due: the tick
 * dispatches then (queued jobs otherwise wait for an event to move). */
static void note_backoff(struct dcv_coord *c)
{
    char err[256];
    int64_t when = 0;
    int r = dcv_store_next_due(c->store, co_wall_ms(), &when, err, sizeof err);
    if (r < 0)
        dcv_log(DCV_LOG_ERROR, CO_LOG, "dispatch: %s", err);
    c->disp.backoff_at = r == 1 ? when : 0;
}

#define CO_HINTS_MAX 1024

/* duration (s) * width * height of a local input, from its header only
 * (the worker probes it properly); 0 when unknown. Only container formats
 * that open no further files are read: the coordinator must not follow a
 * playlist an uploader wrote. */
static double probe_size_hint(const char *path)
{
    AVFormatContext *fc = NULL;
    AVDictionary *o = NULL;
    double hint = 0;
    int vi;

    av_dict_set(&o, "protocol_whitelist", "file", 0);
    av_dict_set(&o, "format_whitelist",
                "matroska,mov,mp4,mpegts,avi,flv,mpeg,mxf,ogg,asf,ivf,nut,yuv4mpegpipe", 0);
    if (avformat_open_input(&fc, path, NULL, &o) < 0) {
        av_dict_free(&o);
        return 0;
    }
    av_dict_free(&o);
    vi = av_find_best_stream(fc, AVMEDIA_TYPE_VIDEO, -1, -1, NULL, 0);
    if (vi >= 0 && fc->duration > 0) {
        const AVCodecParameters *par = fc->streams[vi]->codecpar;
        if (par->width > 0 && par->height > 0)
            hint = (double)fc->duration / AV_TIME_BASE * par->width * par->height;
    }
    avformat_close_input(&fc);
    return hint;
}

static double size_hint(struct dcv_coord *c, const struct co_input *ci, const struct stat *st)
{
    struct co_hint *h, **pp, *old = NULL;
    int64_t mt;
    if (ci->kind == DCV_SUBMIT_URL)
        return 0;
    mt = (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec;
    for (h = c->disp.hints; h; h = h->next)
        if (h->size == (int64_t)st->st_size && h->mtime_ns == mt && strcmp(h->path, ci->path) == 0) {
            h->used = co_now();
            return h->hint;
        }
    if (c->disp.n_hints >= CO_HINTS_MAX) {
        for (h = c->disp.hints; h; h = h->next)
            if (!old || h->used < old->used)
                old = h;
        for (pp = &c->disp.hints; *pp; pp = &(*pp)->next)
            if (*pp == old) {
                *pp = old->next;
                free(old);
                c->disp.n_hints--;
                break;
            }
    }
    if (!(h = calloc(1, sizeof *h)))
        return 0;
    copy_str(h->path, sizeof h->path, ci->path);
    h->size = st->st_size;
    h->mtime_ns = mt;
    h->hint = probe_size_hint(ci->path);
    h->used = co_now();
    h->next = c->disp.hints;
    c->disp.hints = h;
    c->disp.n_hints++;
    return h->hint;
}

/* What a job whose GPUs are all full does (queue.gpu_policy, gpu-policy). */
static int gpu_policy_of(const struct dcv_coord *c, const struct dcv_profile *p, int *wait_s)
{
    int pol = p->gpu_policy >= 0 ? p->gpu_policy : (int)c->set->gpu_policy;
    *wait_s = p->gpu_wait_s >= 0 ? (int)p->gpu_wait_s : c->set->gpu_wait_s;
    /* Only "auto" may run in software; a job that asked for hardware (or
     * a named encoder) waits instead of falling back. */
    if (pol == DCV_GPU_FALLBACK && p->encoder[0] && strcmp(p->encoder, "auto") != 0)
        pol = DCV_GPU_QUEUE;
    return pol;
}

static void fail_gpu(struct dcv_coord *c, const struct qjob *q, const char *why)
{
    co_wait_clear(c, q->id);
    dcv_log(DCV_LOG_WARN, CO_LOG, "job %s failed: %s", q->id, why);
    co_apply_ev(c, q->id, DCV_EV_FAIL_PERMANENT, q->attempt, "GPU-exhausted policy", NULL, NULL, why,
                NULL);
}

/* The scheduler's views of the eligible workers for one pass: W as the
 * registry has them (the loop counts placements into it), WJ the copy one
 * job's input gate edits, ws the records behind them. */
struct views {
    struct dcv_sched_worker *W, *WJ;
    struct dcv_sched_device *D;
    struct dcv_sched_bench *B;
    char (*K)[DCV_SCHED_KEY_MAX];
    struct co_worker **ws;
    size_t nw;
};

static void views_free(struct views *v)
{
    free(v->K);
    free(v->B);
    free(v->D);
    free(v->ws);
    free(v->WJ);
    free(v->W);
    memset(v, 0, sizeof *v);
}

/* Registry -> views. 1 when some worker can take a job now, 0 when none
 * can, -ENOMEM. */
static int views_build(struct dcv_coord *c, uint64_t now, struct views *vs)
{
    size_t ndev = 0, di = 0, i = 0;
    int any = 0;

    memset(vs, 0, sizeof *vs);
    for (struct co_worker *w = c->reg.workers; w; w = w->next)
        if (co_worker_eligible(w)) {
            vs->nw++;
            ndev += w->n_devices;
        }
    if (!vs->nw)
        return 0;
    vs->W = calloc(vs->nw, sizeof *vs->W);
    vs->WJ = calloc(vs->nw, sizeof *vs->WJ);
    vs->ws = calloc(vs->nw, sizeof *vs->ws);
    vs->D = calloc(ndev + 1, sizeof *vs->D);
    vs->B = calloc(ndev * DCV_MAX_CODECS + 1, sizeof *vs->B);
    vs->K = calloc(ndev + 1, sizeof *vs->K);
    if (!vs->W || !vs->WJ || !vs->ws || !vs->D || !vs->B || !vs->K)
        return -ENOMEM;
    for (struct co_worker *w = c->reg.workers; w; w = w->next) {
        struct dcv_sched_worker *v;
        struct dcv_sched_device *D = vs->D;
        struct dcv_sched_bench *B = vs->B;
        char (*K)[DCV_SCHED_KEY_MAX] = vs->K;
        if (!co_worker_eligible(w))
            continue;
        v = &vs->W[i];
        vs->ws[i++] = w;
        v->id = w->id;
        v->host = w->host;
        v->healthy = true;
        v->draining = w->admin_drain || (w->has_tel && w->tel.draining);
        v->busy = (w->has_tel && w->tel.busy) || now < w->busy_until;
        v->slots_total = (uint32_t)w->slots;
        v->cpu_slots = (uint32_t)w->max_cpu_jobs;
        v->gpu_slots = (uint32_t)w->max_gpu_jobs;
        for (struct co_job *j = c->att.jobs; j; j = j->next)
            if (strcmp(j->worker, w->id) == 0) {
                v->slots_used++;
                if (j->hw)
                    v->gpu_used++;
                else
                    v->cpu_used++;
            }
        if (w->has_tel) {
            /* CPU pressure says how long runnable work waits, which a load
             * average of I/O-blocked tasks does not; it is absent on old
             * kernels and in some containers. */
            v->load = w->tel.has_psi ? w->tel.psi.cpu_some / 100.0
                                     : w->tel.load1 / (double)(w->tel.ncpu > 0 ? w->tel.ncpu : 1);
            v->mem_used = w->tel.mem_total > 0
                              ? 1.0 - (double)w->tel.mem_avail / (double)w->tel.mem_total
                              : 0;
        }
        v->devices = &D[di];
        v->n_devices = w->n_devices;
        for (size_t k = 0; k < w->n_devices; k++, di++) {
            const struct dcv_proto_device *pd = &w->devices[k];
            size_t nb = pd->n_bench < DCV_MAX_CODECS ? pd->n_bench : DCV_MAX_CODECS;
            D[di].plugin = pd->plugin;
            D[di].caps = &pd->caps;
            D[di].bench_fps = pd->bench_fps > 0 ? pd->bench_fps : 0;
            D[di].bench = &B[di * DCV_MAX_CODECS];
            D[di].n_bench = nb;
            for (size_t b = 0; b < nb; b++) {
                B[di * DCV_MAX_CODECS + b].codec = pd->bench[b].codec;
                B[di * DCV_MAX_CODECS + b].fps = pd->bench[b].fps;
            }
            /* Keys once per pass, not once per job and device. */
            if (dcv_sched_session_key(v, &D[di], K[di], sizeof K[di]) < 0)
                K[di][0] = '\0';
            D[di].key = K[di];
        }
        if (!v->draining && !v->busy && v->slots_used < v->slots_total)
            any = 1;
    }
    return any;
}

/* One job's input, per worker: a path the worker reads or a URL needs
 * nothing; a file served on the data plane needs its digest (computed in
 * the background: workers wait meanwhile) and, to choose copy or stream,
 * the worker's free disk. Marks busy in vs->WJ whom the job must not go to
 * yet. 1 while the digest is being computed, 0 otherwise, -1 when the job
 * failed (the input changed). */
static int input_gate(struct dcv_coord *c, const struct qjob *x, struct co_input *ci,
                      struct views *vs)
{
    char err[512];
    int hashing = 0, r;

    for (size_t i = 0; i < vs->nw; i++) {
        struct dcv_sched_worker *WJ = vs->WJ;
        struct co_worker *w = vs->ws[i];
        /* a URL is opened by the worker itself: nothing to serve */
        if (WJ[i].busy || WJ[i].draining || WJ[i].slots_used >= WJ[i].slots_total ||
            ci->kind == DCV_SUBMIT_URL || co_worker_reads_path(w, ci->path))
            continue;
        /* Served over the data plane: its digest must be known. */
        if (!ci->sha[0] && !hashing) {
            r = co_hash_get(c, ci->path, ci->size, ci->sha);
            if (r < 0) {
                snprintf(err, sizeof err, "input %.300s: %s", ci->path,
                         r == -ESTALE ? "changed since it was submitted" : strerror(-r));
                fail_queued(c, x, err);
                return -1;
            }
            hashing = r == 0;
        }
        if (hashing)
            WJ[i].busy = true;
        /* Copy or stream is chosen from the free disk the worker
         * reports: until its first telemetry (one heartbeat after
         * HELLO, which dispatches again) that is unknown. */
        if (c->set->stream != DCV_STREAM_ALWAYS && !w->has_tel)
            WJ[i].busy = true;
        if (c->set->stream == DCV_STREAM_NEVER && w->has_tel &&
            w->tel.disk_free - c->set->disk_reserve < ci->size)
            WJ[i].busy = true; /* no room for a copy, and streaming is off */
    }
    return hashing;
}

/* Every GPU the job could use is full: its policy decides whether a
 * software placement (encoder auto) stands (0, pl->fallback set), the job
 * fails (reject, or its wait timed out) or waits (1: skip it this pass). */
static int gpu_policy_apply(struct dcv_coord *c, const struct qjob *x,
                            const struct dcv_profile *prof, int r,
                            const struct dcv_sched_result *res, int64_t wall, struct co_place *pl)
{
    char msg[DCV_SCHED_DETAIL_MAX + 300];
    int wait_s, pol = gpu_policy_of(c, prof, &wait_s);

    if (!res->gpu_exhausted || (r != -EAGAIN && res->hw))
        return 0;
    if (r == 0 && pol == DCV_GPU_FALLBACK) {
        pl->fallback = 1;
        pl->gpu_detail = res->gpu_detail;
    } else if (pol == DCV_GPU_REJECT) {
        snprintf(msg, sizeof msg,
                 "busy: no GPU encoder session free for this %s job (%s) and its "
                 "gpu-policy is reject",
                 prof->codec, res->gpu_detail);
        fail_gpu(c, x, msg);
        return 1;
    } else {
        int64_t due = x->queued_ms + (int64_t)wait_s * 1000;
        if (wait_s > 0 && wall >= due) {
            snprintf(msg, sizeof msg,
                     "timeout: no GPU encoder session became free within %d s (%s)",
                     wait_s, res->gpu_detail);
            fail_gpu(c, x, msg);
            return 1;
        }
        if (wait_s > 0 && (!c->disp.gpu_wait_at || due < c->disp.gpu_wait_at))
            c->disp.gpu_wait_at = due;
        snprintf(msg, sizeof msg, "waits for a GPU encoder session (%s)%s", res->gpu_detail,
                 wait_s > 0 ? "" : ", without a time limit");
        co_wait_note(c, x->id, msg, 0, wall);
        dcv_log(DCV_LOG_DEBUG, CO_LOG, "job %s waits for a GPU session (%s)%s", x->id,
                res->gpu_detail, wait_s > 0 ? "" : ", without a time limit");
        return 1;
    }
    return 0;
}

/* The job waits this pass: note why (waits.h). One that no online worker
 * has a device for fails once queue.unschedulable_timeout_s has passed
 * since it became so. */
static void waits_note(struct dcv_coord *c, const struct qjob *x, const struct dcv_profile *prof,
                       const struct dcv_sched_result *res, char *why, size_t whylen, int hashing,
                       int64_t wall)
{
    const struct co_wait *w;
    int unsched = res->n_capable == 0;
    int64_t limit = (int64_t)c->set->unschedulable_timeout_s * 1000, due;
    char msg[CO_WAIT_WHY_MAX + 256];
    size_t n = strlen(why);

    if (hashing && n + 32 < whylen)
        snprintf(why + n, whylen - n, " (input digest being computed)");
    dcv_log(DCV_LOG_DEBUG, CO_LOG, "job %s waits: %s%s", x->id, unsched ? "no worker can run it: " : "",
            why);
    if (!(w = co_wait_note(c, x->id, why, unsched, wall)) || !unsched || limit <= 0)
        return;
    due = w->since_ms + limit;
    if (wall >= due) {
        snprintf(msg, sizeof msg,
                 "unschedulable for %d s (queue.unschedulable_timeout_s): no worker can run "
                 "%s with encoder %s: %s",
                 c->set->unschedulable_timeout_s, prof->codec, prof->encoder[0] ? prof->encoder : "auto",
                 w->why);
        fail_queued(c, x, msg);
        return;
    }
    if (!c->disp.unsched_at || due < c->disp.unsched_at)
        c->disp.unsched_at = due;
}

/* What a pass learnt: a codec, depth and encoder no online worker has at
 * all stays so for the rest of the pass, whatever the job's input, so the
 * next job asking for it gets the same answer without the scheduler (a
 * pass may page through a thousand such jobs: dispatch.c's paging). */
#define MEMO_MAX 8
struct pass_memo {
    struct {
        char codec[16];
        uint32_t depth;
        char encoder[32];
        char why[1024];
    } v[MEMO_MAX];
    size_t n;
};

static const char *memo_find(const struct pass_memo *m, const struct dcv_profile *p)
{
    for (size_t i = 0; i < m->n; i++)
        if (strcmp(m->v[i].codec, p->codec) == 0 && m->v[i].depth == p->bit_depth &&
            strcmp(m->v[i].encoder, p->encoder) == 0)
            return m->v[i].why;
    return NULL;
}

static void memo_add(struct pass_memo *m, const struct dcv_profile *p, const char *why)
{
    if (m->n == MEMO_MAX)
        return;
    copy_str(m->v[m->n].codec, sizeof m->v[m->n].codec, p->codec);
    m->v[m->n].depth = p->bit_depth;
    copy_str(m->v[m->n].encoder, sizeof m->v[m->n].encoder, p->encoder);
    copy_str(m->v[m->n].why, sizeof m->v[m->n].why, why);
    m->n++;
}

/* One queued job of a pass: place it, or note why it waits. 1 when it was
 * placed, else 0 (it waits, or fail_queued() failed it: that one counts
 * c->disp.failed_in_pass). */
static int consider(struct dcv_coord *c, const struct qjob *x, struct views *vs,
                    struct co_sess *t, struct pass_memo *memo, int64_t wall)
{
    char err[512];
    const char *known;
    struct dcv_sched_worker *W = vs->W, *WJ = vs->WJ;
    struct dcv_profile prof;
    struct dcv_sched_job sj;
    struct dcv_sched_input in;
    struct dcv_sched_result res;
    struct co_input ci;
    struct co_place pl;
    struct stat st;
    char why[1024], skey[DCV_SCHED_KEY_MAX];
    int hashing, r;

    if (co_profile_parse(x->profile, &prof, err, sizeof err) < 0) {
        fail_queued(c, x, err);
        return 0;
    }
    if ((known = memo_find(memo, &prof))) {
        memset(&res, 0, sizeof res); /* n_capable 0: unschedulable */
        copy_str(why, sizeof why, known);
        waits_note(c, x, &prof, &res, why, sizeof why, 0, wall);
        return 0;
    }
    if (co_input_parse(c, x->input, &ci, err, sizeof err) < 0) {
        fail_queued(c, x, err);
        return 0;
    }
    if (ci.kind != DCV_SUBMIT_URL && (stat(ci.path, &st) < 0 || !S_ISREG(st.st_mode))) {
        snprintf(err, sizeof err, "input %.300s is gone: %s", ci.name[0] ? ci.name : ci.path,
                 strerror(errno ? errno : ENOENT));
        fail_queued(c, x, err);
        return 0;
    }
    if (ci.size < 0 && ci.kind != DCV_SUBMIT_URL)
        ci.size = st.st_size;
    memcpy(WJ, W, vs->nw * sizeof *W);
    if ((hashing = input_gate(c, x, &ci, vs)) < 0)
        return 0;
    memset(&sj, 0, sizeof sj);
    sj.codec = prof.codec;
    sj.bit_depth = prof.bit_depth;
    sj.encoder = prof.encoder;
    if (c->set->strategy != DCV_CONF_ROUND_ROBIN && ci.kind != DCV_SUBMIT_URL)
        sj.size_hint = size_hint(c, &ci, &st);
    memset(&in, 0, sizeof in);
    in.workers = WJ;
    in.n_workers = vs->nw;
    in.sessions = t->s;
    in.n_sessions = t->n;
    in.strategy = (enum dcv_sched_strategy)c->set->strategy;
    r = dcv_sched_pick_worker(&in, &sj, &c->disp.cursor, &res, why, sizeof why);
    if (r < 0 && r != -EAGAIN) {
        dcv_log(DCV_LOG_WARN, CO_LOG, "job %s: scheduler: %s", x->id, why);
        return 0;
    }
    memset(&pl, 0, sizeof pl);
    if (gpu_policy_apply(c, x, &prof, r, &res, wall, &pl))
        return 0;
    if (r == -EAGAIN) {
        if (res.n_capable == 0)
            memo_add(memo, &prof, why);
        waits_note(c, x, &prof, &res, why, sizeof why, hashing, wall);
        return 0;
    }
    if (res.worker < 0)
        return 0;
    pl.dev = &WJ[res.worker].devices[res.device];
    pl.codec = res.codec;
    if (pl.fallback)
        dcv_log(DCV_LOG_INFO, CO_LOG, "job %s: fallback to %s: no GPU session free (%s)", x->id,
                pl.dev->plugin, res.gpu_detail);
    if (assign(c, x, &ci, vs->ws[res.worker], &WJ[res.worker], &pl, skey, sizeof skey) != 0)
        return 0;
    {
        struct co_job *cj = co_job_find(c, x->id);
        co_wait_clear(c, x->id);
        co_stats_queue_wait(c, prof.codec, pl.dev->plugin,
                            (double)(wall - x->queued_ms) / 1000.0);
        W[res.worker].slots_used++;
        if (res.hw)
            W[res.worker].gpu_used++;
        else
            W[res.worker].cpu_used++;
        if (skey[0] && cj) {
            struct dcv_sched_session *e = co_sessions_slot(t, cj->skey);
            if (e) {
                e->used++;
                dcv_sched_sessions_sort(t->s, t->n);
            }
        }
    }
    return 1;
}

/* Some worker could take a job now (views_build's rule, after this pass's
 * placements). */
static int capacity_left(const struct views *vs)
{
    for (size_t i = 0; i < vs->nw; i++)
        if (!vs->W[i].draining && !vs->W[i].busy && vs->W[i].slots_used < vs->W[i].slots_total)
            return 1;
    return 0;
}

void co_dispatch(struct dcv_coord *c)
{
    struct views vs;
    struct co_sess t = { 0 };
    struct queued_ud q = { 0 };
    struct pass_memo memo = { .n = 0 };
    uint64_t now = co_now();
    int64_t wall = co_wall_ms();
    char err[512];
    int any;

    note_backoff(c);
    c->disp.gpu_wait_at = 0;
    c->disp.unsched_at = 0;
    c->disp.last_pass = now;
    (void)co_hold_expire(c, now);
    any = views_build(c, now, &vs);
    q.cap = DISPATCH_BATCH;
    if (any >= 0 && vs.nw && !(q.v = calloc(q.cap, sizeof *q.v)))
        any = -ENOMEM;
    if (any < 0)
        dcv_log(DCV_LOG_ERROR, CO_LOG, "dispatch: out of memory");
    /* With no worker online there is nothing to place or explain (`status`
     * says "no worker online"). With workers all full the pass still runs:
     * it places nothing, but each job learns why it waits, and one no
     * worker could ever run is told so and times out. */
    if (any < 0 || !vs.nw)
        goto out;
    if (co_sessions_build(c, NULL, DISPATCH_BATCH, &t) < 0) {
        dcv_log(DCV_LOG_ERROR, CO_LOG, "dispatch: out of memory");
        goto out;
    }
    /* A page of the queue at a time: jobs nobody can run now (no encoder
     * online for them, say) must not hide the runnable ones behind them,
     * so while a page was full and a worker still has room, the next one,
     * up to DISPATCH_SCAN_MAX jobs a pass. Placed and failed jobs left the
     * queue: the next page starts after the ones that still wait. */
    for (int offset = 0, scanned = 0;;) {
        int left = 0, failed0 = c->disp.failed_in_pass;
        for (size_t n = 0; n < q.n; n++) {
            free(q.v[n].profile);
            free(q.v[n].input);
        }
        q.n = 0;
        if (dcv_store_list_queue_page(c->store, wall, (int)q.cap, offset, collect_queued, &q, err,
                                      sizeof err) < 0) {
            dcv_log(DCV_LOG_ERROR, CO_LOG, "dispatch: %s", err);
            goto out;
        }
        for (size_t n = 0; n < q.n; n++)
            left += !consider(c, &q.v[n], &vs, &t, &memo, wall);
        left -= c->disp.failed_in_pass - failed0;
        scanned += (int)q.n;
        if (q.n < q.cap || scanned >= DISPATCH_SCAN_MAX || !capacity_left(&vs))
            break;
        offset += left > 0 ? left : 0;
    }
out:
    for (size_t n = 0; n < q.n; n++) {
        free(q.v[n].profile);
        free(q.v[n].input);
    }
    free(q.v);
    co_sessions_free(&t);
    views_free(&vs);
}

void dispatch_cron(struct dcv_coord *c, uint64_t now)
{
    if (c->disp.backoff_at && co_wall_ms() >= c->disp.backoff_at) {
        c->disp.backoff_at = 0; /* a retry's back-off is over: dispatch sets the next */
        co_dispatch_soon(c);
    }
    /* A job waiting for a GPU session times out even when nothing else
     * moves; a lowered session limit ends. */
    if (c->disp.gpu_wait_at && co_wall_ms() >= c->disp.gpu_wait_at) {
        c->disp.gpu_wait_at = 0;
        co_dispatch_soon(c);
    }
    if (c->disp.unsched_at && co_wall_ms() >= c->disp.unsched_at) {
        c->disp.unsched_at = 0;
        co_dispatch_soon(c);
    }
    if (co_hold_expire(c, now))
        co_dispatch_soon(c);
    waits_cron(c, now);
}

void co_dispatch_free(struct dcv_coord *c)
{
    co_waits_free(c);
    while (c->disp.hints) {
        struct co_hint *h = c->disp.hints;
        c->disp.hints = h->next;
        free(h);
    }
    c->disp.n_hints = 0;
}
