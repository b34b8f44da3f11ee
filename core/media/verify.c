/*
 * Source probing with hostile-file guards, output verification and the
 * library rules (see verify.h).
 *
 * Verification decodes every video frame on purpose: a file that opens and
 * reports the right duration can still hold a broken packet in the middle
 * (a muxer bug, a bad disk, a short write that went unnoticed), and the
 * user is about to replace their only copy with it. Decoding is far cheaper
 * than encoding (the job log prints both times), so this costs a few percent
 * of a job, never a second encode.
 */
#include "media/verify.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/avstring.h>
#include <libavutil/dict.h>
#include <libavutil/pixdesc.h>

#include "clock.h"
#include "errbuf.h"
#include "log.h"
#include "media/idet.h"
#include "media/inpolicy.h"

#define COMP "verify"

/* Copied audio carries whatever damage the source had (the pipeline reads
 * damaged input as the ffmpeg CLI does), so a few undecodable audio packets
 * are tolerated; more than this share means the stream is broken. */
#define AUDIO_ERROR_SHARE 100 /* 1 in 100 packets */
#define AUDIO_ERRORS_MIN 2

static void averr_text(int e, char *buf, size_t len)
{
    if (av_strerror(e, buf, len) < 0)
        snprintf(buf, len, "error %d", e);
}

static uint32_t pix_fmt_depth(int fmt)
{
    const AVPixFmtDescriptor *d = fmt >= 0 ? av_pix_fmt_desc_get((enum AVPixelFormat)fmt) : NULL;
    return d ? (uint32_t)d->comp[0].depth : 0;
}

static int is_cover(const AVStream *st)
{
    return (st->disposition & AV_DISPOSITION_ATTACHED_PIC) != 0;
}

/* The main video stream: libavformat's best, cover art never. */
static int main_video(const AVFormatContext *fc)
{
    int idx = av_find_best_stream((AVFormatContext *)fc, AVMEDIA_TYPE_VIDEO, -1, -1, NULL, 0);

    if (idx >= 0 && !is_cover(fc->streams[idx]))
        return idx;
    for (unsigned i = 0; i < fc->nb_streams; i++)
        if (fc->streams[i]->codecpar->codec_type == AVMEDIA_TYPE_VIDEO &&
            !is_cover(fc->streams[i]))
            return (int)i;
    return -1;
}

/* ---- probing ------------------------------------------------------------------ */

static int size_ok(int64_t w, int64_t h)
{
    return w <= DCV_MEDIA_MAX_SIDE && h <= DCV_MEDIA_MAX_SIDE && w * h <= DCV_MEDIA_MAX_PIXELS;
}

int dcv_media_check_opened(const AVFormatContext *fc, const char *name, char *err,
                           size_t errlen)
{
    /* libavformat settles for its best guess when nothing is convincing:
     * random bytes then "decode" as raw H.263 into garbage pictures. Real
     * files score above AVPROBE_SCORE_RETRY (the lowest seen is MPEG-PS at
     * 26), and a matching file extension alone lifts a guess to 50, so at or
     * below it the input is not media. */
    if (fc->probe_score <= AVPROBE_SCORE_RETRY)
        return dcv_err(err, errlen, -EINVAL,
                       "'%s' is not recognisable media (libavformat's best guess, %s, has "
                       "confidence %d/100)",
                       name, fc->iformat ? fc->iformat->name : "?", fc->probe_score);
    /* Headers declare picture sizes before any frame exists (y4m, ivf,
     * matroska, mp4): a hostile one makes a decoder allocate gigabytes for
     * its first frame, so refuse here, before any decoder runs. */
    for (unsigned i = 0; i < fc->nb_streams; i++) {
        const AVCodecParameters *par = fc->streams[i]->codecpar;
        if (par->codec_type != AVMEDIA_TYPE_VIDEO)
            continue;
        if (par->width < 0 || par->height < 0 || !size_ok(par->width, par->height))
            return dcv_err(err, errlen, -EINVAL,
                           "'%s': video stream #%u declares %dx%d pixels, beyond the supported "
                           "%lldx%lld (at most %lld pixels)",
                           name, i, par->width, par->height, (long long)DCV_MEDIA_MAX_SIDE,
                           (long long)DCV_MEDIA_MAX_SIDE, (long long)DCV_MEDIA_MAX_PIXELS);
    }
    return 0;
}

int dcv_media_stream_opts(const AVFormatContext *fc, AVDictionary ***opts)
{
    AVDictionary **o;

    *opts = NULL;
    if (fc->nb_streams == 0)
        return 0;
    o = av_calloc(fc->nb_streams, sizeof(*o));
    if (!o)
        return -ENOMEM;
    for (unsigned i = 0; i < fc->nb_streams; i++) {
        if (av_dict_set_int(&o[i], "max_pixels", DCV_MEDIA_MAX_PIXELS, 0) < 0) {
            dcv_media_stream_opts_free(&o, i + 1);
            return -ENOMEM;
        }
    }
    *opts = o;
    return 0;
}

void dcv_media_stream_opts_free(AVDictionary ***opts, unsigned n)
{
    if (!*opts)
        return;
    for (unsigned i = 0; i < n; i++)
        av_dict_free(&(*opts)[i]);
    av_freep(opts);
}

/* A URL that may answer a later attempt: the network or the server, not
 * the request (4xx, a protocol off the whitelist, not media). */
static int url_error_transient(int r)
{
    return r == AVERROR(ECONNREFUSED) || r == AVERROR(ECONNRESET) || r == AVERROR(ETIMEDOUT) ||
           r == AVERROR(EHOSTUNREACH) || r == AVERROR(ENETUNREACH) || r == AVERROR(EIO) ||
           r == AVERROR(EAGAIN) || r == AVERROR_HTTP_SERVER_ERROR;
}

/*
 * FFmpeg 5.1 copies protocol_blacklist into each AVIOContext it opens and
 * never frees it (its AVIOContext options list only the whitelist): one
 * leak per open under the input policy, which LeakSanitizer rightly
 * reports. So a file's AVIOContext is opened here, without options (the
 * file protocol is all it uses; the policy still governs every nested open
 * through the format context), and closed here; a URL's is left to
 * libavformat (some URL schemes are demuxers, not protocols) and its copy
 * freed on close. fc->opaque marks an AVIOContext of ours.
 */
static const char owned_pb;

int dcv_media_open_input(AVFormatContext **pfc, const char *url, AVIOContext *io,
                         const char *whitelist)
{
    AVFormatContext *fc = *pfc ? *pfc : avformat_alloc_context();
    AVDictionary *po = NULL;
    AVIOContext *pb = NULL;
    int r;

    *pfc = NULL;
    if (!fc || dcv_media_input_opts(whitelist, &po) < 0) {
        avformat_free_context(fc);
        return AVERROR(ENOMEM);
    }
    if (io) {
        fc->pb = io;
        fc->flags |= AVFMT_FLAG_CUSTOM_IO;
    } else if (!whitelist) {
        r = avio_open2(&pb, url, AVIO_FLAG_READ, &fc->interrupt_callback, NULL);
        if (r < 0) {
            av_dict_free(&po);
            avformat_free_context(fc);
            return r;
        }
        fc->pb = pb;
        fc->flags |= AVFMT_FLAG_CUSTOM_IO;
        fc->opaque = (void *)&owned_pb;
    }
    r = avformat_open_input(&fc, url, NULL, &po); /* frees fc on failure, never pb */
    av_dict_free(&po);
    if (r < 0) {
        avio_closep(&pb);
        return r;
    }
    *pfc = fc;
    return 0;
}

void dcv_media_close_input(AVFormatContext **fc)
{
    AVIOContext *pb;

    if (!*fc)
        return;
    pb = (*fc)->pb;
    if ((*fc)->opaque == &owned_pb) {
        avformat_close_input(fc);
        avio_closep(&pb);
        return;
    }
    /* av_freep leaves NULL behind for a version that does free it. */
    if (pb && !((*fc)->flags & AVFMT_FLAG_CUSTOM_IO))
        av_freep(&pb->protocol_blacklist);
    avformat_close_input(fc);
}

/* Open and read the stream info with the guards and the input policy
 * (media/inpolicy.h); *out on success. */
static int open_guarded(const char *path, AVIOContext *io, const char *whitelist,
                        AVFormatContext **out, char *err, size_t errlen)
{
    AVFormatContext *fc = NULL;
    AVDictionary **opts = NULL;
    struct stat sb;
    unsigned nopts;
    char e[AV_ERROR_MAX_STRING_SIZE];
    int r;

    *out = NULL;
    /* The commonest hostile file of all; FFmpeg's words for it are vague. */
    if (!io && !whitelist && stat(path, &sb) == 0 && S_ISREG(sb.st_mode) && sb.st_size == 0)
        return dcv_err(err, errlen, -EINVAL, "'%s' is empty (0 bytes)", path);
    dcv_log_clear_ffmpeg_error();
    r = dcv_media_open_input(&fc, path, io, whitelist);
    if (r == AVERROR(ENOMEM))
        return dcv_err(err, errlen, -ENOMEM, "out of memory");
    if (r < 0) {
        const char *ffl = dcv_log_last_ffmpeg_error();
        averr_text(r, e, sizeof e);
        if (whitelist && url_error_transient(r))
            return dcv_err(err, errlen, -EIO, "open %s: %s%s%s", path, e, ffl && *ffl ? ": " : "",
                           ffl ? ffl : "");
        if (r == AVERROR(ENOENT) || r == AVERROR(EACCES))
            return dcv_err(err, errlen, -ENOENT, "open '%s': %s", path, e);
        /* FFmpeg's return code can be odd (5.1's y4m demuxer answers an
         * absurd picture size with EBUSY); its log line says what it saw. */
        if (ffl && *ffl && !strstr(ffl, e))
            return dcv_err(err, errlen, -EINVAL, "'%s' is not readable media: %s (%s)", path, e,
                           ffl);
        return dcv_err(err, errlen, -EINVAL, "'%s' is not readable media: %s", path, e);
    }
    if ((r = dcv_media_check_input_format(fc, whitelist != NULL, err, errlen)) < 0 ||
        (r = dcv_media_check_opened(fc, path, err, errlen)) < 0) {
        dcv_media_close_input(&fc);
        return r;
    }
    nopts = fc->nb_streams;
    if (dcv_media_stream_opts(fc, &opts) < 0) {
        dcv_media_close_input(&fc);
        return dcv_err(err, errlen, -ENOMEM, "out of memory");
    }
    r = avformat_find_stream_info(fc, opts);
    dcv_media_stream_opts_free(&opts, nopts);
    if (r < 0) {
        averr_text(r, e, sizeof e);
        dcv_media_close_input(&fc);
        return dcv_err(err, errlen, -EINVAL, "'%s': cannot read its streams: %s", path, e);
    }
    /* Stream info may have found sizes the header left out. */
    if ((r = dcv_media_check_opened(fc, path, err, errlen)) < 0) {
        dcv_media_close_input(&fc);
        return r;
    }
    *out = fc;
    return 0;
}

/* Duration in microseconds, -1 unknown: the container's, else the longest
 * stream's. */
static int64_t fmt_duration_us(const AVFormatContext *fc)
{
    int64_t best = -1;

    if (fc->duration != AV_NOPTS_VALUE && fc->duration > 0)
        return fc->duration;
    for (unsigned i = 0; i < fc->nb_streams; i++) {
        const AVStream *st = fc->streams[i];
        if (st->duration != AV_NOPTS_VALUE && st->duration > 0) {
            int64_t d = av_rescale_q(st->duration, st->time_base, AV_TIME_BASE_Q);
            if (d > best)
                best = d;
        }
    }
    return best;
}

/* Matroska keeps no per-stream bitrate unless the muxer wrote statistics
 * tags ("BPS", mkvmerge does; ffmpeg does not). */
static int64_t tag_bitrate(const AVStream *st)
{
    const AVDictionaryEntry *t = av_dict_get(st->metadata, "BPS", NULL, 0);
    char *end;
    long long v;

    if (!t || !t->value[0])
        return -1;
    v = strtoll(t->value, &end, 10);
    return *end == '\0' && v > 0 ? v : -1;
}

static int64_t video_bitrate(const AVFormatContext *fc, int vi, int64_t size, int64_t dur_us)
{
    const AVStream *vs = fc->streams[vi];
    int64_t total, others = 0;

    if (vs->codecpar->bit_rate > 0)
        return vs->codecpar->bit_rate;
    if (tag_bitrate(vs) > 0)
        return tag_bitrate(vs);
    total = fc->bit_rate > 0 ? fc->bit_rate : -1;
    if (total < 0 && size > 0 && dur_us > 0)
        total = (int64_t)((double)size * 8.0 * 1e6 / (double)dur_us);
    if (total < 0)
        return -1;
    for (unsigned i = 0; i < fc->nb_streams; i++) {
        int64_t b;
        if ((int)i == vi)
            continue;
        b = fc->streams[i]->codecpar->bit_rate > 0 ? fc->streams[i]->codecpar->bit_rate
                                                    : tag_bitrate(fc->streams[i]);
        if (b > 0)
            others += b;
    }
    return total - others > 0 ? total - others : total;
}

int dcv_media_probe(const char *path, AVIOContext *io, const char *protocol_whitelist,
                    struct dcv_media_info *info, char *err, size_t errlen)
{
    AVFormatContext *fc;
    const AVCodecParameters *par;
    int r, vi;

    memset(info, 0, sizeof *info);
    info->size = -1;
    info->duration_us = -1;
    info->video_bitrate = -1;
    if ((r = open_guarded(path, io, protocol_whitelist, &fc, err, errlen)) < 0)
        return r;
    vi = main_video(fc);
    if (vi < 0) {
        dcv_media_close_input(&fc);
        return dcv_err(err, errlen, -EINVAL, "'%s': no video stream", path);
    }
    for (unsigned i = 0; i < fc->nb_streams; i++) {
        enum AVMediaType t = fc->streams[i]->codecpar->codec_type;
        if (t == AVMEDIA_TYPE_VIDEO && !is_cover(fc->streams[i]))
            info->n_video++;
        else if (t == AVMEDIA_TYPE_AUDIO)
            info->n_audio++;
        else if (t == AVMEDIA_TYPE_SUBTITLE)
            info->n_subtitle++;
    }
    par = fc->streams[vi]->codecpar;
    av_strlcpy(info->format, fc->iformat->name, sizeof info->format);
    av_strlcpy(info->video_codec, avcodec_get_name(par->codec_id), sizeof info->video_codec);
    info->width = par->width;
    info->height = par->height;
    info->depth = pix_fmt_depth(par->format);
    info->interlaced = par->field_order == AV_FIELD_PROGRESSIVE ? 0
                       : par->field_order == AV_FIELD_UNKNOWN   ? -1
                                                                : 1;
    info->duration_us = fmt_duration_us(fc);
    info->duration_estimated = fc->duration_estimation_method == AVFMT_DURATION_FROM_BITRATE;
    if (fc->pb) {
        info->size = avio_size(fc->pb);
        if (info->size <= 0)
            info->size = -1;
    }
    info->video_bitrate = video_bitrate(fc, vi, info->size, info->duration_us);
    dcv_media_close_input(&fc);
    return 0;
}

/* ---- verification ------------------------------------------------------------- */

int64_t dcv_verify_default_tolerance(int64_t duration_us)
{
    int64_t pct = duration_us / 100;
    return pct > 500000 ? pct : 500000;
}

struct vstream {
    AVCodecContext *dec;
    enum AVMediaType type;
    int64_t packets, frames, errors;
    int64_t start_us, end_us; /* extent of its packets, INT64_MAX/MIN when none */
    char last_err[AV_ERROR_MAX_STRING_SIZE];
};

struct verify {
    AVFormatContext *fc;
    struct vstream *vs;
    unsigned n;
    int vi;
    AVFrame *frame;
    /* Combing: idet over the first frames of a video flagged progressive */
    struct dcv_idet *idet;
    int64_t idet_frames;
    struct dcv_idet_counts idet_counts;
    char *err;
    size_t errlen;
};

static int open_decoder(struct verify *v, unsigned i)
{
    const AVStream *st = v->fc->streams[i];
    const AVCodec *codec = avcodec_find_decoder(st->codecpar->codec_id);
    struct vstream *s = &v->vs[i];
    char e[AV_ERROR_MAX_STRING_SIZE];
    int r;

    if (!codec)
        return dcv_err(v->err, v->errlen, -EBADMSG, "stream #%u: no decoder for %s", i,
                       avcodec_get_name(st->codecpar->codec_id));
    if (!(s->dec = avcodec_alloc_context3(codec)))
        return dcv_err(v->err, v->errlen, -ENOMEM, "out of memory");
    if ((r = avcodec_parameters_to_context(s->dec, st->codecpar)) < 0)
        goto fail;
    s->dec->pkt_timebase = st->time_base;
    s->dec->max_pixels = DCV_MEDIA_MAX_PIXELS;
    if (s->type == AVMEDIA_TYPE_VIDEO) {
        /* Our own encoder wrote this: any damage at all is a failure,
         * where reading a source tolerates some. */
        s->dec->err_recognition |= AV_EF_EXPLODE | AV_EF_CRCCHECK | AV_EF_BITSTREAM;
        s->dec->thread_count = 0;
        s->dec->thread_type = FF_THREAD_FRAME | FF_THREAD_SLICE;
    }
    if ((r = avcodec_open2(s->dec, codec, NULL)) < 0)
        goto fail;
    return 0;
fail:
    averr_text(r, e, sizeof e);
    return dcv_err(v->err, v->errlen, r == AVERROR(ENOMEM) ? -ENOMEM : -EBADMSG,
                   "stream #%u: cannot open the %s decoder: %s", i, codec->name, e);
}

/* An idet failure (a format it cannot be given) leaves combing unchecked
 * rather than failing a good output. */
static void look_combing(struct verify *v, unsigned i)
{
    char e[256];

    if (dcv_idet_frame(v->idet, v->frame, v->fc->streams[i]->time_base, e, sizeof e) < 0) {
        dcv_log(DCV_LOG_WARN, COMP, "combing not checked: %s", e);
        dcv_idet_free(&v->idet);
    }
}

/* Send one packet (NULL: flush) and drain the frames. A video error fails
 * at once; audio errors are counted. */
static int decode(struct verify *v, unsigned i, const AVPacket *pkt)
{
    struct vstream *s = &v->vs[i];
    char e[AV_ERROR_MAX_STRING_SIZE];
    int r = avcodec_send_packet(s->dec, pkt);

    if (r < 0 && r != AVERROR_EOF)
        goto bad;
    for (;;) {
        r = avcodec_receive_frame(s->dec, v->frame);
        if (r == AVERROR(EAGAIN) || r == AVERROR_EOF)
            return 0;
        if (r < 0)
            goto bad;
        s->frames++;
        if (s->type == AVMEDIA_TYPE_VIDEO && v->idet && v->idet_frames < DCV_VERIFY_IDET_FRAMES) {
            look_combing(v, i);
            v->idet_frames++;
        }
        av_frame_unref(v->frame);
    }
bad:
    if (r == AVERROR(ENOMEM))
        return dcv_err(v->err, v->errlen, -ENOMEM, "out of memory");
    averr_text(r, e, sizeof e);
    if (s->type == AVMEDIA_TYPE_VIDEO)
        return dcv_err(v->err, v->errlen, -EBADMSG, "video frame %" PRId64 " does not decode: %s",
                       s->frames + 1, e);
    s->errors++;
    av_strlcpy(s->last_err, e, sizeof s->last_err);
    return 0;
}

static void note_extent(struct verify *v, unsigned i, const AVPacket *pkt)
{
    struct vstream *s = &v->vs[i];
    AVRational tb = v->fc->streams[i]->time_base;
    int64_t ts = pkt->pts != AV_NOPTS_VALUE ? pkt->pts : pkt->dts, a, b;

    if (ts == AV_NOPTS_VALUE)
        return;
    a = av_rescale_q(ts, tb, AV_TIME_BASE_Q);
    b = av_rescale_q(ts + (pkt->duration > 0 ? pkt->duration : 0), tb, AV_TIME_BASE_Q);
    if (a < s->start_us)
        s->start_us = a;
    if (b > s->end_us)
        s->end_us = b;
}

static int count_streams(struct verify *v, const struct dcv_verify_expect *e,
                         struct dcv_verify_stats *st)
{
    for (unsigned i = 0; i < v->n; i++) {
        const AVStream *s = v->fc->streams[i];
        switch (s->codecpar->codec_type) {
        case AVMEDIA_TYPE_VIDEO:
            if (!is_cover(s))
                st->n_video++;
            break;
        case AVMEDIA_TYPE_AUDIO: st->n_audio++; break;
        case AVMEDIA_TYPE_SUBTITLE: st->n_subtitle++; break;
        default: break;
        }
    }
    if (st->n_video != 1)
        return dcv_err(v->err, v->errlen, -EBADMSG, "%u video streams, expected 1", st->n_video);
    if (e->audio_streams >= 0 && st->n_audio != (unsigned)e->audio_streams)
        return dcv_err(v->err, v->errlen, -EBADMSG, "%u audio stream%s, expected %d",
                       st->n_audio, st->n_audio == 1 ? "" : "s", e->audio_streams);
    if (e->subtitle_streams >= 0 && st->n_subtitle != (unsigned)e->subtitle_streams)
        return dcv_err(v->err, v->errlen, -EBADMSG, "%u subtitle stream%s, expected %d",
                       st->n_subtitle, st->n_subtitle == 1 ? "" : "s", e->subtitle_streams);
    return 0;
}

static int read_all(struct verify *v, const volatile sig_atomic_t *cancel)
{
    AVPacket *pkt = av_packet_alloc();
    char e[AV_ERROR_MAX_STRING_SIZE];
    int r = 0;

    if (!pkt)
        return dcv_err(v->err, v->errlen, -ENOMEM, "out of memory");
    for (;;) {
        if (cancel && *cancel) {
            r = dcv_err(v->err, v->errlen, -ECANCELED, "cancelled");
            break;
        }
        r = av_read_frame(v->fc, pkt);
        if (r == AVERROR_EOF) {
            r = 0;
            break;
        }
        if (r < 0) {
            averr_text(r, e, sizeof e);
            r = dcv_err(v->err, v->errlen, r == AVERROR(ENOMEM) ? -ENOMEM : -EBADMSG,
                        "read error after %.2f s: %s",
                        v->vs[v->vi].end_us > 0 ? (double)v->vs[v->vi].end_us / 1e6 : 0.0, e);
            break;
        }
        if (pkt->stream_index >= 0 && (unsigned)pkt->stream_index < v->n &&
            v->vs[pkt->stream_index].dec) {
            unsigned i = (unsigned)pkt->stream_index;
            v->vs[i].packets++;
            note_extent(v, i, pkt);
            r = decode(v, i, pkt);
        }
        av_packet_unref(pkt);
        if (r < 0)
            break;
    }
    av_packet_free(&pkt);
    if (r < 0)
        return r;
    for (unsigned i = 0; i < v->n; i++)
        if (v->vs[i].dec && (r = decode(v, i, NULL)) < 0)
            return r;
    return 0;
}

static int judge(struct verify *v, const struct dcv_verify_expect *e, struct dcv_verify_stats *st)
{
    int64_t start = INT64_MAX, end = INT64_MIN;
    const struct vstream *vid = &v->vs[v->vi];

    for (unsigned i = 0; i < v->n; i++) {
        const struct vstream *s = &v->vs[i];
        if (!s->dec || s->end_us == INT64_MIN)
            continue;
        if (s->start_us < start)
            start = s->start_us;
        if (s->end_us > end)
            end = s->end_us;
        if (s->type == AVMEDIA_TYPE_AUDIO) {
            st->audio_frames += s->frames;
            st->audio_errors += s->errors;
        }
    }
    st->video_frames = vid->frames;
    st->duration_us = end > start ? end - start : -1;
    if (vid->frames == 0)
        return dcv_err(v->err, v->errlen, -EBADMSG, "no video frame decodes");
    /* The duration first: it is what a cut-short file shows most plainly. */
    if (e->duration_us > 0) {
        int64_t tol = e->tolerance_us > 0 ? e->tolerance_us
                                          : dcv_verify_default_tolerance(e->duration_us);
        if (st->duration_us < 0 || llabs(st->duration_us - e->duration_us) > tol)
            return dcv_err(v->err, v->errlen, -EBADMSG,
                           "duration %.2f s, source %.2f s (tolerance %.2f s)",
                           st->duration_us < 0 ? 0.0 : (double)st->duration_us / 1e6,
                           (double)e->duration_us / 1e6, (double)tol / 1e6);
    }
    if (v->idet) {
        char ie[256];
        const struct dcv_idet_counts *c = &v->idet_counts;
        if (dcv_idet_finish(v->idet, &v->idet_counts, ie, sizeof ie) < 0) {
            dcv_log(DCV_LOG_WARN, COMP, "combing not checked: %s", ie);
        } else {
            st->idet_frames = v->idet_frames;
            st->idet_interlaced = c->tff + c->bff;
            st->idet_progressive = c->progressive;
            if (dcv_idet_verdict(c) == 'T' || dcv_idet_verdict(c) == 'B')
                return dcv_err(v->err, v->errlen, -EBADMSG,
                               "the video is flagged progressive but its pictures are "
                               "interlaced (combing): idet finds %" PRId64 " of the first %" PRId64
                               " frames interlaced, %" PRId64 " progressive; deinterlace it "
                               "(--deinterlace on) or keep it interlaced (--interlaced keep)",
                               c->tff + c->bff, v->idet_frames, c->progressive);
        }
    }
    if (e->video_frames >= 0 && vid->frames != e->video_frames)
        return dcv_err(v->err, v->errlen, -EBADMSG,
                       "%" PRId64 " video frames decode, the encoder wrote %" PRId64, vid->frames,
                       e->video_frames);
    for (unsigned i = 0; i < v->n; i++) {
        const struct vstream *s = &v->vs[i];
        if (!s->dec || s->type != AVMEDIA_TYPE_AUDIO || s->packets == 0)
            continue;
        if (s->frames == 0 ||
            (s->errors >= AUDIO_ERRORS_MIN && s->errors * AUDIO_ERROR_SHARE > s->packets))
            return dcv_err(v->err, v->errlen, -EBADMSG,
                           "audio stream #%u: %" PRId64 " of %" PRId64
                           " packets do not decode (%s)",
                           i, s->errors, s->packets, s->last_err[0] ? s->last_err : "no frame");
    }
    return 0;
}

int dcv_verify_output(const char *path, const struct dcv_verify_expect *e,
                      struct dcv_verify_stats *stats, const volatile sig_atomic_t *cancel,
                      char *err, size_t errlen)
{
    struct verify v = {0};
    struct dcv_verify_stats local;
    struct dcv_verify_stats *st = stats ? stats : &local;
    uint64_t t0 = dcv_mono_ns();
    char e2[512];
    enum AVFieldOrder fo;
    int r;

    memset(st, 0, sizeof *st);
    st->duration_us = -1;
    v.err = err;
    v.errlen = errlen;
    if ((r = open_guarded(path, NULL, NULL, &v.fc, e2, sizeof e2)) < 0)
        return dcv_err(err, errlen, r == -ENOMEM ? -ENOMEM : -EBADMSG, "%s", e2);
    v.n = v.fc->nb_streams;
    v.vi = main_video(v.fc);
    if (v.vi < 0) {
        r = dcv_err(err, errlen, -EBADMSG, "no video stream");
        goto out;
    }
    if ((r = count_streams(&v, e, st)) < 0)
        goto out;
    v.vs = calloc(v.n, sizeof *v.vs);
    v.frame = av_frame_alloc();
    if (!v.vs || !v.frame) {
        r = dcv_err(err, errlen, -ENOMEM, "out of memory");
        goto out;
    }
    for (unsigned i = 0; i < v.n; i++) {
        AVStream *s = v.fc->streams[i];
        v.vs[i].type = s->codecpar->codec_type;
        v.vs[i].start_us = INT64_MAX;
        v.vs[i].end_us = INT64_MIN;
        /* The video and the audio are decoded; subtitles, extra video and
         * data only need to be there. */
        if ((int)i == v.vi || v.vs[i].type == AVMEDIA_TYPE_AUDIO) {
            if ((r = open_decoder(&v, i)) < 0)
                goto out;
        } else {
            s->discard = AVDISCARD_ALL;
        }
    }
    /* An output flagged interlaced is meant to look so. */
    fo = v.fc->streams[v.vi]->codecpar->field_order;
    if (!e->allow_combing && (fo == AV_FIELD_PROGRESSIVE || fo == AV_FIELD_UNKNOWN) &&
        dcv_idet_new(&v.idet) < 0) {
        r = dcv_err(err, errlen, -ENOMEM, "out of memory");
        goto out;
    }
    if ((r = read_all(&v, cancel)) < 0)
        goto out;
    r = judge(&v, e, st);
out:
    st->elapsed_s = (double)(dcv_mono_ns() - t0) / 1e9;
    for (unsigned i = 0; v.vs && i < v.n; i++)
        avcodec_free_context(&v.vs[i].dec);
    free(v.vs);
    dcv_idet_free(&v.idet);
    av_frame_free(&v.frame);
    dcv_media_close_input(&v.fc);
    return r;
}

/* ---- library rules -------------------------------------------------------------- */

int dcv_rule_target_met(const struct dcv_media_info *src, const struct dcv_profile *p,
                        char *note, size_t notelen)
{
    char rate[48] = "";

    if (strcmp(src->video_codec, p->codec) != 0) {
        dcv_errf(note, notelen, "source video is %s, the target %s", src->video_codec, p->codec);
        return 0;
    }
    if (p->max_height && (src->height <= 0 || (uint32_t)src->height > p->max_height)) {
        dcv_errf(note, notelen, "source height %d is above the target's %u", src->height,
                 p->max_height);
        return 0;
    }
    if (p->bit_depth && src->depth != p->bit_depth) {
        dcv_errf(note, notelen, "source is %u-bit, the target %u-bit", src->depth, p->bit_depth);
        return 0;
    }
    if (p->rc_mode == DCV_RC_VBR && p->bitrate_kbps) {
        if (src->video_bitrate <= 0) {
            dcv_errf(note, notelen, "source video bitrate unknown, the target %u kbit/s",
                     p->bitrate_kbps);
            return 0;
        }
        if (src->video_bitrate > (int64_t)p->bitrate_kbps * 1000) {
            dcv_errf(note, notelen, "source video bitrate %" PRId64 " kbit/s is above the "
                     "target's %u kbit/s", src->video_bitrate / 1000, p->bitrate_kbps);
            return 0;
        }
        snprintf(rate, sizeof rate, " at %" PRId64 " kbit/s", src->video_bitrate / 1000);
    }
    dcv_errf(note, notelen, "source is already %s %dx%d %u-bit%s, within the target", src->video_codec,
             src->width, src->height, src->depth, rate);
    return 1;
}

int dcv_rule_keep_original(int64_t src_size, int64_t out_size, char *note, size_t notelen)
{
    if (src_size <= 0 || out_size < 0) {
        dcv_errf(note, notelen, "sizes unknown (source %" PRId64 ", output %" PRId64 ")",
                 src_size, out_size);
        return 0;
    }
    if (out_size < src_size) {
        dcv_errf(note, notelen, "output %" PRId64 " bytes is %.1f%% of the source's %" PRId64,
                 out_size, 100.0 * (double)out_size / (double)src_size, src_size);
        return 0;
    }
    dcv_errf(note, notelen,
             "output %" PRId64 " bytes is not smaller than the source's %" PRId64
             " bytes: keep the original",
             out_size, src_size);
    return 1;
}
