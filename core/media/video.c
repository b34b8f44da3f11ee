/*
 * The video stream of a transcode: decode -> filter -> encode (plugin).
 *
 * Owns the choice of encoder (plugin, device, bit depth), the size limits
 * that follow from it, the decoder, the source's display rotation, the
 * filter graph (or the pass-through when frames need no change) and the
 * plugin encode session, whose first packet's parameters let output.c
 * write the header. One file because every step here depends on the
 * encoder's capabilities.
 */
#include "media/tc.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <libavcodec/avcodec.h>
#include <libavfilter/avfilter.h>
#include <libavfilter/buffersink.h>
#include <libavfilter/buffersrc.h>
#include <libavformat/avformat.h>
#include <libavutil/avstring.h>
#include <libavutil/display.h>
#include <libavutil/hwcontext.h>
#include <libavutil/pixdesc.h>

#include "log.h"

/* Decoder frame limit when the encoder's maximum does not apply (we
 * downscale). 8192x8192 is well above 8K UHD and keeps one frame ~100 MB. */
#define MAX_INPUT_PIXELS (8192LL * 8192LL)

#if LIBAVUTIL_VERSION_INT >= AV_VERSION_INT(57, 30, 100)
#define FRAME_DURATION(f) ((f)->duration)
#else
#define FRAME_DURATION(f) ((f)->pkt_duration)
#endif

/* ------------------------------------------------------------------------ */
/* Encoder choice and decoder                                                */
/* ------------------------------------------------------------------------ */

static uint32_t pix_fmt_depth(int fmt)
{
    const AVPixFmtDescriptor *d = fmt >= 0 ? av_pix_fmt_desc_get((enum AVPixelFormat)fmt) : NULL;
    return d ? (uint32_t)d->comp[0].depth : 0;
}

int dcv_tc_choose_encoder(struct tc *t)
{
    const struct dcv_profile *p = t->prof;
    uint32_t src_depth = pix_fmt_depth(t->v.ist->codecpar->format);
    uint32_t want = p->bit_depth;
    char first_err[1024];
    int ret;

    if (want == 0)
        want = src_depth > 8 ? 10 : 8;
    if (t->req->choice) /* placed by the coordinator: no other device will do */
        ret = dcv_encoder_use_placed(t->req->choice, p->bit_depth, &want, &t->v.choice, t->err,
                                     t->errlen);
    else
        ret = dcv_encoder_select(t->req->plugins, p->codec, p->encoder, want, &t->v.choice,
                                 t->err, t->errlen);
    if (ret == -ENOENT && p->bit_depth == 0 && want == 10) {
        /* Keeping a 10-bit source at 10 bits is a preference, not a demand. */
        snprintf(first_err, sizeof(first_err), "%s", t->err);
        ret = dcv_encoder_select(t->req->plugins, p->codec, p->encoder, 8, &t->v.choice,
                                 t->err, t->errlen);
        if (ret == 0) {
            dcv_log(DCV_LOG_INFO, LOG_COMP, "no 10-bit %s encoder available; encoding 8-bit",
                    p->codec);
            want = 8;
        } else {
            snprintf(t->err, t->errlen, "%s", first_err);
        }
    }
    if (ret < 0)
        return ret;
    t->v.depth = want;
    t->v.cc = &t->v.choice.caps.codecs[t->v.choice.codec_index];
    dcv_log(DCV_LOG_INFO, LOG_COMP, "video: %s via %s (plugin %s, device %s), %u-bit", p->codec,
            t->v.cc->encoder, t->v.choice.plugin->hdr.name, t->v.choice.caps.device_id,
            t->v.depth);
    return 0;
}

/* Output size for an input size (before the even-size crop). */
static void target_size(const struct tc *t, int w, int h, int *ow, int *oh)
{
    *ow = w;
    *oh = h;
    if (t->prof->max_height && (uint32_t)h > t->prof->max_height) {
        *oh = (int)(t->prof->max_height & ~1u);
        if (*oh < 2)
            *oh = 2;
        *ow = (int)(((int64_t)w * *oh / h + 1) & ~1LL);
        if (*ow < 2)
            *ow = 2;
    }
}

static int check_size(struct tc *t, int w, int h, const char *what)
{
    const struct dcv_codec_caps *cc = t->v.cc;
    int ow, oh;

    if (w <= 0 || h <= 0)
        return 0; /* unknown until the first frame */
    if ((int64_t)w * h > MAX_INPUT_PIXELS || w > 65535 || h > 65535)
        return dcv_tc_fail(t, -EINVAL, "%s of '%s': size %dx%d is beyond any supported size",
                           what, t->in_name, w, h);
    target_size(t, w, h, &ow, &oh);
    if ((cc->max_width && (uint32_t)ow > cc->max_width) ||
        (cc->max_height && (uint32_t)oh > cc->max_height))
        return dcv_tc_fail(t, -EINVAL,
                           "%s of '%s': output size %dx%d exceeds what %s can encode (%ux%u); "
                           "set a max height",
                           what, t->in_name, ow, oh, cc->encoder, cc->max_width, cc->max_height);
    return 0;
}

static void setup_rotation(struct tc *t)
{
    struct vstate *v = &t->v;
    size_t size = 0;
    const uint8_t *m = av_stream_get_side_data(v->ist, AV_PKT_DATA_DISPLAYMATRIX, &size);
    double r;
    long deg;

    v->rot_chain = "";
    v->rot_swap = 0;
    if (!m || size < 9 * sizeof(int32_t))
        return;
    r = av_display_rotation_get((const int32_t *)(const void *)m);
    if (!(r >= -36000.0 && r <= 36000.0)) /* also NaN: a degenerate matrix */
        return;
    /* Counter-clockwise in the matrix, clockwise for the filters; whole
     * degrees in 0..359. */
    deg = -(long)(r < 0 ? r - 0.5 : r + 0.5);
    deg = ((deg % 360) + 360) % 360;
    if (deg == 90) {
        v->rot_chain = "transpose=clock,";
        v->rot_swap = 1;
    } else if (deg == 180) {
        v->rot_chain = "hflip,vflip,";
    } else if (deg == 270) {
        v->rot_chain = "transpose=cclock,";
        v->rot_swap = 1;
    } else if (deg != 0) {
        snprintf(v->rot_buf, sizeof(v->rot_buf), "rotate=%ld*PI/180,", deg);
        v->rot_chain = v->rot_buf;
    }
    if (v->rot_chain[0])
        dcv_log(DCV_LOG_INFO, LOG_COMP, "'%s': rotating the video by %ld degrees", t->in_name,
                deg);
}

/* ------------------------------------------------------------------------ */
/* Zero copy: decoding on the encoder's device (plugin ABI 1.2)              */
/* ------------------------------------------------------------------------ */

/* Surfaces the decoder allocates beyond its own needs, for the frames the
 * encoder holds (reorder delay + asynchronous depth, ~5 with defaults).
 * Kept small: NVDEC fails above 32 surfaces, and H.264's DPB takes 17. */
#define HW_EXTRA_FRAMES 8

static enum AVHWDeviceType hw_device_type(int hw_type)
{
    switch (hw_type) {
    case DCV_HW_CUDA:
        return AV_HWDEVICE_TYPE_CUDA;
    case DCV_HW_VAAPI:
        return AV_HWDEVICE_TYPE_VAAPI;
    case DCV_HW_QSV:
        return AV_HWDEVICE_TYPE_QSV;
    case DCV_HW_VIDEOTOOLBOX:
        return AV_HWDEVICE_TYPE_VIDEOTOOLBOX;
    }
    return AV_HWDEVICE_TYPE_NONE;
}

/* What a hardware decoder's frames hold for a source in src_fmt: NV12 or
 * P010 for 4:2:0 at 8 or 10 bits, else -1 (zero copy not attempted). */
static int hw_content_format(int src_fmt)
{
    const AVPixFmtDescriptor *d =
        src_fmt >= 0 ? av_pix_fmt_desc_get((enum AVPixelFormat)src_fmt) : NULL;

    if (!d || (d->flags & (AV_PIX_FMT_FLAG_RGB | AV_PIX_FMT_FLAG_HWACCEL | AV_PIX_FMT_FLAG_ALPHA)) ||
        d->nb_components != 3 || d->log2_chroma_w != 1 || d->log2_chroma_h != 1)
        return -1;
    if (d->comp[0].depth == 8)
        return AV_PIX_FMT_NV12;
    if (d->comp[0].depth == 10)
        return AV_PIX_FMT_P010LE;
    return -1;
}

static int caps_lists_fmt(const struct dcv_codec_caps *cc, int fmt)
{
    for (int i = 0; i < DCV_MAX_PIX_FMTS && cc->pix_fmts[i] >= 0; i++)
        if (cc->pix_fmts[i] == fmt)
            return 1;
    return 0;
}

static void hw_note(struct tc *t, const char *fmt, ...) DCV_PRINTF(2, 3);
/* Logs once per transcode why zero copy is off. */
static void hw_note(struct tc *t, const char *fmt, ...)
{
    char why[256];
    va_list ap;

    if (t->v.hw_noted++)
        return;
    va_start(ap, fmt);
    vsnprintf(why, sizeof(why), fmt, ap);
    va_end(ap);
    dcv_log(DCV_LOG_INFO, LOG_COMP,
            "video: zero copy off (%s); decoding in software, plugin %s uploads the frames", why,
            t->v.choice.plugin->hdr.name);
}

/*
 * May the decoder run on the chosen encoder's device? Only when the
 * encoder is hardware, its plugin (ABI 1.2) names the device, the decoder
 * has a hardware configuration for that device type, and the frames will
 * need no software filter: no rotation, no scaling, no crop, and a 4:2:0
 * source whose NV12/P010 the encoder takes at the chosen depth. Returns
 * the device type, or AV_HWDEVICE_TYPE_NONE (with the reason logged once
 * for hardware encoders).
 */
static enum AVHWDeviceType hw_decode_type(struct tc *t, const AVCodec *codec)
{
    struct vstate *v = &t->v;
    const struct dcv_device_caps *caps = &v->choice.caps;
    const AVCodecParameters *par = v->ist->codecpar;
    enum AVHWDeviceType type = hw_device_type(caps->hw_type);
    const AVCodecHWConfig *cfg;
    int fmt, ow, oh, found = 0;

    if (!(caps->flags & DCV_CAP_HARDWARE))
        return AV_HWDEVICE_TYPE_NONE;
    if (v->choice.plugin->hdr.abi_minor < 2 ||
        !DCV_HAS_FIELD(caps, struct dcv_device_caps, hw_device) || !caps->hw_device[0]) {
        hw_note(t, "plugin %s offers no device for decoding", v->choice.plugin->hdr.name);
        return AV_HWDEVICE_TYPE_NONE;
    }
    if (type == AV_HWDEVICE_TYPE_NONE) {
        hw_note(t, "unknown hardware type %d", caps->hw_type);
        return AV_HWDEVICE_TYPE_NONE;
    }
    for (int i = 0; (cfg = avcodec_get_hw_config(codec, i)); i++)
        if (cfg->device_type == type && (cfg->methods & AV_CODEC_HW_CONFIG_METHOD_HW_DEVICE_CTX))
            found = 1;
    if (!found) {
        hw_note(t, "the %s decoder has no %s configuration", codec->name,
                av_hwdevice_get_type_name(type));
        return AV_HWDEVICE_TYPE_NONE;
    }
    if (v->rot_chain[0]) {
        hw_note(t, "the video is rotated");
        return AV_HWDEVICE_TYPE_NONE;
    }
    if (v->deint != DEINT_NONE || v->order_pending) {
        hw_note(t, "the video may need deinterlacing");
        return AV_HWDEVICE_TYPE_NONE;
    }
    target_size(t, par->width, par->height, &ow, &oh);
    if (ow != par->width || oh != par->height || (par->width & 1) || (par->height & 1)) {
        hw_note(t, "the frames are scaled or cropped");
        return AV_HWDEVICE_TYPE_NONE;
    }
    fmt = hw_content_format(par->format);
    if (fmt < 0 || pix_fmt_depth(fmt) != v->depth || !caps_lists_fmt(v->cc, fmt)) {
        hw_note(t, "%s at %u bits needs a pixel format conversion",
                av_get_pix_fmt_name((enum AVPixelFormat)par->format), v->depth);
        return AV_HWDEVICE_TYPE_NONE;
    }
    return type;
}

/* A decoder context for the stream; with a device when hw_type is set
 * (failures there are the caller's to fall back from). */
static int alloc_decoder(struct tc *t, const AVCodec *codec, enum AVHWDeviceType hw_type)
{
    struct vstate *v = &t->v;
    int ret;

    avcodec_free_context(&v->dec);
    v->dec = avcodec_alloc_context3(codec);
    if (!v->dec)
        return AVERROR(ENOMEM);
    ret = avcodec_parameters_to_context(v->dec, v->ist->codecpar);
    if (ret < 0)
        return ret;
    v->dec->pkt_timebase = v->ist->time_base;
    /* Auto threads, frame and slice: what ffmpeg does ("-threads auto"). */
    v->dec->thread_count = 0;
    v->dec->thread_type = FF_THREAD_FRAME | FF_THREAD_SLICE;
    v->dec->max_pixels = v->max_pixels;
    if (hw_type != AV_HWDEVICE_TYPE_NONE) {
        ret = av_hwdevice_ctx_create(&v->dec->hw_device_ctx, hw_type, v->choice.caps.hw_device,
                                     NULL, 0);
        if (ret < 0)
            return ret;
        /* The device decodes; frame threads would only multiply the
         * surfaces held. FFmpeg's default get_format picks the device's
         * format, and falls back to software itself when the hwaccel
         * cannot start. */
        v->dec->thread_count = 1;
        v->dec->extra_hw_frames = HW_EXTRA_FRAMES;
    }
    return avcodec_open2(v->dec, codec, NULL);
}

int dcv_tc_open_video_decoder(struct tc *t)
{
    struct vstate *v = &t->v;
    const AVCodec *codec = avcodec_find_decoder(v->ist->codecpar->codec_id);
    enum AVHWDeviceType hw_type;
    int ret;

    if (!codec)
        return dcv_tc_fail(t, -EINVAL, "input '%s': no decoder for video codec %s", t->in_name,
                           avcodec_get_name(v->ist->codecpar->codec_id));
    ret = check_size(t, v->ist->codecpar->width, v->ist->codecpar->height, "video stream");
    if (ret < 0)
        return ret;
    v->max_pixels = MAX_INPUT_PIXELS;
    if (!t->prof->max_height && v->cc->max_width && v->cc->max_height &&
        (int64_t)v->cc->max_width * v->cc->max_height < v->max_pixels)
        v->max_pixels = (int64_t)v->cc->max_width * v->cc->max_height;
    setup_rotation(t);
    ret = dcv_tc_setup_cadence(t);
    if (ret < 0)
        return ret;
    if (ret < 0)
        return ret;
    hw_type = hw_decode_type(t, codec);
    ret = hw_type != AV_HWDEVICE_TYPE_NONE ? alloc_decoder(t, codec, hw_type) : -1;
    if (hw_type != AV_HWDEVICE_TYPE_NONE && ret >= 0) {
        v->hw_decode = 1;
        dcv_log(DCV_LOG_INFO, LOG_COMP, "video: decoding on %s %s (zero copy to %s)",
                av_hwdevice_get_type_name(hw_type), v->choice.caps.hw_device, v->cc->encoder);
    } else {
        if (hw_type != AV_HWDEVICE_TYPE_NONE) {
            char e[128];
            av_strerror(ret, e, sizeof(e));
            hw_note(t, "%s decoding on %s failed to start: %s", codec->name,
                    v->choice.caps.hw_device, e);
        }
        ret = alloc_decoder(t, codec, AV_HWDEVICE_TYPE_NONE);
    }
    if (ret == AVERROR(ENOMEM))
        return dcv_tc_fail(t, -ENOMEM, "out of memory");
    if (ret < 0)
        return dcv_tc_fail_av(t, ret, "open %s decoder for '%s'", codec->name, t->in_name);
    v->off = av_rescale_q(t->offset_us, AV_TIME_BASE_Q, v->ist->time_base);
    v->next_pts = AV_NOPTS_VALUE;
    v->prev_in_pts = AV_NOPTS_VALUE;
    v->last_pts = INT64_MIN;
    v->frame = av_frame_alloc();
    v->filt = av_frame_alloc();
    if (!v->frame || !v->filt)
        return dcv_tc_fail(t, -ENOMEM, "out of memory");
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Video                                                                     */
/* ------------------------------------------------------------------------ */

/* Builds the video filter graph for frames like f, or decides that frames
 * pass through untouched. force_w/h: keep the encoder's established size
 * and format (the input changed mid-stream). */
static int setup_video_graph(struct tc *t, const AVFrame *f, int force)
{
    struct vstate *v = &t->v;
    const AVPixFmtDescriptor *od;
    char chain[512] = "", args[512];
    int out_fmt, ow, oh, ret;
    enum link_step step;

    avfilter_graph_free(&v->graph);
    v->src = v->sink = NULL;
    if (f->width < 2 || f->height < 2)
        return dcv_tc_fail(t, -EINVAL, "video of '%s': frame size %dx%d is too small", t->in_name,
                           f->width, f->height);
    if (v->order_pending) {
        ret = dcv_tc_interlace_apply(t, !f->interlaced_frame ? 'P'
                                        : f->top_field_first ? 'T' : 'B');
        if (ret < 0)
            return ret;
    }
    /* The frames say which field comes first; a stream's field order can
     * be a parser's guess (FFmpeg says tt for any MBAFF H.264 in TS). */
    if (v->keep_order && f->interlaced_frame && !force)
        v->keep_order = f->top_field_first ? 'T' : 'B';
    /* Fields scaled or converted apart, so they stay fields. */
    const char *interl = v->keep_order ? ":interl=1" : "";
    /* Size after rotation: what everything below works on. */
    int rw = v->rot_swap ? f->height : f->width, rh = v->rot_swap ? f->width : f->height;
    av_strlcpy(chain, dcv_tc_interlace_chain(t), sizeof(chain));
    av_strlcat(chain, v->rot_chain, sizeof(chain));
    if (force) {
        out_fmt = v->out_fmt;
        if (rw != v->out_w || rh != v->out_h)
            av_strlcatf(chain, sizeof(chain), "scale=%d:%d%s,", v->out_w, v->out_h, interl);
    } else {
        int ret2 = check_size(t, rw, rh, "video");
        if (ret2 < 0)
            return ret2;
        out_fmt = dcv_encoder_pick_pix_fmt(v->cc, f->format, v->depth);
        if (out_fmt < 0)
            return dcv_tc_fail(t, -ENOTSUP, "%s offers no %u-bit input pixel format",
                               v->cc->encoder, v->depth);
        od = av_pix_fmt_desc_get((enum AVPixelFormat)out_fmt);
        target_size(t, rw, rh, &ow, &oh);
        if (oh != rh) {
            av_strlcatf(chain, sizeof(chain), "scale=-2:%d%s,", oh, interl);
        } else {
            int cw = rw, ch = rh;
            /* 4:2:0 / 4:2:2 need even sizes: drop the last column/row. */
            if (od->log2_chroma_w && (cw & 1))
                cw &= ~1;
            if (od->log2_chroma_h && (ch & 1))
                ch &= ~1;
            if (cw != rw || ch != rh)
                av_strlcatf(chain, sizeof(chain), "crop=%d:%d:0:0,", cw, ch);
        }
    }
    if (out_fmt != f->format)
        av_strlcatf(chain, sizeof(chain), "format=pix_fmts=%s,",
                    av_get_pix_fmt_name((enum AVPixelFormat)out_fmt));
    v->in_w = f->width;
    v->in_h = f->height;
    v->in_fmt = f->format;
    v->configured = 1;
    if (!chain[0]) {
        /* Pass-through: the frame is already what the encoder takes. */
        if (!force) {
            v->out_w = f->width;
            v->out_h = f->height;
            v->out_fmt = f->format;
        }
        return 0;
    }
    chain[strlen(chain) - 1] = '\0';

    v->graph = avfilter_graph_alloc();
    if (!v->graph)
        return dcv_tc_fail(t, -ENOMEM, "out of memory");
    /* ffmpeg's default scaler flags for filter graphs. */
    v->graph->scale_sws_opts = av_strdup(v->keep_order ? "flags=bicubic:interl=1" : "flags=bicubic");
    if (!v->graph->scale_sws_opts)
        return dcv_tc_fail(t, -ENOMEM, "out of memory");
    snprintf(args, sizeof(args), "video_size=%dx%d:pix_fmt=%d:time_base=%d/%d:pixel_aspect=%d/%d",
             f->width, f->height, f->format, v->ist->time_base.num, v->ist->time_base.den,
             f->sample_aspect_ratio.num,
             f->sample_aspect_ratio.den > 0 ? f->sample_aspect_ratio.den : 1);
    if (v->fr.num > 0 && v->fr.den > 0)
        av_strlcatf(args, sizeof(args), ":frame_rate=%d/%d", v->fr.num, v->fr.den);
    ret = avfilter_graph_create_filter(&v->src, avfilter_get_by_name("buffer"), "in", args, NULL,
                                       v->graph);
    if (ret < 0)
        return dcv_tc_fail_av(t, ret, "video filter source (%s)", args);
    ret = avfilter_graph_create_filter(&v->sink, avfilter_get_by_name("buffersink"), "out", NULL,
                                       NULL, v->graph);
    if (ret < 0)
        return dcv_tc_fail_av(t, ret, "video filter sink");
    ret = dcv_tc_link_graph(v->graph, v->src, v->sink, chain, &step);
    if (ret < 0)
        return step == LINK_ALLOC   ? dcv_tc_fail(t, -ENOMEM, "out of memory")
               : step == LINK_PARSE ? dcv_tc_fail_av(t, ret, "video filter '%s'", chain)
                                    : dcv_tc_fail_av(t, ret, "configure video filter '%s'", chain);
    if (!force) {
        v->out_w = av_buffersink_get_w(v->sink);
        v->out_h = av_buffersink_get_h(v->sink);
        v->out_fmt = av_buffersink_get_format(v->sink);
    }
    dcv_log(DCV_LOG_DEBUG, LOG_COMP, "video filter: %s", chain);
    return 0;
}

static int open_video_encoder(struct tc *t, const AVFrame *f)
{
    struct vstate *v = &t->v;
    const struct dcv_profile *p = t->prof;
    struct dcv_enc_params ep;
    struct dcv_rational tb;
    char e[512];
    int ret;

    memset(&ep, 0, sizeof(ep));
    ep.struct_size = sizeof(ep);
    ep.device_index = v->choice.device_index;
    av_strlcpy(ep.codec, p->codec, sizeof(ep.codec));
    av_strlcpy(ep.encoder, v->cc->encoder, sizeof(ep.encoder));
    ep.width = f->width;
    ep.height = f->height;
    ep.pix_fmt = f->format;
    ep.time_base.num = v->ftb.num;
    ep.time_base.den = v->ftb.den;
    if (v->out_fr.num > 0 && v->out_fr.den > 0) {
        ep.framerate.num = v->out_fr.num;
        ep.framerate.den = v->out_fr.den;
    } else {
        ep.framerate.num = 0;
        ep.framerate.den = 1;
    }
    ep.sample_aspect_ratio.num = f->sample_aspect_ratio.num;
    ep.sample_aspect_ratio.den = f->sample_aspect_ratio.den;
    ep.color_range = f->color_range;
    ep.color_primaries = f->color_primaries;
    ep.color_trc = f->color_trc;
    ep.colorspace = f->colorspace;
    ep.chroma_location = f->chroma_location;
    if (f->hw_frames_ctx) {
        /* Zero copy (ABI 1.2): the decoder's device and frames. */
        const AVHWFramesContext *fc = (const AVHWFramesContext *)(const void *)f->hw_frames_ctx->data;
        ep.hw_device = v->dec->hw_device_ctx;
        ep.hw_frames = f->hw_frames_ctx;
        ep.sw_pix_fmt = fc->sw_format;
    } else {
        ep.sw_pix_fmt = -1;
    }
    ep.rc_mode = p->rc_mode;
    ep.quality = p->quality;
    ep.bitrate_kbps = p->bitrate_kbps;
    ep.preset = p->preset;
    ep.bit_depth = pix_fmt_depth(f->hw_frames_ctx ? ep.sw_pix_fmt : f->format);
    ep.gop = p->gop;
    ep.max_b_frames = -1;
    ep.threads = p->threads;
    if (t->ofmt->flags & AVFMT_GLOBALHEADER)
        ep.flags |= DCV_ENC_GLOBAL_HEADER;
    av_strlcpy(ep.extra_opts, dcv_tc_interlace_enc_opts(t), sizeof(ep.extra_opts));

    e[0] = '\0';
    ret = dcv_enc_session_open(&v->choice, &ep, &v->enc, e, sizeof(e));
    if (ret < 0 && ret != -EBUSY && f->hw_frames_ctx) {
        /* The plugin would not take the decoder's frames: the caller
         * downloads them and opens again with software frames. */
        hw_note(t, "%s would not take %s frames: %s", v->cc->encoder,
                av_get_pix_fmt_name((enum AVPixelFormat)f->format), e[0] ? e : strerror(-ret));
        return 1;
    }
    if (ret < 0)
        return dcv_tc_fail(t, ret, "open encoder %s (plugin %s) for %dx%d %s: %s", v->cc->encoder,
                           v->choice.plugin->hdr.name, f->width, f->height,
                           av_get_pix_fmt_name((enum AVPixelFormat)f->format),
                           e[0] ? e : strerror(-ret));
    ret = dcv_enc_session_stream_params(v->enc, v->ost->codecpar, &tb);
    if (ret < 0)
        return dcv_tc_fail(t, ret, "encoder %s: stream parameters: %s", v->cc->encoder,
                           dcv_enc_session_error(v->enc));
    if (tb.num <= 0 || tb.den <= 0)
        return dcv_tc_fail(t, -EINVAL, "encoder %s reported an invalid time base %d/%d",
                           v->cc->encoder, tb.num, tb.den);
    v->pkt_tb = (AVRational){ tb.num, tb.den };
    v->ost->codecpar->codec_tag = 0;
    /* Flag what the pictures are, as the ffmpeg CLI does: players and
     * later tools (and our own verification) go by it. */
    v->ost->codecpar->field_order = dcv_tc_interlace_out_order(t);
    /* Apple players only take HEVC in MP4 tagged hvc1 (parameter sets in
     * the header only, which GLOBAL_HEADER gives); the muxer's default
     * is hev1. */
    if (v->ost->codecpar->codec_id == AV_CODEC_ID_HEVC && strcmp(t->ofmt->name, "mp4") == 0)
        v->ost->codecpar->codec_tag = MKTAG('h', 'v', 'c', '1');
    v->ost->time_base = v->pkt_tb;
    if (f->sample_aspect_ratio.num > 0) {
        v->ost->sample_aspect_ratio = f->sample_aspect_ratio;
        v->ost->codecpar->sample_aspect_ratio = f->sample_aspect_ratio;
    }
    if (v->out_fr.num > 0)
        v->ost->r_frame_rate = v->out_fr;
    return dcv_tc_write_header(t);
}

/* Give a packet the duration of the frame it encodes (same pts). Muxers
 * derive every other packet's duration from the next timestamp, but the
 * last one would stay 0, and MP4's edit list then ends where the last frame
 * starts, hiding it. */
static void restore_duration(struct vstate *v, AVPacket *pkt)
{
    const size_t n = sizeof(v->sent) / sizeof(v->sent[0]);
    int64_t pts;

    if (pkt->pts == AV_NOPTS_VALUE)
        return;
    pts = av_rescale_q(pkt->pts, v->pkt_tb, v->ftb);
    for (size_t i = 0; i < n && i < (size_t)v->frames_sent; i++) {
        size_t k = (size_t)(v->frames_sent - 1 - (int64_t)i) % n;
        if (v->sent[k].pts == pts) {
            if (v->sent[k].dur > 0)
                pkt->duration = av_rescale_q(v->sent[k].dur, v->ftb, v->pkt_tb);
            return;
        }
    }
}

/*
 * Encoders date the packets before their reorder delay D from the first
 * frames: the first packet's dts is pts0 - (pts[D] - pts0). After a gap
 * (a phone's first frame, then 185 ms to the next) that puts the gap
 * into those dts as well, and in MP4, where a sample lasts until the next
 * dts, the first frames get the gap's duration twice. When the first
 * packet fits that rule, its D packets get dts one frame of the cadence
 * apart, ending at pts0; the dts after them are the frames' pts already.
 */
static void fix_leading_dts(struct vstate *v, AVPacket *pkt)
{
    const size_t n = sizeof(v->sent) / sizeof(v->sent[0]);
    int64_t p0, step;

    if (v->out_fr.num <= 0 || v->out_fr.den <= 0 || v->frames_sent == 0 ||
        (size_t)v->frames_sent > n)
        return;
    p0 = av_rescale_q(v->sent[0].pts, v->ftb, v->pkt_tb);
    if (v->packets == 0 && pkt->dts != AV_NOPTS_VALUE && pkt->dts < p0) {
        int64_t target = 2 * p0 - pkt->dts; /* pts of frame D */
        for (int64_t k = 1; k < v->frames_sent; k++)
            if (av_rescale_q(v->sent[k].pts, v->ftb, v->pkt_tb) == target)
                v->dts_delay = k;
    }
    if (v->packets >= v->dts_delay || pkt->dts == AV_NOPTS_VALUE)
        return;
    step = av_rescale_q(1, av_inv_q(v->out_fr), v->pkt_tb);
    if (step > 0)
        pkt->dts = p0 - (v->dts_delay - v->packets) * step;
}

static int video_drain_encoder(struct tc *t, int flushing)
{
    struct vstate *v = &t->v;
    AVPacket *pkt = av_packet_alloc();
    int ret;

    if (!pkt)
        return dcv_tc_fail(t, -ENOMEM, "out of memory");
    for (;;) {
        ret = dcv_enc_session_receive(v->enc, pkt);
        if (ret == -EAGAIN && !flushing) {
            ret = 0;
            break;
        }
        if (ret == -ENODATA) {
            ret = 0;
            break;
        }
        if (ret == -EAGAIN) {
            /* Draining but the encoder wants input: a plugin bug; stop
             * rather than spin. */
            ret = dcv_tc_fail(t, -EIO, "encoder %s: not drained at end of stream", v->cc->encoder);
            break;
        }
        if (ret < 0) {
            ret = dcv_tc_fail(t, ret, "encode video frame %" PRId64 ": %s", v->frames_sent,
                              dcv_enc_session_error(v->enc));
            break;
        }
        fix_leading_dts(v, pkt);
        v->packets++;
        if (pkt->duration <= 0)
            restore_duration(v, pkt);
        ret = dcv_tc_mux(t, pkt, v->pkt_tb, v->ost->index);
        if (ret < 0)
            break;
    }
    av_packet_free(&pkt);
    return ret;
}

static int video_encode(struct tc *t, AVFrame *f)
{
    struct vstate *v = &t->v;
    int ret;

    if (!v->enc) {
        ret = open_video_encoder(t, f);
        if (ret != 0)
            return ret; /* 1: hardware frames refused, see video_frame */
    }
    /* Decoded frames carry the source's picture types; encoders such as
     * libx264 would take them as forced frame types. */
    f->pict_type = AV_PICTURE_TYPE_NONE;
    for (int tries = 0;; tries++) {
        ret = dcv_enc_session_send(v->enc, f);
        if (ret != -EAGAIN || tries > 0)
            break;
        ret = video_drain_encoder(t, 0);
        if (ret < 0)
            return ret;
    }
    if (ret < 0)
        return dcv_tc_fail(t, ret, "encode video frame %" PRId64 ": %s", v->frames_sent,
                           dcv_enc_session_error(v->enc));
    v->sent[v->frames_sent % (int64_t)(sizeof(v->sent) / sizeof(v->sent[0]))].pts = f->pts;
    v->sent[v->frames_sent % (int64_t)(sizeof(v->sent) / sizeof(v->sent[0]))].dur =
        FRAME_DURATION(f);
    v->frames_sent++;
    if (f->pts != AV_NOPTS_VALUE)
        v->out_time_us = av_rescale_q(f->pts, v->ftb, AV_TIME_BASE_Q);
    return video_drain_encoder(t, 0);
}

static int video_pull(struct tc *t)
{
    struct vstate *v = &t->v;
    int ret;

    for (;;) {
        ret = av_buffersink_get_frame(v->sink, v->filt);
        if (ret == AVERROR(EAGAIN) || ret == AVERROR_EOF)
            return 0;
        if (ret < 0)
            return dcv_tc_fail_av(t, ret, "filter video frame %" PRId64, v->frames_decoded);
        AVRational stb = av_buffersink_get_time_base(v->sink);
        if (av_cmp_q(stb, v->ftb) != 0 && v->filt->pts != AV_NOPTS_VALUE)
            v->filt->pts = av_rescale_q(v->filt->pts, stb, v->ftb);
        /* One frame per field: each lasts a field (bwdif keeps the input
         * frame's duration). */
        if (v->deint == DEINT_FIELD && v->out_fr.num > 0 && v->out_fr.den > 0)
            FRAME_DURATION(v->filt) = av_rescale_q(1, av_inv_q(v->out_fr), v->ftb);
        ret = video_encode(t, v->filt);
        av_frame_unref(v->filt);
        if (ret < 0)
            return ret;
    }
}

static int video_sw_frame(struct tc *t, AVFrame *f);

/* Frames of the zero-copy decoder still on its device that need no
 * filter: the first one decides (size, content format), later ones must
 * match it. */
static int hw_frame_fits(struct tc *t, const AVFrame *f)
{
    struct vstate *v = &t->v;
    const AVHWFramesContext *fc = (const AVHWFramesContext *)(const void *)f->hw_frames_ctx->data;
    int ow, oh;

    if (v->configured)
        return v->hw_pass && f->width == v->hw_w && f->height == v->hw_h &&
               (int)fc->sw_format == v->hw_sw_fmt;
    target_size(t, f->width, f->height, &ow, &oh);
    if (ow != f->width || oh != f->height || (f->width & 1) || (f->height & 1) ||
        check_size(t, f->width, f->height, "video") < 0) {
        hw_note(t, "the decoded frames need scaling or cropping");
        return 0;
    }
    if (pix_fmt_depth(fc->sw_format) != v->depth || !caps_lists_fmt(v->cc, fc->sw_format)) {
        hw_note(t, "the decoder's %s frames need a conversion",
                av_get_pix_fmt_name(fc->sw_format));
        return 0;
    }
    return 1;
}

/* A frame decoded on the encoder's device: handed over as it is when it
 * fits (zero copy), else downloaded and treated like a software frame
 * (the plugin then uploads what comes out of the filters). */
static int video_hw_frame(struct tc *t, AVFrame *f)
{
    struct vstate *v = &t->v;
    AVFrame *sw;
    int ret;

    if (hw_frame_fits(t, f)) {
        if (!v->configured) {
            const AVHWFramesContext *fc =
                (const AVHWFramesContext *)(const void *)f->hw_frames_ctx->data;
            v->hw_pass = 1;
            v->hw_sw_fmt = fc->sw_format;
            v->hw_w = f->width;
            v->hw_h = f->height;
            /* What a later change is filtered back to (software frames of
             * the content format, uploaded by the plugin). */
            v->configured = 1;
            v->in_w = v->out_w = f->width;
            v->in_h = v->out_h = f->height;
            v->in_fmt = v->out_fmt = fc->sw_format;
        }
        ret = video_encode(t, f);
        if (ret != 1)
            return ret;
        /* The plugin refused hardware frames: software from now on. */
        v->hw_pass = 0;
        v->configured = 0;
    } else if (v->hw_pass) {
        dcv_log(DCV_LOG_INFO, LOG_COMP,
                "video input changed to %dx%d at frame %" PRId64 "; downloading from the GPU",
                f->width, f->height, v->frames_decoded);
        v->hw_pass = 0;
    }
    sw = av_frame_alloc();
    if (!sw)
        return dcv_tc_fail(t, -ENOMEM, "out of memory");
    ret = av_hwframe_transfer_data(sw, f, 0);
    if (ret >= 0)
        ret = av_frame_copy_props(sw, f);
    if (ret < 0) {
        av_frame_free(&sw);
        return dcv_tc_fail_av(t, ret, "download video frame %" PRId64 " from the GPU",
                              v->frames_decoded);
    }
    ret = video_sw_frame(t, sw);
    av_frame_free(&sw);
    return ret;
}

static int video_frame(struct tc *t, AVFrame *f)
{
    struct vstate *v = &t->v;
    AVRational tb = v->ist->time_base;
    int64_t pts = f->best_effort_timestamp, dur = FRAME_DURATION(f);

    v->frames_decoded++;
    if (pts == AV_NOPTS_VALUE)
        pts = v->next_pts != AV_NOPTS_VALUE ? v->next_pts : v->off;
    /* Containers need not store a frame's duration (Matroska omits the
     * last one of a variable-rate stream). A packet without one makes MP4's
     * edit list end where the last frame starts, hiding that frame, so give
     * the frame the previous frame's interval (it ends the same cadence), or
     * one frame at the nominal rate. */
    if (dur <= 0 && v->prev_in_pts != AV_NOPTS_VALUE && pts > v->prev_in_pts)
        dur = pts - v->prev_in_pts;
    if (dur <= 0 && v->fr.num > 0 && v->fr.den > 0)
        dur = av_rescale_q(1, av_inv_q(v->fr), tb);
    if (dur > 0)
        FRAME_DURATION(f) = dur;
    v->prev_in_pts = pts;
    v->next_pts = pts + (dur > 0 ? dur : 1);

    int64_t us = av_rescale_q(pts, tb, AV_TIME_BASE_Q);
    if (us < t->start_abs_us)
        return 0;
    if (us >= t->end_abs_us) {
        v->ended = 1;
        return 0;
    }
    pts -= v->off;
    if (pts <= v->last_pts) {
        /* Encoders and muxers need strictly increasing timestamps. */
        if (!v->dropped_nonmono++)
            dcv_log(DCV_LOG_WARN, LOG_COMP,
                    "'%s': dropping video frames with non-increasing timestamps", t->in_name);
        return 0;
    }
    v->last_pts = pts;
    f->pts = pts;

    if (f->hw_frames_ctx)
        return video_hw_frame(t, f);
    return video_sw_frame(t, f);
}

/* A decoded software frame: through the filter graph, or straight on. */
static int video_sw_frame(struct tc *t, AVFrame *f)
{
    struct vstate *v = &t->v;
    int ret;

    if (!v->configured) {
        ret = setup_video_graph(t, f, 0);
        if (ret < 0)
            return ret;
    } else if (f->width != v->in_w || f->height != v->in_h || f->format != v->in_fmt) {
        dcv_log(DCV_LOG_INFO, LOG_COMP, "video input changed to %dx%d %s at frame %" PRId64,
                f->width, f->height, av_get_pix_fmt_name((enum AVPixelFormat)f->format),
                v->frames_decoded);
        ret = v->graph ? video_pull(t) : 0;
        if (ret < 0)
            return ret;
        ret = setup_video_graph(t, f, 1);
        if (ret < 0)
            return ret;
    }
    if (!v->graph)
        return video_encode(t, f);
    ret = av_buffersrc_add_frame_flags(v->src, f, 0);
    if (ret < 0)
        return dcv_tc_fail_av(t, ret, "filter video frame %" PRId64, v->frames_decoded);
    return video_pull(t);
}

int dcv_tc_video_decode(struct tc *t, const AVPacket *pkt)
{
    struct vstate *v = &t->v;
    int ret = avcodec_send_packet(v->dec, pkt);

    if (ret < 0 && ret != AVERROR_EOF) {
        if (ret == AVERROR(ENOMEM))
            return dcv_tc_fail(t, -ENOMEM, "out of memory");
        v->errors++;
        av_strerror(ret, v->last_decode_err, sizeof(v->last_decode_err));
        if (++v->consecutive_errors >= MAX_CONSECUTIVE_DECODE_ERRORS)
            return dcv_tc_fail_av(t, ret,
                                  "decode video frame %" PRId64 " of '%s' (%d errors in a row)",
                                  v->frames_decoded + 1, t->in_name, v->consecutive_errors);
        if (v->errors == 1)
            dcv_log(DCV_LOG_WARN, LOG_COMP, "'%s': damaged video packet at frame %" PRId64 ": %s",
                    t->in_name, v->frames_decoded + 1, v->last_decode_err);
        return 0;
    }
    for (;;) {
        ret = avcodec_receive_frame(v->dec, v->frame);
        if (ret == AVERROR(EAGAIN) || ret == AVERROR_EOF)
            return 0;
        if (ret < 0) {
            if (ret == AVERROR(ENOMEM))
                return dcv_tc_fail(t, -ENOMEM, "out of memory");
            v->errors++;
            av_strerror(ret, v->last_decode_err, sizeof(v->last_decode_err));
            if (++v->consecutive_errors >= MAX_CONSECUTIVE_DECODE_ERRORS)
                return dcv_tc_fail_av(t, ret, "decode video frame %" PRId64 " of '%s'",
                                      v->frames_decoded + 1, t->in_name);
            continue;
        }
        v->consecutive_errors = 0;
        ret = video_frame(t, v->frame);
        av_frame_unref(v->frame);
        if (ret < 0)
            return ret;
    }
}

int dcv_tc_video_flush(struct tc *t)
{
    struct vstate *v = &t->v;
    int ret = dcv_tc_video_decode(t, NULL);

    if (ret < 0)
        return ret;
    if (v->graph) {
        ret = av_buffersrc_add_frame_flags(v->src, NULL, 0);
        if (ret < 0)
            return dcv_tc_fail_av(t, ret, "flush video filter");
        ret = video_pull(t);
        if (ret < 0)
            return ret;
    }
    if (!v->enc) {
        if (v->frames_decoded == 0)
            return dcv_tc_fail(t, -EINVAL, "no video frame could be decoded from '%s'%s%s%s",
                               t->in_name, v->errors ? " (" : "", v->last_decode_err,
                               v->errors ? ")" : "");
        return dcv_tc_fail(t, -EINVAL, "'%s' has no video frames in the requested time range",
                           t->in_name);
    }
    ret = dcv_enc_session_send(v->enc, NULL);
    if (ret < 0 && ret != -ENODATA)
        return dcv_tc_fail(t, ret, "flush encoder %s: %s", v->cc->encoder,
                           dcv_enc_session_error(v->enc));
    return video_drain_encoder(t, 1);
}
