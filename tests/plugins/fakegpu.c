/*
 * fakegpu: a test-only encoder plugin (built for `make check`, never
 * installed) that presents itself as one hardware encoder, so the GPU
 * scheduling paths can be driven end to end on a machine without a GPU.
 *
 * It really encodes: H.264 through libx264 and plugins/common, exactly like
 * enc-x264 (always at the fastest preset: a test farm runs several of these
 * sessions on two cores). What makes it a "GPU":
 *   - its device is flagged DCV_CAP_HARDWARE (hw_type other), with the
 *     device id, name and session limit from the configuration;
 *   - sessions are counted across PROCESSES, the way a driver counts them:
 *     open() takes a non-blocking flock on one of STATE_DIR/slot.0 ..
 *     slot.M-1 (M = real_sessions) and returns -EBUSY when every one is
 *     held; close() (or the death of the process) releases it. Two workers
 *     configured with the same state_dir therefore share one "GPU";
 *   - real_sessions may be set below the reported `sessions`, so the limit
 *     the coordinator believes is too high and an open fails with -EBUSY,
 *     like NVENC's per-machine cap on consumer cards;
 *   - fps throttles the encode to at most that many frames per second, so
 *     tests can make jobs overlap for a while and give two "GPUs" different
 *     speeds for the startup benchmark.
 * Every open, close and refused open is appended to STATE_DIR/events, one
 * line per event written with one write() on an O_APPEND descriptor:
 *   open <device_id> <pid> <slot> <CLOCK_REALTIME ms>
 *   close <device_id> <pid> <slot> <ms>
 *   busy <device_id> <pid> - <ms>
 * The close line is written before the slot is released, so in file order
 * the number of open sessions never goes above what was really granted.
 *
 * Configuration, plugins.fakegpu { ... } (or plugins.d/fakegpu.conf):
 *   device_id     = "GPU-fake-0";  physical identity (sessions are shared by it)
 *   name          = "Fake GPU";    device name
 *   sessions      = 2;             reported max_sessions (source probed), 0 = unlimited
 *   scope         = "device";      "device" or "host"
 *   real_sessions = 2;             the hidden real limit (default: sessions)
 *   fps           = 0;             throttle in frames per second, 0 = none
 *   state_dir     = "/abs/dir";    slot locks and the events file; without
 *                                  it sessions are not limited or logged
 *   hold_file     = "/abs/file";   open waits while this file exists (a
 *                                  test's gate: e.g. a startup benchmark
 *                                  that cannot end until the test says so)
 *   stall_file    = "/abs/file";   the frame after the first stall_at ones
 *   stall_at      = 0;             waits while this file exists: an encode
 *                                  that stops moving until the test says so
 *                                  (the coordinator's stall detector)
 */

#include "build-config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include "enccaps.h"
#include "encplugin.h"
#include "encutil.h"

#define FG_MAX_SLOTS 64

struct fg_conf {
    char device_id[128];
    char name[128];
    uint32_t sessions;
    uint32_t scope; /* enum dcv_session_scope */
    uint32_t real_sessions;
    double fps;
    char state_dir[PATH_MAX];
    char hold_file[PATH_MAX];
    char stall_file[PATH_MAX];
    uint64_t stall_at;
};

struct fg_session {
    void *inner; /* the libdcvenc session behind dcvenc_encoder_ops */
    const struct fg_conf *conf;
    int lock_fd; /* holds the flock on slot.N; -1 without a state_dir */
    int slot;
    uint64_t t0_ns;  /* CLOCK_MONOTONIC at open: the throttle's origin */
    uint64_t frames; /* frames sent so far (counted for the throttle) */
    uint64_t sent;   /* frames sent so far */
};

static const struct dcvenc_codec_desc fg_codecs[] = {
    {"h264", "libx264", 4096, 4096},
    {NULL, NULL, 0, 0},
};

static void fg_fini(struct dcvenc_ctx *ctx);

/* To libdcvenc this is a software plugin (no probe hook: its sessions are
 * plain libx264 ones); the hardware face is fg_op_probe below. */
static const struct dcvenc_desc fg_desc = {
    .name = "fakegpu",
    .family = &dcvenc_family_x264,
    .codecs = fg_codecs,
    .fini = fg_fini,
};

static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void event(const struct fg_conf *c, const char *what, int slot)
{
    char path[PATH_MAX + 16], line[512], slot_s[16] = "-";
    struct timespec ts;
    int fd, n;

    if (!c->state_dir[0])
        return;
    clock_gettime(CLOCK_REALTIME, &ts);
    if (slot >= 0)
        snprintf(slot_s, sizeof slot_s, "%d", slot);
    n = snprintf(line, sizeof line, "%s %s %ld %s %lld\n", what, c->device_id, (long)getpid(),
                 slot_s, (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
    snprintf(path, sizeof path, "%s/events", c->state_dir);
    fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
        return;
    /* One write() per line: O_APPEND keeps lines of concurrent processes whole. */
    if (write(fd, line, (size_t)n) != n) {
        /* nothing to do: a test reading the log will notice */
    }
    close(fd);
}

/* ---- configuration --------------------------------------------------------- */

static int read_conf(struct dcvenc_ctx *ctx, struct fg_conf *c, char *err, size_t errlen)
{
    const char *s;
    int64_t v;
    double d;
    int rc;

    snprintf(c->device_id, sizeof c->device_id, "GPU-fake-0");
    snprintf(c->name, sizeof c->name, "Fake GPU");
    c->sessions = 2;
    c->scope = DCV_SCOPE_PER_DEVICE;
    if ((rc = dcvenc_cfg_str(ctx, "device_id", &s, err, errlen)) < 0)
        return rc;
    if (rc && (!*s || strpbrk(s, " \t\r\n") || dcvenc_strlcpy(c->device_id, s, sizeof c->device_id)))
        return dcvenc_err(err, errlen, -EINVAL,
                          "plugins.fakegpu.device_id: expected 1..127 characters without spaces");
    if ((rc = dcvenc_cfg_str(ctx, "name", &s, err, errlen)) < 0)
        return rc;
    if (rc)
        dcvenc_strlcpy(c->name, s, sizeof c->name);
    if ((rc = dcvenc_cfg_int(ctx, "sessions", 0, FG_MAX_SLOTS, &v, err, errlen)) < 0)
        return rc;
    if (rc)
        c->sessions = (uint32_t)v;
    c->real_sessions = c->sessions;
    if ((rc = dcvenc_cfg_int(ctx, "real_sessions", 0, FG_MAX_SLOTS, &v, err, errlen)) < 0)
        return rc;
    if (rc)
        c->real_sessions = (uint32_t)v;
    if ((rc = dcvenc_cfg_str(ctx, "scope", &s, err, errlen)) < 0)
        return rc;
    if (rc && strcmp(s, "device") == 0)
        c->scope = DCV_SCOPE_PER_DEVICE;
    else if (rc && strcmp(s, "host") == 0)
        c->scope = DCV_SCOPE_PER_HOST;
    else if (rc)
        return dcvenc_err(err, errlen, -EINVAL,
                          "plugins.fakegpu.scope: expected \"device\" or \"host\", got \"%s\"", s);
    /* fps = 25 or fps = 12.5 */
    rc = dcvenc_cfg_int(ctx, "fps", 0, 100000, &v, err, errlen);
    if (rc > 0) {
        c->fps = (double)v;
    } else if (rc < 0 && ctx->host.cfg_get_double &&
               ctx->host.cfg_get_double(ctx->cfg, "fps", &d) == 0) {
        if (!(d >= 0 && d <= 100000))
            return dcvenc_err(err, errlen, -EINVAL, "plugins.fakegpu.fps = %g is outside 0..100000",
                              d);
        c->fps = d;
    } else if (rc < 0) {
        return rc;
    }
    if ((rc = dcvenc_cfg_str(ctx, "state_dir", &s, err, errlen)) < 0)
        return rc;
    if (rc && (s[0] != '/' || dcvenc_strlcpy(c->state_dir, s, sizeof c->state_dir)))
        return dcvenc_err(err, errlen, -EINVAL,
                          "plugins.fakegpu.state_dir: expected an absolute path, got \"%s\"", s);
    if ((rc = dcvenc_cfg_str(ctx, "hold_file", &s, err, errlen)) < 0)
        return rc;
    if (rc && (s[0] != '/' || dcvenc_strlcpy(c->hold_file, s, sizeof c->hold_file)))
        return dcvenc_err(err, errlen, -EINVAL,
                          "plugins.fakegpu.hold_file: expected an absolute path, got \"%s\"", s);
    if ((rc = dcvenc_cfg_str(ctx, "stall_file", &s, err, errlen)) < 0)
        return rc;
    if (rc && (s[0] != '/' || dcvenc_strlcpy(c->stall_file, s, sizeof c->stall_file)))
        return dcvenc_err(err, errlen, -EINVAL,
                          "plugins.fakegpu.stall_file: expected an absolute path, got \"%s\"", s);
    if ((rc = dcvenc_cfg_int(ctx, "stall_at", 0, 1000000000, &v, err, errlen)) < 0)
        return rc;
    if (rc)
        c->stall_at = (uint64_t)v;
    return 0;
}

static int fg_init(const struct dcv_host_api *host, const struct dcv_config *cfg, void **pctx,
                   char *err, size_t errlen)
{
    struct dcvenc_ctx *ctx;
    struct fg_conf *c;
    int rc = dcvenc_plugin_init(&fg_desc, host, cfg, pctx, err, errlen);

    if (rc < 0)
        return rc;
    ctx = *pctx;
    c = calloc(1, sizeof *c);
    if (!c) {
        dcvenc_plugin_fini(ctx);
        *pctx = NULL;
        return dcvenc_err(err, errlen, -ENOMEM, "out of memory");
    }
    ctx->priv = c;
    if ((rc = read_conf(ctx, c, err, errlen)) < 0) {
        dcvenc_plugin_fini(ctx); /* frees priv through fg_fini */
        *pctx = NULL;
        return rc;
    }
    dcvenc_log(ctx, DCV_LOG_DEBUG, "%s: sessions %u (real %u), fps %g, state_dir %s",
               c->device_id, c->sessions, c->real_sessions, c->fps,
               c->state_dir[0] ? c->state_dir : "(none)");
    return 0;
}

static void fg_fini(struct dcvenc_ctx *ctx)
{
    free(ctx->priv);
    ctx->priv = NULL;
}

/* ---- probe ----------------------------------------------------------------- */

static int fg_probe(struct dcvenc_ctx *ctx, uint32_t index, struct dcv_device_caps *caps)
{
    const struct fg_conf *c = ctx->priv;
    struct dcv_codec_caps *cc = &caps->codecs[0];

    if (index > 0)
        return 0;
    caps->hw_type = DCV_HW_OTHER;
    dcvenc_strlcpy(caps->device_id, c->device_id, sizeof caps->device_id);
    dcvenc_strlcpy(caps->device_name, c->name, sizeof caps->device_name);
    if (dcvenc_codec_caps(cc, &dcvenc_family_x264, "h264", "libx264", 4096, 4096) < 0 ||
        cc->pix_fmts[0] < 0) {
        memset(cc, 0, sizeof *cc);
        dcvenc_caps_unavailable(caps, "libx264 missing from this FFmpeg build");
        return 1;
    }
    /* Its own encoder name, so a job can ask for it (and never gets it by
     * asking for libx264); open() maps it back. */
    dcvenc_strlcpy(cc->encoder, "h264_fakegpu", sizeof cc->encoder);
    caps->n_codecs = 1;
    if (cc->bit_depths & (1u << 10))
        caps->flags |= DCV_CAP_TEN_BIT;
    caps->flags |= DCV_CAP_AVAILABLE | DCV_CAP_HARDWARE;
    caps->max_sessions = c->sessions;
    caps->max_sessions_scope = c->sessions ? c->scope : DCV_SCOPE_UNLIMITED;
    caps->max_sessions_source = c->sessions ? DCV_LIMIT_PROBED : DCV_LIMIT_NONE;
    return 1;
}

static int fg_op_probe(void *pctx, uint32_t index, struct dcv_device_caps *out)
{
    struct dcvenc_ctx *ctx = pctx;
    struct dcv_device_caps full;
    int rc;

    if (!ctx || !out || !DCV_HAS_FIELD(out, struct dcv_device_caps, unavailable_reason))
        return -EINVAL;
    dcvenc_caps_init(&full);
    rc = fg_probe(ctx, index, &full);
    if (rc <= 0)
        return rc;
    return dcvenc_caps_out(out, &full);
}

/* ---- sessions -------------------------------------------------------------- */

/* A free slot of the M real ones: its locked descriptor and index, or -1. */
static int take_slot(const struct fg_conf *c, int *slot)
{
    for (uint32_t i = 0; i < c->real_sessions; i++) {
        char path[PATH_MAX + 16];
        int fd;

        snprintf(path, sizeof path, "%s/slot.%u", c->state_dir, i);
        fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
        if (fd < 0)
            continue;
        if (flock(fd, LOCK_EX | LOCK_NB) == 0) {
            *slot = (int)i;
            return fd;
        }
        close(fd);
    }
    return -1;
}

static int fg_open(void *pctx, const struct dcv_enc_params *p, void **session, char *err,
                   size_t errlen)
{
    struct dcvenc_ctx *ctx = pctx;
    const struct fg_conf *c;
    struct dcv_enc_params prm;
    struct fg_session *s;
    int rc;

    if (!ctx || !p || !session || p->struct_size < offsetof(struct dcv_enc_params, reserved))
        return dcvenc_err(err, errlen, -EINVAL, "open: invalid arguments");
    c = ctx->priv;
    while (c->hold_file[0] && access(c->hold_file, F_OK) == 0)
        nanosleep(&(struct timespec){0, 20 * 1000 * 1000}, NULL);
    if (p->encoder[0] && strcmp(p->encoder, "h264_fakegpu") != 0)
        return dcvenc_err(err, errlen, -ENOTSUP, "fakegpu encodes with h264_fakegpu, not '%s'",
                          p->encoder);
    s = calloc(1, sizeof *s);
    if (!s)
        return dcvenc_err(err, errlen, -ENOMEM, "out of memory");
    s->conf = c;
    s->lock_fd = -1;
    s->slot = -1;
    if (c->state_dir[0]) {
        s->lock_fd = take_slot(c, &s->slot);
        if (s->lock_fd < 0) {
            event(c, "busy", -1);
            free(s);
            return dcvenc_err(err, errlen, -EBUSY, "fakegpu %s: all %u encoder sessions in use",
                              c->device_id, c->real_sessions);
        }
    }
    /* The real encoder behind the name, at the fastest preset. */
    memset(&prm, 0, sizeof prm);
    memcpy(&prm, p, p->struct_size < sizeof prm ? p->struct_size : sizeof prm);
    prm.struct_size = sizeof prm;
    dcvenc_strlcpy(prm.encoder, "libx264", sizeof prm.encoder);
    prm.preset = DCV_PRESET_MIN;
    rc = dcvenc_encoder_ops.open(ctx, &prm, &s->inner, err, errlen);
    if (rc < 0) {
        if (s->lock_fd >= 0)
            close(s->lock_fd);
        free(s);
        return rc;
    }
    event(c, "open", s->slot);
    s->t0_ns = mono_ns();
    *session = s;
    return 0;
}

static void fg_close(void *session)
{
    struct fg_session *s = session;

    if (!s)
        return;
    dcvenc_encoder_ops.close(s->inner);
    if (s->lock_fd >= 0) {
        /* Logged before the slot is free: see the file comment. */
        event(s->conf, "close", s->slot);
        close(s->lock_fd);
    }
    free(s);
}

static int fg_stream_params(void *session, struct AVCodecParameters *par,
                            struct dcv_rational *time_base)
{
    struct fg_session *s = session;
    return dcvenc_encoder_ops.get_stream_params(s->inner, par, time_base);
}

/* Frame n (counting from 1) goes in no earlier than n/fps after open. */
static void throttle(struct fg_session *s)
{
    uint64_t due, now;

    if (s->conf->fps <= 0)
        return;
    s->frames++;
    due = s->t0_ns + (uint64_t)((double)s->frames * 1e9 / s->conf->fps);
    while ((now = mono_ns()) < due) {
        struct timespec ts = {(time_t)((due - now) / 1000000000ull),
                              (long)((due - now) % 1000000000ull)};
        nanosleep(&ts, NULL);
    }
}

static int fg_send(void *session, const struct AVFrame *frame)
{
    struct fg_session *s = session;

    if (frame) {
        throttle(s);
        if (++s->sent > s->conf->stall_at && s->conf->stall_file[0]) {
            uint64_t t = mono_ns();
            while (access(s->conf->stall_file, F_OK) == 0)
                nanosleep(&(struct timespec){0, 20 * 1000 * 1000}, NULL);
            /* a pause: the throttle's pace goes on from here, not ahead */
            s->t0_ns += mono_ns() - t;
        }
    }
    return dcvenc_encoder_ops.send_frame(s->inner, frame);
}

static int fg_receive(void *session, struct AVPacket *pkt)
{
    struct fg_session *s = session;
    return dcvenc_encoder_ops.receive_packet(s->inner, pkt);
}

static const char *fg_last_error(void *session)
{
    struct fg_session *s = session;
    return dcvenc_encoder_ops.last_error(s->inner);
}

static struct dcv_encoder_ops fg_ops; /* filled from dcvenc_encoder_ops by the query */

static const struct dcv_plugin_header fg_header = {
    .magic = DCV_PLUGIN_MAGIC,
    .abi_major = DCV_ABI_MAJOR,
    .abi_minor = DCV_ABI_MINOR,
    .struct_size = sizeof(struct dcv_plugin_header),
    .kind = DCV_PLUGIN_ENCODER,
    .avcodec_major = LIBAVCODEC_VERSION_MAJOR,
    .avutil_major = LIBAVUTIL_VERSION_MAJOR,
    .name = "fakegpu",
    .version = PACKAGE_VERSION,
    .license = "GPL-2.0-or-later",
    .description = "TEST ONLY: H.264 through libx264 posing as a GPU with limited sessions",
    .init = fg_init,
    .fini = dcvenc_plugin_fini,
    .ops = &fg_ops,
};

DCV_EXPORT const struct dcv_plugin_header *dcv_plugin_query_v1(void)
{
    /* libdcvenc's ops with the hardware face put on: our probe, and the
     * session calls wrapped around its software sessions. */
    fg_ops = dcvenc_encoder_ops;
    fg_ops.probe = fg_op_probe;
    fg_ops.open = fg_open;
    fg_ops.close = fg_close;
    fg_ops.get_stream_params = fg_stream_params;
    fg_ops.send_frame = fg_send;
    fg_ops.receive_packet = fg_receive;
    fg_ops.last_error = fg_last_error;
    fg_ops.reconfigure = NULL;
    return &fg_header;
}
