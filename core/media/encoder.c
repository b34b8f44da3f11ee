/*
 * Encoder choice and the host side of encode sessions.
 *
 * Selection probes the plugins in-process: the job process that calls this
 * is itself the disposable child (the worker probes in separate children
 * for its registration), so a driver that crashes here costs one attempt.
 */
#include "media/encoder.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libavcodec/avcodec.h>
#include <libavutil/pixdesc.h>

/* A plugin reporting more devices than this is broken; stop asking. */
#define MAX_DEVICES_PER_PLUGIN 32

/* ------------------------------------------------------------------------ */
/* Per-plugin locks (ABI threading classes)                                  */
/* ------------------------------------------------------------------------ */

/*
 * struct dcv_plugin belongs to the loader, so the locks live here, keyed by
 * plugin address. Plugins are never unloaded, so entries are never freed;
 * if a set is rebuilt and an address is reused the entry is simply shared,
 * which only over-serialises.
 *
 * ctl serialises probe/open/close per plugin. data is a rwlock: data calls
 * take it shared, so discovery (probe) and the open/close of a plugin whose
 * device says DCV_CAP_NOT_THREADSAFE_OPEN can take it exclusively and never
 * overlap another session's send/receive.
 */
struct plugin_lock {
    const struct dcv_plugin *plugin;
    pthread_mutex_t ctl;
    pthread_rwlock_t data;
    struct plugin_lock *next;
};

static pthread_mutex_t g_locks_mu = PTHREAD_MUTEX_INITIALIZER;
static struct plugin_lock *g_locks;

static struct plugin_lock *plugin_lock_get(const struct dcv_plugin *p)
{
    struct plugin_lock *l;

    pthread_mutex_lock(&g_locks_mu);
    for (l = g_locks; l; l = l->next)
        if (l->plugin == p)
            break;
    if (!l) {
        l = calloc(1, sizeof(*l));
        if (l) {
            pthread_rwlockattr_t ra;

            /* Writer preference: a probe or exclusive open must not wait
             * forever behind other sessions' back-to-back data calls. */
            pthread_rwlockattr_init(&ra);
            pthread_rwlockattr_setkind_np(&ra, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
            l->plugin = p;
            if (pthread_mutex_init(&l->ctl, NULL) != 0) {
                free(l);
                l = NULL;
            } else if (pthread_rwlock_init(&l->data, &ra) != 0) {
                pthread_mutex_destroy(&l->ctl);
                free(l);
                l = NULL;
            } else {
                l->next = g_locks;
                g_locks = l;
            }
            pthread_rwlockattr_destroy(&ra);
        }
    }
    pthread_mutex_unlock(&g_locks_mu);
    return l;
}

/* ------------------------------------------------------------------------ */
/* Selection                                                                 */
/* ------------------------------------------------------------------------ */

/* Appends to a bounded buffer; silently truncates (the message stays a
 * valid string, the reasons that fit are the most useful ones). */
struct strbuf {
    char *s;
    size_t cap, len;
};

static void sb_add(struct strbuf *b, const char *fmt, ...) DCV_PRINTF(2, 3);
static void sb_add(struct strbuf *b, const char *fmt, ...)
{
    va_list ap;
    int n;

    if (!b->s || b->cap == 0 || b->len >= b->cap - 1)
        return;
    va_start(ap, fmt);
    n = vsnprintf(b->s + b->len, b->cap - b->len, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    b->len += (size_t)n;
    if (b->len > b->cap - 1)
        b->len = b->cap - 1;
}

static int is_encoder_plugin(const struct dcv_plugin *p)
{
    return p && p->hdr.kind == DCV_PLUGIN_ENCODER && p->enc.probe != NULL;
}

static int probe_locked(struct dcv_plugin *p, uint32_t index, struct dcv_device_caps *caps)
{
    struct plugin_lock *lk = plugin_lock_get(p);
    int ret;

    memset(caps, 0, sizeof(*caps));
    caps->struct_size = sizeof(*caps);
    if (!lk)
        return -ENOMEM;
    pthread_mutex_lock(&lk->ctl);
    pthread_rwlock_wrlock(&lk->data);
    ret = p->enc.probe(p->ctx, index, caps);
    pthread_rwlock_unlock(&lk->data);
    pthread_mutex_unlock(&lk->ctl);
    /* Never trust the plugin to terminate its strings. */
    caps->device_id[sizeof(caps->device_id) - 1] = '\0';
    caps->device_name[sizeof(caps->device_name) - 1] = '\0';
    caps->unavailable_reason[sizeof(caps->unavailable_reason) - 1] = '\0';
    if (caps->n_codecs > DCV_MAX_CODECS)
        caps->n_codecs = DCV_MAX_CODECS;
    for (uint32_t i = 0; i < caps->n_codecs; i++) {
        struct dcv_codec_caps *cc = &caps->codecs[i];
        cc->codec[sizeof(cc->codec) - 1] = '\0';
        cc->encoder[sizeof(cc->encoder) - 1] = '\0';
        cc->profiles[sizeof(cc->profiles) - 1] = '\0';
    }
    return ret;
}

enum pref_kind { PREF_AUTO, PREF_HW, PREF_SW, PREF_PLUGIN, PREF_ENCODER };

static int cmp_plugin_name(const void *a, const void *b)
{
    const struct dcv_plugin *pa = *(const struct dcv_plugin *const *)a;
    const struct dcv_plugin *pb = *(const struct dcv_plugin *const *)b;
    return strcmp(pa->hdr.name ? pa->hdr.name : "", pb->hdr.name ? pb->hdr.name : "");
}

static const char *pname(const struct dcv_plugin *p)
{
    return p->hdr.name ? p->hdr.name : "?";
}

/* Label of one device in messages: the plugin name, plus the index when the
 * plugin has more than one device. */
static void dev_label(char *buf, size_t len, const struct dcv_plugin *p, uint32_t idx, int multi)
{
    if (multi)
        snprintf(buf, len, "%s#%u", pname(p), idx);
    else
        snprintf(buf, len, "%s", pname(p));
}

/* Does device caps offer the codec (and depth, and exact encoder)? Returns
 * the codec index, or -1 with the reason in why. */
static int match_codec(const struct dcv_device_caps *caps, const char *codec, uint32_t bit_depth,
                       const char *exact_encoder, char *why, size_t whylen)
{
    int have_codec = 0, have_encoder = 0;

    for (uint32_t i = 0; i < caps->n_codecs; i++) {
        const struct dcv_codec_caps *cc = &caps->codecs[i];
        if (strcmp(cc->codec, codec) != 0)
            continue;
        have_codec = 1;
        if (exact_encoder && strcmp(cc->encoder, exact_encoder) != 0)
            continue;
        have_encoder = 1;
        if (bit_depth && !(bit_depth < 32 && (cc->bit_depths & (1u << bit_depth))))
            continue;
        return (int)i;
    }
    if (!have_codec)
        snprintf(why, whylen, "no %s", codec);
    else if (!have_encoder)
        snprintf(why, whylen, "%s but not through %s", codec, exact_encoder);
    else
        snprintf(why, whylen, "%s but not %u-bit", codec, bit_depth);
    return -1;
}

struct candidate {
    struct dcv_plugin *plugin;
    uint32_t index;
    int multi;   /* the plugin has several devices: label with the index */
    int status;  /* 1 probed, 0 no devices, <0 probe error, 2 not initialised */
    struct dcv_device_caps caps;
};

/* Probe every device of every initialised encoder plugin once, in plugin
 * name order; with `only` set, just that plugin. Hardware probes may open a
 * device (CUDA, VA-API) and take a while, so a job that named its plugin
 * must not pay for the others. */
static int collect_candidates(const struct dcv_plugin_set *set, const char *only,
                              struct candidate **out, size_t *nout)
{
    struct dcv_plugin **order = NULL;
    struct candidate *c = NULL;
    size_t n = 0, nc = 0, cap = 0;

    *out = NULL;
    *nout = 0;
    if (!set || !set->n)
        return 0;
    order = calloc(set->n, sizeof(*order));
    if (!order)
        return -ENOMEM;
    for (size_t i = 0; i < set->n; i++)
        if (is_encoder_plugin(set->items[i]) && (!only || !strcmp(pname(set->items[i]), only)))
            order[n++] = set->items[i];
    qsort(order, n, sizeof(*order), cmp_plugin_name);

    for (size_t i = 0; i < n; i++) {
        struct dcv_plugin *p = order[i];
        size_t first = nc;
        for (uint32_t idx = 0; idx < MAX_DEVICES_PER_PLUGIN; idx++) {
            if (nc == cap) {
                size_t ncap = cap ? cap * 2 : 8;
                struct candidate *t = realloc(c, ncap * sizeof(*c));
                if (!t) {
                    free(c);
                    free(order);
                    return -ENOMEM;
                }
                c = t;
                cap = ncap;
            }
            memset(&c[nc], 0, sizeof(c[nc]));
            c[nc].plugin = p;
            c[nc].index = idx;
            if (!p->initialised) {
                c[nc++].status = 2;
                break;
            }
            int r = probe_locked(p, idx, &c[nc].caps);
            if (r == 0 && idx > 0)
                break; /* past the last device */
            c[nc].status = r > 0 ? 1 : r;
            nc++;
            if (r <= 0)
                break;
        }
        if (nc - first > 1)
            for (size_t k = first; k < nc; k++)
                c[k].multi = 1;
    }
    free(order);
    *out = c;
    *nout = nc;
    return 0;
}

int dcv_encoder_select(const struct dcv_plugin_set *set, const char *codec,
                       const char *preference, uint32_t bit_depth,
                       struct dcv_encoder_choice *out, char *err, size_t errlen)
{
    struct candidate *c = NULL;
    size_t nc = 0;
    enum pref_kind pk;
    char reasons[3072];
    struct strbuf why = { reasons, sizeof(reasons), 0 };
    int named = 0, r;

    if (err && errlen)
        err[0] = '\0';
    reasons[0] = '\0';
    if (!codec || !*codec || !out) {
        snprintf(err, errlen, "no codec asked");
        return -EINVAL;
    }
    if (!preference || !*preference || strcmp(preference, "auto") == 0)
        pk = PREF_AUTO;
    else if (strcmp(preference, "hw") == 0)
        pk = PREF_HW;
    else if (strcmp(preference, "sw") == 0)
        pk = PREF_SW;
    else if (set && dcv_plugin_set_find(set, preference))
        pk = PREF_PLUGIN;
    else
        pk = PREF_ENCODER; /* checked below: some device must offer it */

    r = collect_candidates(set, pk == PREF_PLUGIN ? preference : NULL, &c, &nc);
    if (r < 0) {
        snprintf(err, errlen, "out of memory");
        return r;
    }

    /* Auto looks at hardware first, then software; the other preferences
     * filter in a single pass. Each candidate is reported once. */
    int passes = pk == PREF_AUTO ? 2 : 1;
    for (int pass = 0; pass < passes; pass++) {
        for (size_t i = 0; i < nc; i++) {
            struct candidate *k = &c[i];
            struct dcv_device_caps *caps = &k->caps;
            char label[96], reason[160];
            int hw = (caps->flags & DCV_CAP_HARDWARE) != 0;

            if (k->status == 1 && pk == PREF_ENCODER)
                for (uint32_t j = 0; j < caps->n_codecs; j++)
                    if (strcmp(caps->codecs[j].encoder, preference) == 0)
                        named = 1;
            /* Devices that cannot be used are reported in the last pass. */
            if (k->status != 1 || !(caps->flags & DCV_CAP_AVAILABLE)) {
                if (pass != passes - 1)
                    continue;
            } else if (pk == PREF_AUTO && hw != (pass == 0)) {
                continue;
            }
            dev_label(label, sizeof(label), k->plugin, k->index, k->multi);
            if (k->status == 2) {
                sb_add(&why, " %s: not initialised;", label);
                continue;
            }
            if (k->status == 0) {
                sb_add(&why, " %s: no devices;", label);
                continue;
            }
            if (k->status < 0) {
                sb_add(&why, " %s: probe failed: %s;", label, strerror(-k->status));
                continue;
            }
            if (!(caps->flags & DCV_CAP_AVAILABLE)) {
                sb_add(&why, " %s: unavailable: %s;", label,
                       caps->unavailable_reason[0] ? caps->unavailable_reason
                                                   : "no reason given");
                continue;
            }
            if (pk == PREF_HW && !hw) {
                sb_add(&why, " %s: software (hardware asked);", label);
                continue;
            }
            if (pk == PREF_SW && hw) {
                sb_add(&why, " %s: hardware (software asked);", label);
                continue;
            }
            int ci = match_codec(caps, codec, bit_depth, pk == PREF_ENCODER ? preference : NULL,
                                 reason, sizeof(reason));
            if (ci < 0) {
                sb_add(&why, " %s: %s;", label, reason);
                continue;
            }
            out->plugin = k->plugin;
            out->device_index = k->index;
            out->caps = *caps;
            out->codec_index = ci;
            free(c);
            return 0;
        }
    }
    free(c);
    if (nc == 0)
        sb_add(&why, " no encoder plugins loaded");
    if (why.len && reasons[why.len - 1] == ';')
        reasons[--why.len] = '\0';
    if (pk == PREF_ENCODER && !named)
        snprintf(err, errlen,
                 "no plugin or encoder named '%s' (expected auto, hw, sw, a plugin name or a "
                 "libavcodec encoder a plugin offers); candidates:%s",
                 preference, reasons);
    else {
        char depth[16] = "", pref[64] = "";
        if (bit_depth)
            snprintf(depth, sizeof(depth), " %u-bit", bit_depth);
        if (pk != PREF_AUTO)
            snprintf(pref, sizeof(pref), " (encoder '%s')", preference);
        snprintf(err, errlen, "no encoder for %s%s%s:%s", codec, depth, pref, reasons);
    }
    return -ENOENT;
}

int dcv_encoder_pick_pix_fmt(const struct dcv_codec_caps *cc, int src_pix_fmt,
                             uint32_t want_depth)
{
    enum AVPixelFormat list[DCV_MAX_PIX_FMTS + 1];
    const AVPixFmtDescriptor *sd;
    int n = 0, loss = 0, alpha = 0;

    if (!cc)
        return -1;
    for (int i = 0; i < DCV_MAX_PIX_FMTS; i++) {
        int f = cc->pix_fmts[i];
        const AVPixFmtDescriptor *d;
        if (f < 0)
            break;
        d = av_pix_fmt_desc_get((enum AVPixelFormat)f);
        /* send_frame() takes software frames; the plugin uploads. */
        if (!d || (d->flags & AV_PIX_FMT_FLAG_HWACCEL))
            continue;
        if (want_depth && (uint32_t)d->comp[0].depth != want_depth)
            continue;
        list[n++] = (enum AVPixelFormat)f;
    }
    list[n] = AV_PIX_FMT_NONE;
    if (n == 0)
        return -1;
    sd = src_pix_fmt >= 0 ? av_pix_fmt_desc_get((enum AVPixelFormat)src_pix_fmt) : NULL;
    if (!sd || (sd->flags & AV_PIX_FMT_FLAG_HWACCEL))
        return list[0];
    /* The source format itself costs no conversion at all; the loss-based
     * search below may rank an equally lossless one (nv12 for yuv420p)
     * first and cost a needless pass through swscale. */
    for (int i = 0; i < n; i++)
        if (list[i] == src_pix_fmt)
            return src_pix_fmt;
    alpha = (sd->flags & AV_PIX_FMT_FLAG_ALPHA) != 0;
    return avcodec_find_best_pix_fmt_of_list(list, (enum AVPixelFormat)src_pix_fmt, alpha,
                                             &loss);
}

/* ------------------------------------------------------------------------ */
/* Sessions                                                                  */
/* ------------------------------------------------------------------------ */

struct dcv_enc_session {
    struct dcv_plugin *plugin;
    struct plugin_lock *lk;
    void *s;
    int exclusive; /* DCV_CAP_NOT_THREADSAFE_OPEN: open/close exclude data calls */
};

int dcv_enc_session_open(const struct dcv_encoder_choice *c, const struct dcv_enc_params *p,
                         struct dcv_enc_session **out, char *err, size_t errlen)
{
    struct dcv_enc_session *s;
    void *ps = NULL;
    int ret;

    if (err && errlen)
        err[0] = '\0';
    if (!c || !c->plugin || !p || !out) {
        snprintf(err, errlen, "invalid arguments");
        return -EINVAL;
    }
    if (!c->plugin->initialised || !c->plugin->enc.open) {
        snprintf(err, errlen, "plugin %s is not initialised", pname(c->plugin));
        return -EINVAL;
    }
    s = calloc(1, sizeof(*s));
    if (!s) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    s->plugin = c->plugin;
    s->exclusive = (c->caps.flags & DCV_CAP_NOT_THREADSAFE_OPEN) != 0;
    s->lk = plugin_lock_get(c->plugin);
    if (!s->lk) {
        free(s);
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    pthread_mutex_lock(&s->lk->ctl);
    if (s->exclusive)
        pthread_rwlock_wrlock(&s->lk->data);
    ret = c->plugin->enc.open(c->plugin->ctx, p, &ps, err, errlen);
    if (s->exclusive)
        pthread_rwlock_unlock(&s->lk->data);
    pthread_mutex_unlock(&s->lk->ctl);
    if (ret < 0 || !ps) {
        if (err && errlen && !err[0])
            snprintf(err, errlen, "%s: open failed: %s", pname(c->plugin),
                     strerror(ret < 0 ? -ret : EINVAL));
        free(s);
        return ret < 0 ? ret : -EINVAL;
    }
    s->s = ps;
    *out = s;
    return 0;
}

int dcv_enc_session_stream_params(struct dcv_enc_session *s, struct AVCodecParameters *par,
                                  struct dcv_rational *time_base)
{
    int ret;

    if (!s || !s->plugin->enc.get_stream_params)
        return -EINVAL;
    pthread_rwlock_rdlock(&s->lk->data);
    ret = s->plugin->enc.get_stream_params(s->s, par, time_base);
    pthread_rwlock_unlock(&s->lk->data);
    return ret;
}

int dcv_enc_session_send(struct dcv_enc_session *s, const struct AVFrame *frame)
{
    int ret;

    if (!s)
        return -EINVAL;
    pthread_rwlock_rdlock(&s->lk->data);
    ret = s->plugin->enc.send_frame(s->s, frame);
    pthread_rwlock_unlock(&s->lk->data);
    return ret;
}

int dcv_enc_session_receive(struct dcv_enc_session *s, struct AVPacket *pkt)
{
    int ret;

    if (!s)
        return -EINVAL;
    pthread_rwlock_rdlock(&s->lk->data);
    ret = s->plugin->enc.receive_packet(s->s, pkt);
    pthread_rwlock_unlock(&s->lk->data);
    return ret;
}

const char *dcv_enc_session_error(struct dcv_enc_session *s)
{
    const char *e = NULL;

    if (!s)
        return "no session";
    if (s->plugin->enc.last_error) {
        pthread_rwlock_rdlock(&s->lk->data);
        e = s->plugin->enc.last_error(s->s);
        pthread_rwlock_unlock(&s->lk->data);
    }
    return e && *e ? e : "unknown encoder error";
}

void dcv_enc_session_close(struct dcv_enc_session **sp)
{
    struct dcv_enc_session *s;

    if (!sp || !*sp)
        return;
    s = *sp;
    *sp = NULL;
    pthread_mutex_lock(&s->lk->ctl);
    if (s->exclusive)
        pthread_rwlock_wrlock(&s->lk->data);
    s->plugin->enc.close(s->s);
    if (s->exclusive)
        pthread_rwlock_unlock(&s->lk->data);
    pthread_mutex_unlock(&s->lk->ctl);
    free(s);
}

/* ------------------------------------------------------------------------ */
/* Placement (JOB.placement)                                                 */
/* ------------------------------------------------------------------------ */

static int place_err(char *err, size_t errlen, int rc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int place_err(char *err, size_t errlen, int rc, const char *fmt, ...)
{
    va_list ap;
    if (err && errlen) {
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return rc;
}

int dcv_encoder_select_exact(const struct dcv_plugin_set *set, const char *plugin,
                             const char *device_id, const char *codec, const char *encoder,
                             uint32_t bit_depth, struct dcv_encoder_choice *out, char *err,
                             size_t errlen)
{
    struct candidate *c = NULL;
    size_t nc = 0;
    char reason[160];
    int r;

    if (err && errlen)
        err[0] = '\0';
    if (!plugin || !*plugin || !device_id || !codec || !*codec || !out)
        return place_err(err, errlen, -EINVAL, "placement: plugin, device and codec required");
    if (!set || !dcv_plugin_set_find(set, plugin))
        return place_err(err, errlen, -ENODEV, "placement: plugin %s is not loaded here", plugin);
    if ((r = collect_candidates(set, plugin, &c, &nc)) < 0)
        return place_err(err, errlen, r, "out of memory");
    for (size_t i = 0; i < nc; i++) {
        struct candidate *k = &c[i];
        int ci;
        if (k->status == 2) {
            free(c);
            return place_err(err, errlen, -ENODEV, "placement: plugin %s is not initialised",
                           plugin);
        }
        if (k->status != 1 || strncmp(k->caps.device_id, device_id, sizeof k->caps.device_id))
            continue;
        if (!(k->caps.flags & DCV_CAP_AVAILABLE)) {
            place_err(err, errlen, 0, "placement: %s device %s is unavailable: %s", plugin,
                      device_id,
                      k->caps.unavailable_reason[0] ? k->caps.unavailable_reason
                                                    : "no reason given");
            free(c);
            return -ENODEV;
        }
        ci = match_codec(&k->caps, codec, bit_depth, encoder && *encoder ? encoder : NULL, reason,
                         sizeof reason);
        if (ci < 0) {
            place_err(err, errlen, 0, "placement: %s device %s offers %s", plugin, device_id,
                      reason);
            free(c);
            return -ENOENT;
        }
        out->plugin = k->plugin;
        out->device_index = k->index;
        out->caps = k->caps;
        out->codec_index = ci;
        free(c);
        return 0;
    }
    free(c);
    return place_err(err, errlen, -ENODEV, "placement: %s has no device %s here", plugin, device_id);
}

int dcv_encoder_use_placed(const struct dcv_encoder_choice *placed, uint32_t profile_depth,
                           uint32_t *want, struct dcv_encoder_choice *out, char *err,
                           size_t errlen)
{
    const struct dcv_codec_caps *cc;
    uint32_t mask;
    if (!placed || !want || !out || placed->codec_index < 0 ||
        (uint32_t)placed->codec_index >= placed->caps.n_codecs)
        return place_err(err, errlen, -EINVAL, "placement: no codec chosen");
    cc = &placed->caps.codecs[placed->codec_index];
    mask = cc->bit_depths ? cc->bit_depths : (1u << 8);
    if (*want < 32 && !(mask & (1u << *want))) {
        if (profile_depth || *want != 10 || !(mask & (1u << 8)))
            return place_err(err, errlen, -ENODEV, "placement: %s on %s cannot encode %u-bit",
                           cc->encoder, placed->caps.device_id, *want);
        *want = 8; /* keeping a 10-bit source at 10 bits is a preference */
    }
    *out = *placed;
    return 0;
}
