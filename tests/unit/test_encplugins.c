/*
 * The built encoder plugins, loaded the way the daemon loads them
 * (dlopen RTLD_NOW|RTLD_LOCAL from DISTCONV_PLUGIN_DIR, one exported
 * symbol), with a minimal host of our own: header checks, init with a
 * config table, probe, and real encodes through the x264 and x265 plugins'
 * ops, decoded again with libavcodec to prove the packets are a stream.
 * A plugin that was not built is skipped.
 */
#include <dlfcn.h>
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <libavcodec/avcodec.h>
#include <libavutil/frame.h>
#include <libavutil/log.h>
#include <libavutil/pixdesc.h>
#include <libavutil/version.h>

#include "distconv/plugin.h"
#include "tap.h"

/* ---------------------------------------------------------- fake host */

struct dcv_config {
    const char *plugin;
};

enum { T_INT, T_STR };
static const struct cfg_entry {
    const char *plugin, *key;
    int type;
    int64_t i;
    const char *s;
} cfg_table[] = {
    {"x264", "threads", T_INT, 2, NULL},          {"x264", "x264_params", T_STR, 0, "aq-mode=1"},
    {"x265", "x265_params", T_STR, 0, "pools=2"}, {"x265", "max_sessions", T_INT, 1, NULL},
    {"bad", "threads", T_STR, 0, "four"},         {"badtune", "tune", T_STR, 0, "cartoon"},
    {"vaapi-dev", "device", T_STR, 0, "/nonexistent/renderD200"},
    {"vaapi-badpath", "device", T_STR, 0, "renderD128"},
};

static char log_text[16384];

static void fake_log(void *host_ctx, int level, const char *fmt, ...)
{
    size_t used = strlen(log_text);
    va_list ap;

    (void)host_ctx;
    if (used + 2 >= sizeof log_text)
        return;
    used += (size_t)snprintf(log_text + used, sizeof log_text - used, "[%d] ", level);
    if (used >= sizeof log_text)
        return;
    va_start(ap, fmt);
    vsnprintf(log_text + used, sizeof log_text - used, fmt, ap);
    va_end(ap);
    used = strlen(log_text);
    if (used + 1 < sizeof log_text)
        strcat(log_text, "\n");
}

static const struct cfg_entry *cfg_find(const struct dcv_config *cfg, const char *key)
{
    for (size_t i = 0; cfg && i < sizeof cfg_table / sizeof cfg_table[0]; i++)
        if (!strcmp(cfg_table[i].plugin, cfg->plugin) && !strcmp(cfg_table[i].key, key))
            return &cfg_table[i];
    return NULL;
}

static int fake_int(const struct dcv_config *cfg, const char *path, int64_t *out)
{
    const struct cfg_entry *e = cfg_find(cfg, path);
    if (!e)
        return -ENOENT;
    if (e->type != T_INT)
        return -EINVAL;
    *out = e->i;
    return 0;
}

static int fake_str(const struct dcv_config *cfg, const char *path, const char **out)
{
    const struct cfg_entry *e = cfg_find(cfg, path);
    if (!e)
        return -ENOENT;
    if (e->type != T_STR)
        return -EINVAL;
    *out = e->s;
    return 0;
}

static int fake_bool(const struct dcv_config *cfg, const char *path, int *out)
{
    (void)cfg, (void)path, (void)out;
    return -ENOENT;
}

static int fake_double(const struct dcv_config *cfg, const char *path, double *out)
{
    (void)cfg, (void)path, (void)out;
    return -ENOENT;
}

static uint64_t fake_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static const struct dcv_host_api host = {
    .struct_size = sizeof(struct dcv_host_api),
    .abi_minor = DCV_ABI_MINOR,
    .host_ctx = NULL,
    .log = fake_log,
    .cfg_get_int = fake_int,
    .cfg_get_str = fake_str,
    .cfg_get_bool = fake_bool,
    .cfg_get_double = fake_double,
    .now_ns = fake_now,
};

/* ---------------------------------------------------------- helpers */

struct loaded {
    const struct dcv_plugin_header *hdr;
    const struct dcv_encoder_ops *ops;
    void *dl;
    void *ctx;
};

static char err[512];

static struct dcv_enc_params params(const char *codec, int pix_fmt, int w, int h)
{
    struct dcv_enc_params p;

    memset(&p, 0, sizeof p);
    p.struct_size = sizeof p;
    snprintf(p.codec, sizeof p.codec, "%s", codec);
    p.width = w;
    p.height = h;
    p.pix_fmt = pix_fmt;
    p.time_base = (struct dcv_rational){1, 25};
    p.framerate = (struct dcv_rational){25, 1};
    p.sample_aspect_ratio = (struct dcv_rational){1, 1};
    p.color_range = AVCOL_RANGE_MPEG;
    p.color_primaries = AVCOL_PRI_BT709;
    p.color_trc = AVCOL_TRC_BT709;
    p.colorspace = AVCOL_SPC_BT709;
    p.chroma_location = AVCHROMA_LOC_LEFT;
    p.rc_mode = DCV_RC_CRF;
    p.quality = 30;
    p.preset = 1; /* fastest: keep the suite quick */
    p.max_b_frames = -1;
    p.flags = DCV_ENC_GLOBAL_HEADER;
    return p;
}

/* A moving gradient, so the encoder has something to code. */
static AVFrame *make_frame(int pix_fmt, int w, int h, int n)
{
    const AVPixFmtDescriptor *d = av_pix_fmt_desc_get(pix_fmt);
    AVFrame *f = av_frame_alloc();
    int deep = d->comp[0].depth > 8;

    if (!f)
        tap_bail("out of memory");
    f->format = pix_fmt;
    f->width = w;
    f->height = h;
    if (av_frame_get_buffer(f, 0) < 0)
        tap_bail("av_frame_get_buffer failed");
    for (int plane = 0; plane < 3; plane++) {
        int pw = plane ? AV_CEIL_RSHIFT(w, d->log2_chroma_w) : w;
        int ph = plane ? AV_CEIL_RSHIFT(h, d->log2_chroma_h) : h;
        for (int y = 0; y < ph; y++) {
            uint8_t *row = f->data[plane] + (ptrdiff_t)y * f->linesize[plane];
            for (int x = 0; x < pw; x++) {
                int v = plane ? 128 : (16 + ((x + y + 4 * n) % 200));
                if (deep)
                    ((uint16_t *)row)[x] = (uint16_t)(v << 2);
                else
                    row[x] = (uint8_t)v;
            }
        }
    }
    f->pts = n;
    return f;
}

static int load(const char *dir, const char *file, struct loaded *L)
{
    char path[1024];
    struct stat st;
    dcv_plugin_query_fn q;
    void *sym;

    memset(L, 0, sizeof *L);
    snprintf(path, sizeof path, "%s/%s.so", dir, file);
    if (stat(path, &st) != 0)
        return 0;
    L->dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!tap_ok(L->dl != NULL, "%s: dlopen", file)) {
        tap_diag("%s", dlerror());
        return -1;
    }
    sym = dlsym(L->dl, DCV_PLUGIN_QUERY_SYMBOL);
    memcpy(&q, &sym, sizeof q);
    if (!tap_ok(sym != NULL, "%s: exports %s", file, DCV_PLUGIN_QUERY_SYMBOL))
        return -1;
    L->hdr = q();
    if (!tap_ok(L->hdr != NULL, "%s: query returns a header", file))
        return -1;
    L->ops = L->hdr->ops;
    return 1;
}

static void check_header(const char *file, const char *name, const struct loaded *L)
{
    const struct dcv_plugin_header *h = L->hdr;
    const struct dcv_encoder_ops *o = L->ops;

    TAP_OK(h->magic == DCV_PLUGIN_MAGIC && h->abi_major == DCV_ABI_MAJOR &&
               h->abi_minor <= DCV_ABI_MINOR && h->struct_size >= sizeof *h && h->flags == 0,
           "%s: magic, ABI %u.%u, header size", file, h->abi_major, h->abi_minor);
    TAP_OK(h->kind == DCV_PLUGIN_ENCODER && h->avcodec_major == LIBAVCODEC_VERSION_MAJOR &&
               h->avutil_major == LIBAVUTIL_VERSION_MAJOR,
           "%s: encoder built against libavcodec %u / libavutil %u", file, h->avcodec_major,
           h->avutil_major);
    TAP_IS_STR(h->name, name, "plugin name");
    TAP_OK(h->version && h->version[0] && h->license && h->license[0] && h->description &&
               h->description[0],
           "%s: version, license and description are set", file);
    TAP_OK(h->init && h->fini && o && o->struct_size >= sizeof *o && o->probe && o->open &&
               o->get_stream_params && o->send_frame && o->receive_packet && o->close &&
               o->last_error,
           "%s: init, fini and every required op", file);
    TAP_OK(!dlsym(L->dl, "dcvenc_encoder_ops") && !dlsym(L->dl, "dcvenc_map") &&
               !dlsym(L->dl, "dcvenc_family_x264"),
           "%s: nothing of the helper library is exported", file);
}

static double secs_since(const struct timespec *t0)
{
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (double)(t1.tv_sec - t0->tv_sec) + (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

static int fmt_listed(const struct dcv_codec_caps *cc, int fmt)
{
    for (int i = 0; i < DCV_MAX_PIX_FMTS && cc->pix_fmts[i] >= 0; i++)
        if (cc->pix_fmts[i] == fmt)
            return 1;
    return 0;
}

/* ---------------------------------------------------------- encoding */

struct result {
    int packets, keys, first_key, decoded, decoded_fmt, drained, after_drain;
    char after_drain_err[256];
    enum AVCodecID codec_id;
    int extradata, width, height;
    struct dcv_rational tb;
};

/* Decode the packets again: proof they form a valid stream. */
static void decode_all(const AVCodecParameters *par, AVPacket **pkts, int n, struct result *res)
{
    const AVCodec *dec = avcodec_find_decoder(par->codec_id);
    AVCodecContext *ctx = dec ? avcodec_alloc_context3(dec) : NULL;
    AVFrame *f = av_frame_alloc();

    res->decoded = -1;
    if (!ctx || !f || avcodec_parameters_to_context(ctx, par) < 0 ||
        avcodec_open2(ctx, dec, NULL) < 0)
        goto out;
    res->decoded = 0;
    for (int i = 0; i <= n; i++) {
        if (avcodec_send_packet(ctx, i < n ? pkts[i] : NULL) < 0)
            break;
        while (avcodec_receive_frame(ctx, f) == 0) {
            res->decoded++;
            res->decoded_fmt = f->format;
            av_frame_unref(f);
        }
    }
out:
    av_frame_free(&f);
    avcodec_free_context(&ctx);
}

static int encode(const struct loaded *L, const struct dcv_enc_params *p, int nframes,
                  struct result *res)
{
    void *s = NULL;
    AVPacket *pkts[64] = {0};
    AVCodecParameters *par = avcodec_parameters_alloc();
    int rc, n = 0;

    memset(res, 0, sizeof *res);
    rc = L->ops->open(L->ctx, p, &s, err, sizeof err);
    if (rc < 0) {
        avcodec_parameters_free(&par);
        return rc;
    }
    for (int i = 0; i <= nframes; i++) {
        AVFrame *f = i < nframes ? make_frame(p->pix_fmt, p->width, p->height, i) : NULL;
        rc = L->ops->send_frame(s, f);
        av_frame_free(&f);
        if (rc < 0) {
            tap_diag("send_frame: %d %s", rc, L->ops->last_error(s));
            break;
        }
        for (;;) {
            AVPacket *pkt = av_packet_alloc();
            rc = L->ops->receive_packet(s, pkt);
            if (rc < 0) {
                av_packet_free(&pkt);
                break;
            }
            if (n == 0)
                res->first_key = !!(pkt->flags & AV_PKT_FLAG_KEY);
            res->keys += !!(pkt->flags & AV_PKT_FLAG_KEY);
            if (n < 64)
                pkts[n++] = pkt;
            else
                av_packet_free(&pkt);
            res->packets++;
        }
        if (rc == -ENODATA) {
            res->drained = 1;
            break;
        }
        if (rc != -EAGAIN) {
            tap_diag("receive_packet: %d %s", rc, L->ops->last_error(s));
            break;
        }
    }
    if (L->ops->get_stream_params(s, par, &res->tb) == 0) {
        res->codec_id = par->codec_id;
        res->extradata = par->extradata_size;
        res->width = par->width;
        res->height = par->height;
        decode_all(par, pkts, n, res);
    }
    /* after draining, more frames are a caller error */
    if (res->drained) {
        AVFrame *f = make_frame(p->pix_fmt, p->width, p->height, 99);
        res->after_drain = L->ops->send_frame(s, f);
        snprintf(res->after_drain_err, sizeof res->after_drain_err, "%s", L->ops->last_error(s));
        av_frame_free(&f);
    }
    L->ops->close(s);
    for (int i = 0; i < n; i++)
        av_packet_free(&pkts[i]);
    avcodec_parameters_free(&par);
    return 0;
}

static void test_encode(const char *name, const struct loaded *L, const char *codec,
                        enum AVCodecID id, int pix_fmt, int ten_bit_listed)
{
    struct dcv_enc_params p = params(codec, pix_fmt, 160, 90);
    struct result r;
    const char *fmt = av_get_pix_fmt_name(pix_fmt);
    int rc;

    if (pix_fmt == AV_PIX_FMT_YUV420P10LE && !ten_bit_listed) {
        tap_skip("this encoder build is 8-bit only", "10-bit encode");
        return;
    }
    rc = encode(L, &p, 10, &r);
    if (!tap_ok(rc == 0, "%s: open %s 160x90 %s", name, codec, fmt)) {
        tap_diag("rc %d: %s", rc, err);
        return;
    }
    TAP_IS_INT(r.packets, 10, "10 frames -> 10 packets");
    TAP_OK(r.first_key, "%s %s: the first packet is a keyframe", name, fmt);
    TAP_OK(r.drained, "%s %s: draining ends with -ENODATA", name, fmt);
    TAP_OK(r.codec_id == id && r.width == 160 && r.height == 90,
           "%s %s: stream params say %s 160x90", name, fmt, avcodec_get_name(id));
    TAP_OK(r.extradata > 0, "%s %s: GLOBAL_HEADER gives extradata (%d bytes)", name, fmt,
           r.extradata);
    TAP_OK(r.tb.num == 1 && r.tb.den == 25, "%s %s: packet time base 1/25", name, fmt);
    TAP_OK(r.decoded == 10 && r.decoded_fmt == pix_fmt, "%s %s: decodes to 10 %s frames", name, fmt,
           fmt);
    if (r.decoded != 10 || r.decoded_fmt != pix_fmt)
        tap_diag("decoded %d frames, format %d", r.decoded, r.decoded_fmt);
    TAP_OK(r.after_drain == -EINVAL && r.after_drain_err[0],
           "%s %s: a frame after draining is -EINVAL (%s)", name, fmt, r.after_drain_err);
}

static void expect_open_fail(const struct loaded *L, const struct dcv_enc_params *p, int want,
                             const char *needle, const char *what)
{
    void *s = (void *)&err; /* sentinel: must stay untouched */
    int rc;

    err[0] = '\0';
    rc = L->ops->open(L->ctx, p, &s, err, sizeof err);
    if (!tap_ok(rc == want && s == (void *)&err, "%s -> %s", what, strerror(-want)))
        tap_diag("rc %d (%s): %s", rc, strerror(-rc), err);
    if (needle)
        TAP_HAS_STR(err, needle, "... and the message says so");
    if (rc == 0 && s != (void *)&err)
        L->ops->close(s);
}

static void test_bad_params(const struct loaded *L)
{
    struct dcv_enc_params p;
    struct result r;

    p = params("h264", AV_PIX_FMT_YUV420P, 161, 90);
    expect_open_fail(L, &p, -EINVAL, "multiple of 2", "odd width with yuv420p");
    p = params("h264", AV_PIX_FMT_RGB24, 160, 90);
    expect_open_fail(L, &p, -ENOTSUP, "rgb24", "rgb24 input");
    p = params("h264", AV_PIX_FMT_YUV420P, 160, 90);
    p.quality = 99;
    expect_open_fail(L, &p, -EINVAL, "crf 99", "crf 99");
    p = params("h264", AV_PIX_FMT_YUV420P, 160, 90);
    snprintf(p.extra_opts, sizeof p.extra_opts, "nosuchopt=1");
    expect_open_fail(L, &p, -EINVAL, "nosuchopt", "an unknown extra_opts key");
    p = params("h264", AV_PIX_FMT_YUV420P, 160, 90);
    snprintf(p.extra_opts, sizeof p.extra_opts, "crf");
    expect_open_fail(L, &p, -EINVAL, "extra_opts", "malformed extra_opts");
    p = params("hevc", AV_PIX_FMT_YUV420P, 160, 90);
    expect_open_fail(L, &p, -ENOTSUP, "not 'hevc'", "a codec the plugin does not encode");
    p = params("h264", AV_PIX_FMT_YUV420P, 160, 90);
    p.device_index = 1;
    expect_open_fail(L, &p, -ENODEV, NULL, "device index 1");
    p = params("h264", AV_PIX_FMT_YUV420P, 160, 90);
    p.struct_size = 16;
    expect_open_fail(L, &p, -EINVAL, "struct_size", "a params struct_size below ABI 1.0");
    p = params("h264", AV_PIX_FMT_YUV420P, 160, 90);
    p.bit_depth = 10;
    expect_open_fail(L, &p, -EINVAL, "bit_depth", "bit_depth 10 with yuv420p");

    /* extra_opts really reach the encoder: a keyframe every 3 frames */
    p = params("h264", AV_PIX_FMT_YUV420P, 160, 90);
    snprintf(p.extra_opts, sizeof p.extra_opts, "x264-params='keyint=3:min-keyint=3:scenecut=0'");
    if (tap_ok(encode(L, &p, 9, &r) == 0, "extra_opts with a quoted x264-params opens"))
        TAP_IS_INT(r.keys, 3, "... and keyint=3 gives 3 keyframes in 9 frames");
    else
        tap_diag("%s", err);

    /* a frame that does not match the session */
    {
        void *s = NULL;
        p = params("h264", AV_PIX_FMT_YUV420P, 160, 90);
        if (L->ops->open(L->ctx, &p, &s, err, sizeof err) == 0) {
            AVFrame *f = make_frame(AV_PIX_FMT_YUV420P, 320, 180, 0);
            TAP_IS_INT(L->ops->send_frame(s, f), -EINVAL, "a 320x180 frame into a 160x90 session");
            TAP_HAS_STR(L->ops->last_error(s), "does not match", "... explained by last_error");
            av_frame_free(&f);
            L->ops->close(s);
        }
    }
}

/* Every rate-control mode and the other mapped settings must be options
 * this FFmpeg's encoder really takes: open, encode a few frames, drain. */
static void test_modes(const char *name, const struct loaded *L, const char *codec)
{
    static const struct {
        const char *what;
        uint32_t rc, kbps, maxkbps, preset, flags;
        double q;
        const char *profile;
    } m[] = {
        {"default rate control", DCV_RC_DEFAULT, 0, 0, 1, 0, 0, ""},
        {"cqp 30", DCV_RC_CQP, 0, 0, 1, 0, 30, ""},
        {"vbr 300 max 600", DCV_RC_VBR, 300, 600, 1, 0, 0, ""},
        {"cbr 300", DCV_RC_CBR, 300, 0, 1, 0, 0, ""},
        {"low latency", DCV_RC_CRF, 0, 0, 1, DCV_ENC_LOW_LATENCY, 30, ""},
        {"preset 7", DCV_RC_CRF, 0, 0, 7, 0, 30, ""},
        {"explicit main profile", DCV_RC_CRF, 0, 0, 1, 0, 30, "main"},
    };

    for (size_t i = 0; i < sizeof m / sizeof m[0]; i++) {
        struct dcv_enc_params p = params(codec, AV_PIX_FMT_YUV420P, 64, 48);
        struct result r;
        int rc;
        p.rc_mode = m[i].rc;
        p.quality = m[i].q;
        p.bitrate_kbps = m[i].kbps;
        p.maxrate_kbps = m[i].maxkbps;
        p.preset = m[i].preset;
        p.flags |= m[i].flags;
        snprintf(p.profile, sizeof p.profile, "%s", m[i].profile);
        rc = encode(L, &p, 4, &r);
        if (!tap_ok(rc == 0 && r.packets == 4 && r.drained && r.decoded == 4, "%s: %s", name,
                    m[i].what))
            tap_diag("rc %d (%s) packets %d decoded %d", rc, err, r.packets, r.decoded);
    }
}

/* ---------------------------------------------------------- per plugin */

static void test_software(const char *dir, const char *file, const char *name, const char *codec,
                          const char *encoder, enum AVCodecID id)
{
    struct loaded L;
    struct dcv_config cfg = {name};
    struct dcv_device_caps caps;
    int rc, ten = 0;

    rc = load(dir, file, &L);
    if (rc == 0) {
        tap_skip("not built", file);
        return;
    }
    if (rc < 0)
        return;
    check_header(file, name, &L);
    log_text[0] = '\0';
    rc = L.hdr->init(&host, &cfg, &L.ctx, err, sizeof err);
    if (!tap_ok(rc == 0 && L.ctx, "%s: init", file)) {
        tap_diag("%d %s", rc, err);
        return;
    }
    memset(&caps, 0, sizeof caps);
    caps.struct_size = sizeof caps;
    rc = L.ops->probe(L.ctx, 0, &caps);
    TAP_IS_INT(rc, 1, "probe(0) writes an entry");
    TAP_OK((caps.flags & DCV_CAP_AVAILABLE) && !(caps.flags & DCV_CAP_HARDWARE) &&
               caps.hw_type == DCV_HW_NONE && !strcmp(caps.device_id, "cpu") && caps.n_codecs == 1,
           "%s: one available CPU device", name);
    if (caps.n_codecs == 1) {
        const struct dcv_codec_caps *cc = &caps.codecs[0];
        ten = fmt_listed(cc, AV_PIX_FMT_YUV420P10LE);
        TAP_OK(!strcmp(cc->codec, codec) && !strcmp(cc->encoder, encoder) &&
                   cc->pix_fmts[0] == AV_PIX_FMT_YUV420P && (cc->bit_depths & (1u << 8)),
               "%s: %s via %s, yuv420p first", name, codec, encoder);
        TAP_OK(!!(caps.flags & DCV_CAP_TEN_BIT) == ten && !!(cc->bit_depths & (1u << 10)) == ten,
               "%s: TEN_BIT follows yuv420p10le (%s)", name, ten ? "10-bit build" : "8-bit build");
        TAP_OK(cc->max_width >= 8192 && cc->max_height >= 8192 && cc->profiles[0],
               "%s: max %ux%u, profiles %s", name, cc->max_width, cc->max_height, cc->profiles);
    }
    TAP_IS_INT(L.ops->probe(L.ctx, 1, &caps), 0, "probe(1): no second device");
    {
        /* an older host's smaller struct: nothing past its struct_size is written */
        unsigned char buf[sizeof(struct dcv_device_caps) + 32];
        struct dcv_device_caps *c = (struct dcv_device_caps *)(void *)buf;
        size_t small = offsetof(struct dcv_device_caps, reserved);
        int clean = 1;
        memset(buf, 0xab, sizeof buf);
        memset(buf, 0, small);
        c->struct_size = (uint32_t)small;
        L.ops->probe(L.ctx, 0, c);
        for (size_t i = small; i < sizeof buf; i++)
            clean &= buf[i] == 0xab;
        TAP_OK(clean && c->struct_size == small, "%s: probe writes only the host's struct", name);
        c->struct_size = 4;
        TAP_IS_INT(L.ops->probe(L.ctx, 0, c), -EINVAL, "probe into a 4-byte struct is -EINVAL");
    }

    test_encode(name, &L, codec, id, AV_PIX_FMT_YUV420P, ten);
    test_encode(name, &L, codec, id, AV_PIX_FMT_YUV420P10LE, ten);
    test_modes(name, &L, codec);

    if (!strcmp(name, "x264"))
        test_bad_params(&L);
    if (!strcmp(name, "x265")) {
        /* the config table caps x265 at one session */
        void *a = NULL, *b = (void *)&err;
        struct dcv_enc_params p = params(codec, AV_PIX_FMT_YUV420P, 160, 90);
        TAP_OK(caps.max_sessions == 1 && caps.max_sessions_scope == DCV_SCOPE_PER_HOST &&
                   caps.max_sessions_source == DCV_LIMIT_CONFIG,
               "x265: max_sessions 1 from the config, per host");
        rc = L.ops->open(L.ctx, &p, &a, err, sizeof err);
        TAP_IS_INT(rc, 0, "x265: the first session opens");
        TAP_IS_INT(L.ops->open(L.ctx, &p, &b, err, sizeof err), -EBUSY,
                   "x265: a second session is -EBUSY");
        TAP_HAS_STR(err, "max_sessions", "... naming the setting");
        L.ops->close(a);
        rc = L.ops->open(L.ctx, &p, &a, err, sizeof err);
        TAP_IS_INT(rc, 0, "x265: after close a session opens again");
        if (rc == 0)
            L.ops->close(a);
    } else {
        TAP_OK(caps.max_sessions == 0 && caps.max_sessions_scope == DCV_SCOPE_UNLIMITED,
               "%s: no session limit by default", name);
    }
    L.hdr->fini(L.ctx);

    {
        struct dcv_config bad = {"bad"};
        void *ctx = NULL;
        rc = L.hdr->init(&host, &bad, &ctx, err, sizeof err);
        TAP_IS_INT(rc, -EINVAL, "init with threads = \"four\" fails");
        TAP_HAS_STR(err, "threads must be an integer", "... naming the key");
        if (rc == 0)
            L.hdr->fini(ctx);
    }
    {
        struct dcv_config bad = {"badtune"};
        void *ctx = NULL;
        rc = L.hdr->init(&host, &bad, &ctx, err, sizeof err);
        TAP_IS_INT(rc, -EINVAL, "init with an unknown tune fails");
        TAP_HAS_STR(err, "cartoon", "... naming it");
        if (rc == 0)
            L.hdr->fini(ctx);
    }
    {
        void *ctx = NULL;
        rc = L.hdr->init(NULL, NULL, &ctx, err, sizeof err);
        TAP_OK(rc == 0 && ctx, "init without host services or config still works");
        if (rc == 0)
            L.hdr->fini(ctx);
    }
}

static void test_hardware(const char *dir, const char *file, const char *name, int hw_type)
{
    struct loaded L;
    struct dcv_config cfg = {name};
    struct dcv_device_caps caps, first;
    struct timespec t0;
    double dt;
    int rc, entries = 0, any_avail = 0, any_codecs = 0, reasons = 1, hwdev = 1;

    rc = load(dir, file, &L);
    if (rc == 0) {
        tap_skip("not built", file);
        return;
    }
    if (rc < 0)
        return;
    check_header(file, name, &L);
    TAP_IS_INT((int)L.hdr->abi_minor, 2, "hardware plugins are built for ABI 1.2");
    rc = L.hdr->init(&host, &cfg, &L.ctx, err, sizeof err);
    if (!tap_ok(rc == 0 && L.ctx, "%s: init succeeds without hardware", file)) {
        tap_diag("%d %s", rc, err);
        return;
    }
    clock_gettime(CLOCK_MONOTONIC, &t0);
    memset(&first, 0, sizeof first);
    for (uint32_t i = 0; i < 16; i++) {
        memset(&caps, 0, sizeof caps);
        caps.struct_size = sizeof caps;
        rc = L.ops->probe(L.ctx, i, &caps);
        if (rc <= 0)
            break;
        if (i == 0)
            first = caps;
        entries++;
        if (caps.flags & DCV_CAP_AVAILABLE)
            any_avail = 1;
        if (caps.n_codecs)
            any_codecs = 1;
        if (!(caps.flags & DCV_CAP_AVAILABLE) && !caps.unavailable_reason[0])
            reasons = 0;
        /* Only a usable device offers a device string for zero copy. */
        if (!(caps.flags & DCV_CAP_AVAILABLE) && caps.n_codecs == 0 && caps.hw_device[0])
            hwdev = 0;
        tap_diag("%s device %u (%s, %s): %s", name, i, caps.device_id, caps.device_name,
                 caps.unavailable_reason);
        if (caps.hw_type != hw_type || !(caps.flags & DCV_CAP_HARDWARE))
            reasons = 0;
    }
    dt = secs_since(&t0);
    TAP_OK(rc >= 0 && entries >= 1, "%s: probe reports %d entr%s", name, entries,
           entries == 1 ? "y" : "ies");
    TAP_OK(reasons, "%s: each unavailable entry has a reason and the hw type", name);
    TAP_OK(hwdev, "%s: no zero-copy device string without hardware", name);
    if (!any_codecs) {
        TAP_OK(!any_avail, "%s: unavailable here (no hardware)", name);
        TAP_OK(dt < 1.0, "%s: without hardware the probe answers in %.3f s", name, dt);
    } else {
        tap_skip("hardware present: the probe encodes test frames", "unavailable / probe time");
        tap_skip("hardware present", "probe time");
    }
    {
        struct dcv_enc_params p = params("h264", AV_PIX_FMT_NV12, 160, 96);
        void *s = (void *)&err;
        rc = L.ops->open(L.ctx, &p, &s, err, sizeof err);
        if (!(first.flags & DCV_CAP_AVAILABLE)) {
            TAP_OK(rc == -ENODEV && s == (void *)&err,
                   "%s: open of the unavailable device is -ENODEV (%d: %s)", name, rc, err);
            TAP_HAS_STR(err, first.unavailable_reason, "... with the probe's reason");
        } else {
            tap_skip("hardware present", "open of an unavailable device");
            tap_skip("hardware present", "... reason");
            if (rc == 0)
                L.ops->close(s);
        }
        p.device_index = 15;
        s = (void *)&err;
        rc = L.ops->open(L.ctx, &p, &s, err, sizeof err);
        TAP_OK(rc == -ENODEV && s == (void *)&err && strstr(err, "no device 15"),
               "%s: open of a device past the last is -ENODEV (%s)", name, err);
    }
    L.hdr->fini(L.ctx);

    /* open() before any probe (a host that skipped it) probes itself. */
    rc = L.hdr->init(&host, &cfg, &L.ctx, err, sizeof err);
    if (rc == 0) {
        struct dcv_enc_params p = params("h264", AV_PIX_FMT_NV12, 160, 96);
        void *s = (void *)&err;
        rc = L.ops->open(L.ctx, &p, &s, err, sizeof err);
        if (!(first.flags & DCV_CAP_AVAILABLE))
            TAP_OK(rc == -ENODEV && strstr(err, first.unavailable_reason),
                   "%s: open without a probe gives the same reason", name);
        else
            tap_skip("hardware present", "open without a probe");
        if (rc == 0)
            L.ops->close(s);
        L.hdr->fini(L.ctx);
    }
}

/* plugins.vaapi.device: a path that is no render node names itself in the
 * reason; a value that is no path fails init. */
static void test_vaapi_device(const char *dir)
{
    struct loaded L;
    struct dcv_config cfg = {"vaapi-dev"}, bad = {"vaapi-badpath"};
    struct dcv_device_caps caps;
    int rc;

    if (load(dir, "enc-vaapi", &L) <= 0) {
        tap_skip("not built", "enc-vaapi device override");
        return;
    }
    rc = L.hdr->init(&host, &bad, &L.ctx, err, sizeof err);
    TAP_IS_INT(rc, -EINVAL, "vaapi: init refuses a device that is no path");
    TAP_HAS_STR(err, "plugins.vaapi.device", "... naming the key");
    if (rc == 0)
        L.hdr->fini(L.ctx);
    rc = L.hdr->init(&host, &cfg, &L.ctx, err, sizeof err);
    if (!tap_ok(rc == 0, "vaapi: init with device = /nonexistent/renderD200"))
        return;
    memset(&caps, 0, sizeof caps);
    caps.struct_size = sizeof caps;
    rc = L.ops->probe(L.ctx, 0, &caps);
    TAP_OK(rc == 1 && !(caps.flags & DCV_CAP_AVAILABLE) &&
               strstr(caps.unavailable_reason, "/nonexistent/renderD200"),
           "vaapi: the configured device is the one entry, unavailable, named (%s)",
           caps.unavailable_reason);
    memset(&caps, 0, sizeof caps);
    caps.struct_size = sizeof caps;
    TAP_IS_INT(L.ops->probe(L.ctx, 1, &caps), 0, "vaapi: and the only one");
    L.hdr->fini(L.ctx);
}

/* A 1.1 host's caps (no hw_device): the prefix copy must not write past
 * them. */
static void test_old_host(const char *dir)
{
    struct loaded L;
    struct dcv_config cfg = {"vaapi"};
    unsigned char buf[sizeof(struct dcv_device_caps) + 64];
    struct dcv_device_caps *caps = (struct dcv_device_caps *)(void *)buf;
    size_t old = offsetof(struct dcv_device_caps, hw_device);
    int rc, intact = 1;

    if (load(dir, "enc-vaapi", &L) <= 0) {
        tap_skip("not built", "enc-vaapi with a 1.1 host");
        return;
    }
    if (L.hdr->init(&host, &cfg, &L.ctx, err, sizeof err) != 0)
        return;
    memset(buf, 0xa5, sizeof buf);
    memset(caps, 0, old);
    caps->struct_size = (uint32_t)old;
    rc = L.ops->probe(L.ctx, 0, caps);
    for (size_t i = old; i < sizeof buf; i++)
        if (buf[i] != 0xa5)
            intact = 0;
    TAP_OK(rc == 1 && intact, "probe into a 1.1-sized caps writes only the 1.1 prefix");
    L.hdr->fini(L.ctx);
}

int main(void)
{
    const char *dir = getenv("DISTCONV_PLUGIN_DIR");

    av_log_set_level(AV_LOG_ERROR);
    if (!dir || !*dir)
        tap_bail("DISTCONV_PLUGIN_DIR is not set (run through make check)");
    test_software(dir, "enc-x264", "x264", "h264", "libx264", AV_CODEC_ID_H264);
    test_software(dir, "enc-x265", "x265", "hevc", "libx265", AV_CODEC_ID_HEVC);
    test_hardware(dir, "enc-nvenc", "nvenc", DCV_HW_CUDA);
    test_hardware(dir, "enc-vaapi", "vaapi", DCV_HW_VAAPI);
    test_hardware(dir, "enc-qsv", "qsv", DCV_HW_QSV);
    test_hardware(dir, "enc-vtb", "vtb", DCV_HW_VIDEOTOOLBOX);
    test_vaapi_device(dir);
    test_old_host(dir);
    return tap_done();
}
