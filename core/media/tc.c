/*
 * What every stage of a transcode uses (see tc.h): the error helpers that
 * write a stage's message into the caller's buffer, the progress callback
 * and cancellation, and the filter-graph linking shared by audio.c and
 * video.c. Kept apart from pipeline.c, which drives the stages, so the
 * stages depend on this file and pipeline.c on them, never back.
 */
#include "media/tc.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <libavcodec/avcodec.h>
#include <libavfilter/avfilter.h>
#include <libavformat/avformat.h>
#include <libavutil/avstring.h>

#include "clock.h"
#include "log.h"

#define PROGRESS_INTERVAL_NS 500000000LL

/* ------------------------------------------------------------------------ */
/* Errors                                                                    */
/* ------------------------------------------------------------------------ */

int dcv_tc_map_averror(int e)
{
    if (e == AVERROR_EXIT)
        return -ECANCELED;
    if (e == AVERROR(ENOMEM))
        return -ENOMEM;
    if (e == AVERROR_INVALIDDATA || e == AVERROR_EOF || e == AVERROR_PATCHWELCOME ||
        e == AVERROR_DECODER_NOT_FOUND || e == AVERROR_DEMUXER_NOT_FOUND ||
        e == AVERROR_STREAM_NOT_FOUND || e == AVERROR_BUG || e == AVERROR_BUG2 ||
        e == AVERROR_ENCODER_NOT_FOUND || e == AVERROR_MUXER_NOT_FOUND ||
        e == AVERROR_OPTION_NOT_FOUND || e == AVERROR_FILTER_NOT_FOUND ||
        e == AVERROR_BSF_NOT_FOUND || e == AVERROR_UNKNOWN)
        return -EINVAL;
    if (e == AVERROR_PROTOCOL_NOT_FOUND)
        return -ENOENT;
    if (e == AVERROR_HTTP_NOT_FOUND)
        return -ENOENT;
    if (e < 0 && e > -4096)
        return e; /* AVERROR(errno) is -errno on POSIX */
    return -EIO;
}

static const char *ff_last_error_new(struct tc *t)
{
    const char *e = dcv_log_last_ffmpeg_error();
    if (!e || !*e || strcmp(e, t->ff_err_before) == 0)
        return NULL;
    return e;
}

/* "STAGE: FFmpeg text" (+ FFmpeg's last logged error when it adds
 * something); returns the mapped negative errno. */
int dcv_tc_fail_av(struct tc *t, int averr, const char *fmt, ...)
{
    char stage[512], avs[AV_ERROR_MAX_STRING_SIZE] = "";
    const char *ffl;
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(stage, sizeof(stage), fmt, ap);
    va_end(ap);
    av_strerror(averr, avs, sizeof(avs));
    ffl = ff_last_error_new(t);
    if (averr == AVERROR(ENOSPC))
        snprintf(t->err, t->errlen, "disk full: %s: %s", stage, avs);
    else if (ffl && !strstr(ffl, avs))
        snprintf(t->err, t->errlen, "%s: %s (%s)", stage, avs, ffl);
    else
        snprintf(t->err, t->errlen, "%s: %s", stage, avs);
    return dcv_tc_map_averror(averr);
}

int dcv_tc_fail(struct tc *t, int ret, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(t->err, t->errlen, fmt, ap);
    va_end(ap);
    return ret;
}

/* ------------------------------------------------------------------------ */
/* Progress                                                                  */
/* ------------------------------------------------------------------------ */

double dcv_tc_elapsed_s(const struct tc *t)
{
    return (double)(dcv_mono_ns() - t->t0_ns) / 1e9;
}

static int64_t bytes_out(const struct tc *t)
{
    if (!t->oc || !t->oc->pb)
        return t->final_bytes;
    int64_t n = avio_tell(t->oc->pb);
    return n < 0 ? 0 : n;
}

/* The frames the output will hold: the stream's own count when the whole
 * input is encoded, else the expected duration at its average rate (a VFR
 * clip keeps its frames, so the average, not the cadence, counts them);
 * twice that when deinterlacing to one frame per field. */
static int64_t frames_total(const struct tc *t)
{
    const struct vstate *v = &t->v;
    AVRational r = v->ist ? v->ist->avg_frame_rate : (AVRational){0, 1};
    int64_t mult = v->fr.num > 0 && v->out_fr.num > 0 &&
                   av_cmp_q(v->out_fr, av_mul_q(v->fr, (AVRational){2, 1})) == 0 ? 2 : 1;

    if (v->ist && v->ist->nb_frames > 0 && t->start_abs_us == INT64_MIN &&
        t->end_abs_us == INT64_MAX)
        return v->ist->nb_frames * mult;
    if (t->expected_us <= 0)
        return -1;
    if (r.num <= 0 || r.den <= 0)
        r = v->fr;
    if (r.num <= 0 || r.den <= 0)
        return -1;
    return av_rescale_q(t->expected_us, AV_TIME_BASE_Q, av_inv_q(r)) * mult;
}

void dcv_tc_fill_progress(const struct tc *t, struct dcv_progress *p, int final)
{
    double el = dcv_tc_elapsed_s(t);

    memset(p, 0, sizeof(*p));
    p->frames = t->v.packets;
    p->frames_total = final ? p->frames : frames_total(t);
    if (p->frames_total >= 0 && p->frames_total < p->frames)
        p->frames_total = p->frames;
    p->fps = el > 0 ? (double)t->v.packets / el : 0;
    p->out_time_us = final && t->out_max_end_us > 0 ? t->out_max_end_us : t->v.out_time_us;
    if (p->out_time_us < 0)
        p->out_time_us = 0;
    p->speed = el > 0 ? (double)p->out_time_us / 1e6 / el : 0;
    p->duration_us = t->expected_us;
    if (t->expected_us > 0) {
        p->percent = final ? 100.0 : 100.0 * (double)p->out_time_us / (double)t->expected_us;
        if (p->percent > 100.0)
            p->percent = 100.0;
    } else {
        p->percent = -1;
    }
    p->bytes_out = bytes_out(t);
}

int dcv_tc_progress_tick(struct tc *t)
{
    struct dcv_progress p;
    int64_t now;

    if (t->cancelled)
        return -ECANCELED;
    if (!t->req->progress || t->in_progress_cb)
        return 0;
    now = (int64_t)dcv_mono_ns();
    if (now - t->last_progress_ns < PROGRESS_INTERVAL_NS)
        return 0;
    t->last_progress_ns = now;
    dcv_tc_fill_progress(t, &p, 0);
    t->in_progress_cb = 1;
    if (t->req->progress(&p, t->req->progress_user) != 0)
        t->cancelled = 1;
    t->in_progress_cb = 0;
    return t->cancelled ? -ECANCELED : 0;
}

/* FFmpeg calls this while it blocks on input I/O, so a stalled live input
 * still reports progress and can be cancelled. */
int dcv_tc_interrupt_cb(void *opaque)
{
    struct tc *t = opaque;
    dcv_tc_progress_tick(t);
    return t->cancelled;
}

int dcv_tc_cancelled_error(struct tc *t)
{
    return dcv_tc_fail(t, -ECANCELED, "transcode of '%s' cancelled", t->in_name);
}

/* ------------------------------------------------------------------------ */
/* Filter graphs (audio.c and video.c)                                       */
/* ------------------------------------------------------------------------ */

/*
 * Put the filter chain `chain` between a graph's buffer source (the chain's
 * input "in") and its sink ("out"), then configure the graph: the same for
 * the audio and the video graphs. 0, or a negative AVERROR with *step
 * saying which step failed, so the caller can name its stream in the error.
 */
int dcv_tc_link_graph(AVFilterGraph *g, AVFilterContext *src, AVFilterContext *sink,
                      const char *chain, enum link_step *step)
{
    AVFilterInOut *out = avfilter_inout_alloc(), *in = avfilter_inout_alloc();
    int ret = AVERROR(ENOMEM);

    *step = LINK_ALLOC;
    if (!out || !in)
        goto done;
    out->filter_ctx = src;
    in->filter_ctx = sink;
    if (!(out->name = av_strdup("in")) || !(in->name = av_strdup("out")))
        goto done;
    *step = LINK_PARSE;
    ret = avfilter_graph_parse_ptr(g, chain, &in, &out, NULL);
    if (ret < 0)
        goto done;
    *step = LINK_CONFIG;
    ret = avfilter_graph_config(g, NULL);
done:
    avfilter_inout_free(&out);
    avfilter_inout_free(&in);
    return ret;
}
