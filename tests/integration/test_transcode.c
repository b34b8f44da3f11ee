/*
 * The media pipeline end to end: real plugins from $DISTCONV_PLUGIN_DIR,
 * real clips made with $DCV_FFMPEG (lavfi testsrc2/sine) in a temp dir,
 * dcv_transcode() exactly as `distconvd --transcode` calls it, and every
 * output opened again with libavformat and decoded with libavcodec.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/pixdesc.h>

#include "log.h"
#include "media/encoder.h"
#include "media/pipeline.h"
#include "pluginhost.h"
#include "profile.h"
#include "mediafix.h"
#include "tap.h"

static struct dcv_plugin_set set;

/* ------------------------------------------------------------------------ */
/* helpers                                                                   */
/* ------------------------------------------------------------------------ */

static int exists(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0;
}

static int part_exists(const char *out)
{
    char p[PATH_MAX + 16];
    snprintf(p, sizeof(p), "%s.part", out);
    return exists(p);
}

struct info {
    char format[64];
    char vcodec[32], vtag[AV_FOURCC_MAX_STRING_SIZE];
    int w, h, pix_fmt, vprofile;
    AVRational sar;
    int64_t frames;
    int64_t pts_ms[512];
    int npts;
    double vdur_s; /* last frame pts + one frame, from the first */
    int n_audio, a_rate, a_channels;
    char acodec[32];
    double adur_s;
    int n_subs;
    char scodec[32];
    int sub_packets;
    int n_chapters;
    char title[64], alang[16];
};

static int inspect(const char *file, struct info *in)
{
    AVFormatContext *ic = NULL;
    AVCodecContext *dec = NULL;
    AVPacket *pkt = NULL;
    AVFrame *f = NULL;
    int vidx = -1, ret;
    int64_t a_first = AV_NOPTS_VALUE, a_end = 0;
    int aidx = -1;

    memset(in, 0, sizeof(*in));
    in->pix_fmt = -1;
    if ((ret = avformat_open_input(&ic, file, NULL, NULL)) < 0)
        return ret;
    if ((ret = avformat_find_stream_info(ic, NULL)) < 0)
        goto out;
    snprintf(in->format, sizeof(in->format), "%s", ic->iformat->name);
    in->n_chapters = (int)ic->nb_chapters;
    const AVDictionaryEntry *tag = av_dict_get(ic->metadata, "title", NULL, 0);
    snprintf(in->title, sizeof(in->title), "%s", tag ? tag->value : "");
    for (unsigned i = 0; i < ic->nb_streams; i++) {
        AVCodecParameters *par = ic->streams[i]->codecpar;
        if (par->codec_type == AVMEDIA_TYPE_VIDEO && vidx < 0) {
            vidx = (int)i;
            snprintf(in->vcodec, sizeof(in->vcodec), "%s", avcodec_get_name(par->codec_id));
            in->w = par->width;
            in->h = par->height;
            in->pix_fmt = par->format;
            in->vprofile = par->profile;
            in->sar = par->sample_aspect_ratio;
            av_fourcc_make_string(in->vtag, par->codec_tag);
        } else if (par->codec_type == AVMEDIA_TYPE_AUDIO) {
            if (aidx < 0) {
                aidx = (int)i;
                snprintf(in->acodec, sizeof(in->acodec), "%s", avcodec_get_name(par->codec_id));
                in->a_rate = par->sample_rate;
                in->a_channels = par->ch_layout.nb_channels;
                tag = av_dict_get(ic->streams[i]->metadata, "language", NULL, 0);
                snprintf(in->alang, sizeof(in->alang), "%s", tag ? tag->value : "");
            }
            in->n_audio++;
        } else if (par->codec_type == AVMEDIA_TYPE_SUBTITLE) {
            if (!in->n_subs)
                snprintf(in->scodec, sizeof(in->scodec), "%s", avcodec_get_name(par->codec_id));
            in->n_subs++;
        }
    }
    ret = AVERROR_STREAM_NOT_FOUND;
    if (vidx < 0)
        goto out;
    const AVCodec *c = avcodec_find_decoder(ic->streams[vidx]->codecpar->codec_id);
    AVRational tb = ic->streams[vidx]->time_base;
    dec = avcodec_alloc_context3(c);
    pkt = av_packet_alloc();
    f = av_frame_alloc();
    ret = AVERROR(ENOMEM);
    if (!c || !dec || !pkt || !f)
        goto out;
    avcodec_parameters_to_context(dec, ic->streams[vidx]->codecpar);
    dec->pkt_timebase = tb;
    if ((ret = avcodec_open2(dec, c, NULL)) < 0)
        goto out;
    int64_t first = AV_NOPTS_VALUE, last = AV_NOPTS_VALUE, lastdur = 0;
    for (int eof = 0; !eof;) {
        ret = av_read_frame(ic, pkt);
        if (ret < 0) {
            eof = 1;
            avcodec_send_packet(dec, NULL);
        } else if (pkt->stream_index == vidx) {
            avcodec_send_packet(dec, pkt);
        } else {
            AVStream *st = ic->streams[pkt->stream_index];
            if (pkt->stream_index == aidx && pkt->pts != AV_NOPTS_VALUE) {
                int64_t s = av_rescale_q(pkt->pts, st->time_base, AV_TIME_BASE_Q);
                int64_t e = av_rescale_q(pkt->pts + pkt->duration, st->time_base, AV_TIME_BASE_Q);
                if (a_first == AV_NOPTS_VALUE || s < a_first)
                    a_first = s;
                if (e > a_end)
                    a_end = e;
            }
            if (st->codecpar->codec_type == AVMEDIA_TYPE_SUBTITLE)
                in->sub_packets++;
            av_packet_unref(pkt);
            continue;
        }
        av_packet_unref(pkt);
        while (avcodec_receive_frame(dec, f) == 0) {
            int64_t pts = f->best_effort_timestamp;
            if (in->npts < (int)(sizeof(in->pts_ms) / sizeof(in->pts_ms[0])))
                in->pts_ms[in->npts++] = av_rescale_q(pts, tb, (AVRational){ 1, 1000 });
            if (first == AV_NOPTS_VALUE)
                first = pts;
            last = pts;
            lastdur = f->pkt_duration;
            in->frames++;
            av_frame_unref(f);
        }
    }
    if (first != AV_NOPTS_VALUE)
        in->vdur_s = av_q2d(tb) * (double)(last - first + lastdur);
    if (a_first != AV_NOPTS_VALUE)
        in->adur_s = (double)(a_end - a_first) / 1e6;
    ret = 0;
out:
    av_frame_free(&f);
    av_packet_free(&pkt);
    avcodec_free_context(&dec);
    avformat_close_input(&ic);
    return ret;
}

static void base_profile(struct dcv_profile *p, const char *codec)
{
    dcv_profile_defaults(p);
    snprintf(p->codec, sizeof(p->codec), "%s", codec);
    p->preset = 1;
}

static int transcode(const char *in, const char *out, const struct dcv_profile *p,
                     struct dcv_transcode_result *res, char *err, size_t errlen)
{
    struct dcv_transcode_req req;
    memset(&req, 0, sizeof(req));
    req.input = in;
    req.output = out;
    req.profile = p;
    req.plugins = &set;
    return dcv_transcode(&req, res, err, errlen);
}

/* Runs a transcode that must succeed and inspects its output. */
static int ok_transcode(const char *name, const char *in, const char *out,
                        const struct dcv_profile *p, struct info *oi)
{
    struct dcv_transcode_result res;
    char err[2048] = "";
    struct timespec a, b;

    clock_gettime(CLOCK_MONOTONIC, &a);
    int ret = transcode(in, out, p, &res, err, sizeof(err));
    clock_gettime(CLOCK_MONOTONIC, &b);
    if (!tap_ok(ret == 0, "%s: transcode succeeds", name)) {
        tap_diag("  ret %d: %s", ret, err);
        return -1;
    }
    tap_diag("  %s: %s/%s, %lld frames in %.3f s", name, res.plugin, res.encoder,
             (long long)res.frames,
             (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9);
    if (!tap_ok(!part_exists(out), "%s: no .part left", name))
        return -1;
    int r = inspect(out, oi);
    if (!tap_ok(r == 0, "%s: output opens and decodes", name)) {
        tap_diag("  inspect %s: %s", out, av_err2str(r));
        return -1;
    }
    return 0;
}

static int have_plugin(const char *name)
{
    struct dcv_plugin *p = dcv_plugin_set_find(&set, name);
    return p && p->initialised;
}

/* ------------------------------------------------------------------------ */
/* cases                                                                     */
/* ------------------------------------------------------------------------ */

static void test_h264_mkv_copy_audio(void)
{
    struct dcv_profile p;
    struct info o;
    const char *out = mf_path("a-out.mkv");

    base_profile(&p, "h264");
    if (ok_transcode("h264 mkv + aac copy", mf_path("a.mkv"), out, &p, &o) < 0)
        return;
    TAP_IS_STR(o.vcodec, "h264", "h264 mkv: video is h264");
    TAP_IS_INT(o.frames, 50, "h264 mkv: 50 frames");
    TAP_IS_INT(o.w, 160, "h264 mkv: width kept");
    TAP_IS_INT(o.h, 90, "h264 mkv: height kept");
    TAP_IS_INT(o.n_audio, 1, "h264 mkv: one audio stream");
    TAP_IS_STR(o.acodec, "aac", "h264 mkv: audio copied as aac");
    TAP_OK(fabs(o.adur_s - 2.0) < 0.05, "h264 mkv: audio duration 2 s (%.3f)", o.adur_s);
    /* The input's video starts after the aac priming delay; A/V sync
     * means the output keeps that offset. */
    struct info in;
    if (inspect(mf_path("a.mkv"), &in) == 0)
        TAP_IS_INT(o.pts_ms[0], in.pts_ms[0], "h264 mkv: video start kept relative to audio");
}

/* The mp4 muxer of FFmpeg 5.1 takes FLAC only with -strict experimental,
 * though avformat_query_codec() says yes: the default --audio copy must
 * re-encode it rather than fail the job at write_header. */
static void test_flac_copy_mp4(void)
{
    struct dcv_profile p;
    struct info o;

    base_profile(&p, "h264");
    if (ok_transcode("flac copy into mp4", mf_path("flac.mkv"), mf_path("fl-out.mp4"), &p, &o) < 0)
        return;
    TAP_IS_INT(o.n_audio, 1, "flac into mp4: audio stream kept");
    TAP_IS_STR(o.acodec, "aac", "flac into mp4: re-encoded to aac");
    if (ok_transcode("flac copy into mkv", mf_path("flac.mkv"), mf_path("fl-out.mkv"), &p, &o) < 0)
        return;
    TAP_IS_STR(o.acodec, "flac", "flac into mkv: copied");
}

static void test_hevc_mp4_aac(void)
{
    struct dcv_profile p;
    struct info o;

    if (!have_plugin("x265")) {
        tap_skip("x265 plugin not available", "hevc mp4");
        return;
    }
    base_profile(&p, "hevc");
    p.audio = DCV_AUDIO_AAC;
    if (ok_transcode("hevc mp4 + aac", mf_path("a.mkv"), mf_path("b-out.mp4"), &p, &o) < 0)
        return;
    TAP_OK(strstr(o.format, "mp4") != NULL, "hevc mp4: container is mp4 (%s)", o.format);
    TAP_IS_STR(o.vcodec, "hevc", "hevc mp4: video is hevc");
    TAP_IS_STR(o.vtag, "hvc1", "hevc mp4: tagged hvc1 (plays on Apple devices)");
    TAP_IS_INT(o.frames, 50, "hevc mp4: 50 frames");
    TAP_IS_STR(o.acodec, "aac", "hevc mp4: audio aac");
    TAP_OK(fabs(o.adur_s - 2.0) < 0.1, "hevc mp4: audio duration ~2 s (%.3f)", o.adur_s);
}

static void test_opus_mkv(void)
{
    struct dcv_profile p;
    struct info o;

    base_profile(&p, "h264");
    p.audio = DCV_AUDIO_OPUS;
    if (ok_transcode("opus mkv", mf_path("a44.mkv"), mf_path("c-out.mkv"), &p, &o) < 0)
        return;
    TAP_IS_STR(o.acodec, "opus", "opus mkv: audio is opus");
    TAP_IS_INT(o.a_rate, 48000, "opus mkv: resampled 44.1 -> 48 kHz");
    TAP_IS_INT(o.a_channels, 2, "opus mkv: stereo kept");
    TAP_OK(fabs(o.adur_s - 2.0) < 0.1, "opus mkv: audio duration ~2 s (%.3f)", o.adur_s);
    TAP_IS_INT(o.frames, 50, "opus mkv: 50 video frames");
}

static void test_subtitles(void)
{
    struct dcv_profile p;
    struct info o;

    base_profile(&p, "h264");
    if (ok_transcode("subs mkv", mf_path("subs.mkv"), mf_path("d-out.mkv"), &p, &o) == 0) {
        TAP_IS_INT(o.n_subs, 1, "subs mkv: subtitle stream copied");
        TAP_IS_STR(o.scodec, "subrip", "subs mkv: still subrip");
        TAP_IS_INT(o.sub_packets, 2, "subs mkv: both cues");
    }
    /* mp4 cannot carry subrip: skipped with a warning, not a failure. */
    if (ok_transcode("subs mp4", mf_path("subs.mkv"), mf_path("d-out.mp4"), &p, &o) == 0) {
        TAP_IS_INT(o.n_subs, 0, "subs mp4: subrip skipped");
        TAP_IS_INT(o.frames, 50, "subs mp4: video complete");
    }
}

static void test_metadata(void)
{
    struct dcv_profile p;
    struct info o;

    base_profile(&p, "h264");
    if (ok_transcode("metadata", mf_path("meta.mkv"), mf_path("v-out.mkv"), &p, &o) == 0) {
        TAP_IS_STR(o.title, "Test Title", "metadata: title kept");
        TAP_IS_STR(o.alang, "ger", "metadata: audio language kept");
        TAP_IS_INT(o.n_chapters, 2, "metadata: both chapters kept");
    }
    p.start_us = 1200000;
    if (ok_transcode("metadata + range", mf_path("meta.mkv"), mf_path("v2-out.mkv"), &p, &o) == 0)
        TAP_IS_INT(o.n_chapters, 1, "metadata + range: only the chapter in range");
    /* Subtitles in a range: the cue 0.2-0.8 s is outside [0.9, 1.9), the
     * cue 1.0-1.6 s inside. */
    p.start_us = 900000;
    p.duration_us = 1000000;
    if (ok_transcode("subs + range", mf_path("subs.mkv"), mf_path("v3-out.mkv"), &p, &o) == 0)
        TAP_IS_INT(o.sub_packets, 1, "subs + range: one cue");
    p.start_us = 500000;
    if (ok_transcode("subs across start", mf_path("subs.mkv"), mf_path("v4-out.mkv"), &p, &o) == 0)
        TAP_IS_INT(o.sub_packets, 2, "subs + range: a cue across the start is kept");
}

static void test_ten_bit(void)
{
    struct dcv_profile p;
    struct info o;

    base_profile(&p, "h264");
    if (ok_transcode("10-bit h264", mf_path("ten.mkv"), mf_path("e-out.mkv"), &p, &o) == 0) {
        TAP_IS_STR(o.vcodec, "h264", "10-bit h264: codec");
        TAP_IS_STR(av_get_pix_fmt_name(o.pix_fmt), "yuv420p10le", "10-bit h264: stays 10-bit");
        TAP_IS_INT(o.frames, 25, "10-bit h264: 25 frames");
    }
    p.bit_depth = 8;
    if (ok_transcode("10-bit -> 8-bit h264", mf_path("ten.mkv"), mf_path("e8-out.mkv"), &p, &o) == 0)
        TAP_IS_STR(av_get_pix_fmt_name(o.pix_fmt), "yuv420p", "bit-depth 8: converted");
    if (!have_plugin("x265")) {
        tap_skip("x265 plugin not available", "10-bit hevc");
        return;
    }
    base_profile(&p, "hevc");
    if (ok_transcode("10-bit hevc", mf_path("ten.mkv"), mf_path("f-out.mkv"), &p, &o) == 0) {
        TAP_IS_STR(o.vcodec, "hevc", "10-bit hevc: codec");
        TAP_IS_STR(av_get_pix_fmt_name(o.pix_fmt), "yuv420p10le", "10-bit hevc: stays 10-bit");
        TAP_IS_INT(o.frames, 25, "10-bit hevc: 25 frames");
    }
}

static void test_odd_size(void)
{
    struct dcv_profile p;
    struct info o;

    base_profile(&p, "h264");
    if (ok_transcode("odd 161x91", mf_path("odd.mkv"), mf_path("g-out.mkv"), &p, &o) < 0)
        return;
    TAP_IS_INT(o.w, 160, "odd: width cropped to even");
    TAP_IS_INT(o.h, 90, "odd: height cropped to even");
    TAP_IS_INT(o.frames, 25, "odd: 25 frames");
}

static void test_vfr(void)
{
    struct dcv_profile p;
    struct info in, o;

    if (inspect(mf_path("vfr.mkv"), &in) != 0)
        tap_bail("cannot inspect vfr.mkv");
    base_profile(&p, "h264");
    if (ok_transcode("vfr", mf_path("vfr.mkv"), mf_path("h-out.mkv"), &p, &o) < 0)
        return;
    TAP_IS_INT(o.frames, in.frames, "vfr: same frame count");
    int same = o.npts == in.npts;
    for (int i = 0; same && i < o.npts; i++)
        if (llabs((long long)(o.pts_ms[i] - in.pts_ms[i])) > 1)
            same = 0;
    if (!tap_ok(same, "vfr: every frame keeps its timestamp"))
        for (int i = 0; i < o.npts && i < in.npts; i++)
            tap_diag("  frame %d: in %lld ms, out %lld ms", i, (long long)in.pts_ms[i],
                     (long long)o.pts_ms[i]);
    TAP_OK(fabs(o.vdur_s - in.vdur_s) < 0.04, "vfr: duration %.3f matches %.3f", o.vdur_s,
           in.vdur_s);
    /* First 10 frames at 10 fps, then 30 fps. */
    TAP_IS_INT(o.pts_ms[10], 1000, "vfr: frame 10 at 1.0 s");

    /* Without a duration for the last frame, MP4's edit list ended where
     * that frame starts and players never showed it. */
    if (inspect(mf_path("vfr-nodur.mkv"), &in) != 0)
        tap_bail("cannot inspect vfr-nodur.mkv");
    if (ok_transcode("vfr mp4", mf_path("vfr-nodur.mkv"), mf_path("h-out.mp4"), &p, &o) < 0)
        return;
    TAP_IS_INT(o.frames, in.frames, "vfr mp4: the last frame is not lost");
    TAP_OK(o.npts == in.npts && o.npts > 0 && llabs((long long)(o.pts_ms[o.npts - 1] -
                                                               in.pts_ms[in.npts - 1])) <= 1,
           "vfr mp4: last frame keeps its timestamp");
}

static void test_downscale(void)
{
    struct dcv_profile p;
    struct info o;

    base_profile(&p, "h264");
    p.max_height = 90;
    if (ok_transcode("max-height 90", mf_path("big.mkv"), mf_path("i-out.mkv"), &p, &o) == 0) {
        TAP_IS_INT(o.h, 90, "downscale: height 90");
        TAP_IS_INT(o.w, 160, "downscale: width 160 (aspect kept)");
        double dar = (double)o.w / o.h * (o.sar.num > 0 ? av_q2d(o.sar) : 1.0);
        TAP_OK(fabs(dar - 16.0 / 9.0) < 0.02, "downscale: display aspect 16:9 (%.3f)", dar);
        TAP_IS_INT(o.frames, 25, "downscale: 25 frames");
    }
    /* Never upscale. */
    p.max_height = 1080;
    if (ok_transcode("max-height above source", mf_path("big.mkv"), mf_path("i2-out.mkv"), &p, &o) == 0)
        TAP_IS_INT(o.h, 180, "max-height 1080: 180 kept");
}

static void test_mpegts(void)
{
    struct dcv_profile p;
    struct info o;

    base_profile(&p, "h264");
    if (ok_transcode("mpegts", mf_path("a.mkv"), mf_path("j-out.ts"), &p, &o) < 0)
        return;
    TAP_IS_STR(o.format, "mpegts", "mpegts: container");
    TAP_IS_STR(o.vcodec, "h264", "mpegts: h264");
    TAP_IS_INT(o.frames, 50, "mpegts: 50 frames");
    TAP_IS_STR(o.acodec, "aac", "mpegts: aac audio");
    /* Two TS files concatenated, the second 100 s later: the jump is
     * taken out, as ffmpeg does, instead of a 100 s freeze. */
    if (ok_transcode("ts with a timestamp jump", mf_path("jump.ts"), mf_path("j3-out.mkv"), &p, &o) == 0) {
        TAP_IS_INT(o.frames, 80, "ts jump: all 80 frames");
        TAP_OK(o.vdur_s > 3.9 && o.vdur_s < 4.2, "ts jump: about 4 s, not 100 (%.3f)", o.vdur_s);
    }
    /* And back: a .ts input (non-zero start time) transcodes too. */
    if (ok_transcode("from mpegts", mf_path("j-out.ts"), mf_path("j2-out.mkv"), &p, &o) == 0) {
        TAP_IS_INT(o.frames, 50, "from mpegts: 50 frames");
        TAP_OK(o.pts_ms[0] < 100, "from mpegts: starts near 0 (%lld ms)",
               (long long)o.pts_ms[0]);
    }
}

static void test_time_range(void)
{
    struct dcv_profile p;
    struct info o;

    base_profile(&p, "h264");
    p.start_us = 500000;
    p.duration_us = 500000;
    p.audio = DCV_AUDIO_AAC;
    if (ok_transcode("range 0.5+0.5 (aac)", mf_path("r20.mkv"), mf_path("k-out.mkv"), &p, &o) == 0) {
        TAP_IS_INT(o.frames, 10, "range: 10 frames at 20 fps");
        /* Near 0: the input's and the new aac encoder's priming delays
         * (1024 samples each) shift the video by up to ~46 ms. */
        TAP_OK(o.pts_ms[0] >= 0 && o.pts_ms[0] <= 50, "range: starts near 0 (%lld ms)",
               (long long)o.pts_ms[0]);
        TAP_IS_INT(o.pts_ms[9] - o.pts_ms[0], 450, "range: 0.45 s from first to last frame");
        TAP_OK(fabs(o.adur_s - 0.5) < 0.05, "range: audio trimmed to 0.5 s (%.3f)", o.adur_s);
    }
    p.audio = DCV_AUDIO_COPY;
    if (ok_transcode("range 0.5+0.5 (copy)", mf_path("r20.mkv"), mf_path("k2-out.mkv"), &p, &o) == 0) {
        TAP_IS_INT(o.frames, 10, "range copy: 10 frames");
        TAP_OK(fabs(o.adur_s - 0.5) < 0.06, "range copy: audio ~0.5 s (%.3f)", o.adur_s);
    }
    p.start_us = 1500000;
    p.duration_us = -1;
    if (ok_transcode("range 1.5-end", mf_path("r20.mkv"), mf_path("k3-out.mkv"), &p, &o) == 0)
        TAP_IS_INT(o.frames, 10, "range to end: 10 frames");
}

static void expect_fail(const char *name, const char *in, const char *out,
                        const struct dcv_profile *p, int want, const char *needle)
{
    char err[2048] = "";
    int ret = transcode(in, out, p, NULL, err, sizeof(err));

    if (!tap_ok(ret == want, "%s: fails with %s", name, strerror(-want)))
        tap_diag("  ret %d (%s): %s", ret, strerror(-ret), err);
    else
        tap_diag("  %s", err);
    TAP_HAS_STR(err, needle, name);
    TAP_OK(!exists(out), "%s: no output file", name);
    TAP_OK(!part_exists(out), "%s: no .part left", name);
}

static void test_bad_inputs(void)
{
    struct dcv_profile p;
    FILE *f;

    base_profile(&p, "h264");
    if (mf_sh("head -c 65536 /dev/urandom > '%s'", mf_path("garbage.mkv")) != 0 ||
        mf_sh(": > '%s'", mf_path("empty.mkv")) != 0 ||
        mf_sh("head -c 30000 '%s' > '%s'", mf_path("a.mkv"), mf_path("trunc.mkv")) != 0)
        tap_bail("cannot make corrupt inputs");
    f = fopen(mf_path("text.mkv"), "w");
    if (!f)
        tap_bail("cannot write text.mkv");
    fputs("This is not a video.\nJust some text in a file named .mkv\n", f);
    fclose(f);

    expect_fail("garbage", mf_path("garbage.mkv"), mf_path("x1.mkv"), &p, -EINVAL, "garbage.mkv");
    expect_fail("zero bytes", mf_path("empty.mkv"), mf_path("x2.mkv"), &p, -EINVAL, "empty.mkv");
    expect_fail("text file", mf_path("text.mkv"), mf_path("x3.mkv"), &p, -EINVAL,
                "Invalid data found when processing input");
    expect_fail("truncated", mf_path("trunc.mkv"), mf_path("x4.mkv"), &p, -EINVAL, "truncated");
    expect_fail("missing", mf_path("nosuch.mkv"), mf_path("x5.mkv"), &p, -ENOENT, "nosuch.mkv");
    /* The first 3 KB of a raw H.263 stream: libavformat's only guess, with
     * confidence 25/100, the same it gives some random files (which then
     * "decoded" into garbage pictures and succeeded). */
    if (mf_sh("'%s' -nostdin -v error -y -f lavfi -i testsrc2=s=176x144:r=25:d=1 -c:v h263 -f h263 "
           "- | head -c 3000 > '%s'", mf_ffmpeg(), mf_path("h263frag.mkv")) != 0)
        tap_bail("cannot make h263frag.mkv");
    expect_fail("low-confidence guess", mf_path("h263frag.mkv"), mf_path("x8.mkv"), &p, -EINVAL,
                "not recognisable media");
    expect_fail("audio only", mf_path("audio.mka"), mf_path("x6.mkv"), &p, -EINVAL, "no video stream");
    expect_fail("unknown container", mf_path("a.mkv"), mf_path("x7.avi"), &p, -EINVAL,
                "unsupported container 'avi'");
    /* The container structure broken in the middle: libavformat stops
     * there silently (ffmpeg would write half a file and exit 0). */
    expect_fail("damaged structure", mf_path("dmg.mkv"), mf_path("x9.mkv"), &p, -EINVAL, "truncated");
    /* 16000x16000 declared: refused before anything that size is allocated. */
    expect_fail("absurd size", mf_path("huge.y4m"), mf_path("x10.mkv"), &p, -EINVAL, "16000x16000");
    char err[1024];
    struct stat st, st2;
    stat(mf_path("a.mkv"), &st);
    int ret = transcode(mf_path("a.mkv"), mf_path("a.mkv"), &p, NULL, err, sizeof(err));
    TAP_IS_INT(ret, -EINVAL, "output is the input: refused");
    TAP_HAS_STR(err, "is the input", "output is the input: says so");
    TAP_OK(stat(mf_path("a.mkv"), &st2) == 0 && st2.st_size == st.st_size &&
               st2.st_mtime == st.st_mtime && !part_exists(mf_path("a.mkv")),
           "output is the input: input untouched");

    /* A failure never touches an existing file of the final name. */
    f = fopen(mf_path("keep.mkv"), "w");
    if (!f)
        tap_bail("cannot write keep.mkv");
    fputs("old", f);
    fclose(f);
    ret = transcode(mf_path("garbage.mkv"), mf_path("keep.mkv"), &p, NULL, err, sizeof(err));
    TAP_OK(ret < 0 && stat(mf_path("keep.mkv"), &st) == 0 && st.st_size == 3,
           "failed transcode leaves an existing output alone");

    p.start_us = 5000000;
    expect_fail("start past end", mf_path("a.mkv"), mf_path("x8.mkv"), &p, -EINVAL, "past the end");
}

static void test_damaged_but_usable(void)
{
    struct dcv_profile p;
    struct info o;

    /* A few KiB of garbage in the middle of an MPEG-TS: like ffmpeg, the
     * damaged packets are skipped and the rest is transcoded. */
    base_profile(&p, "h264");
    if (ok_transcode("damaged ts", mf_path("dmg.ts"), mf_path("l-out.mkv"), &p, &o) == 0)
        TAP_OK(o.frames >= 40 && o.frames <= 50, "damaged ts: most frames survive (%lld)",
               (long long)o.frames);
}

static void test_cover_art(void)
{
    struct dcv_profile p;
    struct info o;

    base_profile(&p, "h264");
    if (ok_transcode("cover art first", mf_path("cover.mp4"), mf_path("m-out.mkv"), &p, &o) == 0) {
        TAP_IS_INT(o.frames, 50, "cover art: the real video is transcoded");
        TAP_IS_INT(o.w, 160, "cover art: not the 64x64 picture");
    }
}

static void test_surround(void)
{
    struct dcv_profile p;
    struct info o;

    base_profile(&p, "h264");
    p.audio = DCV_AUDIO_OPUS;
    if (ok_transcode("5.1 -> opus", mf_path("surround.mkv"), mf_path("n-out.mkv"), &p, &o) == 0) {
        TAP_IS_STR(o.acodec, "opus", "5.1 opus: codec");
        TAP_IS_INT(o.a_channels, 6, "5.1 opus: six channels");
    }
    p.audio = DCV_AUDIO_AAC;
    if (ok_transcode("5.1 -> aac mp4", mf_path("surround.mkv"), mf_path("n-out.mp4"), &p, &o) == 0)
        TAP_IS_INT(o.a_channels, 6, "5.1 aac: six channels");
    /* Copy is the default: what mp4 cannot carry is re-encoded. */
    p.audio = DCV_AUDIO_COPY;
    if (ok_transcode("pcm copy into mp4", mf_path("pcm.mkv"), mf_path("n3-out.mp4"), &p, &o) == 0)
        TAP_IS_STR(o.acodec, "aac", "pcm into mp4: re-encoded to aac");
    p.audio = DCV_AUDIO_NONE;
    if (ok_transcode("audio none", mf_path("surround.mkv"), mf_path("n2-out.mkv"), &p, &o) == 0)
        TAP_IS_INT(o.n_audio, 0, "audio none: no audio stream");
}

static void test_midstream_change(void)
{
    struct dcv_profile p;
    struct info o;

    /* 160x90 @ 44.1 kHz, then 320x180 @ 48 kHz in one TS: the encoder keeps
     * its size (the new part is scaled), the audio is resampled. */
    base_profile(&p, "h264");
    p.audio = DCV_AUDIO_AAC;
    if (ok_transcode("size and rate change", mf_path("chg.ts"), mf_path("t-out.mkv"), &p, &o) == 0) {
        TAP_IS_INT(o.frames, 50, "change: all 50 frames");
        TAP_OK(o.w == 160 && o.h == 90, "change: one output size (%dx%d)", o.w, o.h);
        TAP_OK(fabs(o.adur_s - 2.0) < 0.1, "change: audio ~2 s (%.3f)", o.adur_s);
    }
}

static void test_rotation(void)
{
    struct dcv_profile p;
    struct info o;

    /* A phone video: 160x90 pixels flagged "rotate 90" plays as 90x160. */
    base_profile(&p, "h264");
    if (ok_transcode("rotated source", mf_path("rot.mp4"), mf_path("u-out.mp4"), &p, &o) == 0) {
        TAP_OK(o.w == 90 && o.h == 160, "rotation: applied, 90x160 (%dx%d)", o.w, o.h);
        TAP_IS_INT(o.frames, 50, "rotation: 50 frames");
    }
}

static void test_container_option(void)
{
    struct dcv_profile p;
    struct info o;

    base_profile(&p, "h264");
    snprintf(p.container, sizeof(p.container), "mkv");
    if (ok_transcode("container option", mf_path("a.mkv"), mf_path("o-out.video"), &p, &o) == 0)
        TAP_OK(strstr(o.format, "matroska") != NULL, "container option: matroska (%s)",
               o.format);
}

static void test_no_encoder(void)
{
    struct dcv_profile p;

    base_profile(&p, "vp9");
    expect_fail("vp9 without a vp9 plugin", mf_path("a.mkv"), mf_path("y1.mkv"), &p, -ENOENT,
                "no encoder for vp9");
    if (have_plugin("x264")) {
        char err[2048] = "";
        transcode(mf_path("a.mkv"), mf_path("y1.mkv"), &p, NULL, err, sizeof(err));
        TAP_HAS_STR(err, "x264: no vp9", "no encoder: lists why x264 was skipped");
    }
    base_profile(&p, "h264");
    snprintf(p.encoder, sizeof(p.encoder), "nosuch");
    expect_fail("unknown encoder name", mf_path("a.mkv"), mf_path("y2.mkv"), &p, -ENOENT,
                "no plugin or encoder named 'nosuch'");
    snprintf(p.encoder, sizeof(p.encoder), "hw");
    /* Whether a GPU exists here is not known; only check the message form
     * when it fails. */
    char err[2048] = "";
    int ret = transcode(mf_path("a.mkv"), mf_path("y3.mkv"), &p, NULL, err, sizeof(err));
    if (ret != 0) {
        TAP_IS_INT(ret, -ENOENT, "hw only: -ENOENT without usable hardware");
        TAP_HAS_STR(err, "x264: software (hardware asked)", "hw only: says x264 is software");
        TAP_OK(!exists(mf_path("y3.mkv")) && !part_exists(mf_path("y3.mkv")), "hw only: no output");
    } else {
        tap_skip("a hardware encoder is available", "hw only without hardware");
    }
    snprintf(p.encoder, sizeof(p.encoder), "libx264");
    struct info o;
    if (ok_transcode("exact encoder libx264", mf_path("a.mkv"), mf_path("y4.mkv"), &p, &o) == 0)
        TAP_IS_STR(o.vcodec, "h264", "exact encoder: h264");
}

static void test_select(void)
{
    struct dcv_encoder_choice c;
    char err[2048];
    int r;

    r = dcv_encoder_select(&set, "h264", "sw", 0, &c, err, sizeof(err));
    TAP_OK(r == 0 && strcmp(c.plugin->hdr.name, "x264") == 0, "select: h264 sw -> x264");
    if (r == 0) {
        const struct dcv_codec_caps *cc = &c.caps.codecs[c.codec_index];
        TAP_IS_STR(cc->encoder, "libx264", "select: encoder libx264");
        TAP_IS_INT(dcv_encoder_pick_pix_fmt(cc, AV_PIX_FMT_YUV420P, 8), AV_PIX_FMT_YUV420P,
                   "pix_fmt: yuv420p stays");
        TAP_IS_INT(dcv_encoder_pick_pix_fmt(cc, AV_PIX_FMT_NV12, 8), AV_PIX_FMT_NV12,
                   "pix_fmt: nv12 stays (no needless conversion)");
        TAP_IS_INT(dcv_encoder_pick_pix_fmt(cc, AV_PIX_FMT_YUV420P10LE, 8), AV_PIX_FMT_YUV420P,
                   "pix_fmt: 10-bit source at 8 bits -> yuv420p");
        TAP_IS_INT(dcv_encoder_pick_pix_fmt(cc, AV_PIX_FMT_YUV420P, 10), AV_PIX_FMT_YUV420P10LE,
                   "pix_fmt: 8-bit source at 10 bits -> yuv420p10le");
        TAP_IS_INT(dcv_encoder_pick_pix_fmt(cc, AV_PIX_FMT_YUV444P, 8), AV_PIX_FMT_YUV444P,
                   "pix_fmt: 4:4:4 kept");
        TAP_IS_INT(dcv_encoder_pick_pix_fmt(cc, AV_PIX_FMT_YUV420P, 12), -1,
                   "pix_fmt: no 12-bit format -> -1");
    }
    if (have_plugin("x265")) {
        r = dcv_encoder_select(&set, "h264", "x265", 0, &c, err, sizeof(err));
        TAP_IS_INT(r, -ENOENT, "select: h264 from plugin x265 -> -ENOENT");
        TAP_HAS_STR(err, "x265: no h264", "select: says x265 has no h264");
        /* A named plugin is the only one probed: hardware probes can be slow. */
        TAP_OK(strstr(err, "x264") == NULL, "select: other plugins are not probed or listed");
    } else {
        tap_skip("x265 plugin not available", "select: plugin preference");
    }
    r = dcv_encoder_select(&set, "h264", "auto", 16, &c, err, sizeof(err));
    TAP_IS_INT(r, -ENOENT, "select: 16-bit h264 -> -ENOENT");
    TAP_HAS_STR(err, "x264: h264 but not 16-bit", "select: says which depth is missing");
    r = dcv_encoder_select(NULL, "h264", "auto", 0, &c, err, sizeof(err));
    TAP_IS_INT(r, -ENOENT, "select: no plugin set -> -ENOENT");
    TAP_HAS_STR(err, "no encoder plugins loaded", "select: says no plugins");
}

/* Slow custom input: each read sleeps, so a tiny clip takes long enough
 * for periodic progress calls (every 0.5 s). */
struct slow_in {
    FILE *f;
    int delay_ms;
};

static int slow_read(void *opaque, uint8_t *buf, int size)
{
    struct slow_in *s = opaque;
    struct timespec ts = { 0, (long)s->delay_ms * 1000000L };
    size_t n;

    nanosleep(&ts, NULL);
    n = fread(buf, 1, (size_t)(size > 4096 ? 4096 : size), s->f);
    return n == 0 ? AVERROR_EOF : (int)n;
}

static int64_t slow_seek(void *opaque, int64_t off, int whence)
{
    struct slow_in *s = opaque;
    if (whence == AVSEEK_SIZE) {
        long cur = ftell(s->f), end;
        fseek(s->f, 0, SEEK_END);
        end = ftell(s->f);
        fseek(s->f, cur, SEEK_SET);
        return end;
    }
    if (fseek(s->f, (long)off, whence & ~AVSEEK_FORCE) != 0)
        return AVERROR(errno);
    return ftell(s->f);
}

struct prog {
    int calls, cancel_at;
    int64_t last_frames;
    double last_percent;
    int64_t last_bytes, last_out_us;
    int monotonic;
};

static int on_progress(const struct dcv_progress *p, void *user)
{
    struct prog *g = user;
    char line[160];
    g->calls++;
    if (p->frames < g->last_frames || p->out_time_us < g->last_out_us)
        g->monotonic = 0;
    g->last_frames = p->frames;
    g->last_percent = p->percent;
    g->last_bytes = p->bytes_out;
    g->last_out_us = p->out_time_us;
    dcv_progress_format(p, line, sizeof(line));
    tap_diag("  progress: %s", line);
    return g->cancel_at && g->calls >= g->cancel_at;
}

static int slow_transcode(const char *out, struct prog *g, char *err, size_t errlen)
{
    struct dcv_transcode_req req;
    struct dcv_profile p;
    struct slow_in s = { NULL, 25 };
    AVIOContext *io;
    unsigned char *buf;
    int ret;

    base_profile(&p, "h264");
    s.f = fopen(mf_path("a.mkv"), "rb");
    buf = av_malloc(4096);
    if (!s.f || !buf)
        tap_bail("slow input setup");
    io = avio_alloc_context(buf, 4096, 0, &s, slow_read, NULL, slow_seek);
    if (!io)
        tap_bail("avio_alloc_context");
    memset(&req, 0, sizeof(req));
    req.input = "slow-input.mkv";
    req.input_io = io;
    req.output = out;
    req.profile = &p;
    req.plugins = &set;
    req.progress = on_progress;
    req.progress_user = g;
    ret = dcv_transcode(&req, NULL, err, errlen);
    av_freep(&io->buffer);
    avio_context_free(&io);
    fclose(s.f);
    return ret;
}

/* Non-seekable input (what a live MPEG-TS stream looks like): no duration,
 * percent -1, and a start time reached by decoding, not seeking. */
static int live_transcode(const char *out, const struct dcv_profile *p, struct prog *g,
                          char *err, size_t errlen)
{
    struct dcv_transcode_req req;
    struct slow_in s = { NULL, 0 };
    AVIOContext *io;
    unsigned char *buf;
    int ret;

    s.f = fopen(mf_path("r20.ts"), "rb");
    buf = av_malloc(4096);
    if (!s.f || !buf)
        tap_bail("live input setup");
    io = avio_alloc_context(buf, 4096, 0, &s, slow_read, NULL, NULL);
    if (!io)
        tap_bail("avio_alloc_context");
    memset(&req, 0, sizeof(req));
    req.input = "live.ts";
    req.input_io = io;
    req.output = out;
    req.profile = p;
    req.plugins = &set;
    req.progress = on_progress;
    req.progress_user = g;
    ret = dcv_transcode(&req, NULL, err, errlen);
    av_freep(&io->buffer);
    avio_context_free(&io);
    fclose(s.f);
    return ret;
}

static void test_live(void)
{
    struct dcv_profile p;
    struct prog g = { 0 };
    struct info o;
    char err[1024] = "";
    int ret;

    base_profile(&p, "h264");
    ret = live_transcode(mf_path("s-out.mkv"), &p, &g, err, sizeof(err));
    if (!tap_ok(ret == 0, "live: non-seekable input transcodes"))
        tap_diag("  ret %d: %s", ret, err);
    TAP_OK(g.last_percent == -1, "live: percent is -1 (%.1f)", g.last_percent);
    TAP_OK(inspect(mf_path("s-out.mkv"), &o) == 0 && o.frames == 40, "live: all 40 frames (%lld)",
           (long long)o.frames);

    memset(&g, 0, sizeof(g));
    p.start_us = 500000;
    p.duration_us = 500000;
    ret = live_transcode(mf_path("s2-out.mkv"), &p, &g, err, sizeof(err));
    if (!tap_ok(ret == 0, "live range: start reached without seeking"))
        tap_diag("  ret %d: %s", ret, err);
    TAP_OK(inspect(mf_path("s2-out.mkv"), &o) == 0 && o.frames == 10, "live range: 10 frames (%lld)",
           (long long)o.frames);
}

static void test_progress_and_cancel(void)
{
    struct prog g = { 0 };
    struct info o;
    char err[1024] = "";
    const char *out = mf_path("p-out.mkv");
    int ret;

    g.monotonic = 1;
    ret = slow_transcode(out, &g, err, sizeof(err));
    if (!tap_ok(ret == 0, "progress: slow custom-io input transcodes"))
        tap_diag("  ret %d: %s", ret, err);
    TAP_OK(g.calls >= 2, "progress: called periodically and at the end (%d calls)", g.calls);
    TAP_OK(g.monotonic, "progress: frames and time never go backwards");
    TAP_OK(g.last_frames == 50, "progress: final call reports 50 frames (%lld)",
           (long long)g.last_frames);
    TAP_OK(g.last_percent == 100.0, "progress: final call at 100%% (%.1f)", g.last_percent);
    TAP_OK(g.last_bytes > 1000, "progress: bytes out reported (%lld)", (long long)g.last_bytes);
    TAP_OK(inspect(out, &o) == 0 && o.frames == 50, "progress: output complete");

    memset(&g, 0, sizeof(g));
    g.cancel_at = 1;
    out = mf_path("q-out.mkv");
    ret = slow_transcode(out, &g, err, sizeof(err));
    if (!tap_ok(ret == -ECANCELED, "cancel: -ECANCELED"))
        tap_diag("  ret %d: %s", ret, err);
    TAP_HAS_STR(err, "cancelled", "cancel: message says so");
    TAP_OK(!exists(out) && !part_exists(out), "cancel: nothing left behind");
}

/* Custom output that fails like a full disk after a few KiB. */
static int full_write(void *opaque, uint8_t *buf, int size)
{
    int64_t *written = opaque;
    (void)buf;
    if (*written + size > 8192)
        return AVERROR(ENOSPC);
    *written += size;
    return size;
}

static void test_disk_full(void)
{
    struct dcv_transcode_req req;
    struct dcv_profile p;
    int64_t written = 0;
    unsigned char *buf = av_malloc(4096);
    AVIOContext *io;
    char err[1024] = "";
    int ret;

    if (!buf)
        tap_bail("out of memory");
    io = avio_alloc_context(buf, 4096, 1, &written, NULL, full_write, NULL);
    if (!io)
        tap_bail("avio_alloc_context");
    base_profile(&p, "h264");
    memset(&req, 0, sizeof(req));
    req.input = mf_path("a.mkv");
    req.output = "full.mkv";
    req.output_io = io;
    req.profile = &p;
    req.plugins = &set;
    ret = dcv_transcode(&req, NULL, err, sizeof(err));
    if (!tap_ok(ret == -ENOSPC, "disk full: -ENOSPC"))
        tap_diag("  ret %d: %s", ret, err);
    TAP_HAS_STR(err, "disk full", "disk full: message says so");
    av_freep(&io->buffer);
    avio_context_free(&io);
}

static void make_inputs(void)
{
    FILE *f;

    mf_make_clip("a.mkv", "-f lavfi -i testsrc2=s=160x90:r=25:d=2 -f lavfi -i sine=d=2:f=440 "
                       "-c:v libx264 -preset ultrafast -g 25 -c:a aac -shortest");
    mf_make_clip("a44.mkv", "-f lavfi -i testsrc2=s=160x90:r=25:d=2 "
                         "-f lavfi -i sine=d=2:sample_rate=44100 -ac 2 "
                         "-c:v libx264 -preset ultrafast -c:a aac -shortest");
    f = fopen(mf_path("subs.srt"), "w");
    if (!f)
        tap_bail("cannot write subs.srt");
    fputs("1\n00:00:00,200 --> 00:00:00,800\nHello\n\n2\n00:00:01,000 --> 00:00:01,600\n"
          "World\n\n",
          f);
    fclose(f);
    mf_make_clip("subs.mkv", "-i a.mkv -i subs.srt -map 0 -map 1 -c copy -c:s srt");
    f = fopen(mf_path("chapters.txt"), "w");
    if (!f)
        tap_bail("cannot write chapters.txt");
    fputs(";FFMETADATA1\ntitle=Test Title\n"
          "[CHAPTER]\nTIMEBASE=1/1000\nSTART=0\nEND=1000\ntitle=One\n"
          "[CHAPTER]\nTIMEBASE=1/1000\nSTART=1000\nEND=2000\ntitle=Two\n",
          f);
    fclose(f);
    mf_make_clip("meta.mkv", "-i a.mkv -i chapters.txt -map 0 -map_metadata 1 -map_chapters 1 "
                          "-metadata:s:a:0 language=ger -c copy");
    mf_make_clip("ten.mkv", "-f lavfi -i testsrc2=s=160x90:r=25:d=1 -pix_fmt yuv420p10le "
                         "-c:v ffv1");
    mf_make_clip("odd.mkv", "-f lavfi -i testsrc2=s=161x91:r=25:d=1 -pix_fmt yuv444p "
                         "-c:v libx264 -preset ultrafast");
    /* 10 frames at 10 fps, then 30 at 25 fps: a real VFR stream. */
    mf_make_clip("vfr.mkv", "-f lavfi -i testsrc2=s=160x90:r=25:d=2 -frames:v 40 "
                         "-vf settb=1/1000,setpts='if(lt(N\\,10)\\,N*0.1\\,1+(N-10)*0.04)/TB' "
                         "-fps_mode passthrough -c:v libx264 -preset ultrafast");
    /* 30 fps then 10 fps joined by concat: ffmpeg stores no packet
     * durations here, so the last frame's duration is unknown (as in many
     * Matroska files from other tools). */
    mf_make_clip("vfr-nodur.mkv", "-f lavfi -i testsrc2=s=160x90:r=30:d=1 "
                               "-f lavfi -i testsrc2=s=160x90:r=10:d=1 "
                               "-filter_complex [0][1]concat=n=2:v=1 -fps_mode vfr "
                               "-c:v libx264 -preset ultrafast");
    mf_make_clip("flac.mkv", "-f lavfi -i testsrc2=s=160x90:r=25:d=1 -f lavfi -i sine=d=1 "
                          "-c:v libx264 -preset ultrafast -c:a flac");
    mf_make_clip("big.mkv", "-f lavfi -i testsrc2=s=320x180:r=25:d=1 "
                         "-c:v libx264 -preset ultrafast");
    mf_make_clip("r20.mkv", "-f lavfi -i testsrc2=s=160x90:r=20:d=2 -f lavfi -i sine=d=2 "
                         "-c:v libx264 -preset ultrafast -g 10 -c:a aac -shortest");
    mf_make_clip("audio.mka", "-f lavfi -i sine=d=1 -c:a aac");
    mf_make_clip("r20.ts", "-i r20.mkv -c copy");
    mf_make_clip("r20-late.ts", "-i r20.mkv -c copy -output_ts_offset 100");
    if (mf_sh("cd '%s' && cat r20.ts r20-late.ts > jump.ts", mf_dir()) != 0)
        tap_bail("cannot make jump.ts");
    mf_make_clip("s1.ts", "-f lavfi -i testsrc2=s=160x90:r=25:d=1 "
                       "-f lavfi -i sine=d=1:sample_rate=44100 "
                       "-c:v libx264 -preset ultrafast -c:a aac -shortest");
    mf_make_clip("s2.ts", "-f lavfi -i testsrc2=s=320x180:r=25:d=1 "
                       "-f lavfi -i sine=d=1:sample_rate=48000 "
                       "-c:v libx264 -preset ultrafast -c:a aac -shortest -output_ts_offset 1");
    if (mf_sh("cd '%s' && cat s1.ts s2.ts > chg.ts", mf_dir()) != 0)
        tap_bail("cannot make chg.ts");
    mf_make_clip("rot.mp4", "-i a.mkv -c copy -metadata:s:v:0 rotate=90");
    mf_make_clip("pcm.mkv", "-f lavfi -i testsrc2=s=160x90:r=25:d=1 -f lavfi -i sine=d=1 "
                         "-c:v libx264 -preset ultrafast -c:a pcm_s16le");
    mf_make_clip("dmg.ts", "-f lavfi -i testsrc2=s=160x90:r=25:d=2 -f lavfi -i sine=d=2 "
                        "-c:v libx264 -preset ultrafast -g 25 -c:a aac -shortest");
    mf_make_clip("cover.png", "-f lavfi -i color=c=red:s=64x64 -frames:v 1");
    mf_make_clip("cover.mp4", "-i cover.png -i a.mkv -map 0 -map 1 -c copy "
                           "-disposition:v:0 attached_pic");
    mf_make_clip("surround.mkv", "-f lavfi -i testsrc2=s=160x90:r=25:d=1 -f lavfi -i sine=d=1 "
                              "-ac 6 -c:v libx264 -preset ultrafast -c:a aac -shortest");
    /* Damage: 3000 random bytes at 40% of a TS (packets lost, the stream
     * resyncs), 2000 at 50% of an MKV (a cluster header: the rest is lost). */
    if (mf_sh("cd '%s' && cp a.mkv dmg.mkv && "
           "s=$(stat -c %%s dmg.ts) && head -c 3000 /dev/urandom | "
           "dd of=dmg.ts bs=1 seek=$((s * 4 / 10)) conv=notrunc status=none && "
           "s=$(stat -c %%s dmg.mkv) && head -c 2000 /dev/urandom | "
           "dd of=dmg.mkv bs=1 seek=$((s / 2)) conv=notrunc status=none",
           mf_dir()) != 0)
        tap_bail("cannot damage test clips");
    f = fopen(mf_path("huge.y4m"), "w");
    if (!f)
        tap_bail("cannot write huge.y4m");
    fputs("YUV4MPEG2 W16000 H16000 F25:1 Ip A1:1 C420jpeg\nFRAME\n", f);
    for (int i = 0; i < 1000; i++)
        fputs("0123456789abcdef0123456789abcdef", f);
    fclose(f);
}

int main(void)
{
    const char *plugdir = getenv("DISTCONV_PLUGIN_DIR");
    char err[1024];
    int n;

    if (!plugdir || !*plugdir)
        tap_bail("DISTCONV_PLUGIN_DIR is not set (run through make check)");
    dcv_log_setup(getenv("DCV_TEST_VERBOSE") ? DCV_LOG_DEBUG : DCV_LOG_ERROR, DCV_LOG_TEXT,
                  DCV_LOG_STDERR, "test_transcode");
    dcv_log_hook_ffmpeg();

    mf_init("media");

    n = dcv_plugin_set_load_dir(&set, plugdir, err, sizeof(err));
    if (n < 0)
        tap_bail("load plugins from %s: %s", plugdir, err);
    for (size_t i = 0; i < set.n; i++)
        if (dcv_plugin_init(set.items[i], NULL, err, sizeof(err)) < 0)
            tap_diag("plugin %s: init failed: %s", set.items[i]->hdr.name, err);
    if (!have_plugin("x264"))
        tap_bail("the x264 plugin is not in %s", plugdir);

    make_inputs();
    test_h264_mkv_copy_audio();
    test_hevc_mp4_aac();
    test_flac_copy_mp4();
    test_opus_mkv();
    test_subtitles();
    test_metadata();
    test_ten_bit();
    test_odd_size();
    test_vfr();
    test_downscale();
    test_mpegts();
    test_time_range();
    test_bad_inputs();
    test_damaged_but_usable();
    test_cover_art();
    test_surround();
    test_container_option();
    test_rotation();
    test_midstream_change();
    test_no_encoder();
    test_select();
    test_live();
    test_progress_and_cancel();
    test_disk_full();

    dcv_plugin_set_clear(&set);
    mf_cleanup();
    return tap_done();
}
