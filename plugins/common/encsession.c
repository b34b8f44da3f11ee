#include "encsession.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <libavcodec/avcodec.h>
#include <libavutil/dict.h>
#include <libavutil/frame.h>
#include <libavutil/hwcontext.h>
#include <libavutil/opt.h>
#include <libavutil/pixdesc.h>

#include "enccaps.h"
#include "encutil.h"
#include "hwframes.h"

struct dcvenc_session {
    AVCodecContext *ctx;
    AVFrame *ref; /* scratch reference, see dcvenc_session_send */
    void *owner;
    int draining;
    int hw;                    /* frames go through hwf */
    struct dcvenc_hwframes hwf;
    char err[512];
};

static const char *const chroma_names[] = {"4:2:0", "4:2:2", "4:4:4"};

int dcvenc_check_params(const struct dcv_enc_params *p, const struct dcv_codec_caps *cc, char *err,
                        size_t errlen)
{
    const AVPixFmtDescriptor *d;
    char list[256], nbuf[32];
    unsigned depth;
    int chroma, cw, ch;

    if (!memchr(p->codec, '\0', sizeof p->codec) || !memchr(p->encoder, '\0', sizeof p->encoder))
        return dcvenc_err(err, errlen, -EINVAL, "codec or encoder name is not terminated");
    if (strcmp(p->codec, cc->codec) != 0)
        return dcvenc_err(err, errlen, -ENOTSUP, "%s encodes %s, not '%s'", cc->encoder, cc->codec,
                          p->codec);
    if (p->encoder[0] && strcmp(p->encoder, cc->encoder) != 0)
        return dcvenc_err(err, errlen, -ENOTSUP, "encoder '%s' is not offered here (%s is)",
                          p->encoder, cc->encoder);
    if (p->width <= 0 || p->height <= 0)
        return dcvenc_err(err, errlen, -EINVAL, "frame size %dx%d is not positive", p->width,
                          p->height);
    if ((cc->max_width && (uint32_t)p->width > cc->max_width) ||
        (cc->max_height && (uint32_t)p->height > cc->max_height))
        return dcvenc_err(err, errlen, -ENOTSUP, "%dx%d exceeds %s's maximum %ux%u", p->width,
                          p->height, cc->encoder, cc->max_width, cc->max_height);
    if (dcvenc_pix_fmt_info(p->pix_fmt, &depth, &chroma) < 0)
        return dcvenc_err(err, errlen, -EINVAL, "pix_fmt %d is not a pixel format", p->pix_fmt);
    if (!dcvenc_caps_has_pix_fmt(cc, p->pix_fmt)) {
        dcvenc_caps_pix_fmt_list(cc, list, sizeof list);
        return dcvenc_err(err, errlen, -ENOTSUP, "%s does not take %s frames here (it takes %s)",
                          cc->encoder, dcvenc_pix_fmt_name(p->pix_fmt, nbuf, sizeof nbuf), list);
    }
    d = av_pix_fmt_desc_get((enum AVPixelFormat)p->pix_fmt);
    cw = 1 << d->log2_chroma_w;
    ch = 1 << d->log2_chroma_h;
    if (p->width % cw || p->height % ch)
        return dcvenc_err(err, errlen, -EINVAL,
                          "%dx%d: %s (%s chroma) needs a width that is a multiple of %d and a "
                          "height that is a multiple of %d",
                          p->width, p->height, d->name, chroma >= 0 ? chroma_names[chroma] : "?",
                          cw, ch);
    if (p->bit_depth && p->bit_depth != depth)
        return dcvenc_err(err, errlen, -EINVAL, "bit_depth %u does not match %s (%u-bit)",
                          p->bit_depth, d->name, depth);
    return 0;
}

/* An encoder private option's value, or def when it has none. */
static int priv_int(AVCodecContext *ctx, const char *name, int def)
{
    int64_t v;

    if (!ctx->priv_data || av_opt_get_int(ctx->priv_data, name, 0, &v) < 0)
        return def;
    return v < 0 || v > 1000 ? def : (int)v;
}

/* The frames of a hardware session: our own pool (sized for the options
 * the encoder now has) or the host's, then the encoder's hw_frames_ctx. */
static int setup_hw_frames(struct dcvenc_session *s, const struct dcvenc_hwsetup *hw,
                           const struct dcv_enc_params *p, int sw_fmt, int *averr, char *err,
                           size_t errlen)
{
    AVCodecContext *ctx = s->ctx;
    int pool = hw->pool_size, rc;

    if (pool < 0) {
        int la = priv_int(ctx, "look_ahead_depth", -1);
        if (la < 0)
            la = priv_int(ctx, "rc-lookahead", -1);
        pool = dcvenc_hw_pool_size(ctx->max_b_frames, priv_int(ctx, "async_depth", -1), la);
    }
    rc = dcvenc_hwframes_init(&s->hwf, hw->device, hw->frames, hw->hw_fmt, sw_fmt, p->width,
                              p->height, pool, err, errlen);
    if (rc < 0) {
        /* Only the device's own refusal counts for the -EBUSY mapping. */
        if (averr && rc == -ENOMEM)
            *averr = AVERROR(ENOMEM);
        return rc;
    }
    s->hw = 1;
    ctx->pix_fmt = (enum AVPixelFormat)hw->hw_fmt;
    if (!(ctx->hw_frames_ctx = av_buffer_ref(s->hwf.frames)))
        return dcvenc_err(err, errlen, -ENOMEM, "out of memory");
    return 0;
}

int dcvenc_session_open(const struct dcvenc_family *fam, const struct dcv_codec_caps *cc,
                        const struct dcvenc_opts *o, const struct dcv_enc_params *p,
                        const struct dcvenc_hwsetup *hw, struct dcvenc_session **out,
                        int *averr, char *err, size_t errlen)
{
    const AVCodec *codec;
    AVCodecContext *ctx = NULL;
    AVDictionary *opts = NULL;
    struct dcvenc_session *s = NULL;
    struct dcv_enc_params sw = *p;
    char msg[384], ebuf[128], nbuf[32];
    int rc, ret;

    if (averr)
        *averr = 0;
    if (hw && hw->frames) {
        /* Zero copy: the checks and the mapping are about the content. */
        if (!hw->device || hw->hw_fmt < 0 || p->pix_fmt != hw->hw_fmt)
            return dcvenc_err(err, errlen, -EINVAL,
                              "hardware frames need a device and pix_fmt %s (got %s)",
                              dcvenc_pix_fmt_name(hw->hw_fmt, nbuf, sizeof nbuf),
                              dcvenc_pix_fmt_name(p->pix_fmt, msg, sizeof msg));
        sw.pix_fmt = p->sw_pix_fmt;
    }
    if ((rc = dcvenc_check_params(&sw, cc, err, errlen)) < 0)
        return rc;
    codec = avcodec_find_encoder_by_name(cc->encoder);
    if (!codec)
        return dcvenc_err(err, errlen, -ENOTSUP, "%s missing from this FFmpeg build", cc->encoder);
    ctx = avcodec_alloc_context3(codec);
    s = calloc(1, sizeof *s);
    if (s)
        s->ref = av_frame_alloc();
    if (!ctx || !s || !s->ref) {
        rc = dcvenc_err(err, errlen, -ENOMEM, "out of memory opening %s", cc->encoder);
        goto fail;
    }
    s->ctx = ctx;

    rc = dcvenc_map(fam, &sw, o, ctx, &opts, msg, sizeof msg);
    if (rc < 0) {
        av_dict_free(&opts);
        rc = dcvenc_err(err, errlen, rc, "%s", msg);
        goto fail;
    }
    /* A failure here is a table that does not fit this FFmpeg's encoder. */
    if ((rc = dcvenc_apply_opts(ctx, &opts, "mapped options", err, errlen)) < 0)
        goto fail;
    if ((rc = dcvenc_parse_kv(p->extra_opts, &opts, msg, sizeof msg)) < 0) {
        av_dict_free(&opts);
        rc = dcvenc_err(err, errlen, rc, "extra_opts: %s", msg);
        goto fail;
    }
    if ((rc = dcvenc_apply_opts(ctx, &opts, "extra_opts", err, errlen)) < 0)
        goto fail;

    if (hw && hw->device && hw->hw_fmt >= 0) {
        if ((rc = setup_hw_frames(s, hw, p, sw.pix_fmt, averr, err, errlen)) < 0)
            goto fail;
    } else if (hw && hw->device && !(ctx->hw_device_ctx = av_buffer_ref(hw->device))) {
        rc = dcvenc_err(err, errlen, -ENOMEM, "out of memory");
        goto fail;
    }

    ret = avcodec_open2(ctx, codec, NULL);
    if (ret < 0) {
        if (averr)
            *averr = ret;
        rc = dcvenc_averror(ret);
        if (rc == -ENODATA || rc == -EAGAIN)
            rc = -EIO;
        dcvenc_err(err, errlen, rc, "cannot open %s for %dx%d %s: %s", cc->encoder, p->width,
                   p->height, dcvenc_pix_fmt_name(sw.pix_fmt, nbuf, sizeof nbuf),
                   dcvenc_av_strerror(ret, ebuf, sizeof ebuf));
        goto fail;
    }
    *out = s;
    return 0;

fail:
    dcvenc_session_close(s);
    if (!s)
        avcodec_free_context(&ctx);
    return rc;
}

int dcvenc_session_stream_params(struct dcvenc_session *s, struct AVCodecParameters *par,
                                 struct dcv_rational *time_base)
{
    char ebuf[128];
    int ret;

    if (!s || !par)
        return -EINVAL;
    ret = avcodec_parameters_from_context(par, s->ctx);
    if (ret < 0)
        return dcvenc_err(s->err, sizeof s->err, dcvenc_averror(ret),
                          "avcodec_parameters_from_context: %s",
                          dcvenc_av_strerror(ret, ebuf, sizeof ebuf));
    if (time_base)
        *time_base = (struct dcv_rational){s->ctx->time_base.num, s->ctx->time_base.den};
    return 0;
}

/* avcodec_send_frame()'s answer in the ABI's terms. */
static int send_result(struct dcvenc_session *s, int ret)
{
    char ebuf[128];

    if (ret == AVERROR(EAGAIN))
        return -EAGAIN;
    if (ret < 0) {
        int rc = dcvenc_averror(ret);
        /* EOF from send means "already flushed", a caller error, not the end. */
        return dcvenc_err(s->err, sizeof s->err, rc == -ENODATA ? -EINVAL : rc, "%s: %s",
                          s->ctx->codec->name, dcvenc_av_strerror(ret, ebuf, sizeof ebuf));
    }
    return 0;
}

/* A frame of a hardware session: onto the device (upload, or a reference
 * when it is there already), then to the encoder. s->ref holds it only
 * for the call: the encoder takes its own reference. */
static int send_hw(struct dcvenc_session *s, const AVFrame *frame)
{
    char msg[384];
    int rc;

    rc = dcvenc_hwframes_get(&s->hwf, frame, s->ref, msg, sizeof msg);
    if (rc < 0)
        return dcvenc_err(s->err, sizeof s->err, rc, "%s: %s", s->ctx->codec->name, msg);
    s->ref->pict_type = AV_PICTURE_TYPE_NONE;
#if LIBAVCODEC_VERSION_MAJOR < 60
    s->ref->reordered_opaque = 0; /* see dcvenc_session_send */
#endif
    rc = send_result(s, avcodec_send_frame(s->ctx, s->ref));
    av_frame_unref(s->ref);
    return rc;
}

int dcvenc_session_send(struct dcvenc_session *s, const AVFrame *frame)
{
    char ebuf[128], nbuf[32];
    int ret;

    if (!s)
        return -EINVAL;
    if (frame) {
        if (s->draining)
            return dcvenc_err(s->err, sizeof s->err, -EINVAL, "frame sent after draining started");
        if (s->hw)
            return send_hw(s, frame);
        /* One comparison per frame keeps a mismatched frame from being read
         * with the wrong layout by the encoder. */
        if (frame->format != s->ctx->pix_fmt || frame->width != s->ctx->width ||
            frame->height != s->ctx->height)
            return dcvenc_err(s->err, sizeof s->err, -EINVAL,
                              "frame %dx%d %s does not match the session's %dx%d %s", frame->width,
                              frame->height, dcvenc_pix_fmt_name(frame->format, nbuf, sizeof nbuf),
                              s->ctx->width, s->ctx->height, av_get_pix_fmt_name(s->ctx->pix_fmt));
    } else if (s->draining) {
        return 0; /* draining twice is harmless */
    }
#if LIBAVCODEC_VERSION_MAJOR < 60
    /* Decoders stamp reordered_opaque = AV_NOPTS_VALUE on every frame, and
     * FFmpeg 5.x's libx265 wrapper then av_malloc()s a copy per frame that
     * it frees only when that frame's packet comes out: closing mid-stream
     * (a cancelled job) leaks one per frame in x265's lookahead. We never
     * use the field, so hand the encoder a reference with it cleared (a
     * refcount bump, no pixel copy). */
    if (frame && frame->reordered_opaque) {
        if ((ret = av_frame_ref(s->ref, frame)) < 0)
            return dcvenc_err(s->err, sizeof s->err, dcvenc_averror(ret), "av_frame_ref: %s",
                              dcvenc_av_strerror(ret, ebuf, sizeof ebuf));
        s->ref->reordered_opaque = 0;
        ret = avcodec_send_frame(s->ctx, s->ref);
        av_frame_unref(s->ref);
    } else
#endif
        ret = avcodec_send_frame(s->ctx, frame);
    if ((ret = send_result(s, ret)) < 0)
        return ret;
    if (!frame)
        s->draining = 1;
    return 0;
}

int dcvenc_session_receive(struct dcvenc_session *s, AVPacket *pkt)
{
    char ebuf[128];
    int ret;

    if (!s || !pkt)
        return -EINVAL;
    ret = avcodec_receive_packet(s->ctx, pkt);
    if (ret == 0)
        return 0;
    if (ret == AVERROR(EAGAIN))
        return -EAGAIN;
    if (ret == AVERROR_EOF)
        return -ENODATA;
    return dcvenc_err(s->err, sizeof s->err, dcvenc_averror(ret), "%s: %s", s->ctx->codec->name,
                      dcvenc_av_strerror(ret, ebuf, sizeof ebuf));
}

const char *dcvenc_session_error(const struct dcvenc_session *s)
{
    return s ? s->err : "no session";
}

void dcvenc_session_set_owner(struct dcvenc_session *s, void *owner)
{
    s->owner = owner;
}

void *dcvenc_session_owner(const struct dcvenc_session *s)
{
    return s->owner;
}

void dcvenc_session_close(struct dcvenc_session *s)
{
    if (!s)
        return;
    avcodec_free_context(&s->ctx);
    av_frame_free(&s->ref);
    dcvenc_hwframes_free(&s->hwf);
    free(s);
}
