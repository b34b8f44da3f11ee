/*
 * The per-encoder mapping tables. docs/plugin-abi.md reproduces them; keep
 * the two in step.
 *
 * Portable preset scale (1 fastest ... 7 slowest and best compression,
 * 0 = 4):
 *
 *   step   x264/x265   nvenc  vaapi (compression_level)  qsv        vtb
 *   1      ultrafast   p1     7                          veryfast   realtime=1
 *   2      veryfast    p2     6                          faster     realtime=1
 *   3      faster      p3     5                          fast       -
 *   4      medium      p4     4                          medium     -
 *   5      slow        p5     3                          slow       -
 *   6      slower      p6     2                          slower     -
 *   7      veryslow    p7     1                          veryslow   -
 *
 * VAAPI's compression_level is the driver's quality level (Intel iHD: 1 best
 * ... 7 fastest, default 4), hence the reversed column; drivers with fewer
 * levels clamp, Mesa (AMD) ignores it. VideoToolbox has no speed preset:
 * steps 1-2 ask for real-time encoding, the rest leave Apple's default.
 *
 * Rate control (Q = dcv_enc_params.quality; bitrates in kbit/s * 1000;
 * bufsize defaults: VBR 2 s of maxrate, CBR 1 s of the bitrate):
 *
 *   x264   crf  crf=Q (0..51), b=0       cqp  qp=Q (0..51, 10-bit 0..63)
 *          vbr  b [maxrate bufsize]      cbr  b=maxrate, bufsize, nal-hrd=cbr
 *   x265   crf  crf=Q (0..51), b=0       cqp  qp=Q (0..51)
 *          vbr  b [maxrate bufsize]      cbr  b=maxrate, bufsize,
 *                                             x265-params strict-cbr=1
 *   nvenc  crf  rc=vbr cq=Q b=0          cqp  rc=constqp qp=Q
 *               (1..51; av1 1..63)            (0..51; av1 0..255)
 *          vbr  rc=vbr b [maxrate ...]   cbr  rc=cbr b=maxrate bufsize
 *   vaapi  crf  global_quality=Q, b=0,   cqp  rc_mode=CQP global_quality=Q
 *               rc_mode auto: ICQ, else       (0..52; vp9/av1 0..255)
 *               CQP (1..51; vp9/av1 1..255)
 *          vbr  rc_mode=VBR b [maxrate]  cbr  rc_mode=CBR b=maxrate bufsize
 *   qsv    crf  global_quality=Q (ICQ,   cqp  -q:v Q (QSCALE flag,
 *               1..51)                        global_quality=Q*FF_QP2LAMBDA)
 *          vbr  b [maxrate bufsize]      cbr  b=maxrate bufsize (FFmpeg's
 *                                             qsvenc picks CBR then)
 *   vtb    crf  -q:v Q (1..100, higher   cqp  unsupported (-ENOTSUP)
 *               is better; Apple Silicon)
 *          vbr  b [maxrate bufsize]      cbr  b + constant_bit_rate=1
 *                                             (FFmpeg 6+, macOS 13+)
 * default (rc_mode 0) leaves the encoder's own mode (x264/x265: crf 23/28).
 *
 * 10-bit input without an explicit profile gets the first profile of the
 * family's table that carries it: x264 high10/high422/high444 (by chroma),
 * x265 main10/main422-10/main444-10, nvenc/vaapi/qsv/vtb hevc main10,
 * av1 main; h264 10-bit only where the encoder has high10 (x264; NVENC in
 * FFmpeg 7.1+). An explicit profile is checked against the table (name,
 * bit depth, chroma) and against the encoder's own option constants.
 *
 * Low latency: x264/x265 tune zerolatency; nvenc tune=ll zerolatency=1;
 * vaapi and qsv async_depth=1; vtb realtime=1. B-frames are off for all.
 * x265 always gets x265-params log-level=error first (x265 logs to stderr
 * on its own, outside FFmpeg's log), then the configured x265_params.
 */
#include "encmap.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <libavcodec/avcodec.h>
#include <libavutil/dict.h>
#include <libavutil/opt.h>

#include "encutil.h"

/* Quality ranges per codec; the entry with codec NULL is the default. */
struct qrange {
    const char *codec;
    double crf_lo, crf_hi; /* DCV_RC_CRF */
    int qp_lo, qp_hi;      /* DCV_RC_CQP, at 8 bits */
};

struct family_priv {
    const struct qrange *ranges;
    int qp_per_extra_bit;     /* x264: its QP scale grows by 6 per bit above 8 */
    const char *quality_name; /* what the crf quality is called in errors: "cq" */
    const char *ll_opt;       /* private option set to 1 for DCV_ENC_LOW_LATENCY */
    const char *params_opt;   /* "x264-params" */
    const char *base_params;  /* always passed first */
    int nal_hrd;              /* CBR through the encoder's nal-hrd option (x264) */
};

static const struct qrange *qrange_for(const struct family_priv *fp, const char *codec)
{
    const struct qrange *r = fp->ranges;

    for (; r->codec; r++)
        if (strcmp(r->codec, codec) == 0)
            return r;
    return r;
}

static int dset(AVDictionary **d, const char *k, const char *v)
{
    return av_dict_set(d, k, v, 0) < 0 ? -ENOMEM : 0;
}

static int dsetf(AVDictionary **d, const char *k, const char *fmt, ...) DCV_PRINTF(3, 4);
static int dsetf(AVDictionary **d, const char *k, const char *fmt, ...)
{
    char buf[64];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    return dset(d, k, buf);
}

static unsigned pix_depth(const struct dcv_enc_params *p)
{
    unsigned depth = 8;

    dcvenc_pix_fmt_info(p->pix_fmt, &depth, NULL);
    return depth;
}

static int check_crf(const struct dcvenc_family *fam, const struct dcv_enc_params *p,
                     const char *what, char *err, size_t errlen)
{
    const struct qrange *r = qrange_for(fam->priv, p->codec);

    if (p->quality < r->crf_lo || p->quality > r->crf_hi)
        return dcvenc_err(err, errlen, -EINVAL, "%s %g is outside %s's range %g..%g for %s", what,
                          p->quality, fam->name, r->crf_lo, r->crf_hi, p->codec);
    return 0;
}

static int check_qp(const struct dcvenc_family *fam, const struct dcv_enc_params *p, int *qp,
                    char *err, size_t errlen)
{
    const struct family_priv *fp = fam->priv;
    const struct qrange *r = qrange_for(fp, p->codec);
    int hi = r->qp_hi + fp->qp_per_extra_bit * ((int)pix_depth(p) - 8);

    if (p->quality < r->qp_lo || p->quality > hi)
        return dcvenc_err(err, errlen, -EINVAL, "qp %g is outside %s's range %d..%d for %u-bit %s",
                          p->quality, fam->name, r->qp_lo, hi, pix_depth(p), p->codec);
    if (p->quality != floor(p->quality))
        return dcvenc_err(err, errlen, -EINVAL, "qp %g is not a whole number", p->quality);
    *qp = (int)p->quality;
    return 0;
}

/* bit_rate / rc_max_rate / rc_buffer_size for VBR and CBR. */
static int set_bitrates(const struct dcv_enc_params *p, AVCodecContext *ctx, char *err,
                        size_t errlen)
{
    uint64_t buf;

    if (p->bitrate_kbps == 0)
        return dcvenc_err(err, errlen, -EINVAL, "rate control %s needs bitrate_kbps > 0",
                          p->rc_mode == DCV_RC_CBR ? "cbr" : "vbr");
    ctx->bit_rate = (int64_t)p->bitrate_kbps * 1000;
    if (p->rc_mode == DCV_RC_CBR) {
        if (p->maxrate_kbps && p->maxrate_kbps != p->bitrate_kbps)
            return dcvenc_err(err, errlen, -EINVAL,
                              "cbr: maxrate_kbps %u differs from bitrate_kbps %u (leave it 0)",
                              p->maxrate_kbps, p->bitrate_kbps);
        ctx->rc_max_rate = ctx->bit_rate;
        buf = p->bufsize_kbits ? p->bufsize_kbits : p->bitrate_kbps; /* 1 s */
    } else {
        if (p->maxrate_kbps && p->maxrate_kbps < p->bitrate_kbps)
            return dcvenc_err(err, errlen, -EINVAL, "vbr: maxrate_kbps %u is below bitrate_kbps %u",
                              p->maxrate_kbps, p->bitrate_kbps);
        if (p->maxrate_kbps)
            ctx->rc_max_rate = (int64_t)p->maxrate_kbps * 1000;
        buf = p->bufsize_kbits ? p->bufsize_kbits : 2ull * p->maxrate_kbps; /* 2 s */
    }
    if (buf * 1000 > INT_MAX)
        return dcvenc_err(err, errlen, -EINVAL, "bufsize %llu kbit is too large (max %d)",
                          (unsigned long long)buf, INT_MAX / 1000);
    if (buf)
        ctx->rc_buffer_size = (int)(buf * 1000);
    return 0;
}

/*
 * The rate-control checks every family shares, made before its map() sets
 * anything of its own: crf within the family's range, cqp a whole QP within
 * it (stored in *qp), and for vbr/cbr the bitrates, which every family
 * passes the same way (set_bitrates() writes them to ctx). A family that
 * cannot do a mode at all refuses it before calling this.
 */
static int check_rc(const struct dcvenc_family *fam, const struct dcv_enc_params *p,
                    AVCodecContext *ctx, int *qp, char *err, size_t errlen)
{
    const struct family_priv *fp = fam->priv;

    switch (p->rc_mode) {
    case DCV_RC_CRF:
        return check_crf(fam, p, fp->quality_name, err, errlen);
    case DCV_RC_CQP:
        return check_qp(fam, p, qp, err, errlen);
    case DCV_RC_VBR:
    case DCV_RC_CBR:
        return set_bitrates(p, ctx, err, errlen);
    }
    return 0;
}

/* The family's low-latency switch, set last (x264/x265 have none here:
 * their ll_tune is applied with the other tunes). */
static int set_low_latency(const struct dcvenc_family *fam, const struct dcv_enc_params *p,
                           AVDictionary **opts)
{
    const struct family_priv *fp = fam->priv;

    return fp->ll_opt && (p->flags & DCV_ENC_LOW_LATENCY) ? dset(opts, fp->ll_opt, "1") : 0;
}

/* ---------------------------------------------------------------- x26x */

static int map_x26x(const struct dcvenc_family *fam, const struct dcv_enc_params *p,
                    const struct dcvenc_opts *o, AVCodecContext *ctx, AVDictionary **opts,
                    char *err, size_t errlen)
{
    const struct family_priv *fp = fam->priv;
    char params[512] = "";
    int rc, qp = 0;

    if ((rc = check_rc(fam, p, ctx, &qp, err, errlen)) < 0)
        return rc;
    if (fp->base_params)
        dcvenc_strlcpy(params, fp->base_params, sizeof params);
    switch (p->rc_mode) {
    case DCV_RC_CRF:
        ctx->bit_rate = 0; /* a bitrate would turn libx264/libx265 to ABR */
        rc = dsetf(opts, "crf", "%g", p->quality);
        break;
    case DCV_RC_CQP:
        ctx->bit_rate = 0;
        rc = dsetf(opts, "qp", "%d", qp);
        break;
    case DCV_RC_CBR:
        /* x264 signals CBR in the stream (HRD); x265 has no such option in
         * FFmpeg but holds the rate tighter with strict-cbr. */
        if (fp->nal_hrd)
            rc = dset(opts, "nal-hrd", "cbr");
        else
            snprintf(params + strlen(params), sizeof params - strlen(params), "%sstrict-cbr=1",
                     params[0] ? ":" : "");
        break;
    }
    if (rc < 0)
        return rc;
    if (o->codec_params && o->codec_params[0]) {
        size_t used = strlen(params);
        if (used + 1 + strlen(o->codec_params) >= sizeof params)
            return dcvenc_err(err, errlen, -EINVAL, "%s from the configuration is too long",
                              fp->params_opt);
        snprintf(params + used, sizeof params - used, "%s%s", used ? ":" : "", o->codec_params);
    }
    return params[0] ? dset(opts, fp->params_opt, params) : 0;
}

static const char *const x26x_presets[8] = {
    NULL, "ultrafast", "veryfast", "faster", "medium", "slow", "slower", "veryslow",
};

static const struct dcvenc_profile x264_profiles[] = {
    {"h264", "baseline", 1u << 8, 0},
    {"h264", "main", 1u << 8, 0},
    {"h264", "high", 1u << 8, 0},
    {"h264", "high10", (1u << 8) | (1u << 10), 0},
    {"h264", "high422", (1u << 8) | (1u << 10), 1},
    {"h264", "high444", (1u << 8) | (1u << 10), 2},
    {NULL, NULL, 0, 0},
};

static const char *const x264_tunes[] = {
    "film", "animation", "grain", "stillimage", "psnr", "ssim", "fastdecode", "zerolatency", NULL,
};

static const int32_t x264_fmts[] = {
    AV_PIX_FMT_YUV420P,     AV_PIX_FMT_YUV420P10LE, AV_PIX_FMT_NV12,        AV_PIX_FMT_YUV422P,
    AV_PIX_FMT_YUV422P10LE, AV_PIX_FMT_YUV444P,     AV_PIX_FMT_YUV444P10LE, -1,
};

static const struct qrange x264_ranges[] = {{NULL, 0, 51, 0, 51}};

static const struct family_priv x264_priv = {
    .ranges = x264_ranges,
    .qp_per_extra_bit = 6,
    .quality_name = "crf",
    .params_opt = "x264-params",
    .nal_hrd = 1,
};

const struct dcvenc_family dcvenc_family_x264 = {
    .name = "x264",
    .preset_opt = "preset",
    .presets = x26x_presets,
    .profiles = x264_profiles,
    .tunes = x264_tunes,
    .ll_tune = "zerolatency",
    .tune_list = 1,
    .pix_fmts = x264_fmts,
    .priv = &x264_priv,
    .map = map_x26x,
};

static const struct dcvenc_profile x265_profiles[] = {
    {"hevc", "main", 1u << 8, 0},
    {"hevc", "main10", (1u << 8) | (1u << 10), 0},
    {"hevc", "main422-10", (1u << 8) | (1u << 10), 1},
    {"hevc", "main444-8", 1u << 8, 2},
    {"hevc", "main444-10", (1u << 8) | (1u << 10), 2},
    {"hevc", "mainstillpicture", 1u << 8, 0},
    {NULL, NULL, 0, 0},
};

static const char *const x265_tunes[] = {
    "psnr", "ssim", "grain", "zerolatency", "fastdecode", "animation", NULL,
};

static const int32_t x265_fmts[] = {
    AV_PIX_FMT_YUV420P,
    AV_PIX_FMT_YUV420P10LE,
    AV_PIX_FMT_YUV422P,
    AV_PIX_FMT_YUV422P10LE,
    AV_PIX_FMT_YUV444P,
    AV_PIX_FMT_YUV444P10LE,
    -1,
};

static const struct qrange x265_ranges[] = {{NULL, 0, 51, 0, 51}};

static const struct family_priv x265_priv = {
    .ranges = x265_ranges,
    .quality_name = "crf",
    .params_opt = "x265-params",
    .base_params = "log-level=error",
};

const struct dcvenc_family dcvenc_family_x265 = {
    .name = "x265",
    .preset_opt = "preset",
    .presets = x26x_presets,
    .profiles = x265_profiles,
    .tunes = x265_tunes,
    .ll_tune = "zerolatency",
    .tune_list = 0,
    .pix_fmts = x265_fmts,
    .priv = &x265_priv,
    .map = map_x26x,
};

/* --------------------------------------------------------------- nvenc */

static int map_nvenc(const struct dcvenc_family *fam, const struct dcv_enc_params *p,
                     const struct dcvenc_opts *o, AVCodecContext *ctx, AVDictionary **opts,
                     char *err, size_t errlen)
{
    int rc, qp = 0;

    if ((rc = check_rc(fam, p, ctx, &qp, err, errlen)) < 0)
        return rc;
    switch (p->rc_mode) {
    case DCV_RC_CRF:
        /* cq inside VBR with no average target: NVENC's constant quality.
         * Without b=0 the encoder's 2 Mbit/s default would cap it. */
        ctx->bit_rate = 0;
        if ((rc = dset(opts, "rc", "vbr")) == 0)
            rc = dsetf(opts, "cq", "%g", p->quality);
        break;
    case DCV_RC_CQP:
        if ((rc = dset(opts, "rc", "constqp")) == 0)
            rc = dsetf(opts, "qp", "%d", qp);
        break;
    case DCV_RC_VBR:
    case DCV_RC_CBR:
        rc = dset(opts, "rc", p->rc_mode == DCV_RC_CBR ? "cbr" : "vbr");
        break;
    }
    return rc < 0 ? rc : set_low_latency(fam, p, opts);
}

static const char *const nvenc_presets[8] = {NULL, "p1", "p2", "p3", "p4", "p5", "p6", "p7"};

static const struct dcvenc_profile nvenc_profiles[] = {
    {"h264", "baseline", 1u << 8, 0},
    {"h264", "main", 1u << 8, 0},
    {"h264", "high", 1u << 8, 0},
    {"h264", "high10", (1u << 8) | (1u << 10), 0}, /* FFmpeg 7.1+, Blackwell */
    {"h264", "high444p", 1u << 8, 2},
    {"hevc", "main", 1u << 8, 0},
    {"hevc", "main10", (1u << 8) | (1u << 10), 0},
    {"hevc", "rext", (1u << 8) | (1u << 10), 2},
    {"av1", "main", (1u << 8) | (1u << 10), 0},
    {NULL, NULL, 0, 0},
};

static const char *const nvenc_tunes[] = {"hq", "uhq", "ll", "ull", "lossless", NULL};

static const int32_t nvenc_fmts[] = {
    AV_PIX_FMT_NV12, AV_PIX_FMT_YUV420P, AV_PIX_FMT_P010LE, AV_PIX_FMT_YUV444P, -1,
};

static const struct qrange nvenc_ranges[] = {
    {"av1", 1, 63, 0, 255},
    {NULL, 1, 51, 0, 51},
};

static const struct family_priv nvenc_priv = {
    .ranges = nvenc_ranges,
    .quality_name = "cq",
    .ll_opt = "zerolatency",
};

const struct dcvenc_family dcvenc_family_nvenc = {
    .name = "nvenc",
    .preset_opt = "preset",
    .presets = nvenc_presets,
    .profiles = nvenc_profiles,
    .tunes = nvenc_tunes,
    .ll_tune = "ll",
    .tune_list = 0,
    .pix_fmts = nvenc_fmts,
    .priv = &nvenc_priv,
    .map = map_nvenc,
};

/* --------------------------------------------------------------- vaapi */

static int map_vaapi(const struct dcvenc_family *fam, const struct dcv_enc_params *p,
                     const struct dcvenc_opts *o, AVCodecContext *ctx, AVDictionary **opts,
                     char *err, size_t errlen)
{
    uint32_t level = p->preset ? p->preset : DCV_PRESET_DEFAULT;
    int rc, qp = 0;

    ctx->compression_level = (int)(DCV_PRESET_MAX + 1 - level);
    if ((rc = check_rc(fam, p, ctx, &qp, err, errlen)) < 0)
        return rc;
    switch (p->rc_mode) {
    case DCV_RC_CRF:
        /* No rc_mode: FFmpeg's "auto" with only a quality takes ICQ where
         * the driver has it (Intel iHD) and CQP at the same value where it
         * does not (Mesa/AMD, iHD low-power), instead of failing the open
         * as an explicit rc_mode=ICQ would. The bitrate stays at the VAAPI
         * encoders' default 0, which auto needs to choose a quality mode. */
        ctx->global_quality = (int)lrint(p->quality);
        ctx->bit_rate = 0;
        break;
    case DCV_RC_CQP:
        /* global_quality is the QP in CQP mode for every VAAPI codec (only
         * h264/hevc_vaapi also have a "qp" option; vp9/av1 do not). */
        ctx->global_quality = qp;
        rc = dset(opts, "rc_mode", "CQP");
        break;
    case DCV_RC_VBR:
    case DCV_RC_CBR:
        rc = dset(opts, "rc_mode", p->rc_mode == DCV_RC_CBR ? "CBR" : "VBR");
        break;
    }
    return rc < 0 ? rc : set_low_latency(fam, p, opts);
}

static const struct dcvenc_profile vaapi_profiles[] = {
    {"h264", "constrained_baseline", 1u << 8, 0},
    {"h264", "main", 1u << 8, 0},
    {"h264", "high", 1u << 8, 0},
    {"hevc", "main", 1u << 8, 0},
    {"hevc", "main10", (1u << 8) | (1u << 10), 0},
    {"hevc", "rext", (1u << 8) | (1u << 10), 2},
    {"av1", "main", (1u << 8) | (1u << 10), 0},
    /* vp9: the profile follows the input format (0 for 8-bit, 2 for 10-bit) */
    {NULL, NULL, 0, 0},
};

static const int32_t hwup_fmts[] = {AV_PIX_FMT_NV12, AV_PIX_FMT_P010LE, -1};

static const struct qrange vaapi_ranges[] = {
    {"vp9", 1, 255, 0, 255},
    {"av1", 1, 255, 0, 255},
    {NULL, 1, 51, 0, 52},
};

static const struct family_priv vaapi_priv = {
    .ranges = vaapi_ranges,
    .quality_name = "quality",
    .ll_opt = "async_depth",
};

const struct dcvenc_family dcvenc_family_vaapi = {
    .name = "vaapi",
    .preset_opt = NULL, /* compression_level, set in map_vaapi */
    .presets = NULL,
    .profiles = vaapi_profiles,
    .tunes = NULL,
    .pix_fmts = hwup_fmts,
    .priv = &vaapi_priv,
    .map = map_vaapi,
};

/* ----------------------------------------------------------------- qsv */

static int map_qsv(const struct dcvenc_family *fam, const struct dcv_enc_params *p,
                   const struct dcvenc_opts *o, AVCodecContext *ctx, AVDictionary **opts, char *err,
                   size_t errlen)
{
    int rc, qp = 0;

    if ((rc = check_rc(fam, p, ctx, &qp, err, errlen)) < 0)
        return rc;
    switch (p->rc_mode) {
    case DCV_RC_CRF:
        /* global_quality without QSCALE is ICQ in FFmpeg's qsvenc. */
        ctx->global_quality = (int)lrint(p->quality);
        break;
    case DCV_RC_CQP:
        ctx->flags |= AV_CODEC_FLAG_QSCALE;
        ctx->global_quality = qp * FF_QP2LAMBDA;
        break;
    }
    /* vbr/cbr: the bitrates alone (check_rc); qsvenc picks CBR itself when
     * maxrate equals the bitrate. */
    return set_low_latency(fam, p, opts);
}

static const char *const qsv_presets[8] = {
    NULL, "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow",
};

static const struct dcvenc_profile qsv_profiles[] = {
    {"h264", "baseline", 1u << 8, 0},
    {"h264", "main", 1u << 8, 0},
    {"h264", "high", 1u << 8, 0},
    {"hevc", "main", 1u << 8, 0},
    {"hevc", "main10", (1u << 8) | (1u << 10), 0},
    {"hevc", "rext", (1u << 8) | (1u << 10), 2},
    {"av1", "main", (1u << 8) | (1u << 10), 0},
    {NULL, NULL, 0, 0},
};

static const struct qrange qsv_ranges[] = {{NULL, 1, 51, 0, 51}};

static const struct family_priv qsv_priv = {
    .ranges = qsv_ranges,
    .quality_name = "global_quality",
    .ll_opt = "async_depth",
};

const struct dcvenc_family dcvenc_family_qsv = {
    .name = "qsv",
    .preset_opt = "preset",
    .presets = qsv_presets,
    .profiles = qsv_profiles,
    .tunes = NULL,
    .pix_fmts = hwup_fmts,
    .priv = &qsv_priv,
    .map = map_qsv,
};

/* ----------------------------------------------------------------- vtb */

/* Does the encoder behind ctx have private option `name`? Unknown (no
 * encoder attached, as in the table tests): assume yes. */
static int has_priv_opt(const AVCodecContext *ctx, const char *name)
{
    const AVClass *cls = ctx->codec ? ctx->codec->priv_class : NULL;

    if (!cls)
        return 1;
    return av_opt_find(&cls, name, NULL, 0, AV_OPT_SEARCH_FAKE_OBJ) != NULL;
}

static int map_vtb(const struct dcvenc_family *fam, const struct dcv_enc_params *p,
                   const struct dcvenc_opts *o, AVCodecContext *ctx, AVDictionary **opts, char *err,
                   size_t errlen)
{
    uint32_t level = p->preset ? p->preset : DCV_PRESET_DEFAULT;
    int rc, qp = 0;

    if (p->rc_mode == DCV_RC_CQP)
        return dcvenc_err(err, errlen, -ENOTSUP, "VideoToolbox has no constant-QP mode");
    if (p->rc_mode == DCV_RC_CBR && !has_priv_opt(ctx, "constant_bit_rate"))
        return dcvenc_err(err, errlen, -ENOTSUP,
                          "this FFmpeg's VideoToolbox encoder has no constant_bit_rate "
                          "(FFmpeg 6.0 or newer)");
    if ((rc = check_rc(fam, p, ctx, &qp, err, errlen)) < 0)
        return rc;
    switch (p->rc_mode) {
    case DCV_RC_CRF:
        /* VideoToolbox's constant quality is the -q:v 1..100 scale. */
        ctx->flags |= AV_CODEC_FLAG_QSCALE;
        ctx->global_quality = (int)lrint(p->quality * FF_QP2LAMBDA);
        break;
    case DCV_RC_CBR:
        rc = dset(opts, "constant_bit_rate", "1");
        break;
    }
    /* No preset scale: the fast steps ask for real-time encoding, as low
     * latency does (so ll_opt stays NULL and realtime is set once). */
    if (rc == 0 && (level <= 2 || (p->flags & DCV_ENC_LOW_LATENCY)))
        rc = dset(opts, "realtime", "1");
    return rc;
}

static const struct dcvenc_profile vtb_profiles[] = {
    {"h264", "baseline", 1u << 8, 0},
    {"h264", "main", 1u << 8, 0},
    {"h264", "high", 1u << 8, 0},
    {"hevc", "main", 1u << 8, 0},
    {"hevc", "main10", (1u << 8) | (1u << 10), 0},
    {NULL, NULL, 0, 0},
};

static const int32_t vtb_fmts[] = {AV_PIX_FMT_NV12, AV_PIX_FMT_YUV420P, AV_PIX_FMT_P010LE, -1};

static const struct qrange vtb_ranges[] = {{NULL, 1, 100, 0, 0}};

static const struct family_priv vtb_priv = {
    .ranges = vtb_ranges,
    .quality_name = "quality",
};

const struct dcvenc_family dcvenc_family_vtb = {
    .name = "vtb",
    .preset_opt = NULL, /* no presets: realtime for steps 1-2 in map_vtb */
    .presets = NULL,
    .profiles = vtb_profiles,
    .tunes = NULL,
    .pix_fmts = vtb_fmts,
    .priv = &vtb_priv,
    .map = map_vtb,
};
