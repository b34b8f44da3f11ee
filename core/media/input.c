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

#define DISCONT_THRESHOLD_US (10LL * 1000000)

/* ------------------------------------------------------------------------ */
/* Input                                                                     */
/* ------------------------------------------------------------------------ */

int dcv_tc_open_input(struct tc *t)
{
    const struct dcv_transcode_req *r = t->req;
    int ret;

    t->ic = avformat_alloc_context();
    if (!t->ic)
        return dcv_tc_fail(t, -ENOMEM, "out of memory");
    t->ic->interrupt_callback.callback = dcv_tc_interrupt_cb;
    t->ic->interrupt_callback.opaque = t;
    if (r->input_io) {
        t->ic->pb = r->input_io;
        t->ic->flags |= AVFMT_FLAG_CUSTOM_IO;
    }
    ret = avformat_open_input(&t->ic, t->in_name, NULL, NULL);
    if (ret < 0) {
        t->ic = NULL; /* freed by avformat_open_input */
        if (t->cancelled)
            return dcv_tc_cancelled_error(t);
        return dcv_tc_fail_av(t, ret, "input '%s'", t->in_name);
    }
    /* libavformat settles for its best guess when nothing is convincing:
     * random bytes then "decode" as raw H.263 into garbage pictures and the
     * job would succeed. Real files score above AVPROBE_SCORE_RETRY (the
     * lowest seen is MPEG-PS at 26), and a matching file extension alone
     * lifts a guess to 50, so at or below it the input is not media. */
    if (t->ic->probe_score <= AVPROBE_SCORE_RETRY)
        return dcv_tc_fail(t, -EINVAL,
                           "input '%s' is not recognisable media (libavformat's best guess, "
                           "%s, has confidence %d/100)",
                           t->in_name, t->ic->iformat->name, t->ic->probe_score);
    ret = avformat_find_stream_info(t->ic, NULL);
    if (ret < 0) {
        if (t->cancelled)
            return dcv_tc_cancelled_error(t);
        return dcv_tc_fail_av(t, ret, "input '%s': reading stream information", t->in_name);
    }
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
