/*
 * Scheduler: see scheduler.h. One pass over the workers keeps the best
 * candidate so far, so a decision is O(workers * devices * log sessions)
 * with no allocation; the explanation text is built as we go because a
 * waiting job is exactly when an operator asks "why".
 */
#include "coordinator/scheduler.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum pref_kind { PREF_AUTO, PREF_HW, PREF_SW, PREF_NAME };

/* How far a device got towards running the job; a worker is explained by
 * its furthest device, since that is the one an operator can act on. */
enum dev_state {
    DS_NONE = 0,    /* worker has no devices */
    DS_NO_CODEC,
    DS_NO_DEPTH,
    DS_NO_PREF,
    DS_UNAVAILABLE,
    DS_SESSIONS,
    DS_OK,
};

struct job_view {
    const struct dcv_sched_job *job;
    enum pref_kind pref;
    const char *name; /* PREF_NAME */
    bool big;
};

struct eval {
    enum dev_state state;
    int device, codec; /* the best OK device, else the one that explains state */
    int tier;          /* 0 = preferred kind of device (hardware for auto) */
    double fps;
    uint64_t headroom; /* free sessions; UINT32_MAX when unlimited */
    uint32_t used, limit;
    bool per_host;
};

struct cand {
    size_t index;
    const struct dcv_sched_worker *w;
    struct eval ev;
};

/* --- text -------------------------------------------------------------- */

struct sbuf {
    char *p;
    size_t len, pos;
};

static void sb_init(struct sbuf *b, char *p, size_t len)
{
    b->p = p;
    b->len = p ? len : 0;
    b->pos = 0;
    if (b->len)
        p[0] = '\0';
}

static void sb_add(struct sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_add(struct sbuf *b, const char *fmt, ...)
{
    va_list ap;
    int n;
    if (b->len == 0 || b->pos >= b->len - 1)
        return;
    va_start(ap, fmt);
    n = vsnprintf(b->p + b->pos, b->len - b->pos, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n >= b->len - b->pos) {
        /* Say the list was cut rather than end mid-word silently. */
        b->pos = b->len - 1;
        if (b->len >= 4)
            memcpy(b->p + b->len - 4, "...", 4);
        return;
    }
    b->pos += (size_t)n;
}

static int fail(char *why, size_t whylen, int rc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int fail(char *why, size_t whylen, int rc, const char *fmt, ...)
{
    va_list ap;
    if (why && whylen) {
        va_start(ap, fmt);
        vsnprintf(why, whylen, fmt, ap);
        va_end(ap);
    }
    return rc;
}

/* Fixed-size fields from the wire may lack their terminator. */
static bool field_eq(const char *f, size_t fsz, const char *s)
{
    size_t n = strnlen(f, fsz);
    return strlen(s) == n && memcmp(f, s, n) == 0;
}

#define FIELD(f) (int)strnlen((f), sizeof(f)), (f)

/* --- sessions ----------------------------------------------------------- */

int dcv_sched_session_key(const struct dcv_sched_worker *w, const struct dcv_sched_device *d,
                          char *buf, size_t len)
{
    const struct dcv_device_caps *c;
    int n;
    if (!w || !d || !d->caps || !buf || !len)
        return -EINVAL;
    c = d->caps;
    buf[0] = '\0';
    if (c->max_sessions_scope == DCV_SCOPE_UNLIMITED)
        return 1;
    if (c->max_sessions_scope == DCV_SCOPE_PER_HOST) {
        /* Without a host identity the worker is the only thing we know
         * shares the limit; still better than no count at all. */
        const char *h = w->host && *w->host ? w->host : (w->id ? w->id : "");
        n = snprintf(buf, len, "%s/plugin:%s", h, d->plugin ? d->plugin : "");
    } else if (w->host && *w->host) {
        n = snprintf(buf, len, "%s/%.*s", w->host, FIELD(c->device_id));
    } else {
        /* An unknown future scope is counted per device: the stricter guess. */
        n = snprintf(buf, len, "%.*s", FIELD(c->device_id));
    }
    if (n < 0 || (size_t)n >= len) {
        buf[0] = '\0';
        return -ENAMETOOLONG;
    }
    return 0;
}

static int cmp_session(const void *a, const void *b)
{
    const struct dcv_sched_session *x = a, *y = b;
    return strcmp(x->key ? x->key : "", y->key ? y->key : "");
}

void dcv_sched_sessions_sort(struct dcv_sched_session *s, size_t n)
{
    if (s && n > 1)
        qsort(s, n, sizeof(*s), cmp_session);
}

static const struct dcv_sched_session *session_find(const struct dcv_sched_input *in,
                                                    const char *key)
{
    size_t lo = 0, hi = in->n_sessions;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(in->sessions[mid].key, key);
        if (c == 0)
            return &in->sessions[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

/* --- evaluation --------------------------------------------------------- */

static bool depth_ok(const struct dcv_codec_caps *cc, uint32_t depth)
{
    /* A plugin that left the mask empty said nothing about 10-bit. */
    uint32_t mask = cc->bit_depths ? cc->bit_depths : (1u << 8);
    if (depth == 0)
        return true;
    return depth < 32 && (mask & (1u << depth));
}

static double dev_fps(const struct dcv_sched_worker *w, const struct dcv_sched_device *d)
{
    return d->bench_fps > 0 ? d->bench_fps : (w->bench_fps > 0 ? w->bench_fps : 0);
}

/* Is device d better than the current best OK device of e? */
static bool dev_better(const struct eval *e, int tier, double fps, uint64_t headroom)
{
    if (tier != e->tier)
        return tier < e->tier;
    if (fps != e->fps)
        return fps > e->fps;
    return headroom > e->headroom; /* equal: keep the lower index */
}

static int eval_worker(const struct dcv_sched_input *in, const struct dcv_sched_worker *w,
                       const struct job_view *jv, struct eval *e, char *err, size_t errlen)
{
    const struct dcv_sched_job *job = jv->job;
    memset(e, 0, sizeof(*e));
    e->state = DS_NONE;
    e->device = e->codec = -1;
    for (size_t di = 0; di < w->n_devices; di++) {
        const struct dcv_sched_device *d = &w->devices[di];
        const struct dcv_device_caps *c = d->caps;
        enum dev_state st = DS_NO_CODEC;
        int ci_ok = -1;
        uint32_t n, used = 0, limit = 0;
        bool hw;
        if (!c)
            return fail(err, errlen, -EINVAL, "worker %s: device %zu has no capabilities", w->id,
                        di);
        hw = (c->flags & DCV_CAP_HARDWARE) != 0;
        n = c->n_codecs < DCV_MAX_CODECS ? c->n_codecs : DCV_MAX_CODECS;
        for (uint32_t ci = 0; ci < n && ci_ok < 0; ci++) {
            const struct dcv_codec_caps *cc = &c->codecs[ci];
            bool pref_ok;
            if (!field_eq(cc->codec, sizeof(cc->codec), job->codec))
                continue;
            if (st < DS_NO_DEPTH)
                st = DS_NO_DEPTH;
            if (!depth_ok(cc, job->bit_depth))
                continue;
            if (st < DS_NO_PREF)
                st = DS_NO_PREF;
            switch (jv->pref) {
            case PREF_HW: pref_ok = hw; break;
            case PREF_SW: pref_ok = !hw; break;
            case PREF_NAME:
                pref_ok = (d->plugin && strcmp(d->plugin, jv->name) == 0) ||
                          field_eq(cc->encoder, sizeof(cc->encoder), jv->name);
                break;
            default: pref_ok = true; break;
            }
            if (pref_ok)
                ci_ok = (int)ci;
        }
        if (ci_ok >= 0) {
            st = (c->flags & DCV_CAP_AVAILABLE) ? DS_OK : DS_UNAVAILABLE;
        }
        if (st == DS_OK) {
            char key[DCV_SCHED_KEY_MAX];
            int r = dcv_sched_session_key(w, d, key, sizeof(key));
            if (r < 0)
                return fail(err, errlen, -EINVAL, "worker %s: device %zu: session key too long",
                            w->id, di);
            if (r == 0) {
                const struct dcv_sched_session *s = session_find(in, key);
                limit = c->max_sessions;
                if (s) {
                    used = s->used;
                    if (s->limit && (!limit || s->limit < limit))
                        limit = s->limit;
                }
                if (limit && used >= limit)
                    st = DS_SESSIONS;
            }
        }
        if (st == DS_OK) {
            int tier = jv->pref == PREF_AUTO && !hw ? 1 : 0;
            double fps = dev_fps(w, d);
            uint64_t headroom = limit ? (uint64_t)(limit - used) : UINT32_MAX;
            if (e->state != DS_OK || dev_better(e, tier, fps, headroom)) {
                e->state = DS_OK;
                e->device = (int)di;
                e->codec = ci_ok;
                e->tier = tier;
                e->fps = fps;
                e->headroom = headroom;
            }
        } else if (st > e->state) {
            e->state = st;
            e->device = (int)di;
            e->used = used;
            e->limit = limit;
            e->per_host = c->max_sessions_scope == DCV_SCOPE_PER_HOST;
        }
    }
    return 0;
}

/* The reason a device-level state refuses the job, appended to b. */
static void explain_state(struct sbuf *b, const struct dcv_sched_worker *w,
                          const struct job_view *jv, const struct eval *e)
{
    const struct dcv_sched_job *job = jv->job;
    const struct dcv_device_caps *c = e->device >= 0 ? w->devices[e->device].caps : NULL;
    char depth[16] = "";
    if (job->bit_depth)
        snprintf(depth, sizeof(depth), "%u-bit ", job->bit_depth);
    switch (e->state) {
    case DS_NONE: sb_add(b, "no encoder devices"); break;
    case DS_NO_CODEC: sb_add(b, "no %s encoder", job->codec); break;
    case DS_NO_DEPTH: sb_add(b, "no %s%s encoder", depth, job->codec); break;
    case DS_NO_PREF:
        if (jv->pref == PREF_HW)
            sb_add(b, "no hardware %s%s encoder", depth, job->codec);
        else if (jv->pref == PREF_SW)
            sb_add(b, "no software %s%s encoder", depth, job->codec);
        else
            sb_add(b, "no %s%s encoder matching '%s'", depth, job->codec, jv->name);
        break;
    case DS_UNAVAILABLE:
        sb_add(b, "%s%s on %.*s unavailable", depth, job->codec, FIELD(c->device_id));
        if (c->unavailable_reason[0])
            sb_add(b, " (%.*s)", FIELD(c->unavailable_reason));
        break;
    case DS_SESSIONS:
        if (e->per_host)
            sb_add(b, "%s sessions %u/%u per host", w->devices[e->device].plugin, e->used,
                   e->limit);
        else
            sb_add(b, "%.*s sessions %u/%u", FIELD(c->device_id), e->used, e->limit);
        break;
    case DS_OK: break;
    }
}

/* Job-independent refusals, explained into b; false when the worker may take work. */
static bool worker_refuses(const struct dcv_sched_input *in, const struct dcv_sched_worker *w,
                           struct sbuf *b)
{
    if (!w->healthy)
        sb_add(b, "unhealthy");
    else if (w->draining)
        sb_add(b, "draining");
    else if (w->busy)
        sb_add(b, "busy");
    else if (in->max_load > 0 && w->load > in->max_load)
        sb_add(b, "load %.2f over %.2f", w->load, in->max_load);
    else if (in->max_mem > 0 && w->mem_used > in->max_mem)
        sb_add(b, "memory %.0f%% over %.0f%%", w->mem_used * 100.0, in->max_mem * 100.0);
    else if (w->slots_used >= w->slots_total)
        sb_add(b, "slots %u/%u", w->slots_used, w->slots_total);
    else
        return false;
    return true;
}

/* --- validation ---------------------------------------------------------- */

static int check_input(const struct dcv_sched_input *in, char *why, size_t whylen)
{
    if (!in)
        return fail(why, whylen, -EINVAL, "no scheduler input");
    if (in->n_workers && !in->workers)
        return fail(why, whylen, -EINVAL, "%zu workers but no worker array", in->n_workers);
    if (in->n_sessions && !in->sessions)
        return fail(why, whylen, -EINVAL, "%zu sessions but no session table", in->n_sessions);
    if ((unsigned)in->strategy > DCV_SCHED_CAPABILITY)
        return fail(why, whylen, -EINVAL, "unknown strategy %d", (int)in->strategy);
    for (size_t i = 0; i < in->n_sessions; i++) {
        if (!in->sessions[i].key)
            return fail(why, whylen, -EINVAL, "session %zu has no key", i);
        if (i && strcmp(in->sessions[i - 1].key, in->sessions[i].key) >= 0)
            return fail(why, whylen, -EINVAL, "session table not sorted or duplicate key '%s'",
                        in->sessions[i].key);
    }
    for (size_t i = 0; i < in->n_workers; i++) {
        const struct dcv_sched_worker *w = &in->workers[i];
        if (!w->id || !*w->id)
            return fail(why, whylen, -EINVAL, "worker %zu has no id", i);
        if (strlen(w->id) >= DCV_SCHED_ID_MAX)
            return fail(why, whylen, -EINVAL, "worker id '%.20s...' longer than %d bytes", w->id,
                        DCV_SCHED_ID_MAX - 1);
        if (w->n_devices && !w->devices)
            return fail(why, whylen, -EINVAL, "worker %s: %zu devices but no array", w->id,
                        w->n_devices);
        for (size_t d = 0; d < w->n_devices; d++)
            if (!w->devices[d].caps || !w->devices[d].plugin)
                return fail(why, whylen, -EINVAL, "worker %s: device %zu lacks %s", w->id, d,
                            w->devices[d].caps ? "a plugin name" : "capabilities");
    }
    return 0;
}

static int job_view_init(const struct dcv_sched_input *in, const struct dcv_sched_job *job,
                         struct job_view *jv, char *why, size_t whylen)
{
    const char *p;
    if (!job || !job->codec || !*job->codec)
        return fail(why, whylen, -EINVAL, "job has no codec");
    if (job->bit_depth && job->bit_depth != 8 && job->bit_depth != 10 && job->bit_depth != 12)
        return fail(why, whylen, -EINVAL, "job bit depth %u is not 8, 10 or 12", job->bit_depth);
    p = job->encoder;
    jv->job = job;
    jv->name = p;
    if (!p || !*p || strcmp(p, "auto") == 0)
        jv->pref = PREF_AUTO;
    else if (strcmp(p, "hw") == 0)
        jv->pref = PREF_HW;
    else if (strcmp(p, "sw") == 0)
        jv->pref = PREF_SW;
    else
        jv->pref = PREF_NAME;
    jv->big = job->size_hint > 0 &&
              job->size_hint >= (in->big_job_size > 0 ? in->big_job_size : DCV_SCHED_BIG_JOB_DEFAULT);
    return 0;
}

/* --- ranking ------------------------------------------------------------- */

static int cmp_u64(uint64_t a, uint64_t b) { return a < b ? -1 : a > b; }
static int cmp_dbl(double a, double b) { return a < b ? -1 : a > b; }

/* Negative when a should be chosen over b. */
static int rank(const struct dcv_sched_input *in, const struct job_view *jv,
                const char *cursor, const struct cand *a, const struct cand *b)
{
    const struct dcv_sched_worker *x = a->w, *y = b->w;
    int c;
    /* Hardware before software for "auto", whatever the strategy: an idle
     * encoder block is the cheapest capacity the cluster has. */
    if ((c = a->ev.tier - b->ev.tier))
        return c;
    switch (in->strategy) {
    case DCV_SCHED_ROUND_ROBIN: {
        /* Cycle by id: the ids after the cursor come first, then wrap. */
        int ax = cursor[0] && strcmp(x->id, cursor) <= 0;
        int bx = cursor[0] && strcmp(y->id, cursor) <= 0;
        if ((c = ax - bx))
            return c;
        break;
    }
    case DCV_SCHED_CAPABILITY:
        if ((c = cmp_dbl(b->ev.fps, a->ev.fps)))
            return c;
        if ((c = cmp_u64(b->ev.headroom, a->ev.headroom)))
            return c;
        /* then the load order below */
        /* FALLTHROUGH */
    case DCV_SCHED_LEAST_LOADED:
    default:
        if (jv->big && (c = cmp_dbl(b->ev.fps, a->ev.fps)))
            return c;
        /* used/total compared without division or rounding */
        if ((c = cmp_u64((uint64_t)x->slots_used * y->slots_total,
                         (uint64_t)y->slots_used * x->slots_total)))
            return c;
        if ((c = cmp_dbl(x->load, y->load)))
            return c;
        if ((c = cmp_dbl(b->ev.fps, a->ev.fps)))
            return c;
        break;
    }
    if ((c = strcmp(x->id, y->id)))
        return c;
    return a->index < b->index ? -1 : (a->index > b->index);
}

static void result_none(struct dcv_sched_result *out)
{
    memset(out, 0, sizeof(*out));
    out->worker = out->device = out->codec = -1;
}

static void describe_choice(struct sbuf *b, const struct dcv_sched_worker *w, const struct eval *e)
{
    const struct dcv_device_caps *c = w->devices[e->device].caps;
    sb_add(b, "%s: %.*s on %.*s", w->id, FIELD(c->codecs[e->codec].encoder), FIELD(c->device_id));
}

int dcv_sched_pick_worker(const struct dcv_sched_input *in, const struct dcv_sched_job *job,
                          struct dcv_sched_cursor *cursor, struct dcv_sched_result *out,
                          char *why, size_t whylen)
{
    struct job_view jv;
    struct cand best = {0}, cur;
    bool have = false;
    struct sbuf b;
    const char *cpos = "";
    int r;

    if (!out)
        return fail(why, whylen, -EINVAL, "no result buffer");
    result_none(out);
    if ((r = check_input(in, why, whylen)) < 0 || (r = job_view_init(in, job, &jv, why, whylen)) < 0)
        return r;
    if (cursor && in->strategy == DCV_SCHED_ROUND_ROBIN) {
        cursor->last[DCV_SCHED_ID_MAX - 1] = '\0';
        cpos = cursor->last;
    }
    sb_init(&b, why, whylen);
    if (in->n_workers == 0) {
        sb_add(&b, "no workers registered");
        return -EAGAIN;
    }
    for (size_t i = 0; i < in->n_workers; i++) {
        const struct dcv_sched_worker *w = &in->workers[i];
        size_t mark;
        if ((r = eval_worker(in, w, &jv, &cur.ev, why, whylen)) < 0)
            return r;
        if (cur.ev.state >= DS_SESSIONS)
            out->n_capable++;
        mark = b.pos;
        sb_add(&b, "%s%s: ", b.pos ? "; " : "", w->id);
        if (cur.ev.state < DS_SESSIONS) {
            explain_state(&b, w, &jv, &cur.ev);
            continue;
        }
        if (worker_refuses(in, w, &b))
            continue;
        if (cur.ev.state == DS_SESSIONS) {
            out->n_session_blocked++;
            explain_state(&b, w, &jv, &cur.ev);
            continue;
        }
        /* Eligible: it needs no explanation. */
        b.pos = mark;
        if (b.len)
            b.p[mark] = '\0';
        cur.index = i;
        cur.w = w;
        if (!have || rank(in, &jv, cpos, &cur, &best) < 0) {
            best = cur;
            have = true;
        }
    }
    if (!have)
        return -EAGAIN;
    out->worker = (int)best.index;
    out->device = best.ev.device;
    out->codec = best.ev.codec;
    if (cursor && in->strategy == DCV_SCHED_ROUND_ROBIN)
        snprintf(cursor->last, sizeof(cursor->last), "%s", best.w->id);
    sb_init(&b, why, whylen);
    describe_choice(&b, best.w, &best.ev);
    return 0;
}

int dcv_sched_pick_job(const struct dcv_sched_input *in, size_t wi,
                       const struct dcv_sched_job *jobs, size_t n_jobs,
                       struct dcv_sched_result *out, char *why, size_t whylen)
{
    const struct dcv_sched_worker *w;
    struct sbuf b;
    struct eval ev;
    int r;

    if (!out)
        return fail(why, whylen, -EINVAL, "no result buffer");
    result_none(out);
    if ((r = check_input(in, why, whylen)) < 0)
        return r;
    if (wi >= in->n_workers)
        return fail(why, whylen, -EINVAL, "worker index %zu out of range (%zu workers)", wi,
                    in->n_workers);
    if (n_jobs && !jobs)
        return fail(why, whylen, -EINVAL, "%zu jobs but no job array", n_jobs);
    if (n_jobs > INT32_MAX)
        return fail(why, whylen, -EINVAL, "too many jobs (%zu)", n_jobs);
    w = &in->workers[wi];
    sb_init(&b, why, whylen);
    sb_add(&b, "%s: ", w->id);
    if (worker_refuses(in, w, &b))
        return -EAGAIN;
    if (n_jobs == 0) {
        sb_add(&b, "no queued jobs");
        return -EAGAIN;
    }
    for (size_t j = 0; j < n_jobs; j++) {
        struct job_view jv;
        if ((r = job_view_init(in, &jobs[j], &jv, why, whylen)) < 0) {
            char msg[160];
            snprintf(msg, sizeof(msg), "%s", why ? why : "");
            return fail(why, whylen, r, "job %zu: %s", j, msg);
        }
        if ((r = eval_worker(in, w, &jv, &ev, why, whylen)) < 0)
            return r;
        if (ev.state == DS_OK) {
            out->worker = (int)wi;
            out->device = ev.device;
            out->codec = ev.codec;
            out->n_capable = 1;
            sb_init(&b, why, whylen);
            describe_choice(&b, w, &ev);
            return (int)j;
        }
        sb_add(&b, "%sjob %zu: ", j ? "; " : "", j);
        explain_state(&b, w, &jv, &ev);
    }
    return -EAGAIN;
}
