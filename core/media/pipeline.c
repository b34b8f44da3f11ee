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
 */
#include "media/pipeline.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <libavcodec/avcodec.h>
#include <libavfilter/avfilter.h>
#include <libavfilter/buffersink.h>
#include <libavfilter/buffersrc.h>
#include <libavformat/avformat.h>
#include <libavutil/avstring.h>
#include <libavutil/channel_layout.h>
#include <libavutil/display.h>
#include <libavutil/opt.h>
#include <libavutil/pixdesc.h>

#include "log.h"
#include "media/encoder.h"

#define LOG_COMP "media"
#define PROGRESS_INTERVAL_NS 500000000LL
/* Like ffmpeg, a few undecodable packets are tolerated (damaged files are
 * common and mostly still watchable); this many in a row means the stream
 * is not decodable at all. */
#define MAX_CONSECUTIVE_DECODE_ERRORS 32
/* Packets held back until the video encoder is open and the header is
 * written; bounded so a video stream that never decodes cannot make the
 * other streams eat the memory. */
#define QUEUE_MAX_PACKETS 8192
#define QUEUE_MAX_BYTES (256LL << 20)
/* Decoder frame limit when the encoder's maximum does not apply (we
 * downscale). 8192x8192 is well above 8K UHD and keeps one frame ~100 MB. */
#define MAX_INPUT_PIXELS (8192LL * 8192LL)
#define OUT_BUF_SIZE (256 * 1024)
#define DISCONT_THRESHOLD_US (10LL * 1000000)

#if LIBAVUTIL_VERSION_INT >= AV_VERSION_INT(57, 30, 100)
#define FRAME_DURATION(f) ((f)->duration)
#else
#define FRAME_DURATION(f) ((f)->pkt_duration)
#endif

#if LIBAVFORMAT_VERSION_MAJOR >= 61
#define AVIO_WBUF const uint8_t *
#else
#define AVIO_WBUF uint8_t *
#endif

enum skind { SK_SKIP = 0, SK_VIDEO, SK_COPY, SK_AUDIO };

/* One input stream that goes to the output (other than the video). */
struct sstate {
    enum skind kind;
    AVStream *ist, *ost;
    int64_t off;   /* output shift, in ist->time_base */
    int done;      /* past the end of the time range */
    /* audio re-encode */
    AVCodecContext *dec, *enc;
    const char *enc_name;
    AVFilterGraph *graph;
    AVFilterContext *src, *sink;
    int g_fmt, g_rate; /* graph input, to notice changes */
    AVChannelLayout g_layout;
    int64_t next_pts;  /* in 1/sample_rate, for frames without pts */
    int consecutive_errors;
    int64_t errors;
};

struct vstate {
    int index;
    AVStream *ist, *ost;
    AVCodecContext *dec;
    struct dcv_encoder_choice choice;
    const struct dcv_codec_caps *cc;
    uint32_t depth;
    AVRational fr; /* frame rate hint */
    int64_t off;   /* output shift in ist->time_base */
    int64_t max_pixels;

    /* Display rotation of the source (phone videos): applied to the
     * pixels, as the ffmpeg CLI does by default, because not every
     * container/player honours a rotation flag. */
    const char *rot_chain;
    int rot_swap; /* 90 / 270 degrees: width and height trade places */
    char rot_buf[64];

    AVFilterGraph *graph; /* NULL: frames pass straight through */
    AVFilterContext *src, *sink;
    int configured;       /* graph decision made for the first frame */
    int in_w, in_h, in_fmt; /* what the current graph (or pass-through) expects */
    int out_w, out_h, out_fmt;

    struct dcv_enc_session *enc;
    AVRational pkt_tb;
    int64_t next_pts;     /* input pts expected next (ist tb) */
    int64_t last_pts;     /* last shifted pts sent on (ist tb) */
    int64_t frames_decoded, frames_sent, packets, dropped_nonmono;
    int consecutive_errors;
    int64_t errors;
    char last_decode_err[128];
    int ended;
    int64_t out_time_us;
    AVFrame *frame, *filt;
};

struct qpkt {
    AVPacket *pkt;
    AVRational tb;
    int ost_index;
};

struct outfile {
    int fd;
    int err; /* errno of the first failed write/seek */
    const char *name;
};

struct tc {
    const struct dcv_transcode_req *req;
    const struct dcv_profile *prof;
    char *err;
    size_t errlen;
    const char *in_name, *out_name;

    AVFormatContext *ic, *oc;
    const AVOutputFormat *ofmt;
    struct sstate *ss; /* per input stream */
    unsigned nss;
    struct vstate v;
    int header_written;

    struct qpkt *q;
    size_t nq, qcap;
    int64_t qbytes;

    char *part_path;
    struct outfile of;
    AVIOContext *own_pb;

    int live;             /* not seekable or no duration */
    int64_t in_start_us;  /* input start_time (0 if unknown) */
    int64_t start_abs_us; /* keep from here (input timeline); INT64_MIN: all */
    int64_t end_abs_us;   /* stop here; INT64_MAX: to the end */
    int64_t offset_us;    /* subtracted from every timestamp */
    int64_t expected_us;  /* expected output duration, -1 unknown */
    int64_t in_max_end_us;/* furthest input timestamp seen (truncation check) */
    /* Formats whose timestamps may jump (MPEG-TS: spliced or concatenated
     * streams, a live encoder restart): jumps over DISCONT_THRESHOLD_US are
     * taken out, as the ffmpeg CLI does, so the output stays continuous. */
    int ts_discont;
    int64_t disc_offset_us; /* added to every input timestamp */
    int64_t disc_next_us;   /* where the next packet is expected */
    int64_t out_max_end_us;
    int64_t final_bytes;  /* output size once the output is closed */
    int64_t *last_dts;    /* per output stream, in its time base */
    int64_t dts_fixes;

    struct timespec t0;
    int64_t last_progress_ns;
    int in_progress_cb;
    int cancelled;

    char ff_err_before[256];
};

/* ------------------------------------------------------------------------ */
/* Errors                                                                    */
/* ------------------------------------------------------------------------ */

static int map_averror(int e)
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

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
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
static int fail_av(struct tc *t, int averr, const char *fmt, ...) DCV_PRINTF(3, 4);
static int fail_av(struct tc *t, int averr, const char *fmt, ...)
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
    return map_averror(averr);
}

static int fail(struct tc *t, int ret, const char *fmt, ...) DCV_PRINTF(3, 4);
static int fail(struct tc *t, int ret, const char *fmt, ...)
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

static double elapsed_s(const struct tc *t)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)(ts.tv_sec - t->t0.tv_sec) + (double)(ts.tv_nsec - t->t0.tv_nsec) / 1e9;
}

static int64_t bytes_out(const struct tc *t)
{
    if (!t->oc || !t->oc->pb)
        return t->final_bytes;
    int64_t n = avio_tell(t->oc->pb);
    return n < 0 ? 0 : n;
}

static void fill_progress(const struct tc *t, struct dcv_progress *p, int final)
{
    double el = elapsed_s(t);

    memset(p, 0, sizeof(*p));
    p->frames = t->v.packets;
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

/* Calls the progress callback when due. Returns -ECANCELED when the
 * callback asked to stop (now or before). */
static int progress_tick(struct tc *t)
{
    struct dcv_progress p;
    int64_t now;

    if (t->cancelled)
        return -ECANCELED;
    if (!t->req->progress || t->in_progress_cb)
        return 0;
    now = now_ns();
    if (now - t->last_progress_ns < PROGRESS_INTERVAL_NS)
        return 0;
    t->last_progress_ns = now;
    fill_progress(t, &p, 0);
    t->in_progress_cb = 1;
    if (t->req->progress(&p, t->req->progress_user) != 0)
        t->cancelled = 1;
    t->in_progress_cb = 0;
    return t->cancelled ? -ECANCELED : 0;
}

/* FFmpeg calls this while it blocks on input I/O, so a stalled live input
 * still reports progress and can be cancelled. */
static int interrupt_cb(void *opaque)
{
    struct tc *t = opaque;
    progress_tick(t);
    return t->cancelled;
}

static int cancelled_error(struct tc *t)
{
    return fail(t, -ECANCELED, "transcode of '%s' cancelled", t->in_name);
}

/* ------------------------------------------------------------------------ */
/* Output file (OUTPUT.part, written through our own AVIO)                    */
/* ------------------------------------------------------------------------ */

static int of_write(void *opaque, AVIO_WBUF buf, int size)
{
    struct outfile *o = opaque;
    const uint8_t *p = buf;
    int left = size;

    while (left > 0) {
        ssize_t n = write(o->fd, p, (size_t)left);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (!o->err)
                o->err = errno;
            return AVERROR(errno);
        }
        p += n;
        left -= (int)n;
    }
    return size;
}

static int64_t of_seek(void *opaque, int64_t offset, int whence)
{
    struct outfile *o = opaque;
    off_t r;

    if (whence == AVSEEK_SIZE) {
        struct stat st;
        if (fstat(o->fd, &st) != 0)
            return AVERROR(errno);
        return st.st_size;
    }
    whence &= ~AVSEEK_FORCE;
    r = lseek(o->fd, (off_t)offset, whence);
    if (r < 0) {
        if (!o->err)
            o->err = errno;
        return AVERROR(errno);
    }
    return r;
}

static int open_output_file(struct tc *t)
{
    size_t len = strlen(t->out_name) + sizeof(".part");
    unsigned char *buf;

    t->part_path = malloc(len);
    if (!t->part_path)
        return fail(t, -ENOMEM, "out of memory");
    snprintf(t->part_path, len, "%s.part", t->out_name);
    /* O_NOFOLLOW: the .part name is ours; a link planted there is refused. */
    t->of.fd = open(t->part_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (t->of.fd < 0) {
        int e = errno;
        free(t->part_path);
        t->part_path = NULL;
        return fail(t, -e, "create output '%s.part': %s", t->out_name, strerror(e));
    }
    t->of.name = t->part_path;
    buf = av_malloc(OUT_BUF_SIZE);
    if (!buf)
        return fail(t, -ENOMEM, "out of memory");
    t->own_pb = avio_alloc_context(buf, OUT_BUF_SIZE, 1, &t->of, NULL, of_write, of_seek);
    if (!t->own_pb) {
        av_free(buf);
        return fail(t, -ENOMEM, "out of memory");
    }
    t->oc->pb = t->own_pb;
    t->oc->flags |= AVFMT_FLAG_CUSTOM_IO;
    return 0;
}

/* Removes a failed .part; the final name was never touched. */
static void discard_output(struct tc *t)
{
    if (t->own_pb) {
        av_freep(&t->own_pb->buffer);
        avio_context_free(&t->own_pb);
    }
    if (t->of.fd >= 0) {
        close(t->of.fd);
        t->of.fd = -1;
    }
    if (t->part_path) {
        if (unlink(t->part_path) != 0 && errno != ENOENT)
            dcv_log(DCV_LOG_WARN, LOG_COMP, "cannot remove '%s': %s", t->part_path,
                    strerror(errno));
        free(t->part_path);
        t->part_path = NULL;
    }
}

static int fsync_dir_of(const char *path)
{
    char *dir = strdup(path), *slash;
    int fd, ret = 0;

    if (!dir)
        return -ENOMEM;
    slash = strrchr(dir, '/');
    if (!slash)
        strcpy(dir, ".");
    else if (slash == dir)
        dir[1] = '\0';
    else
        *slash = '\0';
    fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        if (fsync(fd) != 0 && errno != EINVAL)
            ret = -errno;
        close(fd);
    }
    free(dir);
    return ret;
}

static int commit_output(struct tc *t)
{
    int e;

    avio_flush(t->own_pb);
    if (t->own_pb->error < 0 || t->of.err) {
        e = t->of.err ? t->of.err : -map_averror(t->own_pb->error);
        if (e == ENOSPC)
            return fail(t, -ENOSPC, "disk full writing '%s'", t->part_path);
        return fail(t, -e, "write '%s': %s", t->part_path, strerror(e));
    }
    if (fsync(t->of.fd) != 0) {
        e = errno;
        if (e == ENOSPC)
            return fail(t, -ENOSPC, "disk full writing '%s'", t->part_path);
        if (e != EINVAL) /* not a regular file (a pipe, /dev/null): nothing to sync */
            return fail(t, -e, "fsync '%s': %s", t->part_path, strerror(e));
    }
    t->final_bytes = avio_size(t->own_pb);
    av_freep(&t->own_pb->buffer);
    avio_context_free(&t->own_pb);
    t->oc->pb = NULL;
    if (close(t->of.fd) != 0) {
        e = errno;
        t->of.fd = -1;
        return fail(t, -e, "close '%s': %s", t->part_path, strerror(e));
    }
    t->of.fd = -1;
    if (rename(t->part_path, t->out_name) != 0) {
        e = errno;
        return fail(t, -e, "rename '%s' to '%s': %s", t->part_path, t->out_name, strerror(e));
    }
    free(t->part_path);
    t->part_path = NULL;
    e = fsync_dir_of(t->out_name);
    if (e < 0)
        dcv_log(DCV_LOG_WARN, LOG_COMP, "fsync of the directory of '%s': %s", t->out_name,
                strerror(-e));
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Container                                                                 */
/* ------------------------------------------------------------------------ */

static const struct {
    const char *name, *muxer;
} containers[] = {
    { "mkv", "matroska" }, { "matroska", "matroska" }, { "mp4", "mp4" },
    { "m4v", "mp4" },      { "ts", "mpegts" },         { "mpegts", "mpegts" },
};

static int choose_container(struct tc *t)
{
    const char *want = t->prof->container, *ext = NULL;
    const char *muxer = NULL;

    if (!want[0]) {
        const char *base = strrchr(t->out_name, '/');
        base = base ? base + 1 : t->out_name;
        ext = strrchr(base, '.');
        if (!ext || !ext[1])
            return fail(t, -EINVAL,
                        "output '%s': no file extension to choose the container from "
                        "(use .mkv, .mp4, .m4v or .ts, or set the container)",
                        t->out_name);
        want = ext + 1;
    }
    for (size_t i = 0; i < sizeof(containers) / sizeof(containers[0]); i++)
        if (strcasecmp(want, containers[i].name) == 0)
            muxer = containers[i].muxer;
    if (!muxer)
        return fail(t, -EINVAL,
                    "output '%s': unsupported container '%s' (supported: mkv, mp4, m4v, ts)",
                    t->out_name, want);
    t->ofmt = av_guess_format(muxer, NULL, NULL);
    if (!t->ofmt)
        return fail(t, -EINVAL, "output '%s': this FFmpeg has no %s muxer", t->out_name, muxer);
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Muxing                                                                    */
/* ------------------------------------------------------------------------ */

static int mux_now(struct tc *t, AVPacket *pkt, AVRational tb, int ost_index)
{
    AVStream *ost = t->oc->streams[ost_index];
    int64_t *last = &t->last_dts[ost_index];
    int ret;

    pkt->stream_index = ost_index;
    pkt->pos = -1;
    av_packet_rescale_ts(pkt, tb, ost->time_base);
    /* Overlapping or spliced input (audio of concatenated segments, a
     * copied stream with a glitch) can step dts back; muxers refuse that.
     * Nudge it forward as the ffmpeg CLI does instead of failing. */
    if (pkt->dts != AV_NOPTS_VALUE && *last != AV_NOPTS_VALUE) {
        int64_t max = *last + !(t->oc->oformat->flags & AVFMT_TS_NONSTRICT);
        if (pkt->dts < max) {
            dcv_log(max - pkt->dts > 2 && !t->dts_fixes++ ? DCV_LOG_WARN : DCV_LOG_DEBUG,
                    LOG_COMP,
                    "output stream %d: timestamp %" PRId64 " before %" PRId64 ", moved forward",
                    ost_index, pkt->dts, max);
            if (pkt->pts != AV_NOPTS_VALUE && pkt->pts >= pkt->dts && pkt->pts < max)
                pkt->pts = max;
            pkt->dts = max;
        }
    }
    if (pkt->dts != AV_NOPTS_VALUE)
        *last = pkt->dts;
    if (pkt->pts != AV_NOPTS_VALUE) {
        int64_t end = av_rescale_q(pkt->pts + pkt->duration, ost->time_base, AV_TIME_BASE_Q);
        if (end > t->out_max_end_us)
            t->out_max_end_us = end;
    }
    ret = av_interleaved_write_frame(t->oc, pkt);
    av_packet_unref(pkt);
    if (ret < 0) {
        if (t->of.err == ENOSPC || ret == AVERROR(ENOSPC))
            return fail(t, -ENOSPC, "disk full writing '%s'",
                        t->part_path ? t->part_path : t->out_name);
        return fail_av(t, ret, "write output '%s'", t->part_path ? t->part_path : t->out_name);
    }
    return 0;
}

/* Takes the packet's reference (pkt is left blank). */
static int mux(struct tc *t, AVPacket *pkt, AVRational tb, int ost_index)
{
    if (t->header_written)
        return mux_now(t, pkt, tb, ost_index);
    if (t->nq >= QUEUE_MAX_PACKETS || t->qbytes > QUEUE_MAX_BYTES) {
        av_packet_unref(pkt);
        return fail(t, -EINVAL,
                    "input '%s': no video frame decoded after %zu packets of other streams",
                    t->in_name, t->nq);
    }
    if (t->nq == t->qcap) {
        size_t ncap = t->qcap ? t->qcap * 2 : 64;
        struct qpkt *n = realloc(t->q, ncap * sizeof(*n));
        if (!n) {
            av_packet_unref(pkt);
            return fail(t, -ENOMEM, "out of memory");
        }
        t->q = n;
        t->qcap = ncap;
    }
    AVPacket *c = av_packet_alloc();
    if (!c) {
        av_packet_unref(pkt);
        return fail(t, -ENOMEM, "out of memory");
    }
    av_packet_move_ref(c, pkt);
    t->qbytes += c->size;
    t->q[t->nq].pkt = c;
    t->q[t->nq].tb = tb;
    t->q[t->nq].ost_index = ost_index;
    t->nq++;
    return 0;
}

static void queue_free(struct tc *t)
{
    for (size_t i = 0; i < t->nq; i++)
        av_packet_free(&t->q[i].pkt);
    free(t->q);
    t->q = NULL;
    t->nq = t->qcap = 0;
}

static int write_header(struct tc *t)
{
    int ret;

    ret = avformat_write_header(t->oc, NULL);
    if (ret < 0) {
        if (t->of.err == ENOSPC || ret == AVERROR(ENOSPC))
            return fail(t, -ENOSPC, "disk full writing '%s'",
                        t->part_path ? t->part_path : t->out_name);
        return fail_av(t, ret, "write header of '%s'", t->out_name);
    }
    t->header_written = 1;
    for (size_t i = 0; i < t->nq; i++) {
        ret = mux_now(t, t->q[i].pkt, t->q[i].tb, t->q[i].ost_index);
        if (ret < 0)
            return ret;
    }
    queue_free(t);
    t->qbytes = 0;
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Metadata                                                                  */
/* ------------------------------------------------------------------------ */

/* Tags describing the old encode would be wrong on a re-encoded stream. */
static int stale_tag(const char *key)
{
    static const char *const prefixes[] = { "encoder", "BPS", "NUMBER_OF_FRAMES",
                                            "NUMBER_OF_BYTES", "_STATISTICS_", "DURATION" };
    for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++)
        if (strncasecmp(key, prefixes[i], strlen(prefixes[i])) == 0)
            return 1;
    return 0;
}

static int copy_stream_meta(AVStream *ost, const AVStream *ist, int reencoded)
{
    const AVDictionaryEntry *e = NULL;

    while ((e = av_dict_get(ist->metadata, "", e, AV_DICT_IGNORE_SUFFIX))) {
        if (reencoded && stale_tag(e->key))
            continue;
        if (av_dict_set(&ost->metadata, e->key, e->value, 0) < 0)
            return -ENOMEM;
    }
    ost->disposition = ist->disposition;
    return 0;
}

static int copy_chapters(struct tc *t)
{
    AVFormatContext *ic = t->ic, *oc = t->oc;

    if (!ic->nb_chapters)
        return 0;
    oc->chapters = av_calloc(ic->nb_chapters, sizeof(*oc->chapters));
    if (!oc->chapters)
        return fail(t, -ENOMEM, "out of memory");
    for (unsigned i = 0; i < ic->nb_chapters; i++) {
        const AVChapter *in = ic->chapters[i];
        int64_t off = av_rescale_q(t->offset_us, AV_TIME_BASE_Q, in->time_base);
        int64_t s = in->start - off, e = in->end - off;
        int64_t lim = t->end_abs_us == INT64_MAX
                          ? INT64_MAX
                          : av_rescale_q(t->end_abs_us - t->offset_us, AV_TIME_BASE_Q,
                                         in->time_base);
        AVChapter *c;

        if (e <= 0 || s >= lim)
            continue;
        c = av_mallocz(sizeof(*c));
        if (!c)
            return fail(t, -ENOMEM, "out of memory");
        c->id = in->id;
        c->time_base = in->time_base;
        c->start = s < 0 ? 0 : s;
        c->end = e > lim ? lim : e;
        if (av_dict_copy(&c->metadata, in->metadata, 0) < 0) {
            av_dict_free(&c->metadata);
            av_free(c);
            return fail(t, -ENOMEM, "out of memory");
        }
        oc->chapters[oc->nb_chapters++] = c;
    }
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Input                                                                     */
/* ------------------------------------------------------------------------ */

static int open_input(struct tc *t)
{
    const struct dcv_transcode_req *r = t->req;
    int ret;

    t->ic = avformat_alloc_context();
    if (!t->ic)
        return fail(t, -ENOMEM, "out of memory");
    t->ic->interrupt_callback.callback = interrupt_cb;
    t->ic->interrupt_callback.opaque = t;
    if (r->input_io) {
        t->ic->pb = r->input_io;
        t->ic->flags |= AVFMT_FLAG_CUSTOM_IO;
    }
    ret = avformat_open_input(&t->ic, t->in_name, NULL, NULL);
    if (ret < 0) {
        t->ic = NULL; /* freed by avformat_open_input */
        if (t->cancelled)
            return cancelled_error(t);
        return fail_av(t, ret, "input '%s'", t->in_name);
    }
    ret = avformat_find_stream_info(t->ic, NULL);
    if (ret < 0) {
        if (t->cancelled)
            return cancelled_error(t);
        return fail_av(t, ret, "input '%s': reading stream information", t->in_name);
    }
    t->live = !t->ic->pb || !(t->ic->pb->seekable & AVIO_SEEKABLE_NORMAL) ||
              t->ic->duration == AV_NOPTS_VALUE || t->ic->duration <= 0;
    t->in_start_us = t->ic->start_time != AV_NOPTS_VALUE ? t->ic->start_time : 0;
    t->ts_discont = (t->ic->iformat->flags & AVFMT_TS_DISCONT) != 0;
    t->disc_next_us = AV_NOPTS_VALUE;
    return 0;
}

static void fix_discontinuity(struct tc *t, AVPacket *pkt)
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

static int find_video_stream(struct tc *t)
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
        return fail(t, -EINVAL, "no video stream in '%s'", t->in_name);
    t->v.index = idx;
    t->v.ist = ic->streams[idx];
    return 0;
}

static uint32_t pix_fmt_depth(int fmt)
{
    const AVPixFmtDescriptor *d = fmt >= 0 ? av_pix_fmt_desc_get((enum AVPixelFormat)fmt) : NULL;
    return d ? (uint32_t)d->comp[0].depth : 0;
}

static int choose_encoder(struct tc *t)
{
    const struct dcv_profile *p = t->prof;
    uint32_t src_depth = pix_fmt_depth(t->v.ist->codecpar->format);
    uint32_t want = p->bit_depth;
    char first_err[1024];
    int ret;

    if (want == 0)
        want = src_depth > 8 ? 10 : 8;
    ret = dcv_encoder_select(t->req->plugins, p->codec, p->encoder, want, &t->v.choice, t->err,
                             t->errlen);
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
        return fail(t, -EINVAL, "%s of '%s': size %dx%d is beyond any supported size",
                    what, t->in_name, w, h);
    target_size(t, w, h, &ow, &oh);
    if ((cc->max_width && (uint32_t)ow > cc->max_width) ||
        (cc->max_height && (uint32_t)oh > cc->max_height))
        return fail(t, -EINVAL,
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

static int open_video_decoder(struct tc *t)
{
    struct vstate *v = &t->v;
    const AVCodec *codec = avcodec_find_decoder(v->ist->codecpar->codec_id);
    int ret;

    if (!codec)
        return fail(t, -EINVAL, "input '%s': no decoder for video codec %s", t->in_name,
                    avcodec_get_name(v->ist->codecpar->codec_id));
    ret = check_size(t, v->ist->codecpar->width, v->ist->codecpar->height, "video stream");
    if (ret < 0)
        return ret;
    v->dec = avcodec_alloc_context3(codec);
    if (!v->dec)
        return fail(t, -ENOMEM, "out of memory");
    ret = avcodec_parameters_to_context(v->dec, v->ist->codecpar);
    if (ret < 0)
        return fail_av(t, ret, "video decoder for '%s'", t->in_name);
    v->dec->pkt_timebase = v->ist->time_base;
    /* Auto threads, frame and slice: what ffmpeg does ("-threads auto"). */
    v->dec->thread_count = 0;
    v->dec->thread_type = FF_THREAD_FRAME | FF_THREAD_SLICE;
    v->max_pixels = MAX_INPUT_PIXELS;
    if (!t->prof->max_height && v->cc->max_width && v->cc->max_height &&
        (int64_t)v->cc->max_width * v->cc->max_height < v->max_pixels)
        v->max_pixels = (int64_t)v->cc->max_width * v->cc->max_height;
    v->dec->max_pixels = v->max_pixels;
    ret = avcodec_open2(v->dec, codec, NULL);
    if (ret < 0)
        return fail_av(t, ret, "open %s decoder for '%s'", codec->name, t->in_name);
    setup_rotation(t);
    v->fr = av_guess_frame_rate(t->ic, v->ist, NULL);
    v->off = av_rescale_q(t->offset_us, AV_TIME_BASE_Q, v->ist->time_base);
    v->next_pts = AV_NOPTS_VALUE;
    v->last_pts = INT64_MIN;
    v->frame = av_frame_alloc();
    v->filt = av_frame_alloc();
    if (!v->frame || !v->filt)
        return fail(t, -ENOMEM, "out of memory");
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Audio                                                                     */
/* ------------------------------------------------------------------------ */

static const AVCodec *audio_encoder(enum dcv_audio_mode m)
{
    const AVCodec *c = NULL;

    if (m == DCV_AUDIO_AAC)
        c = avcodec_find_encoder_by_name("aac");
    else if (m == DCV_AUDIO_OPUS)
        c = avcodec_find_encoder_by_name("libopus");
    if (!c)
        c = avcodec_find_encoder(m == DCV_AUDIO_OPUS ? AV_CODEC_ID_OPUS : AV_CODEC_ID_AAC);
    return c;
}

static int pick_rate(const AVCodec *c, int src)
{
    const int *r = c->supported_samplerates;
    int best = 0;

    if (!r)
        return src;
    for (; *r; r++) {
        if (*r == src)
            return src;
        /* The smallest rate above the source loses nothing; otherwise the
         * largest one below it. */
        if (*r > src && (best < src || *r < best))
            best = *r;
        else if (*r < src && best < src && *r > best)
            best = *r;
    }
    return best ? best : 48000;
}

static int pick_layout(const AVCodec *c, const AVChannelLayout *src, AVChannelLayout *out)
{
    AVChannelLayout in = { 0 };
    int ret;

    if (src->order == AV_CHANNEL_ORDER_NATIVE || src->order == AV_CHANNEL_ORDER_AMBISONIC)
        ret = av_channel_layout_copy(&in, src);
    else {
        av_channel_layout_default(&in, src->nb_channels > 0 ? src->nb_channels : 2);
        ret = 0;
    }
    if (ret < 0)
        return ret;
    if (c->ch_layouts) {
        const AVChannelLayout *l, *same_count = NULL;
        for (l = c->ch_layouts; l->nb_channels; l++) {
            if (!av_channel_layout_compare(l, &in)) {
                av_channel_layout_uninit(&in);
                return av_channel_layout_copy(out, l);
            }
            if (!same_count && l->nb_channels == in.nb_channels)
                same_count = l;
        }
        av_channel_layout_uninit(&in);
        if (same_count)
            return av_channel_layout_copy(out, same_count);
        /* Downmix what the encoder cannot take to stereo. */
        av_channel_layout_default(out, 2);
        return 0;
    }
    if (in.nb_channels > 8) {
        av_channel_layout_uninit(&in);
        av_channel_layout_default(out, 2);
        return 0;
    }
    *out = in;
    return 0;
}

static int setup_audio_encode(struct tc *t, struct sstate *s, unsigned idx,
                              enum dcv_audio_mode mode)
{
    const AVCodecParameters *par = s->ist->codecpar;
    const AVCodec *dc = avcodec_find_decoder(par->codec_id);
    const AVCodec *ec = audio_encoder(mode);
    AVCodecContext *enc;
    int ret;

    if (!dc)
        return fail(t, -EINVAL, "input '%s': no decoder for audio stream #%u (%s)", t->in_name,
                    idx, avcodec_get_name(par->codec_id));
    if (!ec)
        return fail(t, -ENOENT, "this FFmpeg has no %s encoder",
                    mode == DCV_AUDIO_OPUS ? "opus" : "aac");
    if (par->sample_rate <= 0 || par->ch_layout.nb_channels <= 0)
        return fail(t, -EINVAL, "input '%s': audio stream #%u has no sample rate or channels",
                    t->in_name, idx);
    s->dec = avcodec_alloc_context3(dc);
    if (!s->dec)
        return fail(t, -ENOMEM, "out of memory");
    ret = avcodec_parameters_to_context(s->dec, par);
    if (ret >= 0) {
        s->dec->pkt_timebase = s->ist->time_base;
        ret = avcodec_open2(s->dec, dc, NULL);
    }
    if (ret < 0)
        return fail_av(t, ret, "open %s decoder for audio stream #%u", dc->name, idx);

    enc = s->enc = avcodec_alloc_context3(ec);
    if (!enc)
        return fail(t, -ENOMEM, "out of memory");
    enc->sample_rate = pick_rate(ec, par->sample_rate);
    ret = pick_layout(ec, &par->ch_layout, &enc->ch_layout);
    if (ret < 0)
        return fail(t, -ENOMEM, "out of memory");
    enc->sample_fmt = ec->sample_fmts ? ec->sample_fmts[0] : s->dec->sample_fmt;
    if (ec->sample_fmts)
        for (const enum AVSampleFormat *f = ec->sample_fmts; *f != AV_SAMPLE_FMT_NONE; f++)
            if (*f == s->dec->sample_fmt)
                enc->sample_fmt = *f;
    if (t->prof->audio_bitrate_kbps)
        enc->bit_rate = (int64_t)t->prof->audio_bitrate_kbps * 1000;
    else
        enc->bit_rate = (int64_t)(mode == DCV_AUDIO_OPUS ? 48000 : 64000) *
                        (enc->ch_layout.nb_channels > 2 ? enc->ch_layout.nb_channels : 2);
    enc->time_base = (AVRational){ 1, enc->sample_rate };
    if (t->ofmt->flags & AVFMT_GLOBALHEADER)
        enc->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
    if (ec->capabilities & AV_CODEC_CAP_EXPERIMENTAL)
        enc->strict_std_compliance = FF_COMPLIANCE_EXPERIMENTAL;
    ret = avcodec_open2(enc, ec, NULL);
    if (ret < 0)
        return fail_av(t, ret, "open %s encoder for audio stream #%u", ec->name, idx);
    s->enc_name = ec->name;
    ret = avcodec_parameters_from_context(s->ost->codecpar, enc);
    if (ret < 0)
        return fail_av(t, ret, "audio stream #%u parameters", idx);
    s->ost->time_base = enc->time_base;
    s->next_pts = AV_NOPTS_VALUE;
    s->g_fmt = -1;
    return 0;
}

/* Where link_graph() stopped. */
enum link_step { LINK_ALLOC, LINK_PARSE, LINK_CONFIG };

/*
 * Put the filter chain `chain` between a graph's buffer source (the chain's
 * input "in") and its sink ("out"), then configure the graph: the same for
 * the audio and the video graphs. 0, or a negative AVERROR with *step
 * saying which step failed, so the caller can name its stream in the error.
 */
static int link_graph(AVFilterGraph *g, AVFilterContext *src, AVFilterContext *sink,
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

static int build_audio_graph(struct tc *t, struct sstate *s, const AVFrame *f, unsigned idx)
{
    AVChannelLayout l = { 0 };
    enum link_step step;
    char args[512], desc[256], outl[128], flt[512];
    const AVFilter *abuf = avfilter_get_by_name("abuffer");
    const AVFilter *asink = avfilter_get_by_name("abuffersink");
    int ret;

    avfilter_graph_free(&s->graph);
    s->graph = avfilter_graph_alloc();
    if (!s->graph)
        return fail(t, -ENOMEM, "out of memory");
    s->graph->nb_threads = 1; /* audio filters gain nothing from threads */
    if (f->ch_layout.order == AV_CHANNEL_ORDER_UNSPEC || f->ch_layout.nb_channels <= 0)
        av_channel_layout_default(&l, f->ch_layout.nb_channels > 0 ? f->ch_layout.nb_channels : 2);
    else if (av_channel_layout_copy(&l, &f->ch_layout) < 0)
        return fail(t, -ENOMEM, "out of memory");
    av_channel_layout_describe(&l, desc, sizeof(desc));
    av_channel_layout_uninit(&l);
    snprintf(args, sizeof(args), "time_base=1/%d:sample_rate=%d:sample_fmt=%s:channel_layout=%s",
             f->sample_rate, f->sample_rate,
             av_get_sample_fmt_name((enum AVSampleFormat)f->format), desc);
    ret = avfilter_graph_create_filter(&s->src, abuf, "in", args, NULL, s->graph);
    if (ret < 0)
        return fail_av(t, ret, "audio stream #%u: filter source (%s)", idx, args);
    ret = avfilter_graph_create_filter(&s->sink, asink, "out", NULL, NULL, s->graph);
    if (ret < 0)
        return fail_av(t, ret, "audio stream #%u: filter sink", idx);

    av_channel_layout_describe(&s->enc->ch_layout, outl, sizeof(outl));
    flt[0] = '\0';
    if (t->start_abs_us != INT64_MIN || t->end_abs_us != INT64_MAX) {
        /* Timestamps are already shifted so the range starts at 0. */
        if (t->end_abs_us != INT64_MAX)
            snprintf(flt, sizeof(flt), "atrim=start=0:end=%" PRId64 "us,",
                     t->end_abs_us - t->offset_us);
        else
            snprintf(flt, sizeof(flt), "atrim=start=0,");
    }
    av_strlcatf(flt, sizeof(flt), "aformat=sample_fmts=%s:sample_rates=%d:channel_layouts=%s",
                av_get_sample_fmt_name(s->enc->sample_fmt), s->enc->sample_rate, outl);

    ret = link_graph(s->graph, s->src, s->sink, flt, &step);
    if (ret < 0)
        return step == LINK_ALLOC   ? fail(t, -ENOMEM, "out of memory")
               : step == LINK_PARSE ? fail_av(t, ret, "audio stream #%u: filter '%s'", idx, flt)
                                    : fail_av(t, ret, "audio stream #%u: configure filter '%s'",
                                              idx, flt);
    if (!(s->enc->codec->capabilities & AV_CODEC_CAP_VARIABLE_FRAME_SIZE) && s->enc->frame_size)
        av_buffersink_set_frame_size(s->sink, (unsigned)s->enc->frame_size);
    s->g_fmt = f->format;
    s->g_rate = f->sample_rate;
    av_channel_layout_uninit(&s->g_layout);
    if (av_channel_layout_copy(&s->g_layout, &f->ch_layout) < 0)
        return fail(t, -ENOMEM, "out of memory");
    return 0;
}

static int audio_drain_encoder(struct tc *t, struct sstate *s, unsigned idx)
{
    AVPacket *pkt = av_packet_alloc();
    int ret;

    if (!pkt)
        return fail(t, -ENOMEM, "out of memory");
    for (;;) {
        ret = avcodec_receive_packet(s->enc, pkt);
        if (ret == AVERROR(EAGAIN) || ret == AVERROR_EOF) {
            ret = 0;
            break;
        }
        if (ret < 0) {
            ret = fail_av(t, ret, "encode audio stream #%u", idx);
            break;
        }
        ret = mux(t, pkt, s->enc->time_base, s->ost->index);
        if (ret < 0)
            break;
    }
    av_packet_free(&pkt);
    return ret;
}

static int audio_encode(struct tc *t, struct sstate *s, const AVFrame *f, unsigned idx)
{
    int ret = avcodec_send_frame(s->enc, f);
    if (ret < 0 && ret != AVERROR_EOF)
        return fail_av(t, ret, "encode audio stream #%u", idx);
    return audio_drain_encoder(t, s, idx);
}

static int audio_pull(struct tc *t, struct sstate *s, unsigned idx)
{
    AVFrame *f = av_frame_alloc();
    int ret;

    if (!f)
        return fail(t, -ENOMEM, "out of memory");
    for (;;) {
        ret = av_buffersink_get_frame(s->sink, f);
        if (ret == AVERROR(EAGAIN) || ret == AVERROR_EOF) {
            ret = 0;
            break;
        }
        if (ret < 0) {
            ret = fail_av(t, ret, "filter audio stream #%u", idx);
            break;
        }
        ret = audio_encode(t, s, f, idx);
        av_frame_unref(f);
        if (ret < 0)
            break;
    }
    av_frame_free(&f);
    return ret;
}

static int audio_frame(struct tc *t, struct sstate *s, AVFrame *f, unsigned idx)
{
    int64_t pts = f->best_effort_timestamp;
    int ret;

    if (f->sample_rate <= 0)
        return 0;
    if (pts != AV_NOPTS_VALUE)
        pts = av_rescale_q(pts - s->off, s->ist->time_base, (AVRational){ 1, f->sample_rate });
    else if (s->next_pts != AV_NOPTS_VALUE)
        pts = s->next_pts;
    else
        pts = 0;
    s->next_pts = pts + f->nb_samples;
    f->pts = pts;
    if (!s->graph || f->format != s->g_fmt || f->sample_rate != s->g_rate ||
        av_channel_layout_compare(&f->ch_layout, &s->g_layout)) {
        if (s->graph) {
            /* Full frames already in the old graph still go out; a partial
             * encoder frame at the change is dropped (a few ms). */
            ret = audio_pull(t, s, idx);
            if (ret < 0)
                return ret;
            dcv_log(DCV_LOG_INFO, LOG_COMP, "audio stream #%u changed format mid-stream", idx);
        }
        ret = build_audio_graph(t, s, f, idx);
        if (ret < 0)
            return ret;
    }
    ret = av_buffersrc_add_frame_flags(s->src, f, 0);
    if (ret < 0)
        return fail_av(t, ret, "filter audio stream #%u", idx);
    return audio_pull(t, s, idx);
}

/* Sends one packet (NULL: flush) to an audio decoder and on through. */
static int audio_decode(struct tc *t, struct sstate *s, const AVPacket *pkt, unsigned idx)
{
    AVFrame *f;
    int ret = avcodec_send_packet(s->dec, pkt);

    if (ret < 0 && ret != AVERROR_EOF) {
        if (ret == AVERROR(ENOMEM))
            return fail(t, -ENOMEM, "out of memory");
        s->errors++;
        if (++s->consecutive_errors >= MAX_CONSECUTIVE_DECODE_ERRORS)
            return fail_av(t, ret, "decode audio stream #%u of '%s' (%d errors in a row)", idx,
                           t->in_name, s->consecutive_errors);
        return 0;
    }
    f = av_frame_alloc();
    if (!f)
        return fail(t, -ENOMEM, "out of memory");
    for (;;) {
        ret = avcodec_receive_frame(s->dec, f);
        if (ret == AVERROR(EAGAIN) || ret == AVERROR_EOF) {
            ret = 0;
            break;
        }
        if (ret < 0) {
            s->errors++;
            if (++s->consecutive_errors >= MAX_CONSECUTIVE_DECODE_ERRORS) {
                ret = fail_av(t, ret, "decode audio stream #%u of '%s'", idx, t->in_name);
                break;
            }
            continue;
        }
        s->consecutive_errors = 0;
        ret = audio_frame(t, s, f, idx);
        av_frame_unref(f);
        if (ret < 0)
            break;
    }
    av_frame_free(&f);
    return ret;
}

static int audio_flush(struct tc *t, struct sstate *s, unsigned idx)
{
    int ret = audio_decode(t, s, NULL, idx);
    if (ret < 0)
        return ret;
    if (s->graph) {
        ret = av_buffersrc_add_frame_flags(s->src, NULL, 0);
        if (ret < 0)
            return fail_av(t, ret, "filter audio stream #%u", idx);
        ret = audio_pull(t, s, idx);
        if (ret < 0)
            return ret;
    }
    return audio_encode(t, s, NULL, idx);
}

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
        return fail(t, -ENOMEM, "out of memory");

    /* Video first: what players and tools expect as track 1. */
    t->v.ost = avformat_new_stream(oc, NULL);
    if (!t->v.ost)
        return fail(t, -ENOMEM, "out of memory");
    t->ss[t->v.index].kind = SK_VIDEO;
    t->ss[t->v.index].ist = t->v.ist;
    ret = copy_stream_meta(t->v.ost, t->v.ist, 1);
    if (ret < 0)
        return fail(t, -ENOMEM, "out of memory");
    t->v.ost->avg_frame_rate = t->v.ist->avg_frame_rate;

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
                if (q == 0) {
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
            if (q == 1)
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
            return fail(t, -ENOMEM, "out of memory");
        s->off = av_rescale_q(t->offset_us, AV_TIME_BASE_Q, ist->time_base);
        if (copy_stream_meta(s->ost, ist, s->kind != SK_COPY) < 0)
            return fail(t, -ENOMEM, "out of memory");
        if (s->kind == SK_COPY) {
            ret = avcodec_parameters_copy(s->ost->codecpar, ist->codecpar);
            if (ret < 0)
                return fail_av(t, ret, "stream #%u parameters", i);
            s->ost->codecpar->codec_tag = 0; /* the new container picks its own */
            s->ost->time_base = ist->time_base;
            s->ost->avg_frame_rate = ist->avg_frame_rate;
        } else {
            /* AUDIO_COPY here means the fallback re-encode chosen above. */
            ret = setup_audio_encode(t, s, i,
                                     p->audio == DCV_AUDIO_COPY ? DCV_AUDIO_AAC : p->audio);
            if (ret < 0)
                return ret;
        }
    }
    t->last_dts = malloc(oc->nb_streams * sizeof(*t->last_dts));
    if (!t->last_dts)
        return fail(t, -ENOMEM, "out of memory");
    for (unsigned i = 0; i < oc->nb_streams; i++)
        t->last_dts[i] = AV_NOPTS_VALUE;
    return copy_chapters(t);
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
    return mux(t, pkt, tb, s->ost->index);
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
        return fail(t, -EINVAL, "video of '%s': frame size %dx%d is too small", t->in_name,
                    f->width, f->height);
    /* Size after rotation: what everything below works on. */
    int rw = v->rot_swap ? f->height : f->width, rh = v->rot_swap ? f->width : f->height;
    av_strlcpy(chain, v->rot_chain, sizeof(chain));
    if (force) {
        out_fmt = v->out_fmt;
        if (rw != v->out_w || rh != v->out_h)
            av_strlcatf(chain, sizeof(chain), "scale=%d:%d,", v->out_w, v->out_h);
    } else {
        int ret2 = check_size(t, rw, rh, "video");
        if (ret2 < 0)
            return ret2;
        out_fmt = dcv_encoder_pick_pix_fmt(v->cc, f->format, v->depth);
        if (out_fmt < 0)
            return fail(t, -ENOTSUP, "%s offers no %u-bit input pixel format", v->cc->encoder,
                        v->depth);
        od = av_pix_fmt_desc_get((enum AVPixelFormat)out_fmt);
        target_size(t, rw, rh, &ow, &oh);
        if (oh != rh) {
            av_strlcatf(chain, sizeof(chain), "scale=-2:%d,", oh);
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
        return fail(t, -ENOMEM, "out of memory");
    /* ffmpeg's default scaler flags for filter graphs. */
    v->graph->scale_sws_opts = av_strdup("flags=bicubic");
    if (!v->graph->scale_sws_opts)
        return fail(t, -ENOMEM, "out of memory");
    snprintf(args, sizeof(args), "video_size=%dx%d:pix_fmt=%d:time_base=%d/%d:pixel_aspect=%d/%d",
             f->width, f->height, f->format, v->ist->time_base.num, v->ist->time_base.den,
             f->sample_aspect_ratio.num,
             f->sample_aspect_ratio.den > 0 ? f->sample_aspect_ratio.den : 1);
    if (v->fr.num > 0 && v->fr.den > 0)
        av_strlcatf(args, sizeof(args), ":frame_rate=%d/%d", v->fr.num, v->fr.den);
    ret = avfilter_graph_create_filter(&v->src, avfilter_get_by_name("buffer"), "in", args, NULL,
                                       v->graph);
    if (ret < 0)
        return fail_av(t, ret, "video filter source (%s)", args);
    ret = avfilter_graph_create_filter(&v->sink, avfilter_get_by_name("buffersink"), "out", NULL,
                                       NULL, v->graph);
    if (ret < 0)
        return fail_av(t, ret, "video filter sink");
    ret = link_graph(v->graph, v->src, v->sink, chain, &step);
    if (ret < 0)
        return step == LINK_ALLOC   ? fail(t, -ENOMEM, "out of memory")
               : step == LINK_PARSE ? fail_av(t, ret, "video filter '%s'", chain)
                                    : fail_av(t, ret, "configure video filter '%s'", chain);
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
    ep.time_base.num = v->ist->time_base.num;
    ep.time_base.den = v->ist->time_base.den;
    if (v->fr.num > 0 && v->fr.den > 0) {
        ep.framerate.num = v->fr.num;
        ep.framerate.den = v->fr.den;
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
    ep.rc_mode = p->rc_mode;
    ep.quality = p->quality;
    ep.bitrate_kbps = p->bitrate_kbps;
    ep.preset = p->preset;
    ep.bit_depth = pix_fmt_depth(f->format);
    ep.gop = p->gop;
    ep.max_b_frames = -1;
    ep.threads = p->threads;
    if (t->ofmt->flags & AVFMT_GLOBALHEADER)
        ep.flags |= DCV_ENC_GLOBAL_HEADER;

    e[0] = '\0';
    ret = dcv_enc_session_open(&v->choice, &ep, &v->enc, e, sizeof(e));
    if (ret < 0)
        return fail(t, ret, "open encoder %s (plugin %s) for %dx%d %s: %s", v->cc->encoder,
                    v->choice.plugin->hdr.name, f->width, f->height,
                    av_get_pix_fmt_name((enum AVPixelFormat)f->format),
                    e[0] ? e : strerror(-ret));
    ret = dcv_enc_session_stream_params(v->enc, v->ost->codecpar, &tb);
    if (ret < 0)
        return fail(t, ret, "encoder %s: stream parameters: %s", v->cc->encoder,
                    dcv_enc_session_error(v->enc));
    if (tb.num <= 0 || tb.den <= 0)
        return fail(t, -EINVAL, "encoder %s reported an invalid time base %d/%d",
                    v->cc->encoder, tb.num, tb.den);
    v->pkt_tb = (AVRational){ tb.num, tb.den };
    v->ost->codecpar->codec_tag = 0;
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
    if (v->fr.num > 0)
        v->ost->r_frame_rate = v->fr;
    return write_header(t);
}

static int video_drain_encoder(struct tc *t, int flushing)
{
    struct vstate *v = &t->v;
    AVPacket *pkt = av_packet_alloc();
    int ret;

    if (!pkt)
        return fail(t, -ENOMEM, "out of memory");
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
            ret = fail(t, -EIO, "encoder %s: not drained at end of stream", v->cc->encoder);
            break;
        }
        if (ret < 0) {
            ret = fail(t, ret, "encode video frame %" PRId64 ": %s", v->frames_sent,
                       dcv_enc_session_error(v->enc));
            break;
        }
        v->packets++;
        ret = mux(t, pkt, v->pkt_tb, v->ost->index);
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
        if (ret < 0)
            return ret;
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
        return fail(t, ret, "encode video frame %" PRId64 ": %s", v->frames_sent,
                    dcv_enc_session_error(v->enc));
    v->frames_sent++;
    if (f->pts != AV_NOPTS_VALUE)
        v->out_time_us = av_rescale_q(f->pts, v->ist->time_base, AV_TIME_BASE_Q);
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
            return fail_av(t, ret, "filter video frame %" PRId64, v->frames_decoded);
        ret = video_encode(t, v->filt);
        av_frame_unref(v->filt);
        if (ret < 0)
            return ret;
    }
}

static int video_frame(struct tc *t, AVFrame *f)
{
    struct vstate *v = &t->v;
    AVRational tb = v->ist->time_base;
    int64_t pts = f->best_effort_timestamp, dur = FRAME_DURATION(f);
    int ret;

    v->frames_decoded++;
    if (dur <= 0 && v->fr.num > 0 && v->fr.den > 0)
        dur = av_rescale_q(1, av_inv_q(v->fr), tb);
    if (pts == AV_NOPTS_VALUE)
        pts = v->next_pts != AV_NOPTS_VALUE ? v->next_pts : v->off;
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
        return fail_av(t, ret, "filter video frame %" PRId64, v->frames_decoded);
    return video_pull(t);
}

static int video_decode(struct tc *t, const AVPacket *pkt)
{
    struct vstate *v = &t->v;
    int ret = avcodec_send_packet(v->dec, pkt);

    if (ret < 0 && ret != AVERROR_EOF) {
        if (ret == AVERROR(ENOMEM))
            return fail(t, -ENOMEM, "out of memory");
        v->errors++;
        av_strerror(ret, v->last_decode_err, sizeof(v->last_decode_err));
        if (++v->consecutive_errors >= MAX_CONSECUTIVE_DECODE_ERRORS)
            return fail_av(t, ret, "decode video frame %" PRId64 " of '%s' (%d errors in a row)",
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
                return fail(t, -ENOMEM, "out of memory");
            v->errors++;
            av_strerror(ret, v->last_decode_err, sizeof(v->last_decode_err));
            if (++v->consecutive_errors >= MAX_CONSECUTIVE_DECODE_ERRORS)
                return fail_av(t, ret, "decode video frame %" PRId64 " of '%s'",
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

static int video_flush(struct tc *t)
{
    struct vstate *v = &t->v;
    int ret = video_decode(t, NULL);

    if (ret < 0)
        return ret;
    if (v->graph) {
        ret = av_buffersrc_add_frame_flags(v->src, NULL, 0);
        if (ret < 0)
            return fail_av(t, ret, "flush video filter");
        ret = video_pull(t);
        if (ret < 0)
            return ret;
    }
    if (!v->enc) {
        if (v->frames_decoded == 0)
            return fail(t, -EINVAL, "no video frame could be decoded from '%s'%s%s%s", t->in_name,
                        v->errors ? " (" : "", v->last_decode_err, v->errors ? ")" : "");
        return fail(t, -EINVAL, "'%s' has no video frames in the requested time range",
                    t->in_name);
    }
    ret = dcv_enc_session_send(v->enc, NULL);
    if (ret < 0 && ret != -ENODATA)
        return fail(t, ret, "flush encoder %s: %s", v->cc->encoder, dcv_enc_session_error(v->enc));
    return video_drain_encoder(t, 1);
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
        return fail(t, -ENOMEM, "out of memory");
    while (!all_done(t)) {
        ret = progress_tick(t);
        if (ret < 0) {
            ret = cancelled_error(t);
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
                ret = cancelled_error(t);
            else
                ret = fail_av(t, ret, "read input '%s'", t->in_name);
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
            fix_discontinuity(t, pkt);
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
            ret = t->v.ended ? 0 : video_decode(t, pkt);
            break;
        case SK_COPY:
            ret = s->done ? 0 : copy_packet(t, s, pkt);
            break;
        case SK_AUDIO:
            if (!s->done && pkt->pts != AV_NOPTS_VALUE &&
                av_rescale_q(pkt->pts, s->ist->time_base, AV_TIME_BASE_Q) >= t->end_abs_us)
                s->done = 1;
            ret = s->done ? 0 : audio_decode(t, s, pkt, (unsigned)pkt->stream_index);
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
        return fail(t, -EINVAL,
                    "input '%s' ends at %.2f s but declares %.2f s: the file is truncated or "
                    "damaged",
                    t->in_name, (double)(t->in_max_end_us - t->in_start_us) / 1e6,
                    (double)ic->duration / 1e6);
    return 0;
}

static int finish(struct tc *t)
{
    int ret = video_flush(t);

    if (ret < 0)
        return ret;
    for (unsigned i = 0; i < t->nss; i++) {
        if (t->ss[i].kind != SK_AUDIO)
            continue;
        ret = audio_flush(t, &t->ss[i], i);
        if (ret < 0)
            return ret;
    }
    ret = check_truncation(t);
    if (ret < 0)
        return ret;
    if (!t->header_written) {
        ret = write_header(t);
        if (ret < 0)
            return ret;
    }
    ret = av_write_trailer(t->oc);
    if (ret < 0) {
        if (t->of.err == ENOSPC || ret == AVERROR(ENOSPC))
            return fail(t, -ENOSPC, "disk full writing '%s'",
                        t->part_path ? t->part_path : t->out_name);
        return fail_av(t, ret, "finish output '%s'", t->out_name);
    }
    if (t->own_pb)
        return commit_output(t);
    avio_flush(t->oc->pb);
    if (t->oc->pb->error < 0)
        return fail_av(t, t->oc->pb->error, "write output '%s'", t->out_name);
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
        return fail(t, -EINVAL, "duration must be positive");
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
            return fail(t, -EINVAL, "start %.3f s is past the end of '%s' (%.3f s)",
                        (double)p->start_us / 1e6, t->in_name, (double)t->ic->duration / 1e6);
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
    queue_free(t);
    if (t->part_path || t->own_pb || t->of.fd >= 0)
        discard_output(t);
    if (t->oc) {
        if (!(t->oc->flags & AVFMT_FLAG_CUSTOM_IO) && t->oc->pb)
            avio_closep(&t->oc->pb);
        avformat_free_context(t->oc);
    }
    avformat_close_input(&t->ic);
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
        return fail(&t, -EINVAL, "transcode: input, output and profile are required");
    /* A private copy so codec-dependent defaults (the CRF) can be filled
     * in without touching the caller's profile. */
    prof = *req->profile;
    dcv_profile_resolve(&prof);
    t.req = req;
    t.prof = &prof;
    t.in_name = req->input;
    t.out_name = req->output;
    clock_gettime(CLOCK_MONOTONIC, &t.t0);
    t.last_progress_ns = now_ns();
    av_strlcpy(t.ff_err_before, dcv_log_last_ffmpeg_error() ? dcv_log_last_ffmpeg_error() : "",
               sizeof(t.ff_err_before));

    if (!req->output_io && !req->input_io && same_file(req->input, req->output)) {
        ret = fail(&t, -EINVAL, "output '%s' is the input file", req->output);
        goto out;
    }
    if ((ret = choose_container(&t)) < 0)
        goto out;
    if ((ret = open_input(&t)) < 0)
        goto out;
    if ((ret = setup_time_range(&t)) < 0)
        goto out;
    if ((ret = find_video_stream(&t)) < 0)
        goto out;
    if ((ret = choose_encoder(&t)) < 0)
        goto out;
    if ((ret = open_video_decoder(&t)) < 0)
        goto out;

    ret = avformat_alloc_output_context2(&t.oc, t.ofmt, NULL, req->output);
    if (ret < 0 || !t.oc) {
        ret = fail_av(&t, ret < 0 ? ret : AVERROR(ENOMEM), "output '%s'", req->output);
        goto out;
    }
    if (av_dict_copy(&t.oc->metadata, t.ic->metadata, 0) < 0) {
        ret = fail(&t, -ENOMEM, "out of memory");
        goto out;
    }
    av_dict_set(&t.oc->metadata, "encoder", NULL, 0);
    if ((ret = setup_streams(&t)) < 0)
        goto out;
    if (req->output_io) {
        t.oc->pb = req->output_io;
        t.oc->flags |= AVFMT_FLAG_CUSTOM_IO;
    } else if ((ret = open_output_file(&t)) < 0) {
        goto out;
    }
    seek_to_start(&t);
    if ((ret = run_loop(&t)) < 0)
        goto out;
    if ((ret = finish(&t)) < 0)
        goto out;

    if (result) {
        double el = elapsed_s(&t);
        av_strlcpy(result->encoder, t.v.cc->encoder, sizeof(result->encoder));
        av_strlcpy(result->plugin, t.v.choice.plugin->hdr.name ? t.v.choice.plugin->hdr.name : "",
                   sizeof(result->plugin));
        av_strlcpy(result->device_id, t.v.choice.caps.device_id, sizeof(result->device_id));
        result->frames = t.v.packets;
        result->duration_us = t.out_max_end_us;
        result->elapsed_s = el;
        result->fps = el > 0 ? (double)t.v.packets / el : 0;
    }
    if (req->progress) {
        struct dcv_progress p;
        fill_progress(&t, &p, 1);
        /* The output is complete; a cancel request now changes nothing. */
        req->progress(&p, req->progress_user);
    }
    ret = 0;
out:
    if (ret == -ECANCELED && t.err[0] == '\0')
        cancelled_error(&t);
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
