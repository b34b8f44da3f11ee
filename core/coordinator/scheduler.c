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
    DS_CLASS,       /* no free slot of its class (CPU / GPU job) */
    DS_SESSIONS,
    DS_OK,
};

struct job_view {
    const struct dcv_sched_job *job;
    enum pref_kind pref;
    const char *name; /* PREF_NAME */
    bool big;
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

/* The device's speed for this codec: its per-codec benchmark figure, else
 * its best figure, else the worker's; 0 = unknown. */
static double dev_fps(const struct dcv_sched_worker *w, const struct dcv_sched_device *d,
                      const char *codec)
{
    for (size_t i = 0; d->bench && i < d->n_bench; i++)
        if (d->bench[i].codec && strcmp(d->bench[i].codec, codec) == 0 && d->bench[i].fps > 0)
            return d->bench[i].fps;
    return d->bench_fps > 0 ? d->bench_fps : (w->bench_fps > 0 ? w->bench_fps : 0);
}

/* Why one device cannot take the job now (sessions or class), as the
 * explanation and the GPU summary need it. */
struct block {
    int device;
    uint32_t used, limit, external;
    bool per_host, hold;
    bool cls;       /* a class slot, not a session */
    bool cls_gpu;
};

struct eval {
    enum dev_state state;
    int device, codec; /* the best OK device, else the one that explains state */
    /* the chosen OK device */
    int tier;          /* 0 = preferred kind of device (hardware for auto) */
    bool hw;
    double fps;
    double ratio;      /* free sessions / limit; 1 when unlimited or software */
    uint64_t headroom; /* free sessions; UINT32_MAX when unlimited */
    uint32_t load_on;  /* jobs already on it: sessions in use, or the worker's slots */
    struct block why;  /* state DS_CLASS / DS_SESSIONS */
    /* GPU policy inputs */
    bool hw_cap, hw_ok, hw_blocked;
    struct block hw_why; /* the first blocked hardware device */
};

/* Ordering of two OK devices (or candidates): negative when a goes first.
 * Shared by the choice of a device within a worker and the ranking. */
static int cmp_dbl(double a, double b) { return a < b ? -1 : a > b; }
static int cmp_u64(uint64_t a, uint64_t b) { return a < b ? -1 : a > b; }

static double finish_estimate(const struct job_view *jv, const struct eval *e)
{
    /* Work over speed, shared with what already runs there: only an
     * ordering, so the units need not mean anything. */
    return jv->job->size_hint * (double)(e->load_on + 1) / e->fps;
}

static int dev_cmp(const struct dcv_sched_input *in, const struct job_view *jv,
                   const struct eval *a, const struct eval *b)
{
    int c;
    if ((c = a->tier - b->tier))
        return c;
    if (in->strategy == DCV_SCHED_GPU_AWARE) {
        if (jv->big && (c = cmp_dbl(b->fps, a->fps)))
            return c;
        if ((c = cmp_dbl(b->ratio, a->ratio)))
            return c;
        if (jv->job->size_hint > 0 && a->fps > 0 && b->fps > 0 &&
            (c = cmp_dbl(finish_estimate(jv, a), finish_estimate(jv, b))))
            return c;
    }
    if ((c = cmp_dbl(b->fps, a->fps)))
        return c;
    return cmp_u64(b->headroom, a->headroom);
}

static int eval_worker(const struct dcv_sched_input *in, const struct dcv_sched_worker *w,
                       const struct job_view *jv, struct eval *e, char *err, size_t errlen)
{
    const struct dcv_sched_job *job = jv->job;
    uint32_t cpu_lim = w->cpu_slots ? w->cpu_slots : w->slots_total;
    uint32_t gpu_lim = w->gpu_slots ? w->gpu_slots : w->slots_total;
    memset(e, 0, sizeof(*e));
    e->state = DS_NONE;
    e->device = e->codec = -1;
    e->hw_why.device = -1;
    for (size_t di = 0; di < w->n_devices; di++) {
        const struct dcv_sched_device *d = &w->devices[di];
        const struct dcv_device_caps *c = d->caps;
        enum dev_state st = DS_NO_CODEC;
        struct block blk = {.device = (int)di};
        int ci_ok = -1;
        uint32_t n;
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
        if (ci_ok >= 0)
            st = (c->flags & DCV_CAP_AVAILABLE) ? DS_OK : DS_UNAVAILABLE;
        if (st == DS_OK && hw)
            e->hw_cap = true;
        if (st == DS_OK) {
            char kbuf[DCV_SCHED_KEY_MAX];
            const char *key = d->key;
            int r = 0;
            if (!key) {
                r = dcv_sched_session_key(w, d, kbuf, sizeof(kbuf));
                if (r < 0)
                    return fail(err, errlen, -EINVAL,
                                "worker %s: device %zu: session key too long", w->id, di);
                key = kbuf;
            }
            blk.per_host = c->max_sessions_scope == DCV_SCOPE_PER_HOST;
            if (r == 0 && key[0]) {
                const struct dcv_sched_session *s = session_find(in, key);
                bool limited = c->max_sessions > 0;
                blk.limit = c->max_sessions;
                if (s) {
                    blk.used = s->used;
                    blk.external = s->external < s->used ? s->external : s->used;
                    if (s->hold || (s->limit && (!limited || s->limit < blk.limit))) {
                        if (s->hold)
                            blk.hold = true;
                        if (!limited || s->limit < blk.limit)
                            blk.limit = s->limit;
                        limited = true;
                    }
                }
                if (limited && blk.used >= blk.limit)
                    st = DS_SESSIONS;
                else if (!limited)
                    blk.limit = 0;
            }
        }
        if (st == DS_OK) {
            /* Its class: a hardware device runs a GPU job. */
            uint32_t used = hw ? w->gpu_used : w->cpu_used, lim = hw ? gpu_lim : cpu_lim;
            if (used >= lim) {
                st = DS_CLASS;
                blk.cls = true;
                blk.cls_gpu = hw;
                blk.used = used;
                blk.limit = lim;
            }
        }
        if (st == DS_OK) {
            struct eval cur = *e;
            if (hw)
                e->hw_ok = true;
            cur.tier = jv->pref == PREF_AUTO && !hw ? 1 : 0;
            cur.hw = hw;
            cur.fps = dev_fps(w, d, job->codec);
            cur.headroom = blk.limit ? (uint64_t)(blk.limit - blk.used) : UINT32_MAX;
            cur.ratio = blk.limit ? (double)(blk.limit - blk.used) / (double)blk.limit : 1.0;
            cur.load_on = hw && blk.limit ? blk.used : w->slots_used;
            if (e->state != DS_OK || dev_cmp(in, jv, &cur, e) < 0) {
                e->state = DS_OK;
                e->device = (int)di;
                e->codec = ci_ok;
                e->tier = cur.tier;
                e->hw = hw;
                e->fps = cur.fps;
                e->headroom = cur.headroom;
                e->ratio = cur.ratio;
                e->load_on = cur.load_on;
            }
            continue;
        }
        if ((st == DS_SESSIONS || st == DS_CLASS) && hw && !e->hw_blocked) {
            e->hw_blocked = true;
            e->hw_why = blk;
        }
        if (st > e->state) {
            e->state = st;
            e->device = (int)di;
            e->why = blk;
        }
    }
    return 0;
}

/* "GPU-ab12 sessions 3/3 (1 used by other software)" and the like. */
static void explain_block(struct sbuf *b, const struct dcv_sched_worker *w,
                          const struct block *k, bool with_host)
{
    const struct dcv_sched_device *d = &w->devices[k->device];
    const struct dcv_device_caps *c = d->caps;
    if (k->cls) {
        sb_add(b, "no free %s slot (%u of %u in use)", k->cls_gpu ? "GPU" : "CPU", k->used,
               k->limit);
        return;
    }
    if (k->per_host) {
        const char *h = w->host && *w->host ? w->host : w->id;
        if (with_host)
            sb_add(b, "%s on %s sessions %u/%u per host", d->plugin, h, k->used, k->limit);
        else
            sb_add(b, "%s sessions %u/%u per host", d->plugin, k->used, k->limit);
    } else {
        sb_add(b, "%.*s sessions %u/%u", FIELD(c->device_id), k->used, k->limit);
    }
    if (k->external && k->hold)
        sb_add(b, " (%u used by other software; held after a refused session)", k->external);
    else if (k->external)
        sb_add(b, " (%u used by other software)", k->external);
    else if (k->hold)
        sb_add(b, " (held after a refused session)");
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
    case DS_CLASS:
    case DS_SESSIONS: explain_block(b, w, &e->why, false); break;
    case DS_OK: break;
    }
}

/* Job-independent refusals. */
enum wrefusal { WR_NONE, WR_UNHEALTHY, WR_DRAINING, WR_BUSY, WR_LOAD, WR_MEM, WR_SLOTS };

static enum wrefusal worker_refusal(const struct dcv_sched_input *in,
                                    const struct dcv_sched_worker *w)
{
    if (!w->healthy)
        return WR_UNHEALTHY;
    if (w->draining)
        return WR_DRAINING;
    if (w->busy)
        return WR_BUSY;
    if (in->max_load > 0 && w->load > in->max_load)
        return WR_LOAD;
    if (in->max_mem > 0 && w->mem_used > in->max_mem)
        return WR_MEM;
    if (w->slots_used >= w->slots_total)
        return WR_SLOTS;
    return WR_NONE;
}

static void explain_refusal(struct sbuf *b, const struct dcv_sched_input *in,
                            const struct dcv_sched_worker *w, enum wrefusal r)
{
    switch (r) {
    case WR_UNHEALTHY: sb_add(b, "unhealthy"); break;
    case WR_DRAINING: sb_add(b, "draining"); break;
    case WR_BUSY: sb_add(b, "busy"); break;
    case WR_LOAD: sb_add(b, "load %.2f over %.2f", w->load, in->max_load); break;
    case WR_MEM:
        sb_add(b, "memory %.0f%% over %.0f%%", w->mem_used * 100.0, in->max_mem * 100.0);
        break;
    case WR_SLOTS: sb_add(b, "slots %u/%u", w->slots_used, w->slots_total); break;
    case WR_NONE: break;
    }
}

/* Explained into b; false when the worker may take work. */
static bool worker_refuses(const struct dcv_sched_input *in, const struct dcv_sched_worker *w,
                           struct sbuf *b)
{
    enum wrefusal r = worker_refusal(in, w);
    explain_refusal(b, in, w, r);
    return r != WR_NONE;
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
    if ((unsigned)in->strategy > DCV_SCHED_GPU_AWARE)
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

struct cand {
    size_t index;
    const struct dcv_sched_worker *w;
    struct eval ev;
};

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
    case DCV_SCHED_GPU_AWARE:
        /* The same order a worker used to pick its own device. */
        if (jv->big && (c = cmp_dbl(b->ev.fps, a->ev.fps)))
            return c;
        if ((c = cmp_dbl(b->ev.ratio, a->ev.ratio)))
            return c;
        if (jv->job->size_hint > 0 && a->ev.fps > 0 && b->ev.fps > 0 &&
            (c = cmp_dbl(finish_estimate(jv, &a->ev), finish_estimate(jv, &b->ev))))
            return c;
        /* then the load order below */
        /* FALLTHROUGH */
    case DCV_SCHED_CAPABILITY:
        if (in->strategy == DCV_SCHED_CAPABILITY && (c = cmp_dbl(b->ev.fps, a->ev.fps)))
            return c;
        if (in->strategy == DCV_SCHED_CAPABILITY &&
            (c = cmp_u64(b->ev.headroom, a->ev.headroom)))
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

/* Count a worker that takes work into the GPU policy inputs; its blocked
 * GPU joins the summary once (workers sharing a GPU describe it alike). */
static void note_gpu(struct dcv_sched_result *out, struct sbuf *detail,
                     const struct dcv_sched_worker *w, const struct eval *e)
{
    char item[DCV_SCHED_DETAIL_MAX];
    struct sbuf ib;
    if (!e->hw_cap)
        return;
    out->n_hw_capable++;
    if (e->hw_ok) {
        out->n_hw_free++;
        return;
    }
    if (!e->hw_blocked)
        return;
    out->n_hw_blocked++;
    sb_init(&ib, item, sizeof(item));
    if (e->hw_why.cls)
        sb_add(&ib, "%s: ", w->id); /* a slot is the worker's own, not the GPU's */
    explain_block(&ib, w, &e->hw_why, true);
    if (!strstr(detail->p, item))
        sb_add(detail, "%s%s", detail->pos ? ", " : "", item);
}

int dcv_sched_pick_worker(const struct dcv_sched_input *in, const struct dcv_sched_job *job,
                          struct dcv_sched_cursor *cursor, struct dcv_sched_result *out,
                          char *why, size_t whylen)
{
    struct job_view jv;
    struct cand best = {0}, cur;
    bool have = false;
    struct sbuf b, detail;
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
    sb_init(&detail, out->gpu_detail, sizeof(out->gpu_detail));
    if (in->n_workers == 0) {
        sb_add(&b, "no workers registered");
        return -EAGAIN;
    }
    for (size_t i = 0; i < in->n_workers; i++) {
        const struct dcv_sched_worker *w = &in->workers[i];
        if ((r = eval_worker(in, w, &jv, &cur.ev, why, whylen)) < 0)
            return r;
        if (cur.ev.state >= DS_CLASS)
            out->n_capable++;
        /* Only a refused worker is explained: formatting text for each of
         * a thousand eligible workers would cost more than choosing. */
        if (cur.ev.state < DS_CLASS) {
            sb_add(&b, "%s%s: ", b.pos ? "; " : "", w->id);
            explain_state(&b, w, &jv, &cur.ev);
            continue;
        }
        if (worker_refusal(in, w) != WR_NONE) {
            sb_add(&b, "%s%s: ", b.pos ? "; " : "", w->id);
            explain_refusal(&b, in, w, worker_refusal(in, w));
            continue;
        }
        note_gpu(out, &detail, w, &cur.ev);
        if (cur.ev.state != DS_OK) {
            if (cur.ev.state == DS_SESSIONS)
                out->n_session_blocked++;
            sb_add(&b, "%s%s: ", b.pos ? "; " : "", w->id);
            explain_state(&b, w, &jv, &cur.ev);
            continue;
        }
        cur.index = i;
        cur.w = w;
        if (!have || rank(in, &jv, cpos, &cur, &best) < 0) {
            best = cur;
            have = true;
        }
    }
    out->gpu_exhausted = out->n_hw_blocked > 0 && out->n_hw_free == 0;
    if (!have)
        return -EAGAIN;
    out->worker = (int)best.index;
    out->device = best.ev.device;
    out->codec = best.ev.codec;
    out->hw = best.ev.hw;
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
            out->hw = ev.hw;
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

/* --- other software's sessions ------------------------------------------ */

static int cmp_obs(const void *a, const void *b)
{
    const struct dcv_sched_gpu_obs *x = a, *y = b;
    int c = strcmp(x->phys ? x->phys : "", y->phys ? y->phys : "");
    if (c)
        return c;
    return x->at > y->at ? -1 : x->at < y->at; /* newest first */
}

int dcv_sched_add_external(struct dcv_sched_session *s, size_t *ns, size_t cap,
                           struct dcv_sched_gpu_obs *obs, size_t nobs)
{
    int rc = 0;
    if (!s || !ns || (nobs && !obs))
        return -EINVAL;
    if (nobs > 1)
        qsort(obs, nobs, sizeof(*obs), cmp_obs);
    for (size_t i = 0; i < nobs; i++) {
        const struct dcv_sched_gpu_obs *o = &obs[i];
        int64_t ext;
        size_t k;
        /* Only the newest report of each physical device counts. */
        if (i && strcmp(obs[i - 1].phys ? obs[i - 1].phys : "", o->phys ? o->phys : "") == 0)
            continue;
        if (!o->key || !o->key[0] || o->enc_sessions < 0)
            continue;
        ext = o->enc_sessions - (int64_t)o->ours;
        if (ext <= 0)
            continue;
        if (ext > UINT32_MAX / 2)
            ext = UINT32_MAX / 2;
        for (k = 0; k < *ns && strcmp(s[k].key, o->key) != 0; k++)
            ;
        if (k == *ns) {
            if (*ns >= cap) {
                rc = -ENOSPC;
                continue;
            }
            memset(&s[k], 0, sizeof(s[k]));
            s[k].key = o->key;
            (*ns)++;
        }
        s[k].used += (uint32_t)ext;
        s[k].external += (uint32_t)ext;
    }
    return rc;
}

const char *dcv_sched_strategy_name(enum dcv_sched_strategy st)
{
    switch (st) {
    case DCV_SCHED_LEAST_LOADED: return "least-loaded";
    case DCV_SCHED_ROUND_ROBIN: return "round-robin";
    case DCV_SCHED_CAPABILITY: return "capability";
    case DCV_SCHED_GPU_AWARE: return "gpu-aware";
    }
    return "?";
}
