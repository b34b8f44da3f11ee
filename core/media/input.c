/*
 * The input side of a transcode: the demuxer.
 *
 * Owns opening the input (a URL, a path, or the caller's custom AVIO, with
 * our interrupt callback so a stalled live input can still be cancelled),
 * taking timestamp jumps out of formats that have them, and choosing which
 * stream is the video. Kept apart so the data plane's remote AVIO has one
 * place to plug in.
 */
#include "media/tc.h"

#include <errno.h>

#include <libavformat/avformat.h>

#include "log.h"
#include "media/inpolicy.h"
#include "media/verify.h"

#define DISCONT_THRESHOLD_US (10LL * 1000000)

/* ------------------------------------------------------------------------ */
/* Input                                                                     */
/* ------------------------------------------------------------------------ */

int dcv_tc_open_input(struct tc *t)
{
    const struct dcv_transcode_req *r = t->req;
    AVDictionary **opts = NULL;
    unsigned nopts;
    int ret;

    t->ic = avformat_alloc_context();
    if (!t->ic)
        return dcv_tc_fail(t, -ENOMEM, "out of memory");
    t->ic->interrupt_callback.callback = dcv_tc_interrupt_cb;
    t->ic->interrupt_callback.opaque = t;
    /* Under the input policy: what nested opens may reach
     * (media/inpolicy.h; closed with dcv_media_close_input). */
    ret = dcv_media_open_input(&t->ic, t->in_name, r->input_io, r->protocol_whitelist);
    if (ret < 0) {
        t->ic = NULL; /* freed by dcv_media_open_input */
        if (t->cancelled)
            return dcv_tc_cancelled_error(t);
        return dcv_tc_fail_av(t, ret, "input '%s'", t->in_name);
    }
    if ((ret = dcv_media_check_input_format(t->ic, r->protocol_whitelist != NULL, t->err,
                                            t->errlen)) < 0)
        return ret;
    /* A weak format guess (random bytes "decode" as raw H.263) or a header
     * declaring a picture too large to allocate: refuse before any decoder
     * runs (media/verify.c, shared with the job's probe). */
    if ((ret = dcv_media_check_opened(t->ic, t->in_name, t->err, t->errlen)) < 0)
        return ret;
    if ((ret = dcv_media_stream_opts(t->ic, &opts)) < 0)
        return dcv_tc_fail(t, -ENOMEM, "out of memory");
    nopts = t->ic->nb_streams;
    ret = avformat_find_stream_info(t->ic, opts);
    dcv_media_stream_opts_free(&opts, nopts);
    if (ret < 0) {
        if (t->cancelled)
            return dcv_tc_cancelled_error(t);
        return dcv_tc_fail_av(t, ret, "input '%s': reading stream information", t->in_name);
    }
    if ((ret = dcv_media_check_opened(t->ic, t->in_name, t->err, t->errlen)) < 0)
        return ret;
    t->live = !t->ic->pb || !(t->ic->pb->seekable & AVIO_SEEKABLE_NORMAL) ||
              t->ic->duration == AV_NOPTS_VALUE || t->ic->duration <= 0;
    t->in_start_us = t->ic->start_time != AV_NOPTS_VALUE ? t->ic->start_time : 0;
    t->ts_discont = (t->ic->iformat->flags & AVFMT_TS_DISCONT) != 0;
    t->disc_next_us = AV_NOPTS_VALUE;
    return 0;
}

void dcv_tc_fix_discontinuity(struct tc *t, AVPacket *pkt)
{
    AVRational tb = t->ic->streams[pkt->stream_index]->time_base;
    int64_t off, dts_us, end_us;

    if (pkt->dts != AV_NOPTS_VALUE) {
        dts_us = av_rescale_q(pkt->dts, tb, AV_TIME_BASE_Q) + t->disc_offset_us;
        if (t->disc_next_us != AV_NOPTS_VALUE &&
            (dts_us > t->disc_next_us + DISCONT_THRESHOLD_US ||
             dts_us < t->disc_next_us - DISCONT_THRESHOLD_US)) {
            int64_t delta = dts_us - t->disc_next_us;
            t->disc_offset_us -= delta;
            dts_us -= delta;
            t->disc_jumps++;
            dcv_log(DCV_LOG_INFO, LOG_COMP, "'%s': timestamp jump of %.3f s taken out",
                    t->in_name, (double)delta / 1e6);
        }
        end_us = dts_us + av_rescale_q(pkt->duration > 0 ? pkt->duration : 0, tb,
                                       AV_TIME_BASE_Q);
        if (t->disc_next_us == AV_NOPTS_VALUE || end_us > t->disc_next_us)
            t->disc_next_us = end_us;
    }
    if (t->disc_offset_us) {
        off = av_rescale_q(t->disc_offset_us, AV_TIME_BASE_Q, tb);
        if (pkt->pts != AV_NOPTS_VALUE)
            pkt->pts += off;
        if (pkt->dts != AV_NOPTS_VALUE)
            pkt->dts += off;
    }
}

int dcv_tc_find_video_stream(struct tc *t)
{
    AVFormatContext *ic = t->ic;
    int idx = av_find_best_stream(ic, AVMEDIA_TYPE_VIDEO, -1, -1, NULL, 0);

    /* Cover art is a one-picture "video" stream; never transcode it as
     * the video. */
    if (idx >= 0 && (ic->streams[idx]->disposition & AV_DISPOSITION_ATTACHED_PIC)) {
        idx = -1;
        for (unsigned i = 0; i < ic->nb_streams; i++) {
            const AVStream *st = ic->streams[i];
            if (st->codecpar->codec_type == AVMEDIA_TYPE_VIDEO &&
                !(st->disposition & AV_DISPOSITION_ATTACHED_PIC)) {
                idx = (int)i;
                break;
            }
        }
    }
    if (idx < 0)
        return dcv_tc_fail(t, -EINVAL, "no video stream in '%s'", t->in_name);
    t->v.index = idx;
    t->v.ist = ic->streams[idx];
    return 0;
}
