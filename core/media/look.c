/*
 * A short second reading of the start of the input, before the transcode
 * proper (the main demuxer is left where it is):
 *  - the video's cadence, from its packets' own timestamps: what a
 *    container says can be the average (Matroska's default duration, as
 *    the ffmpeg CLI writes it for a variable-rate clip: 27 fps for a phone's
 *    30 fps after a 185 ms gap), and then every reader of our output would
 *    take the frames for longer than they are;
 *  - when asked, idet's verdict on the first frames, for a stream that
 *    does not say its field order (interlace.c).
 * Reading packets costs little; frames are decoded for idet only.
 */
#include "media/tc.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>

#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>

#include "log.h"
#include "media/idet.h"
#include "media/verify.h"

/* Enough frames for idet's multi-frame verdict on real content and for a
 * cadence (a rate change within the first seconds counts), a fraction of
 * a second of work. */
#define LOOK_FRAMES 60
#define LOOK_VIDEO_PACKETS 120
#define LOOK_PACKETS 2000
#define MIN_STEPS 8

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* The rate a step of `step` ticks of tb is, snapped to the common rates
 * (whole numbers up to 240 and their NTSC /1.001 forms) within 0.5 %. */
static AVRational rate_of_step(double step, AVRational tb)
{
    double r = (double)tb.den / ((double)tb.num * step);

    for (int n = 1; n <= 240; n++) {
        if (r > n * 0.995 && r < n * 1.005)
            return (AVRational){ n, 1 };
        if (r > n / 1.001 * 0.9995 && r < n / 1.001 * 1.0005)
            return (AVRational){ n * 1000, 1001 };
    }
    return av_d2q(r, 1001000);
}

/* The cadence: the median step between the sorted timestamps (a leading
 * gap or a few dropped frames do not move it; of two rates, the one most
 * frames have), averaged over the steps within a tick or 2 % of it, since
 * a coarse time base rounds them (33 and 34 ms in Matroska for 30 fps).
 * {0, 1} with too few steps. */
static AVRational cadence(int64_t *pts, int n, AVRational tb)
{
    int64_t steps[LOOK_VIDEO_PACKETS], med, tol, sum = 0, cnt = 0;
    int ns = 0;

    qsort(pts, (size_t)n, sizeof *pts, cmp_i64);
    for (int i = 1; i < n; i++)
        if (pts[i] > pts[i - 1])
            steps[ns++] = pts[i] - pts[i - 1];
    if (ns < MIN_STEPS)
        return (AVRational){ 0, 1 };
    qsort(steps, (size_t)ns, sizeof *steps, cmp_i64);
    med = steps[ns / 2];
    tol = med / 50 > 1 ? med / 50 : 1;
    for (int i = 0; i < ns; i++)
        if (steps[i] >= med - tol && steps[i] <= med + tol) {
            sum += steps[i];
            cnt++;
        }
    return rate_of_step((double)sum / (double)cnt, tb);
}

static int look_decode(AVCodecContext *dec, const AVPacket *pkt, AVFrame *f, struct dcv_idet *d,
                       AVRational tb, int *frames, char *err, size_t errlen)
{
    int r = avcodec_send_packet(dec, pkt);

    if (r < 0 && r != AVERROR_EOF)
        return 0; /* a damaged packet: the main decode deals with it */
    while (*frames < LOOK_FRAMES && (r = avcodec_receive_frame(dec, f)) >= 0) {
        r = dcv_idet_frame(d, f, tb, err, errlen);
        av_frame_unref(f);
        if (r < 0)
            return r;
        (*frames)++;
    }
    return 0;
}

static int open_idet_decoder(const AVStream *st, AVCodecContext **out)
{
    const AVCodec *codec = avcodec_find_decoder(st->codecpar->codec_id);
    AVCodecContext *dec = codec ? avcodec_alloc_context3(codec) : NULL;

    *out = dec;
    if (!dec || avcodec_parameters_to_context(dec, st->codecpar) < 0)
        return -1;
    dec->pkt_timebase = st->time_base;
    dec->max_pixels = DCV_MEDIA_MAX_PIXELS;
    dec->thread_count = 0;
    return avcodec_open2(dec, codec, NULL) < 0 ? -1 : 0;
}

int dcv_tc_look(struct tc *t, int want_idet, struct tc_look *lk)
{
    AVFormatContext *fc = NULL;
    AVCodecContext *dec = NULL;
    AVDictionary **opts = NULL;
    AVPacket *pkt = av_packet_alloc();
    AVFrame *f = av_frame_alloc();
    struct dcv_idet *d = NULL;
    struct dcv_idet_counts c = {0};
    int64_t pts[LOOK_VIDEO_PACKETS];
    AVStream *st;
    char err[256] = "";
    unsigned nopts;
    int r = -1, frames = 0, npts = 0;

    lk->cadence = (AVRational){ 0, 1 };
    lk->order = '?';
    if (!pkt || !f || (want_idet && dcv_idet_new(&d) < 0))
        goto out;
    /* The transcode's interrupt callback: a cancel stops the look too. */
    if (!(fc = avformat_alloc_context()))
        goto out;
    fc->interrupt_callback.callback = dcv_tc_interrupt_cb;
    fc->interrupt_callback.opaque = t;
    if (dcv_media_open_input(&fc, t->in_name, NULL, t->req->protocol_whitelist) < 0)
        goto out;
    nopts = fc->nb_streams;
    if (dcv_media_stream_opts(fc, &opts) < 0)
        goto out;
    r = avformat_find_stream_info(fc, opts);
    dcv_media_stream_opts_free(&opts, nopts);
    if (r < 0 || (unsigned)t->v.index >= fc->nb_streams) {
        r = -1;
        goto out;
    }
    st = fc->streams[t->v.index];
    if (want_idet && open_idet_decoder(st, &dec) < 0) {
        dcv_idet_free(&d);
        want_idet = 0;
    }
    for (unsigned i = 0; i < fc->nb_streams; i++)
        if ((int)i != t->v.index)
            fc->streams[i]->discard = AVDISCARD_ALL;
    r = 0;
    for (int n = 0; n < LOOK_PACKETS && (npts < LOOK_VIDEO_PACKETS || (d && frames < LOOK_FRAMES));
         n++) {
        if (av_read_frame(fc, pkt) < 0)
            break;
        if (pkt->stream_index == t->v.index) {
            if (pkt->pts != AV_NOPTS_VALUE && npts < LOOK_VIDEO_PACKETS)
                pts[npts++] = pkt->pts;
            if (d && frames < LOOK_FRAMES)
                r = look_decode(dec, pkt, f, d, st->time_base, &frames, err, sizeof err);
        }
        av_packet_unref(pkt);
        if (r < 0)
            break;
    }
    lk->cadence = cadence(pts, npts, st->time_base);
    if (d && r >= 0 && frames < LOOK_FRAMES)
        r = look_decode(dec, NULL, f, d, st->time_base, &frames, err, sizeof err);
    if (d && r >= 0 && dcv_idet_finish(d, &c, err, sizeof err) >= 0) {
        lk->order = dcv_idet_verdict(&c);
        dcv_log(DCV_LOG_INFO, LOG_COMP,
                "'%s' does not say its field order; idet over its first %d frames: %" PRId64
                " tff, %" PRId64 " bff, %" PRId64 " progressive, %" PRId64 " undetermined",
                t->in_name, frames, c.tff, c.bff, c.progressive, c.undetermined);
    }
    r = 0;
out:
    if (err[0])
        dcv_log(DCV_LOG_DEBUG, LOG_COMP, "look at the start: %s", err);
    dcv_idet_free(&d);
    avcodec_free_context(&dec);
    dcv_media_close_input(&fc);
    av_packet_free(&pkt);
    av_frame_free(&f);
    return r;
}

/*
 * The frame rate the output advertises, and the field decision. The
 * cadence measured from the input's first timestamps (above) wins over
 * what the stream says when the two differ: a container's rate can be the
 * average of a variable-rate clip. A URL is opened again only when its
 * field order is unknown; there and with a stream from the data plane the
 * stream's rate stands.
 */
int dcv_tc_setup_cadence(struct tc *t)
{
    struct vstate *v = &t->v;
    struct tc_look lk = { { 0, 1 }, '?' };
    int unknown = dcv_tc_interlace_order(t) == '?';

    v->fr = av_guess_frame_rate(t->ic, v->ist, NULL);
    if (!t->live && !t->req->input_io && (!t->req->protocol_whitelist || unknown) &&
        dcv_tc_look(t, unknown && t->prof->deinterlace != DCV_DEINT_ON, &lk) == 0 &&
        lk.cadence.num > 0 &&
        (v->fr.num <= 0 || fabs(av_q2d(lk.cadence) / av_q2d(v->fr) - 1.0) > 0.01)) {
        dcv_log(DCV_LOG_INFO, LOG_COMP,
                "'%s': the video's timestamps step at %.3f fps, the stream says %.3f: "
                "using %.3f",
                t->in_name, av_q2d(lk.cadence), v->fr.num > 0 ? av_q2d(v->fr) : 0.0,
                av_q2d(lk.cadence));
        v->fr = lk.cadence;
    }
    return dcv_tc_interlace_decide(t, lk.order);
}
