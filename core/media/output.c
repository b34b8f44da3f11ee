/*
 * The output side of a transcode: the container, the file, the muxer.
 *
 * Owns OUTPUT.part (written through our own AVIO so write errors and a full
 * disk are caught where they happen, fsynced and renamed on success only),
 * the container choice, the muxing with its dts repair, the queue that holds
 * other streams' packets until the video encoder has given the header its
 * parameters, and the copy of metadata and chapters. Kept apart because the
 * data plane will replace the file with a remote AVIO here, and output
 * verification will start from what this module commits.
 */
#include "media/tc.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>

#include "log.h"

/* Packets held back until the video encoder is open and the header is
 * written; bounded so a video stream that never decodes cannot make the
 * other streams eat the memory. */
#define QUEUE_MAX_PACKETS 8192
#define QUEUE_MAX_BYTES (256LL << 20)
#define OUT_BUF_SIZE (256 * 1024)

#if LIBAVFORMAT_VERSION_MAJOR >= 61
#define AVIO_WBUF const uint8_t *
#else
#define AVIO_WBUF uint8_t *
#endif

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

int dcv_tc_open_output_file(struct tc *t)
{
    size_t len = strlen(t->out_name) + sizeof(".part");
    unsigned char *buf;

    t->part_path = malloc(len);
    if (!t->part_path)
        return dcv_tc_fail(t, -ENOMEM, "out of memory");
    snprintf(t->part_path, len, "%s.part", t->out_name);
    /* O_NOFOLLOW: the .part name is ours; a link planted there is refused. */
    t->of.fd = open(t->part_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (t->of.fd < 0) {
        int e = errno;
        free(t->part_path);
        t->part_path = NULL;
        return dcv_tc_fail(t, -e, "create output '%s.part': %s", t->out_name, strerror(e));
    }
    t->of.name = t->part_path;
    buf = av_malloc(OUT_BUF_SIZE);
    if (!buf)
        return dcv_tc_fail(t, -ENOMEM, "out of memory");
    t->own_pb = avio_alloc_context(buf, OUT_BUF_SIZE, 1, &t->of, NULL, of_write, of_seek);
    if (!t->own_pb) {
        av_free(buf);
        return dcv_tc_fail(t, -ENOMEM, "out of memory");
    }
    t->oc->pb = t->own_pb;
    t->oc->flags |= AVFMT_FLAG_CUSTOM_IO;
    return 0;
}

/* Removes a failed .part; the final name was never touched. */
void dcv_tc_discard_output(struct tc *t)
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

int dcv_tc_commit_output(struct tc *t)
{
    int e;

    avio_flush(t->own_pb);
    if (t->own_pb->error < 0 || t->of.err) {
        e = t->of.err ? t->of.err : -dcv_tc_map_averror(t->own_pb->error);
        if (e == ENOSPC)
            return dcv_tc_fail(t, -ENOSPC, "disk full writing '%s'", t->part_path);
        return dcv_tc_fail(t, -e, "write '%s': %s", t->part_path, strerror(e));
    }
    if (fsync(t->of.fd) != 0) {
        e = errno;
        if (e == ENOSPC)
            return dcv_tc_fail(t, -ENOSPC, "disk full writing '%s'", t->part_path);
        if (e != EINVAL) /* not a regular file (a pipe, /dev/null): nothing to sync */
            return dcv_tc_fail(t, -e, "fsync '%s': %s", t->part_path, strerror(e));
    }
    t->final_bytes = avio_size(t->own_pb);
    av_freep(&t->own_pb->buffer);
    avio_context_free(&t->own_pb);
    t->oc->pb = NULL;
    if (close(t->of.fd) != 0) {
        e = errno;
        t->of.fd = -1;
        return dcv_tc_fail(t, -e, "close '%s': %s", t->part_path, strerror(e));
    }
    t->of.fd = -1;
    if (rename(t->part_path, t->out_name) != 0) {
        e = errno;
        return dcv_tc_fail(t, -e, "rename '%s' to '%s': %s", t->part_path, t->out_name,
                           strerror(e));
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

/*
 * Would this muxer take a stream copied with these parameters? Asked of the
 * muxer itself by writing a header into a memory buffer, because
 * avformat_query_codec() answers yes for codecs the mp4 muxer then refuses
 * at write time as "experimental" (FLAC, TrueHD, DTS, older Opus: the set
 * changes between FFmpeg versions). A copied stream that fails here is
 * re-encoded instead of failing the whole job at write_header.
 */
int dcv_tc_muxer_accepts(const AVOutputFormat *ofmt, const AVCodecParameters *par)
{
    AVFormatContext *oc = NULL;
    AVStream *st;
    uint8_t *buf = NULL;
    int ok = 0;

    if (avformat_alloc_output_context2(&oc, ofmt, NULL, NULL) < 0 || !oc)
        return 0;
    st = avformat_new_stream(oc, NULL);
    if (st && avcodec_parameters_copy(st->codecpar, par) >= 0 &&
        avio_open_dyn_buf(&oc->pb) >= 0) {
        st->codecpar->codec_tag = 0;
        st->time_base = (AVRational){1, par->sample_rate > 0 ? par->sample_rate : 1000};
        dcv_log_ffmpeg_expect_failure(1);
        ok = avformat_write_header(oc, NULL) >= 0;
        dcv_log_ffmpeg_expect_failure(0);
        avio_close_dyn_buf(oc->pb, &buf);
        av_free(buf);
        oc->pb = NULL;
    }
    avformat_free_context(oc);
    return ok;
}

int dcv_tc_choose_container(struct tc *t)
{
    const char *want = t->prof->container, *ext = NULL;
    const char *muxer = NULL;

    if (!want[0]) {
        const char *base = strrchr(t->out_name, '/');
        base = base ? base + 1 : t->out_name;
        ext = strrchr(base, '.');
        if (!ext || !ext[1])
            return dcv_tc_fail(t, -EINVAL,
                               "output '%s': no file extension to choose the container from "
                               "(use .mkv, .mp4, .m4v or .ts, or set the container)",
                               t->out_name);
        want = ext + 1;
    }
    for (size_t i = 0; i < sizeof(containers) / sizeof(containers[0]); i++)
        if (strcasecmp(want, containers[i].name) == 0)
            muxer = containers[i].muxer;
    if (!muxer)
        return dcv_tc_fail(t, -EINVAL,
                           "output '%s': unsupported container '%s' (supported: mkv, mp4, m4v, ts)",
                           t->out_name, want);
    t->ofmt = av_guess_format(muxer, NULL, NULL);
    if (!t->ofmt)
        return dcv_tc_fail(t, -EINVAL, "output '%s': this FFmpeg has no %s muxer", t->out_name,
                           muxer);
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
            return dcv_tc_fail(t, -ENOSPC, "disk full writing '%s'",
                               t->part_path ? t->part_path : t->out_name);
        return dcv_tc_fail_av(t, ret, "write output '%s'",
                              t->part_path ? t->part_path : t->out_name);
    }
    return 0;
}

/* Takes the packet's reference (pkt is left blank). */
int dcv_tc_mux(struct tc *t, AVPacket *pkt, AVRational tb, int ost_index)
{
    if (t->header_written)
        return mux_now(t, pkt, tb, ost_index);
    if (t->nq >= QUEUE_MAX_PACKETS || t->qbytes > QUEUE_MAX_BYTES) {
        av_packet_unref(pkt);
        return dcv_tc_fail(t, -EINVAL,
                           "input '%s': no video frame decoded after %zu packets of other streams",
                           t->in_name, t->nq);
    }
    if (t->nq == t->qcap) {
        size_t ncap = t->qcap ? t->qcap * 2 : 64;
        struct qpkt *n = realloc(t->q, ncap * sizeof(*n));
        if (!n) {
            av_packet_unref(pkt);
            return dcv_tc_fail(t, -ENOMEM, "out of memory");
        }
        t->q = n;
        t->qcap = ncap;
    }
    AVPacket *c = av_packet_alloc();
    if (!c) {
        av_packet_unref(pkt);
        return dcv_tc_fail(t, -ENOMEM, "out of memory");
    }
    av_packet_move_ref(c, pkt);
    t->qbytes += c->size;
    t->q[t->nq].pkt = c;
    t->q[t->nq].tb = tb;
    t->q[t->nq].ost_index = ost_index;
    t->nq++;
    return 0;
}

void dcv_tc_queue_free(struct tc *t)
{
    for (size_t i = 0; i < t->nq; i++)
        av_packet_free(&t->q[i].pkt);
    free(t->q);
    t->q = NULL;
    t->nq = t->qcap = 0;
}

int dcv_tc_write_header(struct tc *t)
{
    int ret;

    ret = avformat_write_header(t->oc, NULL);
    if (ret < 0) {
        if (t->of.err == ENOSPC || ret == AVERROR(ENOSPC))
            return dcv_tc_fail(t, -ENOSPC, "disk full writing '%s'",
                               t->part_path ? t->part_path : t->out_name);
        return dcv_tc_fail_av(t, ret, "write header of '%s'", t->out_name);
    }
    t->header_written = 1;
    for (size_t i = 0; i < t->nq; i++) {
        ret = mux_now(t, t->q[i].pkt, t->q[i].tb, t->q[i].ost_index);
        if (ret < 0)
            return ret;
    }
    dcv_tc_queue_free(t);
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

int dcv_tc_copy_stream_meta(AVStream *ost, const AVStream *ist, int reencoded)
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

int dcv_tc_copy_chapters(struct tc *t)
{
    AVFormatContext *ic = t->ic, *oc = t->oc;

    if (!ic->nb_chapters)
        return 0;
    oc->chapters = av_calloc(ic->nb_chapters, sizeof(*oc->chapters));
    if (!oc->chapters)
        return dcv_tc_fail(t, -ENOMEM, "out of memory");
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
            return dcv_tc_fail(t, -ENOMEM, "out of memory");
        c->id = in->id;
        c->time_base = in->time_base;
        c->start = s < 0 ? 0 : s;
        c->end = e > lim ? lim : e;
        if (av_dict_copy(&c->metadata, in->metadata, 0) < 0) {
            av_dict_free(&c->metadata);
            av_free(c);
            return dcv_tc_fail(t, -ENOMEM, "out of memory");
        }
        oc->chapters[oc->nb_chapters++] = c;
    }
    return 0;
}
