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
#include "worker/inputcheck.h"
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

#include "clock.h"
#include "config.h"
#include "errbuf.h"
#include "log.h"
#include "net.h"
#include "pluginhost.h"
#include "profile.h"
#include "profile_json.h"
#include "media/encoder.h"
#include "media/pipeline.h"
#include "media/remote_io.h"
#include "media/verify.h"
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
    struct dcv_encoder_choice choice; /* JOB.placement's device, when has_choice */
    int has_choice;
    struct dcv_net *net;
    struct dcv_xcli *xcli;
    struct dcv_xstream *xstream;

    char input_path[PATH_MAX]; /* what the pipeline reads (path or fetched copy) */
    char output_path[PATH_MAX];
    struct dcv_media_info src; /* the input, probed before anything else */
    int64_t src_size;          /* bytes, -1 unknown (the library rules compare it) */
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

/* media: the encode's figures, NULL in the other phases (unknown there). */
static void progress(struct job *j, int phase, double pct, const struct dcv_progress *media,
                     int force)
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
    l.progress.frames = media && media->frames >= 0 ? media->frames : -1;
    l.progress.fps = media && media->fps >= 0 && media->fps <= 1e6 ? media->fps : -1;
    l.progress.frames_total = media && media->frames_total >= 0 ? media->frames_total : -1;
    l.progress.speed = media && media->speed >= 0 && media->speed <= 1e6 ? media->speed : -1;
    emit(&l);
}

/* Messages quote the file FFmpeg opened; when that is a copy or a blob
 * (".../uploads/8808869489070631", "work/.../input.mkv") the user knows the
 * file by its original name, so that name replaces the path. */
static void user_names(const struct job *j, char *msg, size_t cap)
{
    const char *p = j->input_path, *base = strrchr(p, '/'), *at;
    char tmp[DCV_PROTO_TEXT * 2];
    size_t n = strlen(p);

    base = base ? base + 1 : p;
    if (!n || !j->spec.name[0] || strcmp(base, j->spec.name) == 0 || !(at = strstr(msg, p)))
        return;
    snprintf(tmp, sizeof tmp, "%.*s%s%s", (int)(at - msg), msg, j->spec.name, at + n);
    snprintf(msg, cap, "%s", tmp);
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
    user_names(j, msg, sizeof msg);
    l.fail.fence = j->spec.fence;
    l.fail.code = code;
    /* every busy a job process sees is its device refusing a session */
    l.fail.busy = code == DCV_CODE_BUSY ? DCV_BUSY_DEVICE : DCV_BUSY_NONE;
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
    char err[512] = "";
    int r = dcv_profile_from_json(&j->prof, j->spec.profile, err, sizeof err);

    if (r == -EBADMSG)
        return fail(j, DCV_CODE_PROTOCOL, 1, "%s", err);
    /* The coordinator validated it with the same code, so a refusal means
     * versions differ: another worker may know the option. */
    if (r < 0)
        return fail(j, DCV_CODE_UNSUPPORTED, 1, "%s", err);
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
    /* The worker's own keys: the coordinator checks that this attempt's
     * transfers come from the worker holding it. */
    r = dcv_net_secure(j->net, s, dcv_role_name(s->role), err, sizeof err);
    if (r < 0)
        return fail(j, DCV_CODE_INTERNAL, 1, "security: %s", err);
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
    progress(j, DCV_PHASE_FETCH, total > 0 ? 100.0 * (double)done / (double)total : 0, NULL, 0);
}

static void on_upload_progress(int64_t done, int64_t total, void *ud)
{
    struct job *j = ud;
    progress(j, DCV_PHASE_UPLOAD, total > 0 ? 100.0 * (double)done / (double)total : 0, NULL, 0);
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
    progress(j, DCV_PHASE_FETCH, 0, NULL, 1);
    r = dcv_xcli_fetch_file(j->xcli, DCV_PURPOSE_INPUT, &j->spec.fence, &j->spec.blob, fd,
                            on_fetch_progress, j, &abort_code, err, sizeof err);
    if (close(fd) != 0 && r == 0)
        r = -EIO, snprintf(err, sizeof err, "close input: %s", strerror(errno));
    if (r < 0)
        return fail_xfer(j, r, abort_code, "input fetch", err);
    progress(j, DCV_PHASE_FETCH, 100, NULL, 1);
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

/* The file this worker sees under the coordinator's path must be the one
 * submitted. A stale or different mount here is no reason to think the
 * next worker's is wrong too: retryable (attempt spent, so bounded by
 * max_attempts even when every worker sees the same wrong file). */
static int check_path_input(struct job *j)
{
    struct dcv_input_expect want = {
        .coord_path = j->spec.coord_path,
        .size = j->spec.blob.size,
        .mtime = j->spec.mtime,
        .sha256 = j->spec.blob.sha256,
    };
    char err[DCV_PROTO_TEXT * 2] = "";
    int r = dcv_input_check(j->input_path, &want, &g_cancel, err, sizeof err);

    if (r == -ECANCELED || (r < 0 && g_cancel))
        return fail_cancelled(j, "input check");
    if (r < 0)
        return fail(j, DCV_CODE_INPUT, 1, "%s", err);
    return 0;
}

static int prepare_input(struct job *j)
{
    struct AVIOContext *io = NULL;
    char err[1024] = "";
    int r;

    if (j->spec.input_kind == DCV_INPUT_URL) {
        snprintf(j->input_path, sizeof j->input_path, "%s", j->spec.path);
    } else if (j->spec.input_kind == DCV_INPUT_PATH) {
        snprintf(j->input_path, sizeof j->input_path, "%s", j->spec.path);
        if (access(j->input_path, R_OK) != 0)
            /* Maybe a mount this worker lacks: another worker may see it. */
            return fail(j, DCV_CODE_INPUT, 1, "input %s: %s", j->input_path, strerror(errno));
        if (check_path_input(j) < 0)
            return -1;
    } else if (j->spec.mode == DCV_FETCH_COPY) {
        if (fetch_input(j) < 0)
            return -1;
    } else {
        snprintf(j->input_path, sizeof j->input_path, "%s",
                 j->spec.name[0] ? j->spec.name : "input");
        if (open_stream(j, &io) < 0)
            return -1;
    }
    /* The guards against hostile files (not media, a weak format guess,
     * absurd declared picture sizes) and the input policy live in
     * dcv_media_probe() (media/verify.c); the pipeline applies the same. */
    r = dcv_media_probe(j->input_path, io,
                        j->spec.input_kind == DCV_INPUT_URL ? j->spec.protocols : NULL, &j->src,
                        err, sizeof err);
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
        if (r == -ENOMEM)
            return fail(j, DCV_CODE_INTERNAL, 1, "input probe: %s", err);
        /* Not media (corrupt, truncated, no video, an absurd picture size),
         * or refused by the input policy: no worker will do better. A file
         * that cannot be opened may be a mount this worker lacks; a URL
         * that cannot be reached (-EIO) may answer the next attempt. */
        return fail(j, DCV_CODE_INPUT, r == -ENOENT || r == -EIO, "%s", err);
    }
    j->src_size = j->spec.input_kind == DCV_INPUT_XFER ? j->spec.blob.size : j->src.size;
    dcv_log(DCV_LOG_INFO, COMP,
            "input: %s, %s %dx%d %u-bit, %.2f s, %u audio and %u subtitle stream(s), "
            "%" PRId64 " bytes",
            j->src.format, j->src.video_codec, j->src.width, j->src.height, j->src.depth,
            j->src.duration_us > 0 ? (double)j->src.duration_us / 1e6 : -1.0, j->src.n_audio,
            j->src.n_subtitle, j->src_size);
    return 0;
}

/* The same choice dcv_transcode will make (media/video.c), so `accept`
 * names what actually encodes: a 10-bit source stays 10-bit when an
 * encoder can, else 8-bit. */
static int choose_and_accept(struct job *j)
{
    struct dcv_encoder_choice ch;
    struct dcv_jobline l = {.kind = DCV_JOBLINE_ACCEPT};
    uint32_t want = j->prof.bit_depth ? j->prof.bit_depth : (j->src.depth > 8 ? 10 : 8);
    char err[2048] = "";
    int r;

    if (j->spec.has_placement) {
        /* The coordinator counted a session on exactly this device: any
         * other would make its count wrong, so there is no second choice
         * here. A device gone or changed since HELLO is retryable elsewhere. */
        const struct dcv_proto_placement *pl = &j->spec.placement;
        if (strcmp(pl->codec, j->prof.codec) != 0)
            return fail(j, DCV_CODE_NODEV, 1, "placement codec %s differs from the profile's %s",
                        pl->codec, j->prof.codec);
        r = dcv_encoder_select_exact(&j->plugins, pl->plugin, pl->device_id, pl->codec,
                                     pl->encoder, want, &ch, err, sizeof err);
        if (r == -ENOENT && j->prof.bit_depth == 0 && want == 10)
            r = dcv_encoder_select_exact(&j->plugins, pl->plugin, pl->device_id, pl->codec,
                                         pl->encoder, 8, &ch, err, sizeof err);
        if (r == -ENOENT)
            r = -ENODEV; /* the coordinator believed it could: its view is stale */
        if (r == 0) {
            j->choice = ch;
            j->has_choice = 1;
            if (pl->fallback)
                dcv_log(DCV_LOG_INFO, COMP, "software fallback: no GPU session was free");
        }
    } else {
        r = dcv_encoder_select(&j->plugins, j->prof.codec, j->prof.encoder, want, &ch, err,
                               sizeof err);
        if (r == -ENOENT && j->prof.bit_depth == 0 && want == 10)
            r = dcv_encoder_select(&j->plugins, j->prof.codec, j->prof.encoder, 8, &ch, err,
                                   sizeof err);
    }
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
    progress(j, DCV_PHASE_ENCODE, p->percent, p, 0);
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
    req.protocol_whitelist = j->spec.input_kind == DCV_INPUT_URL ? j->spec.protocols : NULL;
    req.output = j->output_path;
    req.profile = &j->prof;
    req.plugins = &j->plugins;
    req.choice = j->has_choice ? &j->choice : NULL;
    req.progress = on_encode_progress;
    req.progress_user = j;
    {
        const struct dcv_progress start = {.frames = 0, .fps = -1, .frames_total = -1, .speed = -1};
        progress(j, DCV_PHASE_ENCODE, 0, &start, 1);
    }
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
        const struct dcv_progress end = {
            .frames = res->frames, .frames_total = res->frames, .fps = res->fps,
            .speed = res->elapsed_s > 0 && res->duration_us > 0
                         ? (double)res->duration_us / 1e6 / res->elapsed_s : -1};
        progress(j, DCV_PHASE_ENCODE, 100, &end, 1);
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
    /* A duration guessed from the bitrate is no figure to hold a file to;
     * with timestamp jumps taken out (MPEG-TS, media/input.c) the
     * container's counts the gaps, and the content is the repaired span. */
    int64_t d = j->src.duration_estimated ? -1 : j->src.duration_us;

    if (res->ts_jumps > 0)
        d = res->input_span_us;

    if (d > 0 && j->prof.start_us > 0)
        d = d > j->prof.start_us ? d - j->prof.start_us : 0;
    if (d > 0 && j->prof.duration_us > 0 && j->prof.duration_us < d)
        d = j->prof.duration_us;
    if (d <= 0)
        d = res->duration_us; /* unknown input duration: what the pipeline wrote */
    return d;
}

/*
 * Output verification (media/verify.c) on the local file, before anything
 * is uploaded: it opens, has the video stream and the audio/subtitle
 * streams the profile keeps, every frame decodes, the duration matches the
 * source's. A failure is retryable: another attempt may well write a good
 * file (a bad disk, a flaky GPU), and max_attempts bounds it.
 */
static int verify(struct job *j, const struct dcv_transcode_result *res)
{
    struct dcv_verify_expect e;
    struct dcv_verify_stats st;
    char err[1024] = "";
    int r;

    memset(&e, 0, sizeof e);
    e.duration_us = expected_duration_us(j, res);
    e.tolerance_us = j->prof.verify_tolerance_us;
    /* Every source audio stream goes out, copied or re-encoded, unless the
     * profile drops audio; subtitles only where the container takes them. */
    e.audio_streams = j->prof.audio == DCV_AUDIO_NONE ? 0 : (int)j->src.n_audio;
    e.subtitle_streams = j->prof.subs == DCV_SUBS_NONE ? 0 : (int)res->subtitle_streams;
    e.video_frames = res->frames;
    /* Combing is what an interlaced (or unknown) source encoded as
     * pictures shows; asked not to deinterlace, it stays combed. */
    e.allow_combing = j->prof.deinterlace == DCV_DEINT_OFF || j->src.interlaced == 0;
    progress(j, DCV_PHASE_VERIFY, 0, NULL, 1);
    r = dcv_verify_output(j->output_path, &e, &st, &g_cancel, err, sizeof err);
    if (r == -ECANCELED || g_cancel)
        return fail_cancelled(j, "verify");
    if (r == -ENOMEM)
        return fail(j, DCV_CODE_INTERNAL, 1, "verify: %s", err);
    if (r < 0)
        return fail(j, DCV_CODE_VERIFY, 1, "%s", err);
    /* The cost of verifying, next to the encode it protects (operations.md). */
    dcv_log(DCV_LOG_INFO, COMP,
            "output verified in %.2f s (%.1f%% of the %.2f s encode): %" PRId64
            " video frames, %" PRId64 " audio frames, %.2f s",
            st.elapsed_s, res->elapsed_s > 0 ? 100.0 * st.elapsed_s / res->elapsed_s : 0.0,
            res->elapsed_s, st.video_frames, st.audio_frames, (double)st.duration_us / 1e6);
    progress(j, DCV_PHASE_VERIFY, 100, NULL, 1);
    return 0;
}

static int upload(struct job *j, const struct dcv_transcode_result *res)
{
    struct dcv_jobline l = {.kind = DCV_JOBLINE_DONE};
    char err[1024] = "", note[256];
    struct stat sb;
    int fd, r, abort_code = -1;

    fd = open(j->output_path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return fail(j, DCV_CODE_IO, 1, "open %s: %s", j->output_path, strerror(errno));
    l.done.has_output = 1;
    l.done.outcome = DCV_OUTCOME_ENCODED;
    /* The size against the source's, for the record ("42% of the source"). */
    if (fstat(fd, &sb) == 0 && j->src_size > 0 &&
        !dcv_rule_keep_original(j->src_size, (int64_t)sb.st_size, note, sizeof note))
        dcv_text_sanitize(l.done.note, sizeof l.done.note, note);
    l.done.output.xfer_id = 0; /* the client picks one */
    l.done.output.size = -1;
    l.done.output.sha256[0] = '\0';
    progress(j, DCV_PHASE_UPLOAD, 0, NULL, 1);
    r = dcv_xcli_send_file(j->xcli, DCV_PURPOSE_OUTPUT, &j->spec.fence, fd, &l.done.output,
                           on_upload_progress, j, &abort_code, err, sizeof err);
    close(fd);
    if (r < 0)
        return fail_xfer(j, r, abort_code, "output upload", err);
    progress(j, DCV_PHASE_UPLOAD, 100, NULL, 1);
    l.done.fence = j->spec.fence;
    l.done.frames = res->frames >= 0 ? res->frames : -1;
    l.done.elapsed_ms = (int64_t)(dcv_mono_ms() - j->started_ms);
    emit(&l);
    return 0;
}

/* ---- library rules ------------------------------------------------------------ */

/* A time range cuts a piece out: that is no replacement for the source, so
 * the rules that choose between the two do not apply. */
static int rules_apply(const struct job *j, const char *rule)
{
    if (j->prof.start_us <= 0 && j->prof.duration_us <= 0)
        return 1;
    dcv_log(DCV_LOG_INFO, COMP, "%s ignored: the profile encodes a time range", rule);
    return 0;
}

/* DONE without an output: the source stays the result (protocol DONE.outcome). */
static int done_without_output(struct job *j, int outcome, const char *note)
{
    struct dcv_jobline l = {.kind = DCV_JOBLINE_DONE};

    l.done.fence = j->spec.fence;
    l.done.has_output = 0;
    l.done.outcome = outcome;
    dcv_text_sanitize(l.done.note, sizeof l.done.note, note);
    l.done.frames = -1;
    l.done.elapsed_ms = (int64_t)(dcv_mono_ms() - j->started_ms);
    dcv_log(DCV_LOG_INFO, COMP, "%s, no output: %s", dcv_proto_outcome_name(outcome), note);
    emit(&l);
    return 0;
}

/* skip-if-target-met: 1 when the job is done (skipped), 0 to encode. */
static int rule_skip(struct job *j)
{
    char note[512];

    if (!j->prof.skip_if_target_met || !rules_apply(j, "skip-if-target-met"))
        return 0;
    if (dcv_rule_target_met(&j->src, &j->prof, note, sizeof note)) {
        done_without_output(j, DCV_OUTCOME_SKIPPED, note);
        return 1;
    }
    dcv_log(DCV_LOG_INFO, COMP, "skip-if-target-met: encoding: %s", note);
    return 0;
}

/* keep-original-if-larger: 1 when the job is done (original kept). */
static int rule_keep(struct job *j)
{
    struct stat sb;
    char note[512];

    if (!j->prof.keep_original_if_larger || !rules_apply(j, "keep-original-if-larger"))
        return 0;
    if (stat(j->output_path, &sb) != 0)
        return 0; /* verify says what is wrong with it */
    if (dcv_rule_keep_original(j->src_size, (int64_t)sb.st_size, note, sizeof note)) {
        done_without_output(j, DCV_OUTCOME_KEPT, note);
        return 1;
    }
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
    if (rule_skip(j))
        return 0;
    if (choose_and_accept(j) < 0)
        return -1;
    if (encode(j, &res) < 0)
        return -1;
    dcv_log(DCV_LOG_INFO, COMP, "encoded %" PRId64 " frames via %s (%s) in %.2f s (%.1f fps)",
            res.frames, res.encoder, res.plugin, res.elapsed_s, res.fps);
    if (g_cancel)
        return fail_cancelled(j, "encode");
    /* A larger output is discarded whatever its state: no need to verify it. */
    if (rule_keep(j))
        return 0;
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
