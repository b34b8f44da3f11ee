/*
 * Interlaced sources: decide once per transcode, before the first frame,
 * what the video filter and the encoder do with the fields.
 *
 * The stream's field order says whether the source is interlaced (MPEG-2
 * and H.264 in MPEG-TS say it, and so do most containers). Where it does
 * not, a short look with idet at the start of the input decides (a second
 * reading of the first seconds: the main demuxer is left where it is);
 * an input that cannot be read twice (a stream from the data plane, a
 * live URL) is judged by its first decoded frame's interlaced flag.
 *
 * Then, with a progressive target (the default), an interlaced source is
 * deinterlaced with bwdif, one frame per frame (or per field with
 * --deinterlace double); with --interlaced keep, x264 codes the fields
 * (PAFF/MBAFF, tff or bff as the source) and the output stream is flagged
 * with that field order.
 */
#include "media/tc.h"

#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>

#include "log.h"
#include "media/idet.h"
#include "media/verify.h"

/* What the look at the start decodes at most: enough frames for idet's
 * multi-frame verdict on real content, a fraction of a second of work. */
#define LOOK_FRAMES 60
#define LOOK_PACKETS 2000

/* 'T', 'B', 'P' or '?' from a stream's field order (display order). */
static int order_of(enum AVFieldOrder fo)
{
    switch (fo) {
    case AV_FIELD_TT: case AV_FIELD_BT: return 'T';
    case AV_FIELD_BB: case AV_FIELD_TB: return 'B';
    case AV_FIELD_PROGRESSIVE: return 'P';
    default: return '?';
    }
}

static int look_decode(AVCodecContext *dec, const AVPacket *pkt, AVFrame *f, struct dcv_idet *d,
                       AVRational tb, int *frames, char *err, size_t errlen)
{
    int r = avcodec_send_packet(dec, pkt);

    if (r < 0 && r != AVERROR_EOF && r != AVERROR_INVALIDDATA)
        return 0; /* a damaged packet: the main decode deals with it */
    while ((r = avcodec_receive_frame(dec, f)) >= 0) {
        r = dcv_idet_frame(d, f, tb, err, errlen);
        av_frame_unref(f);
        if (r < 0)
            return r;
        (*frames)++;
    }
    return 0;
}

/* idet over the first LOOK_FRAMES frames of the video stream, read from a
 * second opening of the input. '?' when it could not be done (the reason
 * logged at debug: the caller falls back to the frames' own flags). */
static int look(struct tc *t)
{
    AVFormatContext *fc = NULL;
    AVCodecContext *dec = NULL;
    AVDictionary **opts = NULL;
    AVPacket *pkt = av_packet_alloc();
    AVFrame *f = av_frame_alloc();
    struct dcv_idet *d = NULL;
    struct dcv_idet_counts c = {0};
    const AVCodec *codec;
    AVStream *st;
    char err[256] = "";
    unsigned nopts;
    int r, frames = 0, verdict = '?';

    if (!pkt || !f || dcv_idet_new(&d) < 0)
        goto out;
    if (dcv_media_open_input(&fc, t->in_name, NULL, t->req->protocol_whitelist) < 0)
        goto out;
    nopts = fc->nb_streams;
    if (dcv_media_stream_opts(fc, &opts) < 0)
        goto out;
    r = avformat_find_stream_info(fc, opts);
    dcv_media_stream_opts_free(&opts, nopts);
    if (r < 0 || (unsigned)t->v.index >= fc->nb_streams)
        goto out;
    st = fc->streams[t->v.index];
    codec = avcodec_find_decoder(st->codecpar->codec_id);
    if (!codec || !(dec = avcodec_alloc_context3(codec)) ||
        avcodec_parameters_to_context(dec, st->codecpar) < 0)
        goto out;
    dec->pkt_timebase = st->time_base;
    dec->max_pixels = DCV_MEDIA_MAX_PIXELS;
    dec->thread_count = 0;
    if (avcodec_open2(dec, codec, NULL) < 0)
        goto out;
    for (unsigned i = 0; i < fc->nb_streams; i++)
        if ((int)i != t->v.index)
            fc->streams[i]->discard = AVDISCARD_ALL;
    for (int n = 0; n < LOOK_PACKETS && frames < LOOK_FRAMES; n++) {
        if (av_read_frame(fc, pkt) < 0)
            break;
        r = pkt->stream_index == t->v.index
                ? look_decode(dec, pkt, f, d, st->time_base, &frames, err, sizeof err)
                : 0;
        av_packet_unref(pkt);
        if (r < 0)
            goto out;
    }
    if (frames < LOOK_FRAMES && look_decode(dec, NULL, f, d, st->time_base, &frames, err,
                                            sizeof err) < 0)
        goto out;
    if (dcv_idet_finish(d, &c, err, sizeof err) < 0)
        goto out;
    verdict = dcv_idet_verdict(&c);
    dcv_log(DCV_LOG_INFO, LOG_COMP,
            "'%s' does not say its field order; idet over its first %d frames: %" PRId64
            " tff, %" PRId64 " bff, %" PRId64 " progressive, %" PRId64 " undetermined",
            t->in_name, frames, c.tff, c.bff, c.progressive, c.undetermined);
out:
    if (err[0])
        dcv_log(DCV_LOG_DEBUG, LOG_COMP, "field order look: %s", err);
    dcv_idet_free(&d);
    avcodec_free_context(&dec);
    dcv_media_close_input(&fc);
    av_packet_free(&pkt);
    av_frame_free(&f);
    return verdict;
}

int dcv_tc_interlace_decide(struct tc *t)
{
    struct vstate *v = &t->v;
    const struct dcv_profile *p = t->prof;
    int order = order_of(v->ist->codecpar->field_order);

    v->ftb = v->ist->time_base;
    v->out_fr = v->fr;
    v->deint = DEINT_NONE;
    v->keep_order = 0;
    v->order_pending = 0;
    if (p->deinterlace == DCV_DEINT_ON) {
        v->deint = DEINT_FRAME;
        dcv_log(DCV_LOG_INFO, LOG_COMP, "video: deinterlacing every frame (bwdif), as asked");
        return 0;
    }
    if (p->deinterlace == DCV_DEINT_OFF && !p->interlaced_keep)
        return 0;
    if (order == '?' && !t->live && !t->req->input_io)
        order = look(t);
    if (order == '?') {
        /* Cannot look twice: the first frame's flags decide (video.c). */
        v->order_pending = 1;
        return 0;
    }
    return dcv_tc_interlace_apply(t, order);
}

int dcv_tc_interlace_apply(struct tc *t, int order)
{
    struct vstate *v = &t->v;
    const struct dcv_profile *p = t->prof;

    v->order_pending = 0;
    if (order != 'T' && order != 'B')
        return 0;
    if (p->interlaced_keep) {
        /* Only x264 codes fields (profile.c refuses other codecs). */
        if (strcmp(v->cc->encoder, "libx264") != 0)
            return dcv_tc_fail(t, -ENOTSUP,
                               "--interlaced keep: the source is interlaced but %s (plugin %s) "
                               "cannot encode interlaced, only libx264 can; use --encoder x264 "
                               "or leave --interlaced keep out to deinterlace",
                               v->cc->encoder, v->choice.plugin->hdr.name);
        v->keep_order = order;
        dcv_log(DCV_LOG_INFO, LOG_COMP, "video: interlaced (%s), encoded interlaced as asked",
                order == 'T' ? "top field first" : "bottom field first");
        return 0;
    }
    if (p->deinterlace == DCV_DEINT_DOUBLE) {
        v->deint = DEINT_FIELD;
        /* Two frames per input frame, at half its time base. */
        v->ftb = av_mul_q(v->ist->time_base, (AVRational){ 1, 2 });
        if (v->fr.num > 0 && v->fr.den > 0)
            v->out_fr = av_mul_q(v->fr, (AVRational){ 2, 1 });
    } else {
        v->deint = DEINT_FRAME;
    }
    dcv_log(DCV_LOG_INFO, LOG_COMP, "video: interlaced (%s); deinterlacing with bwdif, %s",
            order == 'T' ? "top field first" : "bottom field first",
            v->deint == DEINT_FIELD ? "one frame per field" : "one frame per frame");
    return 0;
}

/* The filters that go first in the video chain (with their trailing ','),
 * or "". */
const char *dcv_tc_interlace_chain(const struct tc *t)
{
    switch (t->v.deint) {
    case DEINT_FRAME: return "bwdif=mode=send_frame:deint=all,";
    case DEINT_FIELD: return "bwdif=mode=send_field:deint=all,";
    default: return "";
    }
}

/* extra_opts for the encoder: x264's interlaced coding with the source's
 * field order (FFmpeg's libx264 follows each frame's top_field_first), and
 * the order in the stream parameters, where muxers read it. */
const char *dcv_tc_interlace_enc_opts(const struct tc *t)
{
    if (t->v.keep_order == 'T')
        return "flags=+ildct+ilme:field_order=tt";
    if (t->v.keep_order == 'B')
        return "flags=+ildct+ilme:field_order=bb";
    return "";
}

enum AVFieldOrder dcv_tc_interlace_out_order(const struct tc *t)
{
    if (t->v.keep_order == 'T')
        return AV_FIELD_TT;
    if (t->v.keep_order == 'B')
        return AV_FIELD_BB;
    return AV_FIELD_PROGRESSIVE;
}
