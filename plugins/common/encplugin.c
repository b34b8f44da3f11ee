#include "encplugin.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libavutil/buffer.h>
#include <libavutil/error.h>

#include "enccaps.h"
#include "encsession.h"
#include "encutil.h"
#include "hwopen.h"
#include "hwprobe.h"

/* Device indexes whose probe answer open() can reuse; a plugin with more
 * devices re-probes for those. */
#define CACHED_DEVICES 16

struct dcvenc_probe_cache {
    int state[CACHED_DEVICES]; /* 0 unknown, 1 entry, 2 past the last device */
    struct dcv_device_caps caps[CACHED_DEVICES];
};

void dcvenc_log(const struct dcvenc_ctx *ctx, int level, const char *fmt, ...)
{
    char line[1024];
    va_list ap;

    if (!ctx || !ctx->host.log)
        return;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    ctx->host.log(ctx->host.host_ctx, level, "%s", line);
}

int dcvenc_cfg_int(const struct dcvenc_ctx *ctx, const char *key, int64_t lo, int64_t hi,
                   int64_t *out, char *err, size_t errlen)
{
    int64_t v = 0;
    int rc;

    if (!ctx->host.cfg_get_int)
        return 0;
    rc = ctx->host.cfg_get_int(ctx->cfg, key, &v);
    if (rc == -ENOENT)
        return 0;
    if (rc < 0)
        return dcvenc_err(err, errlen, -EINVAL, "plugins.%s.%s must be an integer", ctx->desc->name,
                          key);
    if (v < lo || v > hi)
        return dcvenc_err(err, errlen, -EINVAL, "plugins.%s.%s = %lld is outside %lld..%lld",
                          ctx->desc->name, key, (long long)v, (long long)lo, (long long)hi);
    *out = v;
    return 1;
}

int dcvenc_cfg_str(const struct dcvenc_ctx *ctx, const char *key, const char **out, char *err,
                   size_t errlen)
{
    const char *v = NULL;
    int rc;

    if (!ctx->host.cfg_get_str)
        return 0;
    rc = ctx->host.cfg_get_str(ctx->cfg, key, &v);
    if (rc == -ENOENT)
        return 0;
    if (rc < 0 || !v)
        return dcvenc_err(err, errlen, -EINVAL, "plugins.%s.%s must be a string", ctx->desc->name,
                          key);
    *out = v;
    return 1;
}

static int read_config(struct dcvenc_ctx *ctx, char *err, size_t errlen)
{
    const struct dcvenc_desc *d = ctx->desc;
    int64_t v;
    const char *s;
    int rc;

    if ((rc = dcvenc_cfg_int(ctx, "threads", 0, 1024, &v, err, errlen)) < 0)
        return rc;
    if (rc)
        ctx->opts.threads = (uint32_t)v;
    if ((rc = dcvenc_cfg_int(ctx, "max_sessions", 0, 65535, &v, err, errlen)) < 0)
        return rc;
    if (rc) {
        ctx->max_sessions = (uint32_t)v;
        ctx->has_max_sessions = 1;
    }
    if (d->cfg_tune) {
        char msg[256];
        if ((rc = dcvenc_cfg_str(ctx, "tune", &s, err, errlen)) < 0)
            return rc;
        if (rc && dcvenc_check_tune(d->family, s, msg, sizeof msg) < 0)
            return dcvenc_err(err, errlen, -EINVAL, "plugins.%s.tune: %s", d->name, msg);
        if (rc)
            ctx->opts.tune = s;
    }
    if (d->cfg_device) {
        if ((rc = dcvenc_cfg_str(ctx, "device", &s, err, errlen)) < 0)
            return rc;
        if (rc && s[0] != '/')
            return dcvenc_err(err, errlen, -EINVAL,
                              "plugins.%s.device = \"%s\" is not a device path "
                              "(e.g. \"/dev/dri/renderD128\")",
                              d->name, s);
        if (rc)
            ctx->device = s;
    }
    if (d->params_key) {
        if ((rc = dcvenc_cfg_str(ctx, d->params_key, &s, err, errlen)) < 0)
            return rc;
        if (rc)
            ctx->opts.codec_params = s;
    }
    return 0;
}

int dcvenc_plugin_init(const struct dcvenc_desc *desc, const struct dcv_host_api *host,
                       const struct dcv_config *cfg, void **pctx, char *err, size_t errlen)
{
    struct dcvenc_ctx *ctx;
    int rc;

    if (!pctx)
        return dcvenc_err(err, errlen, -EINVAL, "init: no context pointer");
    ctx = calloc(1, sizeof *ctx);
    if (!ctx)
        return dcvenc_err(err, errlen, -ENOMEM, "out of memory");
    ctx->desc = desc;
    ctx->cfg = cfg;
    /* Fields of a host built for an older minor read as NULL/0. */
    if (host && host->struct_size) {
        size_t n = host->struct_size < sizeof ctx->host ? host->struct_size : sizeof ctx->host;
        memcpy(&ctx->host, host, n);
    }
    if ((rc = read_config(ctx, err, errlen)) < 0) {
        free(ctx);
        return rc;
    }
    dcvenc_log(ctx, DCV_LOG_DEBUG, "threads=%u%s%s%s%s max_sessions=%s", ctx->opts.threads,
               ctx->opts.tune ? " tune=" : "", ctx->opts.tune ? ctx->opts.tune : "",
               ctx->opts.codec_params ? " params=" : "",
               ctx->opts.codec_params ? ctx->opts.codec_params : "",
               ctx->has_max_sessions ? "configured" : "default");
    *pctx = ctx;
    return 0;
}

void dcvenc_plugin_fini(void *pctx)
{
    struct dcvenc_ctx *ctx = pctx;

    if (!ctx)
        return;
    if (ctx->desc->fini)
        ctx->desc->fini(ctx);
    free(ctx->probed);
    free(ctx);
}

void dcvenc_apply_session_config(const struct dcvenc_ctx *ctx, struct dcv_device_caps *caps,
                                 uint32_t scope)
{
    if (!ctx->has_max_sessions)
        return;
    caps->max_sessions = ctx->max_sessions;
    caps->max_sessions_scope = ctx->max_sessions ? scope : DCV_SCOPE_UNLIMITED;
    caps->max_sessions_source = DCV_LIMIT_CONFIG;
}

/* One "cpu" device offering every codec whose encoder this FFmpeg has. */
static int sw_probe(struct dcvenc_ctx *ctx, uint32_t index, struct dcv_device_caps *caps)
{
    const struct dcvenc_desc *d = ctx->desc;
    char missing[128] = "";

    if (index > 0)
        return 0;
    caps->hw_type = DCV_HW_NONE;
    dcvenc_strlcpy(caps->device_id, "cpu", sizeof caps->device_id);
    for (const struct dcvenc_codec_desc *c = d->codecs; c->codec; c++) {
        struct dcv_codec_caps *cc = &caps->codecs[caps->n_codecs];
        if (caps->n_codecs >= DCV_MAX_CODECS)
            break;
        if (dcvenc_codec_caps(cc, d->family, c->codec, c->encoder, c->max_width, c->max_height) <
                0 ||
            cc->pix_fmts[0] < 0) {
            size_t used = strlen(missing);
            snprintf(missing + used, sizeof missing - used, "%s%s", used ? ", " : "", c->encoder);
            memset(cc, 0, sizeof *cc);
            continue;
        }
        if (cc->bit_depths & (1u << 10))
            caps->flags |= DCV_CAP_TEN_BIT;
        caps->n_codecs++;
    }
    snprintf(caps->device_name, sizeof caps->device_name, "%s (CPU)",
             caps->n_codecs ? caps->codecs[0].encoder : d->codecs[0].encoder);
    if (caps->n_codecs)
        caps->flags |= DCV_CAP_AVAILABLE;
    else
        dcvenc_caps_unavailable(caps, "%s missing from this FFmpeg build", missing);
    dcvenc_apply_session_config(ctx, caps, DCV_SCOPE_PER_HOST);
    return 1;
}

/* The plugin's probe for one index, remembered for open(). */
static int probe_full(struct dcvenc_ctx *ctx, uint32_t index, struct dcv_device_caps *full)
{
    int rc;

    dcvenc_caps_init(full);
    rc = ctx->desc->probe ? ctx->desc->probe(ctx, index, full) : sw_probe(ctx, index, full);
    if (rc < 0)
        return rc;
    if (rc > 0 && !(full->flags & DCV_CAP_AVAILABLE) && !full->unavailable_reason[0])
        dcvenc_strlcpy(full->unavailable_reason, "unavailable (no reason given)",
                       sizeof full->unavailable_reason);
    if (ctx->desc->probe && index < CACHED_DEVICES &&
        (ctx->probed || (ctx->probed = calloc(1, sizeof *ctx->probed)))) {
        ctx->probed->state[index] = rc > 0 ? 1 : 2;
        if (rc > 0)
            ctx->probed->caps[index] = *full;
    }
    return rc;
}

static int op_probe(void *pctx, uint32_t index, struct dcv_device_caps *out)
{
    struct dcvenc_ctx *ctx = pctx;
    struct dcv_device_caps full;
    int rc;

    if (!ctx || !out || !DCV_HAS_FIELD(out, struct dcv_device_caps, unavailable_reason))
        return -EINVAL;
    rc = probe_full(ctx, index, &full);
    if (rc <= 0)
        return rc;
    return dcvenc_caps_out(out, &full);
}

static const struct dcvenc_codec_desc *find_codec(const struct dcvenc_desc *d, const char *codec)
{
    for (const struct dcvenc_codec_desc *c = d->codecs; c->codec; c++)
        if (strcmp(c->codec, codec) == 0)
            return c;
    return NULL;
}

static int hw_open(struct dcvenc_ctx *ctx, const struct dcv_enc_params *p,
                   struct dcvenc_session **out, char *err, size_t errlen);
static int sw_open(struct dcvenc_ctx *ctx, const struct dcv_enc_params *p,
                   struct dcvenc_session **out, char *err, size_t errlen);

static int op_open(void *pctx, const struct dcv_enc_params *p, void **session, char *err,
                   size_t errlen)
{
    struct dcvenc_ctx *ctx = pctx;
    const struct dcvenc_desc *d;
    struct dcv_enc_params prm;
    struct dcvenc_session *s = NULL;
    int rc;

    if (!ctx || !p || !session)
        return dcvenc_err(err, errlen, -EINVAL, "open: NULL argument");
    d = ctx->desc;
    /* Size-checked copy: every field we read exists in ABI 1.0, so a
     * smaller struct is not a dcv_enc_params at all. */
    if (p->struct_size < offsetof(struct dcv_enc_params, reserved))
        return dcvenc_err(err, errlen, -EINVAL, "params struct_size %u is below ABI 1.0's %zu",
                          p->struct_size, offsetof(struct dcv_enc_params, reserved));
    memset(&prm, 0, sizeof prm);
    memcpy(&prm, p, p->struct_size < sizeof prm ? p->struct_size : sizeof prm);
    if (!memchr(prm.codec, '\0', sizeof prm.codec))
        return dcvenc_err(err, errlen, -EINVAL, "codec name is not terminated");

    if (d->hw_setup)
        rc = hw_open(ctx, &prm, &s, err, errlen);
    else
        rc = sw_open(ctx, &prm, &s, err, errlen);
    if (rc < 0)
        return rc;
    dcvenc_session_set_owner(s, ctx);
    ctx->sessions++;
    *session = s;
    return 0;
}

static int sessions_full(const struct dcvenc_ctx *ctx, char *err, size_t errlen)
{
    if (ctx->has_max_sessions && ctx->max_sessions && ctx->sessions >= ctx->max_sessions)
        return dcvenc_err(err, errlen, -EBUSY,
                          "%s: %u of %u sessions in use (plugins.%s.max_sessions)", ctx->desc->name,
                          ctx->sessions, ctx->max_sessions, ctx->desc->name);
    return 0;
}

/* A bare session's answer as dcvenc_hw_open_errno()'s hint: refused the
 * way a full device refuses (1), opened (0), failed otherwise (-1). */
static int bare_hint(int averr)
{
    if (averr == 0)
        return 0;
    return averr == AVERROR(EINVAL) || averr == AVERROR(ENOMEM) ? 1 : -1;
}

/*
 * A hardware plugin's open: the probe's entry for the device (remembered,
 * else probed now) must be AVAILABLE and offer the codec; the plugin says
 * where to encode (hw_setup); a failure of the device to open the encoder
 * is mapped to -EBUSY where it means "full" (hwopen.h).
 */
static int hw_open(struct dcvenc_ctx *ctx, const struct dcv_enc_params *p,
                   struct dcvenc_session **out, char *err, size_t errlen)
{
    const struct dcvenc_desc *d = ctx->desc;
    struct dcv_device_caps probed;
    const struct dcv_device_caps *caps = NULL;
    const struct dcv_codec_caps *cc = NULL;
    struct dcvenc_hwsetup hw;
    char msg[512], list[96] = "";
    int rc, averr = 0;

    if (p->device_index < CACHED_DEVICES && ctx->probed && ctx->probed->state[p->device_index]) {
        if (ctx->probed->state[p->device_index] == 1)
            caps = &ctx->probed->caps[p->device_index];
    } else {
        rc = probe_full(ctx, p->device_index, &probed);
        if (rc < 0)
            return dcvenc_err(err, errlen, rc, "%s: probing device %u failed", d->name,
                              p->device_index);
        if (rc > 0)
            caps = &probed;
    }
    if (!caps)
        return dcvenc_err(err, errlen, -ENODEV, "%s has no device %u", d->name, p->device_index);
    if (!(caps->flags & DCV_CAP_AVAILABLE))
        return dcvenc_err(err, errlen, -ENODEV, "%s: %s", d->name, caps->unavailable_reason);
    for (uint32_t i = 0; i < caps->n_codecs && !cc; i++) {
        size_t used = strlen(list);
        if (strcmp(caps->codecs[i].codec, p->codec) == 0)
            cc = &caps->codecs[i];
        snprintf(list + used, sizeof list - used, "%s%s", used ? ", " : "", caps->codecs[i].codec);
    }
    if (!cc)
        return dcvenc_err(err, errlen, -ENOTSUP, "%s on %s encodes %s, not '%s'", d->name,
                          caps->device_name, list, p->codec);
    if ((rc = sessions_full(ctx, err, errlen)) < 0)
        return rc;
    memset(&hw, 0, sizeof hw);
    hw.hw_fmt = -1;
    if ((rc = d->hw_setup(ctx, p, caps, &hw, err, errlen)) < 0)
        return rc;
    rc = dcvenc_session_open(d->family, cc, &ctx->opts, p, &hw, out, &averr, msg, sizeof msg);
    if (rc < 0 && averr) {
        int hint = -1;
        if (d->open_hint)
            hint = d->open_hint(ctx, &hw, cc, p, averr);
        else if (dcvenc_hw_open_needs_bare(cc->encoder, averr))
            hint = bare_hint(dcvenc_hw_bare_open(hw.device, cc->encoder, -1));
        rc = dcvenc_hw_open_errno(cc->encoder, averr, hint, msg, err, errlen);
        dcvenc_log(ctx, DCV_LOG_DEBUG, "open %s on %s: %s", cc->encoder, caps->device_id, err);
    } else if (rc < 0) {
        dcvenc_err(err, errlen, rc, "%s", msg);
    }
    av_buffer_unref(&hw.device);
    return rc;
}

static int sw_open(struct dcvenc_ctx *ctx, const struct dcv_enc_params *p,
                   struct dcvenc_session **out, char *err, size_t errlen)
{
    const struct dcvenc_desc *d = ctx->desc;
    const struct dcvenc_codec_desc *cd;
    struct dcv_codec_caps cc;
    struct dcv_enc_params prm = *p;
    int rc;

    if (prm.device_index != 0)
        return dcvenc_err(err, errlen, -ENODEV, "%s has one device (index 0), not %u", d->name,
                          prm.device_index);
    cd = find_codec(d, prm.codec);
    if (!cd) {
        char list[96] = "";
        for (const struct dcvenc_codec_desc *c = d->codecs; c->codec; c++) {
            size_t used = strlen(list);
            snprintf(list + used, sizeof list - used, "%s%s", used ? ", " : "", c->codec);
        }
        return dcvenc_err(err, errlen, -ENOTSUP, "%s encodes %s, not '%s'", d->name, list,
                          prm.codec);
    }
    if (dcvenc_codec_caps(&cc, d->family, cd->codec, cd->encoder, cd->max_width, cd->max_height) <
        0)
        return dcvenc_err(err, errlen, -ENOTSUP, "%s missing from this FFmpeg build", cd->encoder);
    if ((rc = sessions_full(ctx, err, errlen)) < 0)
        return rc;
    /* Software encoders take no hardware frames: the checks refuse them. */
    return dcvenc_session_open(d->family, &cc, &ctx->opts, &prm, NULL, out, NULL, err, errlen);
}

static void op_close(void *session)
{
    struct dcvenc_session *s = session;
    struct dcvenc_ctx *ctx;

    if (!s)
        return;
    ctx = dcvenc_session_owner(s);
    if (ctx && ctx->sessions)
        ctx->sessions--;
    dcvenc_session_close(s);
}

static int op_stream_params(void *session, struct AVCodecParameters *par,
                            struct dcv_rational *time_base)
{
    return dcvenc_session_stream_params(session, par, time_base);
}

static int op_send(void *session, const struct AVFrame *frame)
{
    return dcvenc_session_send(session, frame);
}

static int op_receive(void *session, struct AVPacket *pkt)
{
    return dcvenc_session_receive(session, pkt);
}

static const char *op_last_error(void *session)
{
    return dcvenc_session_error(session);
}

const struct dcv_encoder_ops dcvenc_encoder_ops = {
    .struct_size = sizeof(struct dcv_encoder_ops),
    .probe = op_probe,
    .open = op_open,
    .get_stream_params = op_stream_params,
    .send_frame = op_send,
    .receive_packet = op_receive,
    .close = op_close,
    .last_error = op_last_error,
    .reconfigure = NULL, /* no DCV_CAP_DYN_BITRATE yet */
};
