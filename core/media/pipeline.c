/*
 * The transcode pipeline: demux -> decode -> filter -> encode (plugin) -> mux.
 *
 * Speed matters as much as correctness here: the target is the ffmpeg CLI's
 * own throughput with the same encoder settings. So decoded frames go to
 * the encoder by reference (no copies), the decoder runs with automatic
 * frame+slice threading, and the filter graph is only built when a frame
 * actually needs changing (odd size, downscale, pixel format); otherwise
 * frames pass straight through.
 *
 * Timestamps are never resampled to a constant rate: frames keep their
 * pts in the input stream's time base (VFR stays VFR), shifted so the
 * output starts at 0.
 *
 * Everything that could touch the final output name happens on
 * OUTPUT.part, renamed after fsync on success only.
 *
 * This file owns what ties the stages together: the order of the setup,
 * which input stream goes where, the read loop, the time range, finishing
 * and freeing. The stages themselves live in input.c, video.c, audio.c and
 * output.c, the error and progress helpers every stage uses in tc.c (see
 * tc.h).
 */
#include "media/pipeline.h"
#include "clock.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <libavcodec/avcodec.h>
#include <libavfilter/avfilter.h>
#include <libavformat/avformat.h>
#include <libavutil/avstring.h>

#include "log.h"
#include "media/tc.h"
#include "media/verify.h"

/* ------------------------------------------------------------------------ */
/* Output streams                                                            */
/* ------------------------------------------------------------------------ */

static int setup_streams(struct tc *t)
{
    AVFormatContext *ic = t->ic, *oc = t->oc;
    const struct dcv_profile *p = t->prof;
    int ret;

    t->nss = ic->nb_streams;
    t->ss = calloc(t->nss ? t->nss : 1, sizeof(*t->ss));
    if (!t->ss)
        return dcv_tc_fail(t, -ENOMEM, "out of memory");

    /* Video first: what players and tools expect as track 1. */
    t->v.ost = avformat_new_stream(oc, NULL);
    if (!t->v.ost)
        return dcv_tc_fail(t, -ENOMEM, "out of memory");
    t->ss[t->v.index].kind = SK_VIDEO;
    t->ss[t->v.index].ist = t->v.ist;
    ret = dcv_tc_copy_stream_meta(t->v.ost, t->v.ist, 1);
    if (ret < 0)
        return dcv_tc_fail(t, -ENOMEM, "out of memory");
    /* The cadence, not the average: a VFR clip's average (27 fps for
     * 30 fps after a gap) makes Matroska's default duration, and every
     * reader's idea of the frame times, wrong. */
    t->v.ost->avg_frame_rate = t->v.out_fr.num > 0 ? t->v.out_fr : t->v.ist->avg_frame_rate;

    for (unsigned i = 0; i < ic->nb_streams; i++) {
        struct sstate *s = &t->ss[i];
        AVStream *ist = ic->streams[i];
        enum AVMediaType type = ist->codecpar->codec_type;
        const char *cname = avcodec_get_name(ist->codecpar->codec_id);
        int q;

        if ((int)i == t->v.index)
            continue;
        s->ist = ist;
        s->kind = SK_SKIP;
        if (type == AVMEDIA_TYPE_AUDIO && p->audio != DCV_AUDIO_NONE) {
            s->kind = p->audio == DCV_AUDIO_COPY ? SK_COPY : SK_AUDIO;
            if (s->kind == SK_COPY) {
                q = avformat_query_codec(t->ofmt, ist->codecpar->codec_id, FF_COMPLIANCE_NORMAL);
                if (q == 0 || !dcv_tc_muxer_accepts(t->ofmt, ist->codecpar)) {
                    /* Copy is the default, not a demand: re-encode what the
                     * container cannot carry rather than fail the job. */
                    dcv_log(DCV_LOG_WARN, LOG_COMP,
                            "audio stream #%u: %s cannot go into %s; re-encoding to aac", i,
                            cname, t->ofmt->name);
                    s->kind = SK_AUDIO;
                }
            }
        } else if (type == AVMEDIA_TYPE_SUBTITLE && p->subs == DCV_SUBS_COPY) {
            q = avformat_query_codec(t->ofmt, ist->codecpar->codec_id, FF_COMPLIANCE_NORMAL);
            if (q == 1 && dcv_tc_muxer_accepts(t->ofmt, ist->codecpar))
                s->kind = SK_COPY;
            else
                dcv_log(DCV_LOG_WARN, LOG_COMP,
                        "subtitle stream #%u (%s) skipped: the %s container cannot carry it", i,
                        cname, t->ofmt->name);
        } else if (type == AVMEDIA_TYPE_VIDEO) {
            dcv_log(DCV_LOG_INFO, LOG_COMP, "%s stream #%u (%s) skipped",
                    (ist->disposition & AV_DISPOSITION_ATTACHED_PIC) ? "cover art"
                                                                     : "extra video",
                    i, cname);
        } else if (type == AVMEDIA_TYPE_DATA || type == AVMEDIA_TYPE_ATTACHMENT) {
            dcv_log(DCV_LOG_INFO, LOG_COMP, "%s stream #%u (%s) skipped",
                    av_get_media_type_string(type), i, cname);
        }
        if (s->kind == SK_SKIP) {
            ist->discard = AVDISCARD_ALL;
            continue;
        }
        s->ost = avformat_new_stream(oc, NULL);
        if (!s->ost)
            return dcv_tc_fail(t, -ENOMEM, "out of memory");
        s->off = av_rescale_q(t->offset_us, AV_TIME_BASE_Q, ist->time_base);
        if (dcv_tc_copy_stream_meta(s->ost, ist, s->kind != SK_COPY) < 0)
            return dcv_tc_fail(t, -ENOMEM, "out of memory");
        if (s->kind == SK_COPY) {
            ret = avcodec_parameters_copy(s->ost->codecpar, ist->codecpar);
            if (ret < 0)
                return dcv_tc_fail_av(t, ret, "stream #%u parameters", i);
            s->ost->codecpar->codec_tag = 0; /* the new container picks its own */
            s->ost->time_base = ist->time_base;
            s->ost->avg_frame_rate = ist->avg_frame_rate;
        } else {
            /* AUDIO_COPY here means the fallback re-encode chosen above. */
            ret = dcv_tc_setup_audio_encode(t, s, i,
                                            p->audio == DCV_AUDIO_COPY ? DCV_AUDIO_AAC : p->audio);
            if (ret < 0)
                return ret;
        }
    }
    t->last_dts = malloc(oc->nb_streams * sizeof(*t->last_dts));
    if (!t->last_dts)
        return dcv_tc_fail(t, -ENOMEM, "out of memory");
    for (unsigned i = 0; i < oc->nb_streams; i++)
        t->last_dts[i] = AV_NOPTS_VALUE;
    return dcv_tc_copy_chapters(t);
}

static int copy_packet(struct tc *t, struct sstate *s, AVPacket *pkt)
{
    AVRational tb = s->ist->time_base;
    int64_t ts = pkt->pts != AV_NOPTS_VALUE ? pkt->pts : pkt->dts;

    if (ts != AV_NOPTS_VALUE) {
        int64_t us = av_rescale_q(ts, tb, AV_TIME_BASE_Q);
        if (us >= t->end_abs_us) {
            s->done = 1;
            av_packet_unref(pkt);
            return 0;
        }
        if (us < t->start_abs_us) {
            int64_t end_us = av_rescale_q(ts + pkt->duration, tb, AV_TIME_BASE_Q);
            /* A subtitle showing across the start is kept, shortened;
             * an audio packet is all or nothing. */
            if (s->ist->codecpar->codec_type != AVMEDIA_TYPE_SUBTITLE || pkt->duration <= 0 ||
                end_us <= t->start_abs_us) {
                av_packet_unref(pkt);
                return 0;
            }
            int64_t start_ts = av_rescale_q(t->start_abs_us, AV_TIME_BASE_Q, tb);
            pkt->duration -= start_ts - ts;
            pkt->pts = pkt->dts = start_ts;
        }
    } else if (t->start_abs_us != INT64_MIN) {
        av_packet_unref(pkt);
        return 0;
    }
    if (pkt->pts != AV_NOPTS_VALUE)
        pkt->pts -= s->off;
    if (pkt->dts != AV_NOPTS_VALUE)
        pkt->dts -= s->off;
    return dcv_tc_mux(t, pkt, tb, s->ost->index);
}

/* ------------------------------------------------------------------------ */
/* Main loop                                                                 */
/* ------------------------------------------------------------------------ */

static int all_done(const struct tc *t)
{
    if (!t->v.ended)
        return 0;
    for (unsigned i = 0; i < t->nss; i++) {
        const struct sstate *s = &t->ss[i];
        /* Subtitles are sparse: waiting for one past the end could mean
         * reading the whole rest of the file. */
        if ((s->kind == SK_COPY || s->kind == SK_AUDIO) && !s->done &&
            s->ist->codecpar->codec_type == AVMEDIA_TYPE_AUDIO)
            return 0;
    }
    return 1;
}

static void seek_to_start(struct tc *t)
{
    int64_t ts;
    int ret;

    if (t->start_abs_us == INT64_MIN || t->start_abs_us <= t->in_start_us)
        return;
    if (t->live) {
        dcv_log(DCV_LOG_INFO, LOG_COMP, "'%s' is not seekable: decoding up to the start",
                t->in_name);
        return;
    }
    ts = t->start_abs_us;
    ret = avformat_seek_file(t->ic, -1, INT64_MIN, ts, ts, 0);
    if (ret < 0) {
        char e[AV_ERROR_MAX_STRING_SIZE];
        av_strerror(ret, e, sizeof(e));
        dcv_log(DCV_LOG_WARN, LOG_COMP, "'%s': seek failed (%s); decoding from the start",
                t->in_name, e);
    }
}

static int run_loop(struct tc *t)
{
    AVPacket *pkt = av_packet_alloc();
    int ret = 0;

    if (!pkt)
        return dcv_tc_fail(t, -ENOMEM, "out of memory");
    while (!all_done(t)) {
        ret = dcv_tc_progress_tick(t);
        if (ret < 0) {
            ret = dcv_tc_cancelled_error(t);
            break;
        }
        ret = av_read_frame(t->ic, pkt);
        if (ret == AVERROR(EAGAIN)) {
            struct timespec ts = { 0, 10 * 1000 * 1000 };
            nanosleep(&ts, NULL);
            continue;
        }
        if (ret == AVERROR_EOF) {
            ret = 0;
            break;
        }
        if (ret < 0) {
            if (t->cancelled)
                ret = dcv_tc_cancelled_error(t);
            else
                ret = dcv_tc_fail_av(t, ret, "read input '%s'", t->in_name);
            break;
        }
        if (pkt->stream_index < 0 || (unsigned)pkt->stream_index >= t->nss) {
            av_packet_unref(pkt); /* a stream that appeared after the start */
            continue;
        }
        struct sstate *s = &t->ss[pkt->stream_index];
        if (s->kind == SK_SKIP) {
            av_packet_unref(pkt);
            continue;
        }
        if (t->ts_discont)
            dcv_tc_fix_discontinuity(t, pkt);
        if (pkt->pts != AV_NOPTS_VALUE || pkt->dts != AV_NOPTS_VALUE) {
            int64_t ts = pkt->pts != AV_NOPTS_VALUE ? pkt->pts : pkt->dts;
            int64_t end = av_rescale_q(ts + (pkt->duration > 0 ? pkt->duration : 0),
                                       t->ic->streams[pkt->stream_index]->time_base,
                                       AV_TIME_BASE_Q);
            if (end > t->in_max_end_us)
                t->in_max_end_us = end;
        }
        switch (s->kind) {
        case SK_VIDEO:
            ret = t->v.ended ? 0 : dcv_tc_video_decode(t, pkt);
            break;
        case SK_COPY:
            ret = s->done ? 0 : copy_packet(t, s, pkt);
            break;
        case SK_AUDIO:
            if (!s->done && pkt->pts != AV_NOPTS_VALUE &&
                av_rescale_q(pkt->pts, s->ist->time_base, AV_TIME_BASE_Q) >= t->end_abs_us)
                s->done = 1;
            ret = s->done ? 0 : dcv_tc_audio_decode(t, s, pkt, (unsigned)pkt->stream_index);
            break;
        default:
            break;
        }
        av_packet_unref(pkt);
        if (ret < 0)
            break;
    }
    av_packet_free(&pkt);
    return ret;
}

/* A file whose packets stop well before the duration its header declares
 * was cut short (an interrupted copy or download): transcoding it would
 * "succeed" with a truncated result, so fail instead. */
static int check_truncation(struct tc *t)
{
    const AVFormatContext *ic = t->ic;
    int64_t declared_end, slack;

    /* Formats with timestamp jumps have no trustworthy duration to hold
     * the content against, and a cut MPEG-TS is still a valid stream. */
    if (t->live || t->v.ended || t->ts_discont || ic->duration == AV_NOPTS_VALUE ||
        ic->duration <= 0 || ic->duration_estimation_method == AVFMT_DURATION_FROM_BITRATE)
        return 0;
    declared_end = t->in_start_us + ic->duration;
    slack = ic->duration / 50;
    if (slack < 500000)
        slack = 500000;
    if (t->in_max_end_us + slack < declared_end)
        return dcv_tc_fail(t, -EINVAL,
                           "input '%s' ends at %.2f s but declares %.2f s: the file is "
                           "truncated or damaged",
                           t->in_name, (double)(t->in_max_end_us - t->in_start_us) / 1e6,
                           (double)ic->duration / 1e6);
    return 0;
}

static int finish(struct tc *t)
{
    int ret = dcv_tc_video_flush(t);

    if (ret < 0)
        return ret;
    for (unsigned i = 0; i < t->nss; i++) {
        if (t->ss[i].kind != SK_AUDIO)
            continue;
        ret = dcv_tc_audio_flush(t, &t->ss[i], i);
        if (ret < 0)
            return ret;
    }
    ret = check_truncation(t);
    if (ret < 0)
        return ret;
    if (!t->header_written) {
        ret = dcv_tc_write_header(t);
        if (ret < 0)
            return ret;
    }
    ret = av_write_trailer(t->oc);
    if (ret < 0) {
        if (t->of.err == ENOSPC || ret == AVERROR(ENOSPC))
            return dcv_tc_fail(t, -ENOSPC, "disk full writing '%s'",
                               t->part_path ? t->part_path : t->out_name);
        return dcv_tc_fail_av(t, ret, "finish output '%s'", t->out_name);
    }
    if (t->own_pb)
        return dcv_tc_commit_output(t);
    avio_flush(t->oc->pb);
    if (t->oc->pb->error < 0)
        return dcv_tc_fail_av(t, t->oc->pb->error, "write output '%s'", t->out_name);
    return 0;
}

static int same_file(const char *a, const char *b)
{
    struct stat sa, sb;
    return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev &&
           sa.st_ino == sb.st_ino;
}

static int setup_time_range(struct tc *t)
{
    const struct dcv_profile *p = t->prof;

    t->start_abs_us = INT64_MIN;
    t->end_abs_us = INT64_MAX;
    t->offset_us = t->in_start_us;
    if (p->duration_us == 0 || p->duration_us < -1)
        return dcv_tc_fail(t, -EINVAL, "duration must be positive");
    if (p->start_us > 0) {
        t->start_abs_us = t->in_start_us + p->start_us;
        t->offset_us = t->start_abs_us;
    }
    if (p->duration_us > 0)
        t->end_abs_us = t->offset_us + p->duration_us;

    t->expected_us = -1;
    if (!t->live && t->ic->duration > 0) {
        int64_t avail = t->ic->duration - (p->start_us > 0 ? p->start_us : 0);
        if (avail <= 0)
            return dcv_tc_fail(t, -EINVAL, "start %.3f s is past the end of '%s' (%.3f s)",
                               (double)p->start_us / 1e6, t->in_name,
                               (double)t->ic->duration / 1e6);
        t->expected_us = avail;
    }
    if (p->duration_us > 0 && (t->expected_us < 0 || p->duration_us < t->expected_us))
        t->expected_us = p->duration_us;
    return 0;
}

static void tc_free(struct tc *t)
{
    if (t->v.enc)
        dcv_enc_session_close(&t->v.enc);
    avfilter_graph_free(&t->v.graph);
    avcodec_free_context(&t->v.dec);
    av_frame_free(&t->v.frame);
    av_frame_free(&t->v.filt);
    for (unsigned i = 0; t->ss && i < t->nss; i++) {
        struct sstate *s = &t->ss[i];
        avfilter_graph_free(&s->graph);
        avcodec_free_context(&s->dec);
        avcodec_free_context(&s->enc);
        av_channel_layout_uninit(&s->g_layout);
    }
    free(t->ss);
    free(t->last_dts);
    dcv_tc_queue_free(t);
    if (t->part_path || t->own_pb || t->of.fd >= 0)
        dcv_tc_discard_output(t);
    if (t->oc) {
        if (!(t->oc->flags & AVFMT_FLAG_CUSTOM_IO) && t->oc->pb)
            avio_closep(&t->oc->pb);
        avformat_free_context(t->oc);
    }
    dcv_media_close_input(&t->ic); /* avformat_close_input, less an FFmpeg leak */
}

int dcv_transcode(const struct dcv_transcode_req *req, struct dcv_transcode_result *result,
                  char *err, size_t errlen)
{
    struct tc t;
    struct dcv_profile prof;
    char dummy[8];
    int ret;

    memset(&t, 0, sizeof(t));
    t.of.fd = -1;
    t.err = err && errlen ? err : dummy;
    t.errlen = err && errlen ? errlen : sizeof(dummy);
    t.err[0] = '\0';
    if (result)
        memset(result, 0, sizeof(*result));
    if (!req || !req->input || !req->output || !req->profile)
        return dcv_tc_fail(&t, -EINVAL, "transcode: input, output and profile are required");
    /* A private copy so codec-dependent defaults (the CRF) can be filled
     * in without touching the caller's profile. */
    prof = *req->profile;
    dcv_profile_resolve(&prof);
    if ((ret = dcv_profile_check(&prof, t.err, t.errlen)) < 0)
        return ret;
    t.req = req;
    t.prof = &prof;
    t.in_name = req->input;
    t.out_name = req->output;
    t.t0_ns = dcv_mono_ns();
    t.last_progress_ns = (int64_t)t.t0_ns;
    av_strlcpy(t.ff_err_before, dcv_log_last_ffmpeg_error() ? dcv_log_last_ffmpeg_error() : "",
               sizeof(t.ff_err_before));

    if (!req->output_io && !req->input_io && same_file(req->input, req->output)) {
        ret = dcv_tc_fail(&t, -EINVAL, "output '%s' is the input file", req->output);
        goto out;
    }
    if ((ret = dcv_tc_choose_container(&t)) < 0)
        goto out;
    if ((ret = dcv_tc_open_input(&t)) < 0)
        goto out;
    if ((ret = setup_time_range(&t)) < 0)
        goto out;
    if ((ret = dcv_tc_find_video_stream(&t)) < 0)
        goto out;
    if ((ret = dcv_tc_choose_encoder(&t)) < 0)
        goto out;
    if ((ret = dcv_tc_open_video_decoder(&t)) < 0)
        goto out;

    ret = avformat_alloc_output_context2(&t.oc, t.ofmt, NULL, req->output);
    if (ret < 0 || !t.oc) {
        ret = dcv_tc_fail_av(&t, ret < 0 ? ret : AVERROR(ENOMEM), "output '%s'", req->output);
        goto out;
    }
    if (av_dict_copy(&t.oc->metadata, t.ic->metadata, 0) < 0) {
        ret = dcv_tc_fail(&t, -ENOMEM, "out of memory");
        goto out;
    }
    av_dict_set(&t.oc->metadata, "encoder", NULL, 0);
    if ((ret = setup_streams(&t)) < 0)
        goto out;
    if (req->output_io) {
        t.oc->pb = req->output_io;
        t.oc->flags |= AVFMT_FLAG_CUSTOM_IO;
    } else if ((ret = dcv_tc_open_output_file(&t)) < 0) {
        goto out;
    }
    seek_to_start(&t);
    if ((ret = run_loop(&t)) < 0)
        goto out;
    if ((ret = finish(&t)) < 0)
        goto out;

    if (result) {
        double el = dcv_tc_elapsed_s(&t);
        av_strlcpy(result->encoder, t.v.cc->encoder, sizeof(result->encoder));
        av_strlcpy(result->plugin, t.v.choice.plugin->hdr.name ? t.v.choice.plugin->hdr.name : "",
                   sizeof(result->plugin));
        av_strlcpy(result->device_id, t.v.choice.caps.device_id, sizeof(result->device_id));
        result->frames = t.v.packets;
        result->duration_us = t.out_max_end_us;
        result->elapsed_s = el;
        result->fps = el > 0 ? (double)t.v.packets / el : 0;
        result->input_span_us = t.in_max_end_us > t.in_start_us ? t.in_max_end_us - t.in_start_us
                                                                 : -1;
        result->ts_jumps = t.disc_jumps;
        for (unsigned i = 0; i < t.nss; i++) {
            enum AVMediaType type = t.ss[i].ist ? t.ss[i].ist->codecpar->codec_type
                                                : AVMEDIA_TYPE_UNKNOWN;
            if (t.ss[i].kind == SK_SKIP || t.ss[i].kind == SK_VIDEO)
                continue;
            if (type == AVMEDIA_TYPE_AUDIO)
                result->audio_streams++;
            else if (type == AVMEDIA_TYPE_SUBTITLE)
                result->subtitle_streams++;
        }
    }
    if (req->progress) {
        struct dcv_progress p;
        dcv_tc_fill_progress(&t, &p, 1);
        /* The output is complete; a cancel request now changes nothing. */
        req->progress(&p, req->progress_user);
    }
    ret = 0;
out:
    if (ret == -ECANCELED && t.err[0] == '\0')
        dcv_tc_cancelled_error(&t);
    tc_free(&t);
    return ret;
}

int dcv_progress_format(const struct dcv_progress *p, char *buf, size_t len)
{
    char pct[16], size[32];
    int64_t s = p->out_time_us / 1000000;

    if (p->percent >= 0)
        snprintf(pct, sizeof(pct), "%5.1f%%", p->percent);
    else
        snprintf(pct, sizeof(pct), "  live");
    if (p->bytes_out >= 1 << 20)
        snprintf(size, sizeof(size), "%.1f MiB", (double)p->bytes_out / (1 << 20));
    else
        snprintf(size, sizeof(size), "%.0f KiB", (double)p->bytes_out / 1024);
    return snprintf(buf, len,
                    "%s frame=%" PRId64 " fps=%.1f speed=%.2fx time=%02" PRId64 ":%02" PRId64
                    ":%02" PRId64 ".%02" PRId64 " size=%s",
                    pct, p->frames, p->fps, p->speed, s / 3600, s / 60 % 60, s % 60,
                    p->out_time_us % 1000000 / 10000, size);
}
