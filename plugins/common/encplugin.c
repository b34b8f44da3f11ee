#include "encplugin.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "enccaps.h"
#include "encsession.h"
#include "encutil.h"

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

static int op_probe(void *pctx, uint32_t index, struct dcv_device_caps *out)
{
    struct dcvenc_ctx *ctx = pctx;
    struct dcv_device_caps full;
    int rc;

    if (!ctx || !out || !DCV_HAS_FIELD(out, struct dcv_device_caps, unavailable_reason))
        return -EINVAL;
    dcvenc_caps_init(&full);
    rc = ctx->desc->probe ? ctx->desc->probe(ctx, index, &full) : sw_probe(ctx, index, &full);
    if (rc <= 0)
        return rc;
    if (!(full.flags & DCV_CAP_AVAILABLE) && !full.unavailable_reason[0])
        dcvenc_strlcpy(full.unavailable_reason, "unavailable (no reason given)",
                       sizeof full.unavailable_reason);
    return dcvenc_caps_out(out, &full);
}

int dcvenc_hw_open_gate(struct dcvenc_ctx *ctx, const struct dcv_enc_params *p, char *err,
                        size_t errlen)
{
    struct dcv_device_caps caps;
    int rc;

    dcvenc_caps_init(&caps);
    rc = ctx->desc->probe(ctx, p->device_index, &caps);
    if (rc < 0)
        return dcvenc_err(err, errlen, rc, "%s: probing device %u failed", ctx->desc->name,
                          p->device_index);
    if (rc == 0)
        return dcvenc_err(err, errlen, -ENODEV, "%s has no device %u", ctx->desc->name,
                          p->device_index);
    if (caps.n_codecs == 0)
        return dcvenc_err(err, errlen, -ENODEV, "%s: %s", ctx->desc->name,
                          caps.unavailable_reason[0] ? caps.unavailable_reason : "no device");
    /* Hardware is there, but frames must be uploaded into a hardware frames
     * context first; that path arrives with the hardware-encoders work, and
     * opening the encoder with system-memory frames here would only pretend. */
    return dcvenc_err(err, errlen, -ENOTSUP,
                      "%s: %s found, but the hardware encode path arrives with the "
                      "hardware-encoders work",
                      ctx->desc->name, caps.device_name[0] ? caps.device_name : "hardware");
}

static const struct dcvenc_codec_desc *find_codec(const struct dcvenc_desc *d, const char *codec)
{
    for (const struct dcvenc_codec_desc *c = d->codecs; c->codec; c++)
        if (strcmp(c->codec, codec) == 0)
            return c;
    return NULL;
}

static int op_open(void *pctx, const struct dcv_enc_params *p, void **session, char *err,
                   size_t errlen)
{
    struct dcvenc_ctx *ctx = pctx;
    const struct dcvenc_desc *d;
    const struct dcvenc_codec_desc *cd;
    struct dcv_enc_params prm;
    struct dcv_codec_caps cc;
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

    if (d->open_gate)
        return d->open_gate(ctx, &prm, err, errlen);
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
    if (ctx->has_max_sessions && ctx->max_sessions && ctx->sessions >= ctx->max_sessions)
        return dcvenc_err(err, errlen, -EBUSY,
                          "%s: %u of %u sessions in use (plugins.%s.max_sessions)", d->name,
                          ctx->sessions, ctx->max_sessions, d->name);
    rc = dcvenc_session_open(d->family, &cc, &ctx->opts, &prm, &s, err, errlen);
    if (rc < 0)
        return rc;
    dcvenc_session_set_owner(s, ctx);
    ctx->sessions++;
    *session = s;
    return 0;
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
