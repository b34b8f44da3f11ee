/*
 * `distconvd --job SPEC`: one attempt of one job, in its own process (see
 * jobproc.h and jobspec.h). Everything it has to say to the worker goes to
 * stdout as job lines; logs go to stderr.
 *
 * Single-threaded apart from the transport plugin's I/O thread and
 * FFmpeg's codec threads; signals only set flags (cancel, timeout) that the
 * data-plane client and the pipeline's progress callback poll.
 */
#include "worker/jobproc.h"
#include "worker/workdir.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>
#include <libavformat/avformat.h>
#include <libavutil/pixdesc.h>

#include "clock.h"
#include "config.h"
#include "errbuf.h"
#include "log.h"
#include "net.h"
#include "pluginhost.h"
#include "profile.h"
#include "media/encoder.h"
#include "media/pipeline.h"
#include "media/remote_io.h"
#include "worker/jobspec.h"
#include "xfer/client.h"

#define COMP "job"
#define PROGRESS_EVERY_MS 500 /* the worker forwards at most one per second */

static volatile sig_atomic_t g_cancel;  /* SIGTERM/SIGINT or the deadline */
static volatile sig_atomic_t g_timeout; /* the deadline passed */

static void on_term(int sig)
{
    (void)sig;
    g_cancel = 1;
}

static void on_alarm(int sig)
{
    (void)sig;
    g_timeout = 1;
    g_cancel = 1;
}

struct job {
    struct dcv_conf *conf;
    struct dcv_jobspec spec;
    struct dcv_profile prof;
    struct dcv_plugin_set plugins;
    struct dcv_net *net;
    struct dcv_xcli *xcli;
    struct dcv_xstream *xstream;

    char input_path[PATH_MAX]; /* what the pipeline reads (path or fetched copy) */
    char output_path[PATH_MAX];
    int64_t in_duration_us;    /* -1 unknown */
    uint32_t src_depth;
    uint64_t started_ms;
    uint64_t last_progress_ms;
    int phase;
    int failed; /* a fail line was printed */
};

/* ---- job lines --------------------------------------------------------------- */

static void write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return; /* the worker is gone; PDEATHSIG will follow */
        }
        p += w;
        n -= (size_t)w;
    }
}

static void emit(struct dcv_jobline *l)
{
    char *line = NULL, err[512];
    size_t n;

    if (dcv_jobline_format(l, &line, err, sizeof err) < 0) {
        dcv_log(DCV_LOG_ERROR, COMP, "cannot print job line: %s", err);
        return;
    }
    n = strlen(line);
    /* One write per line (plus newline) so lines never interleave. */
    char *buf = realloc(line, n + 2);
    if (!buf) {
        free(line);
        return;
    }
    buf[n] = '\n';
    buf[n + 1] = '\0';
    write_all(STDOUT_FILENO, buf, n + 1);
    free(buf);
}

static void progress(struct job *j, int phase, double pct, int64_t frames, double fps, int force)
{
    struct dcv_jobline l = {.kind = DCV_JOBLINE_PROGRESS};
    uint64_t now = dcv_mono_ms();

    if (!force && phase == j->phase && now - j->last_progress_ms < PROGRESS_EVERY_MS)
        return;
    j->phase = phase;
    j->last_progress_ms = now;
    l.progress.fence = j->spec.fence;
    l.progress.phase = phase;
    l.progress.pct = pct < 0 ? 0 : pct > 100 ? 100 : pct;
    l.progress.frames = frames;
    l.progress.fps = fps >= 0 && fps <= 1e6 ? fps : -1;
    emit(&l);
}

static int fail(struct job *j, int code, int retryable, const char *fmt, ...)
    DCV_PRINTF(4, 5);
static int fail(struct job *j, int code, int retryable, const char *fmt, ...)
{
    struct dcv_jobline l = {.kind = DCV_JOBLINE_FAIL};
    char msg[DCV_PROTO_TEXT * 2];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    l.fail.fence = j->spec.fence;
    l.fail.code = code;
    l.fail.retryable = retryable;
    dcv_text_sanitize(l.fail.message, sizeof l.fail.message, msg);
    dcv_log(code == DCV_CODE_CANCELLED ? DCV_LOG_INFO : DCV_LOG_ERROR, COMP, "%s: %s",
            dcv_proto_code_name(code), l.fail.message);
    emit(&l);
    j->failed = 1;
    return -1;
}

/* Cancelled or timed out: the one place both are told apart. */
static int fail_cancelled(struct job *j, const char *during)
{
    if (g_timeout)
        return fail(j, DCV_CODE_TIMEOUT, 0, "deadline passed during %s", during);
    return fail(j, DCV_CODE_CANCELLED, 0, "cancelled during %s", during);
}

/* A data-plane error: the peer's ABORT code when it sent one. */
static int fail_xfer(struct job *j, int r, int abort_code, const char *what, const char *err)
{
    if (r == -ECANCELED || g_cancel)
        return fail_cancelled(j, what);
    if (r == -ENOSPC)
        return fail(j, DCV_CODE_NOSPACE, 1, "%s: %s", what, err);
    if (r == -EREMOTEIO && abort_code == DCV_CODE_STALE)
        return fail(j, DCV_CODE_STALE, 0, "%s: %s", what, err);
    if (r == -EREMOTEIO && abort_code == DCV_CODE_NOSPACE)
        return fail(j, DCV_CODE_NOSPACE, 1, "%s: %s", what, err);
    if (r == -EIO)
        return fail(j, DCV_CODE_IO, 1, "%s: %s", what, err);
    return fail(j, DCV_CODE_TRANSFER, 1, "%s: %s", what, err);
}

/* ---- setup ------------------------------------------------------------------- */

static int apply_profile(struct job *j)
{
    struct json_object *o = json_tokener_parse(j->spec.profile);
    char err[512], val[64];
    int r = 0;

    dcv_profile_defaults(&j->prof);
    if (!o || !json_object_is_type(o, json_type_object)) {
        json_object_put(o);
        return fail(j, DCV_CODE_PROTOCOL, 1, "profile is not a JSON object");
    }
    json_object_object_foreach(o, key, v)
    {
        const char *s;
        switch (json_object_get_type(v)) {
        case json_type_string:
            s = json_object_get_string(v);
            break;
        case json_type_int:
            snprintf(val, sizeof val, "%" PRId64, json_object_get_int64(v));
            s = val;
            break;
        case json_type_double:
            snprintf(val, sizeof val, "%.17g", json_object_get_double(v));
            s = val;
            break;
        case json_type_boolean:
            s = json_object_get_boolean(v) ? "true" : "false";
            break;
        default:
            s = NULL;
        }
        err[0] = '\0';
        r = s ? dcv_profile_set(&j->prof, key, s, err, sizeof err) : -EINVAL;
        if (r < 0) {
            /* The coordinator validated it with the same code, so a refusal
             * means versions differ: another worker may know the option. */
            if (r == -ENOENT)
                snprintf(err, sizeof err, "unknown profile option '%s'", key);
            else if (!s)
                snprintf(err, sizeof err, "profile option '%s': not a scalar", key);
            json_object_put(o);
            return fail(j, DCV_CODE_UNSUPPORTED, 1, "%s", err);
        }
    }
    json_object_put(o);
    dcv_profile_resolve(&j->prof);
    return 0;
}

/* Encoder plugins, as `distconvd --transcode` loads them. */
static int load_plugins(struct job *j)
{
    const struct dcv_settings *s = dcv_conf_settings(j->conf);
    char err[2048] = "";
    int usable = 0;

    if (dcv_plugin_set_load_dir(&j->plugins, s->plugin_dir, err, sizeof err) < 0)
        return fail(j, DCV_CODE_INTERNAL, 1, "plugin directory: %s", err);
    for (size_t i = 0; i < j->plugins.n; i++) {
        struct dcv_plugin *p = j->plugins.items[i];
        if (p->hdr.kind != DCV_PLUGIN_ENCODER || !dcv_conf_plugin_enabled(j->conf, p->hdr.name))
            continue;
        err[0] = '\0';
        if (dcv_plugin_init(p, j->conf, err, sizeof err) < 0)
            dcv_log(DCV_LOG_WARN, COMP, "plugin %s: %s", p->hdr.name, err);
        else
            usable++;
    }
    if (!usable)
        return fail(j, DCV_CODE_UNSUPPORTED, 1, "no usable encoder plugin in %s", s->plugin_dir);
    return 0;
}

static int open_data_plane(struct job *j)
{
    const struct dcv_settings *s = dcv_conf_settings(j->conf);
    struct dcv_xcli_params p = {0};
    char err[1024] = "";
    int r;

    r = dcv_net_open(s->plugin_dir, s->transport, j->conf, &j->net, err, sizeof err);
    if (r < 0)
        return fail(j, DCV_CODE_INTERNAL, 1, "transport: %s", err);
    p.chunk_max = (uint32_t)j->spec.chunk_max;
    p.credit_chunks = (uint32_t)j->spec.credit_chunks;
    p.stall_ms = (uint32_t)j->spec.stall_ms;
    /* A coordinator restart takes a few heartbeats; let transfers ride it out. */
    p.timeout_ms = j->spec.stall_ms * 5 > 30000 ? j->spec.stall_ms * 5 : 30000;
    p.cancel = &g_cancel;
    r = dcv_xcli_open(j->net, j->spec.data_endpoint, &p, &j->xcli, err, sizeof err);
    if (r < 0)
        return fail(j, DCV_CODE_TRANSFER, 1, "data plane %s: %s", j->spec.data_endpoint, err);
    return 0;
}

/* ".mkv" from "a.mkv": a short alphanumeric extension, else "". */
static void name_ext(const char *name, char *ext, size_t cap)
{
    const char *dot = strrchr(name, '.');
    size_t n;

    ext[0] = '\0';
    if (!dot || !dot[1])
        return;
    n = strlen(dot + 1);
    if (n > 8 || n + 2 > cap)
        return;
    for (size_t i = 1; i <= n; i++)
        if (!((dot[i] >= 'a' && dot[i] <= 'z') || (dot[i] >= 'A' && dot[i] <= 'Z') ||
              (dot[i] >= '0' && dot[i] <= '9')))
            return;
    snprintf(ext, cap, "%s", dot);
}

static void on_fetch_progress(int64_t done, int64_t total, void *ud)
{
    struct job *j = ud;
    progress(j, DCV_PHASE_FETCH, total > 0 ? 100.0 * (double)done / (double)total : 0, -1, -1, 0);
}

static void on_upload_progress(int64_t done, int64_t total, void *ud)
{
    struct job *j = ud;
    progress(j, DCV_PHASE_UPLOAD, total > 0 ? 100.0 * (double)done / (double)total : 0, -1, -1,
             0);
}

/* Copy mode: the whole input into the work dir first. */
static int fetch_input(struct job *j)
{
    struct statvfs vfs;
    char ext[16], err[1024] = "";
    int fd, r, abort_code = -1;

    name_ext(j->spec.name, ext, sizeof ext);
    if ((size_t)snprintf(j->input_path, sizeof j->input_path, "%.*s/input%s",
                         (int)(sizeof j->input_path - 32), j->spec.work_dir, ext) >=
        sizeof j->input_path)
        return fail(j, DCV_CODE_INTERNAL, 1, "work dir path too long");
    if (statvfs(j->spec.work_dir, &vfs) == 0) {
        int64_t avail = (int64_t)vfs.f_bavail * (int64_t)vfs.f_frsize;
        if (avail < j->spec.blob.size)
            return fail(j, DCV_CODE_NOSPACE, 1,
                        "input needs %" PRId64 " bytes, work dir %s has %" PRId64 " free",
                        j->spec.blob.size, j->spec.work_dir, avail);
    }
    fd = open(j->input_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0640);
    if (fd < 0)
        return fail(j, errno == ENOSPC ? DCV_CODE_NOSPACE : DCV_CODE_IO, 1, "create %s: %s",
                    j->input_path, strerror(errno));
    progress(j, DCV_PHASE_FETCH, 0, -1, -1, 1);
    r = dcv_xcli_fetch_file(j->xcli, DCV_PURPOSE_INPUT, &j->spec.fence, &j->spec.blob, fd,
                            on_fetch_progress, j, &abort_code, err, sizeof err);
    if (close(fd) != 0 && r == 0)
        r = -EIO, snprintf(err, sizeof err, "close input: %s", strerror(errno));
    if (r < 0)
        return fail_xfer(j, r, abort_code, "input fetch", err);
    progress(j, DCV_PHASE_FETCH, 100, -1, -1, 1);
    return 0;
}

static int open_stream(struct job *j, struct AVIOContext **io)
{
    char err[1024] = "";
    int r;

    if (!j->xstream) {
        r = dcv_xstream_open(j->xcli, &j->spec.fence, &j->spec.blob, &j->xstream, err,
                             sizeof err);
        if (r < 0)
            return fail_xfer(j, r, -1, "streamed input", err);
    }
    r = dcv_remote_avio_open(j->xstream, 0, io, err, sizeof err);
    if (r < 0)
        return fail(j, DCV_CODE_INTERNAL, 1, "remote input: %s", err);
    return 0;
}

static uint32_t pix_fmt_depth(int fmt)
{
    const AVPixFmtDescriptor *d = fmt >= 0 ? av_pix_fmt_desc_get((enum AVPixelFormat)fmt) : NULL;
    return d ? (uint32_t)d->comp[0].depth : 0;
}

/* Duration of a demuxed file in microseconds, -1 when unknown: the
 * container's, else the longest stream's. */
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

/*
 * Open a media file far enough to know its video stream: the input (for
 * the encoder choice and the expected duration) and the output (verify).
 * io: a custom input (streamed), else path is opened. -EINVAL with the
 * reason when it is not media or has no video.
 */
static int open_media(const char *path, struct AVIOContext *io, uint32_t *depth,
                      int64_t *duration_us, char *err, size_t errlen)
{
    AVFormatContext *fc = avformat_alloc_context();
    int r, vi;

    if (!fc)
        return dcv_err(err, errlen, -ENOMEM, "out of memory");
    if (io) {
        fc->pb = io;
        fc->flags |= AVFMT_FLAG_CUSTOM_IO;
    }
    dcv_log_clear_ffmpeg_error();
    r = avformat_open_input(&fc, path, NULL, NULL); /* frees fc on failure */
    if (r < 0) {
        char e[AV_ERROR_MAX_STRING_SIZE];
        av_strerror(r, e, sizeof e);
        return dcv_err(err, errlen, r == AVERROR(ENOENT) || r == AVERROR(EACCES) ? -ENOENT
                                                                                : -EINVAL,
                       "open %s: %s", path, e);
    }
    r = avformat_find_stream_info(fc, NULL);
    if (r < 0) {
        char e[AV_ERROR_MAX_STRING_SIZE];
        av_strerror(r, e, sizeof e);
        avformat_close_input(&fc);
        return dcv_err(err, errlen, -EINVAL, "read %s: %s", path, e);
    }
    vi = av_find_best_stream(fc, AVMEDIA_TYPE_VIDEO, -1, -1, NULL, 0);
    if (vi < 0) {
        avformat_close_input(&fc);
        return dcv_err(err, errlen, -EINVAL, "%s: no video stream", path);
    }
    if (depth)
        *depth = pix_fmt_depth(fc->streams[vi]->codecpar->format);
    if (duration_us)
        *duration_us = fmt_duration_us(fc);
    avformat_close_input(&fc);
    return 0;
}

static int prepare_input(struct job *j)
{
    struct AVIOContext *io = NULL;
    char err[1024] = "";
    int r;

    if (j->spec.input_kind == DCV_INPUT_PATH) {
        snprintf(j->input_path, sizeof j->input_path, "%s", j->spec.path);
        if (access(j->input_path, R_OK) != 0)
            /* Maybe a mount this worker lacks: another worker may see it. */
            return fail(j, DCV_CODE_INPUT, 1, "input %s: %s", j->input_path, strerror(errno));
    } else if (j->spec.mode == DCV_FETCH_COPY) {
        if (fetch_input(j) < 0)
            return -1;
    } else {
        snprintf(j->input_path, sizeof j->input_path, "%s",
                 j->spec.name[0] ? j->spec.name : "input");
        if (open_stream(j, &io) < 0)
            return -1;
    }
    r = open_media(j->input_path, io, &j->src_depth, &j->in_duration_us, err, sizeof err);
    if (io) {
        const char *re = dcv_remote_avio_error(io);
        char rerr[512];
        snprintf(rerr, sizeof rerr, "%s", re ? re : "");
        dcv_remote_avio_close(&io);
        if (r < 0 && rerr[0] && !g_cancel)
            return fail(j, DCV_CODE_TRANSFER, 1, "streamed input: %s (%s)", rerr, err);
    }
    if (r < 0) {
        if (g_cancel)
            return fail_cancelled(j, "input probe");
        /* Not media (corrupt, truncated, no video): no worker will do
         * better. A file that cannot be opened may be a mount this worker
         * lacks. */
        return fail(j, DCV_CODE_INPUT, r == -ENOENT, "%s", err);
    }
    return 0;
}

/* The same choice dcv_transcode will make (media/video.c), so `accept`
 * names what actually encodes: a 10-bit source stays 10-bit when an
 * encoder can, else 8-bit. */
static int choose_and_accept(struct job *j)
{
    struct dcv_encoder_choice ch;
    struct dcv_jobline l = {.kind = DCV_JOBLINE_ACCEPT};
    uint32_t want = j->prof.bit_depth ? j->prof.bit_depth : (j->src_depth > 8 ? 10 : 8);
    char err[2048] = "";
    int r;

    r = dcv_encoder_select(&j->plugins, j->prof.codec, j->prof.encoder, want, &ch, err,
                           sizeof err);
    if (r == -ENOENT && j->prof.bit_depth == 0 && want == 10)
        r = dcv_encoder_select(&j->plugins, j->prof.codec, j->prof.encoder, 8, &ch, err,
                               sizeof err);
    if (r == -EBUSY)
        return fail(j, DCV_CODE_BUSY, 1, "%s", err);
    if (r == -ENODEV)
        return fail(j, DCV_CODE_NODEV, 1, "%s", err);
    if (r < 0)
        return fail(j, DCV_CODE_UNSUPPORTED, 1, "%s", err[0] ? err : strerror(-r));
    l.accept.fence = j->spec.fence;
    snprintf(l.accept.plugin, sizeof l.accept.plugin, "%s", ch.plugin->hdr.name);
    snprintf(l.accept.encoder, sizeof l.accept.encoder, "%s",
             ch.caps.codecs[ch.codec_index].encoder);
    dcv_text_sanitize(l.accept.device_id, sizeof l.accept.device_id,
                      ch.caps.device_id[0] ? ch.caps.device_id : "-");
    emit(&l);
    return 0;
}

static int on_encode_progress(const struct dcv_progress *p, void *user)
{
    struct job *j = user;
    progress(j, DCV_PHASE_ENCODE, p->percent, p->frames, p->fps, 0);
    return g_cancel != 0;
}

static void output_name(struct job *j)
{
    const char *c = j->prof.container;
    char ext[16] = ".mkv";

    if (c[0]) {
        if (!strcasecmp(c, "mp4"))
            snprintf(ext, sizeof ext, ".mp4");
        else if (!strcasecmp(c, "m4v"))
            snprintf(ext, sizeof ext, ".m4v");
        else if (!strcasecmp(c, "ts") || !strcasecmp(c, "mpegts"))
            snprintf(ext, sizeof ext, ".ts");
    } else {
        char in[16];
        name_ext(j->spec.name[0] ? j->spec.name : j->input_path, in, sizeof in);
        if (!strcasecmp(in, ".mp4") || !strcasecmp(in, ".m4v") || !strcasecmp(in, ".ts") ||
            !strcasecmp(in, ".mkv"))
            snprintf(ext, sizeof ext, "%s", in);
    }
    snprintf(j->output_path, sizeof j->output_path, "%.*s/output%s",
             (int)(sizeof j->output_path - 32), j->spec.work_dir, ext);
}

static int encode(struct job *j, struct dcv_transcode_result *res)
{
    struct dcv_transcode_req req = {0};
    struct AVIOContext *io = NULL;
    char err[2048] = "", rerr[512] = "";
    int r, remote_failed = 0;

    if (j->spec.input_kind == DCV_INPUT_XFER && j->spec.mode == DCV_FETCH_STREAM &&
        open_stream(j, &io) < 0)
        return -1;
    output_name(j);
    req.input = j->input_path;
    req.input_io = io;
    req.output = j->output_path;
    req.profile = &j->prof;
    req.plugins = &j->plugins;
    req.progress = on_encode_progress;
    req.progress_user = j;
    progress(j, DCV_PHASE_ENCODE, 0, 0, -1, 1);
    r = dcv_transcode(&req, res, err, sizeof err);
    if (io) {
        /* A read error of the data plane reaches the pipeline as an FFmpeg
         * I/O error; the stream's own text says it was the network. */
        const char *re = dcv_remote_avio_error(io);
        remote_failed = r < 0 && re && *re;
        if (remote_failed)
            snprintf(rerr, sizeof rerr, "%s", re);
        dcv_remote_avio_close(&io);
    }
    if (r == 0) {
        progress(j, DCV_PHASE_ENCODE, 100, res->frames, res->fps, 1);
        return 0;
    }
    if (r == -ECANCELED || g_cancel)
        return fail_cancelled(j, "encode");
    if (remote_failed)
        return fail(j, DCV_CODE_TRANSFER, 1, "streamed input: %s (%s)", rerr, err);
    switch (r) {
    case -EBUSY: return fail(j, DCV_CODE_BUSY, 1, "%s", err);
    case -ENODEV: return fail(j, DCV_CODE_NODEV, 1, "%s", err);
    case -ENOTSUP: return fail(j, DCV_CODE_UNSUPPORTED, 1, "%s", err);
    case -ENOENT: return fail(j, DCV_CODE_UNSUPPORTED, 1, "%s", err);
    case -ENOSPC: return fail(j, DCV_CODE_NOSPACE, 1, "%s", err);
    case -EINVAL:
        /* The input opened and probed fine: what fails now is its content
         * (corrupt streams) or parameters no worker will take either. */
        return fail(j, DCV_CODE_INPUT, 0, "%s", err);
    case -EIO: return fail(j, DCV_CODE_ENCODE, 1, "%s", err);
    default: return fail(j, DCV_CODE_INTERNAL, 1, "%s", err[0] ? err : strerror(-r));
    }
}

/* The expected output duration: the input's, cut by the profile's range. */
static int64_t expected_duration_us(const struct job *j, const struct dcv_transcode_result *res)
{
    int64_t d = j->in_duration_us;

    if (d > 0 && j->prof.start_us > 0)
        d = d > j->prof.start_us ? d - j->prof.start_us : 0;
    if (d > 0 && j->prof.duration_us > 0 && j->prof.duration_us < d)
        d = j->prof.duration_us;
    if (d <= 0)
        d = res->duration_us; /* unknown input duration: what the pipeline wrote */
    return d;
}

static int verify(struct job *j, const struct dcv_transcode_result *res)
{
    int64_t want = expected_duration_us(j, res), got = -1, tol;
    char err[1024] = "";
    int r;

    progress(j, DCV_PHASE_VERIFY, 0, -1, -1, 1);
    r = open_media(j->output_path, NULL, NULL, &got, err, sizeof err);
    if (r < 0)
        return fail(j, DCV_CODE_VERIFY, 1, "output: %s", err);
    if (want > 0) {
        tol = want / 50 > 1000000 ? want / 50 : 1000000;
        if (got < 0 || llabs(got - want) > tol)
            return fail(j, DCV_CODE_VERIFY, 1,
                        "output duration %.3f s, expected %.3f s (tolerance %.3f s)",
                        got / 1e6, want / 1e6, tol / 1e6);
    }
    progress(j, DCV_PHASE_VERIFY, 100, -1, -1, 1);
    return 0;
}

static int upload(struct job *j, const struct dcv_transcode_result *res)
{
    struct dcv_jobline l = {.kind = DCV_JOBLINE_DONE};
    char err[1024] = "";
    int fd, r, abort_code = -1;

    fd = open(j->output_path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return fail(j, DCV_CODE_IO, 1, "open %s: %s", j->output_path, strerror(errno));
    l.done.output.xfer_id = 0; /* the client picks one */
    l.done.output.size = -1;
    l.done.output.sha256[0] = '\0';
    progress(j, DCV_PHASE_UPLOAD, 0, -1, -1, 1);
    r = dcv_xcli_send_file(j->xcli, DCV_PURPOSE_OUTPUT, &j->spec.fence, fd, &l.done.output,
                           on_upload_progress, j, &abort_code, err, sizeof err);
    close(fd);
    if (r < 0)
        return fail_xfer(j, r, abort_code, "output upload", err);
    progress(j, DCV_PHASE_UPLOAD, 100, -1, -1, 1);
    l.done.fence = j->spec.fence;
    l.done.frames = res->frames >= 0 ? res->frames : -1;
    l.done.elapsed_ms = (int64_t)(dcv_mono_ms() - j->started_ms);
    emit(&l);
    return 0;
}

static void install_signals(int64_t deadline_ms)
{
    struct sigaction sa = {0};

    /* No SA_RESTART: a blocked wait returns EINTR and sees the flag. */
    sa.sa_handler = on_term;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sa.sa_handler = on_alarm;
    sigaction(SIGALRM, &sa, NULL);
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL);
    if (deadline_ms > 0) {
        struct timespec now;
        struct itimerval it = {0};
        int64_t left;
        clock_gettime(CLOCK_REALTIME, &now);
        left = deadline_ms - ((int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000);
        if (left <= 0) {
            g_timeout = 1;
            g_cancel = 1;
            return;
        }
        it.it_value.tv_sec = (time_t)(left / 1000);
        it.it_value.tv_usec = (suseconds_t)(left % 1000) * 1000;
        setitimer(ITIMER_REAL, &it, NULL);
    }
}

static int run(struct job *j)
{
    struct dcv_transcode_result res = {0};

    if (g_cancel)
        return fail_cancelled(j, "start");
    if (mkdir(j->spec.work_dir, 0750) != 0 && errno != EEXIST)
        return fail(j, errno == ENOSPC ? DCV_CODE_NOSPACE : DCV_CODE_IO, 1, "work dir %s: %s",
                    j->spec.work_dir, strerror(errno));
    if (apply_profile(j) < 0 || load_plugins(j) < 0 || open_data_plane(j) < 0)
        return -1;
    if (prepare_input(j) < 0)
        return -1;
    if (g_cancel)
        return fail_cancelled(j, "input");
    if (choose_and_accept(j) < 0)
        return -1;
    if (encode(j, &res) < 0)
        return -1;
    dcv_log(DCV_LOG_INFO, COMP, "encoded %" PRId64 " frames via %s (%s) in %.2f s (%.1f fps)",
            res.frames, res.encoder, res.plugin, res.elapsed_s, res.fps);
    if (g_cancel)
        return fail_cancelled(j, "encode");
    if (verify(j, &res) < 0)
        return -1;
    return upload(j, &res);
}

int dcv_jobproc_main(struct dcv_conf *conf, const char *spec)
{
    struct job *j = calloc(1, sizeof *j);
    char err[1024] = "";
    int r;

    if (!j) {
        fprintf(stderr, "distconvd --job: out of memory\n");
        return 2;
    }
    if (dcv_jobspec_from_json(spec, &j->spec, err, sizeof err) < 0) {
        fprintf(stderr, "distconvd --job: %s\n", err);
        free(j);
        return 2;
    }
    j->conf = conf;
    j->started_ms = dcv_mono_ms();
    j->phase = -1;
    install_signals(j->spec.deadline_ms);
    dcv_log(DCV_LOG_INFO, COMP, "job %s attempt %" PRId64 " starting (pid %ld)",
            j->spec.fence.job_id, j->spec.fence.attempt, (long)getpid());

    r = run(j);

    dcv_xstream_close(&j->xstream);
    dcv_xcli_close(&j->xcli);
    dcv_net_close(&j->net);
    dcv_workdir_remove(j->spec.work_dir, COMP);
    dcv_plugin_set_clear(&j->plugins);
    free(j);
    return r < 0 ? 1 : 0;
}
