/*
 * Interlaced sources: decide once per transcode, before the first frame,
 * what the video filter and the encoder do with the fields.
 *
 * The stream's field order says whether the source is interlaced (MPEG-2
 * and H.264 in MPEG-TS say it, and so do most containers). Where it does
 * not, idet's look at the first frames decides (look.c); an input that
 * cannot be read twice (a stream from the data plane, a live URL) is
 * judged by its first decoded frame's interlaced flag.
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

#include <libavformat/avformat.h>

#include "log.h"

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

int dcv_tc_interlace_order(const struct tc *t)
{
    return order_of(t->v.ist->codecpar->field_order);
}

int dcv_tc_interlace_decide(struct tc *t, int looked)
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
    if (order == '?')
        order = looked;
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
