/*
 * The startup benchmark: one measurement per available device and codec,
 * in the probe's child processes (see encbench.h).
 */
#include "worker/encbench.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>
#include <libavcodec/avcodec.h>
#include <libavutil/frame.h>
#include <libavutil/imgutils.h>
#include <libavutil/pixdesc.h>

#include "caps_json.h"
#include "clock.h"
#include "config.h"
#include "jsonutil.h"
#include "errbuf.h"
#include "log.h"
#include "pluginhost.h"
#include "probe.h"
#include "proto.h"
#include "media/encoder.h"

#define COMP "benchmark"
#define MAX_DEVICES 16
#define MAX_REPORT_BYTES (4u << 20)

/* ------------------------------------------------------------------------ */
/* Generated frames                                                          */
/* ------------------------------------------------------------------------ */

/*
 * A textured gradient that moves diagonally: each row is a window into a
 * precomputed pattern, shifted by row and frame, so a frame costs a memcpy
 * per row (the generator must stay far below a fast encoder's frame time)
 * and every frame differs, with enough detail that the encoder really works.
 */
struct pattern {
    uint8_t *buf[4];
    size_t row_bytes[4];
    int rows[4];
    int sample; /* bytes per sample: 1 or 2 */
};

#define PAT_SHIFT 256 /* distinct row offsets, in samples */

static uint32_t lcg(uint32_t *s)
{
    *s = *s * 1664525u + 1013904223u;
    return *s >> 24;
}

static void pattern_free(struct pattern *pt)
{
    for (int i = 0; i < 4; i++)
        av_freep(&pt->buf[i]);
}

static int pattern_init(struct pattern *pt, int pix_fmt, int w, int h)
{
    const AVPixFmtDescriptor *d = av_pix_fmt_desc_get(pix_fmt);
    int depth, shift;
    uint32_t seed = 12345;

    memset(pt, 0, sizeof *pt);
    if (!d || (d->flags & (AV_PIX_FMT_FLAG_HWACCEL | AV_PIX_FMT_FLAG_BITSTREAM |
                           AV_PIX_FMT_FLAG_PAL)))
        return -ENOTSUP;
    depth = d->comp[0].depth;
    shift = d->comp[0].shift;
    pt->sample = depth > 8 ? 2 : 1;
    for (int p = 0; p < 4; p++) {
        int bytes = av_image_get_linesize(pix_fmt, w, p);
        size_t n;
        if (bytes <= 0)
            continue;
        pt->row_bytes[p] = (size_t)bytes;
        pt->rows[p] = (p == 1 || p == 2) ? AV_CEIL_RSHIFT(h, d->log2_chroma_h) : h;
        n = (size_t)bytes + (size_t)PAT_SHIFT * (size_t)pt->sample * 4;
        pt->buf[p] = av_malloc(n);
        if (!pt->buf[p]) {
            pattern_free(pt);
            return -ENOMEM;
        }
        for (size_t i = 0; i < n / (size_t)pt->sample; i++) {
            /* Luma: a ramp with grain; chroma (and packed/other planes):
             * a gentler swing around the middle. */
            unsigned v = p == 0 ? ((i >> 2) & 0xff) ^ (lcg(&seed) & 0x1f)
                                : 96 + ((i >> 3) & 0x3f) + (lcg(&seed) & 0x07);
            v &= 0xff;
            if (pt->sample == 1) {
                pt->buf[p][i] = (uint8_t)v;
            } else {
                uint16_t x = (uint16_t)((v << (depth - 8)) << shift);
                memcpy(pt->buf[p] + 2 * i, &x, 2);
            }
        }
    }
    return 0;
}

static void pattern_fill(const struct pattern *pt, AVFrame *f, int64_t n)
{
    for (int p = 0; p < 4; p++) {
        if (!pt->buf[p] || !f->data[p])
            continue;
        for (int y = 0; y < pt->rows[p]; y++) {
            size_t off = (size_t)(((int64_t)y * 3 + n * 5) % PAT_SHIFT) * 2 * (size_t)pt->sample;
            memcpy(f->data[p] + (size_t)y * (size_t)f->linesize[p], pt->buf[p] + off,
                   pt->row_bytes[p]);
        }
    }
}

/* ------------------------------------------------------------------------ */
/* One measurement (child side)                                              */
/* ------------------------------------------------------------------------ */

struct result {
    int frames_out;
    double seconds;
    double fps;
    int width, height, pix_fmt;
};

static int pix_depth(int pix_fmt)
{
    const AVPixFmtDescriptor *d = av_pix_fmt_desc_get(pix_fmt);
    return d ? d->comp[0].depth : 8;
}

/* Receive every packet ready now: 0 (-EAGAIN seen), 1 at end of stream,
 * negative errno on failure. */
static int drain_ready(struct dcv_enc_session *s, AVPacket *pkt, int *count)
{
    for (;;) {
        int r = dcv_enc_session_receive(s, pkt);
        if (r == -EAGAIN)
            return 0;
        if (r == -ENODATA)
            return 1;
        if (r < 0)
            return r;
        (*count)++;
        av_packet_unref(pkt);
    }
}

static int measure(struct dcv_plugin *p, uint32_t index, const struct dcv_device_caps *caps, int ci,
                   unsigned budget_ms, struct result *res, char *err, size_t errlen)
{
    const struct dcv_codec_caps *cc = &caps->codecs[ci];
    struct dcv_encoder_choice ch;
    struct dcv_enc_params ep;
    struct dcv_enc_session *s = NULL;
    struct pattern pt;
    AVFrame *f = NULL;
    AVPacket *pkt = NULL;
    int64_t n = 0;
    uint64_t t0, limit;
    int r, eos = 0;

    memset(res, 0, sizeof *res);
    res->pix_fmt = cc->pix_fmts[0];
    if (res->pix_fmt < 0)
        return dcv_err(err, errlen, -ENOTSUP, "no input pixel format");
    /* Even sizes: every 4:2:0 encoder takes them. */
    res->width = DCV_BENCH_WIDTH;
    res->height = DCV_BENCH_HEIGHT;
    if (cc->max_width && (uint32_t)res->width > cc->max_width)
        res->width = (int)(cc->max_width & ~1u);
    if (cc->max_height && (uint32_t)res->height > cc->max_height)
        res->height = (int)(cc->max_height & ~1u);
    if ((r = pattern_init(&pt, res->pix_fmt, res->width, res->height)) < 0)
        return dcv_err(err, errlen, r, "cannot generate %s frames",
                       av_get_pix_fmt_name(res->pix_fmt) ? av_get_pix_fmt_name(res->pix_fmt) : "?");

    memset(&ch, 0, sizeof ch);
    ch.plugin = p;
    ch.device_index = index;
    ch.caps = *caps;
    ch.codec_index = ci;
    memset(&ep, 0, sizeof ep);
    ep.struct_size = sizeof ep;
    ep.device_index = index;
    snprintf(ep.codec, sizeof ep.codec, "%s", cc->codec);
    snprintf(ep.encoder, sizeof ep.encoder, "%s", cc->encoder);
    ep.width = res->width;
    ep.height = res->height;
    ep.pix_fmt = res->pix_fmt;
    ep.time_base = (struct dcv_rational){1, 30};
    ep.framerate = (struct dcv_rational){30, 1};
    ep.sample_aspect_ratio = (struct dcv_rational){1, 1};
    ep.color_range = AVCOL_RANGE_MPEG;
    ep.color_primaries = AVCOL_PRI_BT709;
    ep.color_trc = AVCOL_TRC_BT709;
    ep.colorspace = AVCOL_SPC_BT709;
    ep.chroma_location = AVCHROMA_LOC_LEFT;
    ep.rc_mode = DCV_RC_DEFAULT;
    ep.bit_depth = (uint32_t)pix_depth(res->pix_fmt);
    ep.max_b_frames = -1;

    f = av_frame_alloc();
    pkt = av_packet_alloc();
    if (!f || !pkt) {
        r = dcv_err(err, errlen, -ENOMEM, "out of memory");
        goto out;
    }
    f->format = res->pix_fmt;
    f->width = res->width;
    f->height = res->height;
    f->color_range = AVCOL_RANGE_MPEG;
    f->color_primaries = AVCOL_PRI_BT709;
    f->color_trc = AVCOL_TRC_BT709;
    f->colorspace = AVCOL_SPC_BT709;
    f->sample_aspect_ratio = (AVRational){1, 1};
    if (av_frame_get_buffer(f, 0) < 0) {
        r = dcv_err(err, errlen, -ENOMEM, "out of memory for a %dx%d frame", res->width,
                    res->height);
        goto out;
    }
    if ((r = dcv_enc_session_open(&ch, &ep, &s, err, errlen)) < 0)
        goto out;

    /* Open time is not encode speed (a GPU context takes a while). */
    t0 = dcv_mono_ns();
    limit = t0 + (uint64_t)budget_ms * 1000000ull;
    while (dcv_mono_ns() < limit) {
        if (av_frame_make_writable(f) < 0) {
            r = dcv_err(err, errlen, -ENOMEM, "out of memory");
            goto out;
        }
        pattern_fill(&pt, f, n);
        f->pts = n;
        r = dcv_enc_session_send(s, f);
        if (r == -EAGAIN) {
            /* Output first, then the same frame again. */
            if ((r = drain_ready(s, pkt, &res->frames_out)) < 0)
                goto fail_enc;
            continue;
        }
        if (r < 0)
            goto fail_enc;
        n++;
        if ((r = drain_ready(s, pkt, &res->frames_out)) < 0)
            goto fail_enc;
    }
    r = dcv_enc_session_send(s, NULL);
    if (r < 0 && r != -ENODATA)
        goto fail_enc;
    while (!eos) {
        r = drain_ready(s, pkt, &res->frames_out);
        if (r < 0)
            goto fail_enc;
        if (r == 0) {
            /* -EAGAIN while draining: the encoder is still working on it. */
            struct timespec ts = {0, 1000000};
            nanosleep(&ts, NULL);
        }
        eos = r == 1;
    }
    res->seconds = (double)(dcv_mono_ns() - t0) / 1e9;
    if (res->frames_out <= 0 || res->seconds <= 0) {
        r = dcv_err(err, errlen, -EIO, "%lld frames sent, no packet came out", (long long)n);
        goto out;
    }
    res->fps = res->frames_out / res->seconds;
    r = 0;
    goto out;

fail_enc:
    dcv_errf(err, errlen, "encode failed: %s", dcv_enc_session_error(s));
out:
    dcv_enc_session_close(&s);
    av_packet_free(&pkt);
    av_frame_free(&f);
    pattern_free(&pt);
    return r;
}

static void add_str(struct json_object *o, const char *key, const char *val)
{
    json_object_object_add(o, key, json_object_new_string(val ? val : ""));
}

/* dcv_probe_ext.child: measure every available device+codec of p. */
static void bench_child(struct dcv_plugin *p, struct json_object *devices,
                        void (*emit)(void *ectx, struct json_object *value), void *ectx, void *arg)
{
    unsigned budget_ms = *(const unsigned *)arg;
    size_t nd = json_object_array_length(devices);

    for (size_t k = 0; k < nd && k < MAX_DEVICES; k++) {
        struct json_object *d = json_object_array_get_idx(devices, k), *iv;
        struct dcv_device_caps caps;
        uint32_t index;
        char e[512];

        if (!json_object_object_get_ex(d, "index", &iv) || dcv_caps_from_json(d, &caps, e, sizeof e) < 0 ||
            !(caps.flags & DCV_CAP_AVAILABLE))
            continue;
        index = (uint32_t)json_object_get_int(iv);
        for (uint32_t ci = 0; ci < caps.n_codecs && ci < DCV_MAX_CODECS; ci++) {
            struct json_object *o = json_object_new_object();
            struct result res;
            char why[1024] = "";
            int r;

            if (!o)
                return;
            r = measure(p, index, &caps, (int)ci, budget_ms, &res, why, sizeof why);
            json_object_object_add(o, "device", json_object_new_int((int)index));
            add_str(o, "device_id", caps.device_id);
            json_object_object_add(o, "hardware",
                                   json_object_new_boolean(!!(caps.flags & DCV_CAP_HARDWARE)));
            add_str(o, "codec", caps.codecs[ci].codec);
            add_str(o, "encoder", caps.codecs[ci].encoder);
            add_str(o, "pix_fmt", av_get_pix_fmt_name(res.pix_fmt));
            json_object_object_add(o, "width", json_object_new_int(res.width));
            json_object_object_add(o, "height", json_object_new_int(res.height));
            json_object_object_add(o, "frames", json_object_new_int(res.frames_out));
            json_object_object_add(o, "seconds", json_object_new_double(res.seconds));
            json_object_object_add(o, "fps", json_object_new_double(r < 0 ? -1 : res.fps));
            if (r < 0)
                add_str(o, "error", why[0] ? why : strerror(-r));
            emit(ectx, o);
            json_object_put(o);
        }
    }
}

/* ------------------------------------------------------------------------ */
/* The report (parent side)                                                  */
/* ------------------------------------------------------------------------ */

static int jnum(struct json_object *o, const char *key, double lo, double hi, double *out)
{
    struct json_object *v;
    if (!json_object_object_get_ex(o, key, &v) ||
        !(json_object_is_type(v, json_type_int) || json_object_is_type(v, json_type_double)))
        return -1;
    *out = json_object_get_double(v);
    return *out >= lo && *out <= hi ? 0 : -1;
}

/* Printable, bounded, no control characters. */
static int text_ok(const char *s, size_t max, int token)
{
    size_t n = strlen(s);
    if (n == 0 || n > max)
        return 0;
    for (const char *c = s; *c; c++)
        if ((unsigned char)*c < 0x20 || (token && *c == ' '))
            return 0;
    return 1;
}

/* dcv_probe_ext.check: one figure from a child, rebuilt field by field. */
static struct json_object *bench_check(struct json_object *v, void *arg)
{
    struct json_object *o, *hw;
    double dev, w, h, frames, secs, fps;
    const char *pf = dcv_json_str(v, "pix_fmt", ""), *e = dcv_json_str(v, "error", "");
    (void)arg;

    if (!json_object_is_type(v, json_type_object) || jnum(v, "device", 0, MAX_DEVICES - 1, &dev) ||
        !text_ok(dcv_json_str(v, "device_id", ""), 127, 1) || !text_ok(dcv_json_str(v, "codec", ""), 15, 1) ||
        !text_ok(dcv_json_str(v, "encoder", ""), 31, 1) || jnum(v, "width", 0, 65536, &w) ||
        jnum(v, "height", 0, 65536, &h) || jnum(v, "frames", 0, 1e9, &frames) ||
        jnum(v, "seconds", 0, 86400, &secs) || jnum(v, "fps", -1, 1e6, &fps) ||
        !json_object_object_get_ex(v, "hardware", &hw) ||
        !json_object_is_type(hw, json_type_boolean) || (*pf && !text_ok(pf, 31, 1)) ||
        (*e && !text_ok(e, 1024, 0)) || (fps < 0 && !*e) || (fps >= 0 && fps == 0))
        return NULL;
    if (!(o = json_object_new_object()))
        return NULL;
    json_object_object_add(o, "device", json_object_new_int((int)dev));
    add_str(o, "device_id", dcv_json_str(v, "device_id", ""));
    json_object_object_add(o, "hardware", json_object_new_boolean(json_object_get_boolean(hw)));
    add_str(o, "codec", dcv_json_str(v, "codec", ""));
    add_str(o, "encoder", dcv_json_str(v, "encoder", ""));
    add_str(o, "pix_fmt", pf);
    json_object_object_add(o, "width", json_object_new_int((int)w));
    json_object_object_add(o, "height", json_object_new_int((int)h));
    json_object_object_add(o, "frames", json_object_new_int64((int64_t)frames));
    json_object_object_add(o, "seconds", json_object_new_double(secs));
    json_object_object_add(o, "fps", json_object_new_double(fps < 0 ? -1 : fps));
    if (*e)
        add_str(o, "error", e);
    return o;
}

/* FNV-1a, 64 bits: a cache key, not a security boundary. */
static void fnv(uint64_t *h, const char *s)
{
    for (; *s; s++) {
        *h ^= (unsigned char)*s;
        *h *= 0x100000001b3ull;
    }
    *h ^= '\n';
    *h *= 0x100000001b3ull;
}

static int fingerprint_obj(struct json_object *root, unsigned budget_ms, char *out, size_t outlen)
{
    struct json_object *plugins, *ff;
    uint64_t h = 0xcbf29ce484222325ull;
    char line[512];

    if (!root || !json_object_object_get_ex(root, "plugins", &plugins) ||
        !json_object_is_type(plugins, json_type_array) || outlen < 17)
        return -EINVAL;
    snprintf(line, sizeof line, "budget %u", budget_ms);
    fnv(&h, line);
    if (json_object_object_get_ex(root, "ffmpeg", &ff))
        snprintf(line, sizeof line, "avcodec %s", dcv_json_str(ff, "avcodec", ""));
    else
        snprintf(line, sizeof line, "avcodec %u", avcodec_version());
    fnv(&h, line);
    for (size_t i = 0; i < json_object_array_length(plugins); i++) {
        struct json_object *p = json_object_array_get_idx(plugins, i), *devs;
        if (strcmp(dcv_json_str(p, "kind", ""), "encoder") != 0 || strcmp(dcv_json_str(p, "status", ""), "ok") != 0 ||
            !json_object_object_get_ex(p, "devices", &devs) ||
            !json_object_is_type(devs, json_type_array))
            continue;
        snprintf(line, sizeof line, "plugin %s %s", dcv_json_str(p, "name", ""), dcv_json_str(p, "version", ""));
        fnv(&h, line);
        for (size_t k = 0; k < json_object_array_length(devs); k++) {
            struct json_object *d = json_object_array_get_idx(devs, k), *av, *codecs;
            if (!json_object_object_get_ex(d, "available", &av) || !json_object_get_boolean(av) ||
                !json_object_object_get_ex(d, "codecs", &codecs) ||
                !json_object_is_type(codecs, json_type_array))
                continue;
            for (size_t c = 0; c < json_object_array_length(codecs); c++) {
                struct json_object *cc = json_object_array_get_idx(codecs, c);
                snprintf(line, sizeof line, "device %zu %s %s %s", k, dcv_json_str(d, "device_id", ""),
                         dcv_json_str(cc, "codec", ""), dcv_json_str(cc, "encoder", ""));
                fnv(&h, line);
            }
        }
    }
    snprintf(out, outlen, "%016llx", (unsigned long long)h);
    return 0;
}

int dcv_bench_fingerprint(const char *probe_json, unsigned budget_ms, char *out, size_t outlen)
{
    struct json_object *root = json_tokener_parse(probe_json ? probe_json : "");
    int r = fingerprint_obj(root, budget_ms, out, outlen);
    json_object_put(root);
    return r;
}

/* The probe report with per-plugin figures -> the benchmark report. */
static int flatten(struct json_object *root, unsigned budget_ms, char **json_out)
{
    struct json_object *out = json_object_new_object(), *results = json_object_new_array(),
                       *plist = json_object_new_array(), *plugins;
    char fp[32] = "";
    const char *s;
    int r = -ENOMEM;

    if (!out || !results || !plist)
        goto done;
    fingerprint_obj(root, budget_ms, fp, sizeof fp);
    json_object_object_add(out, "benchmark_ms", json_object_new_int((int)budget_ms));
    add_str(out, "fingerprint", fp);
    json_object_object_add(out, "created", json_object_new_int64((int64_t)time(NULL)));
    if (json_object_object_get_ex(root, "plugins", &plugins) &&
        json_object_is_type(plugins, json_type_array)) {
        for (size_t i = 0; i < json_object_array_length(plugins); i++) {
            struct json_object *p = json_object_array_get_idx(plugins, i), *b, *e;
            if (strcmp(dcv_json_str(p, "kind", ""), "encoder") != 0 && *dcv_json_str(p, "kind", ""))
                continue;
            if ((e = json_object_new_object())) {
                static const char *const keys[] = {"file", "name", "version", "status", "reason"};
                for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++)
                    add_str(e, keys[k], dcv_json_str(p, keys[k], ""));
                json_object_array_add(plist, e);
            }
            if (!json_object_object_get_ex(p, "bench", &b) ||
                !json_object_is_type(b, json_type_array))
                continue;
            for (size_t k = 0; k < json_object_array_length(b); k++) {
                struct json_object *f = json_object_array_get_idx(b, k), *o;
                if (!(o = json_object_new_object()))
                    continue;
                add_str(o, "plugin", dcv_json_str(p, "name", ""));
                add_str(o, "version", dcv_json_str(p, "version", ""));
                json_object_object_foreach(f, key, val)
                    json_object_object_add(o, key, json_object_get(val));
                json_object_array_add(results, o);
            }
        }
    }
    json_object_object_add(out, "results", results);
    results = NULL;
    json_object_object_add(out, "plugins", plist);
    plist = NULL;
    s = json_object_to_json_string_ext(out, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED |
                                                JSON_C_TO_STRING_NOSLASHESCAPE);
    if (s && (*json_out = strdup(s)))
        r = 0;
done:
    json_object_put(results);
    json_object_put(plist);
    json_object_put(out);
    return r;
}

int dcv_bench_run(struct dcv_conf *conf, unsigned budget_ms, unsigned probe_timeout_ms,
                  char **json_out, char *err, size_t errlen)
{
    struct dcv_probe_ext ext = {
        .child = bench_child,
        .check = bench_check,
        .key = "bench",
        .arg = &budget_ms,
        .serial = 1,
    };
    struct json_object *root;
    char *probe_json = NULL;
    int r;

    *json_out = NULL;
    r = dcv_probe_run(conf, probe_timeout_ms + 4 * budget_ms, &ext, &probe_json, err, errlen);
    if (r < 0)
        return r;
    root = json_tokener_parse(probe_json);
    free(probe_json);
    if (!root)
        return dcv_err(err, errlen, -ENOMEM, "benchmark: cannot read the probe report");
    r = flatten(root, budget_ms, json_out);
    json_object_put(root);
    if (r < 0)
        dcv_errf(err, errlen, "out of memory");
    return r;
}

int dcv_bench_format_text(const char *json, char **text_out)
{
    struct json_object *root = json_tokener_parse(json ? json : ""), *results, *plugins, *v;
    char *buf = NULL;
    size_t len = 0;
    FILE *f;

    *text_out = NULL;
    if (!root || !json_object_object_get_ex(root, "results", &results) ||
        !json_object_is_type(results, json_type_array)) {
        json_object_put(root);
        return -EINVAL;
    }
    if (!(f = open_memstream(&buf, &len))) {
        json_object_put(root);
        return -ENOMEM;
    }
    fprintf(f, "encoder benchmark: %dx%d, %lld ms per device and codec\n", DCV_BENCH_WIDTH,
            DCV_BENCH_HEIGHT,
            json_object_object_get_ex(root, "benchmark_ms", &v) ? (long long)json_object_get_int64(v)
                                                                 : 0LL);
    fprintf(f, "%-12s %-24s %-6s %-16s %10s\n", "PLUGIN", "DEVICE", "CODEC", "ENCODER", "FPS");
    for (size_t i = 0; i < json_object_array_length(results); i++) {
        struct json_object *o = json_object_array_get_idx(results, i), *fv;
        double fps = json_object_object_get_ex(o, "fps", &fv) ? json_object_get_double(fv) : -1;
        fprintf(f, "%-12s %-24s %-6s %-16s ", dcv_json_str(o, "plugin", ""), dcv_json_str(o, "device_id", ""),
                dcv_json_str(o, "codec", ""), dcv_json_str(o, "encoder", ""));
        if (fps > 0)
            fprintf(f, "%10.1f\n", fps);
        else
            fprintf(f, "%10s  (%s)\n", "-", dcv_json_str(o, "error", ""));
    }
    if (json_object_array_length(results) == 0)
        fputs("  (no available encoder device)\n", f);
    if (json_object_object_get_ex(root, "plugins", &plugins) &&
        json_object_is_type(plugins, json_type_array))
        for (size_t i = 0; i < json_object_array_length(plugins); i++) {
            struct json_object *p = json_object_array_get_idx(plugins, i);
            if (strcmp(dcv_json_str(p, "status", ""), "ok") != 0)
                fprintf(f, "%s: %s%s%s\n", *dcv_json_str(p, "name", "") ? dcv_json_str(p, "name", "") : dcv_json_str(p, "file", ""),
                        dcv_json_str(p, "status", ""), *dcv_json_str(p, "reason", "") ? ": " : "", dcv_json_str(p, "reason", ""));
        }
    json_object_put(root);
    if (fclose(f) != 0 || !buf) {
        free(buf);
        return -ENOMEM;
    }
    *text_out = buf;
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Cache                                                                     */
/* ------------------------------------------------------------------------ */

int dcv_bench_cache_load(const char *path, const char *fp, char **json_out, char *err,
                         size_t errlen)
{
    struct json_object *root, *res;
    FILE *f;
    char *buf;
    long n;

    *json_out = NULL;
    if (!(f = fopen(path, "rb"))) {
        if (errno == ENOENT)
            return dcv_err(err, errlen, 0, "%s: none yet", path);
        return dcv_err(err, errlen, -errno, "%s: %s", path, strerror(errno));
    }
    if (fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 || n > (long)MAX_REPORT_BYTES ||
        fseek(f, 0, SEEK_SET) != 0) {
        fclose(f);
        return dcv_err(err, errlen, 0, "%s: unreadable or too large, measuring again", path);
    }
    if (!(buf = malloc((size_t)n + 1))) {
        fclose(f);
        return dcv_err(err, errlen, -ENOMEM, "out of memory");
    }
    if (fread(buf, 1, (size_t)n, f) != (size_t)n) {
        fclose(f);
        free(buf);
        return dcv_err(err, errlen, -EIO, "%s: short read", path);
    }
    fclose(f);
    buf[n] = '\0';
    root = json_tokener_parse(buf);
    if (!root || !json_object_object_get_ex(root, "results", &res) ||
        !json_object_is_type(res, json_type_array)) {
        json_object_put(root);
        free(buf);
        return dcv_err(err, errlen, 0, "%s: not a benchmark report, measuring again", path);
    }
    if (strcmp(dcv_json_str(root, "fingerprint", ""), fp) != 0) {
        dcv_errf(err, errlen, "%s: made for other plugins, devices or FFmpeg (fingerprint %s, "
                 "now %s), measuring again", path, dcv_json_str(root, "fingerprint", ""), fp);
        json_object_put(root);
        free(buf);
        return 0;
    }
    json_object_put(root);
    *json_out = buf;
    return 1;
}

int dcv_bench_cache_save(const char *path, const char *json, char *err, size_t errlen)
{
    char tmp[PATH_MAX + 16];
    size_t len = strlen(json);
    int fd;

    if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp", path) >= sizeof tmp)
        return dcv_err(err, errlen, -ENAMETOOLONG, "%s: path too long", path);
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
    if (fd < 0)
        return dcv_err(err, errlen, -errno, "%s: %s", tmp, strerror(errno));
    for (size_t off = 0; off < len;) {
        ssize_t w = write(fd, json + off, len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            int e = w < 0 ? errno : EIO;
            close(fd);
            unlink(tmp);
            return dcv_err(err, errlen, -e, "%s: %s", tmp, strerror(e));
        }
        off += (size_t)w;
    }
    if (fsync(fd) != 0 || close(fd) != 0) {
        int e = errno;
        unlink(tmp);
        return dcv_err(err, errlen, -e, "%s: %s", tmp, strerror(e));
    }
    if (rename(tmp, path) != 0) {
        int e = errno;
        unlink(tmp);
        return dcv_err(err, errlen, -e, "rename %s: %s", path, strerror(e));
    }
    return 0;
}

/* ------------------------------------------------------------------------ */
/* The worker's start-up step                                                */
/* ------------------------------------------------------------------------ */

static void log_figures(const char *json, int cached)
{
    struct json_object *root = json_tokener_parse(json), *results;

    if (!root || !json_object_object_get_ex(root, "results", &results) ||
        !json_object_is_type(results, json_type_array)) {
        json_object_put(root);
        return;
    }
    for (size_t i = 0; i < json_object_array_length(results); i++) {
        struct json_object *o = json_object_array_get_idx(results, i), *v;
        double fps = json_object_object_get_ex(o, "fps", &v) ? json_object_get_double(v) : -1;
        if (fps > 0)
            dcv_log(DCV_LOG_INFO, COMP, "%s %s %s (%s): %.1f fps at %dx%d%s", dcv_json_str(o, "plugin", ""),
                    dcv_json_str(o, "device_id", ""), dcv_json_str(o, "codec", ""), dcv_json_str(o, "encoder", ""), fps,
                    json_object_object_get_ex(o, "width", &v) ? json_object_get_int(v) : 0,
                    json_object_object_get_ex(o, "height", &v) ? json_object_get_int(v) : 0,
                    cached ? " (cached)" : "");
        else
            dcv_log(DCV_LOG_WARN, COMP, "%s %s %s (%s): not measured: %s", dcv_json_str(o, "plugin", ""),
                    dcv_json_str(o, "device_id", ""), dcv_json_str(o, "codec", ""), dcv_json_str(o, "encoder", ""),
                    dcv_json_str(o, "error", ""));
    }
    json_object_put(root);
}

static int cache_path(const struct dcv_settings *s, char *path, size_t len, char *err,
                      size_t errlen)
{
    if ((size_t)snprintf(path, len, "%s/benchmark.json", s->state_dir) >= len)
        return dcv_err(err, errlen, -ENAMETOOLONG, "state_dir too long");
    return 0;
}

int dcv_bench_cached(struct dcv_conf *conf, const char *probe_json, char **json_out, char *err,
                     size_t errlen)
{
    const struct dcv_settings *s = dcv_conf_settings(conf);
    char path[PATH_MAX + 32], fp[32], why[PATH_MAX + 256] = "";
    int r;

    *json_out = NULL;
    if ((r = cache_path(s, path, sizeof path, err, errlen)) < 0)
        return r;
    if ((r = dcv_bench_fingerprint(probe_json, (unsigned)s->benchmark_ms, fp, sizeof fp)) < 0)
        return dcv_err(err, errlen, r, "capability probe: not a probe report");
    r = dcv_bench_cache_load(path, fp, json_out, why, sizeof why);
    if (r > 0) {
        dcv_log(DCV_LOG_INFO, COMP, "using the figures in %s (fingerprint %s)", path, fp);
        log_figures(*json_out, 1);
        return 1;
    }
    /* A cache that cannot be read is measured again, like an absent one. */
    dcv_log(r < 0 ? DCV_LOG_WARN : DCV_LOG_INFO, COMP, "%s", why);
    return 0;
}

int dcv_bench_measure(struct dcv_conf *conf, unsigned probe_timeout_ms, char **json_out,
                      char *err, size_t errlen)
{
    const struct dcv_settings *s = dcv_conf_settings(conf);
    unsigned budget = (unsigned)s->benchmark_ms;
    char path[PATH_MAX + 32], why[PATH_MAX + 256] = "";
    uint64_t t0;
    int r;

    *json_out = NULL;
    if ((r = cache_path(s, path, sizeof path, err, errlen)) < 0)
        return r;
    dcv_log(DCV_LOG_INFO, COMP, "measuring every available encoder (%u ms each at %dx%d)",
            budget, DCV_BENCH_WIDTH, DCV_BENCH_HEIGHT);
    t0 = dcv_mono_ms();
    if ((r = dcv_bench_run(conf, budget, probe_timeout_ms, json_out, err, errlen)) < 0)
        return r;
    dcv_log(DCV_LOG_INFO, COMP, "done in %.1f s", (double)(dcv_mono_ms() - t0) / 1000.0);
    log_figures(*json_out, 0);
    if (dcv_bench_cache_save(path, *json_out, why, sizeof why) < 0)
        dcv_log(DCV_LOG_WARN, COMP, "cannot keep the figures: %s", why);
    return 0;
}

int dcv_bench_figures(const char *json, const char *plugin, const char *device_id,
                      struct dcv_proto_bench *out, size_t cap, size_t *n, double *best)
{
    struct json_object *root = json_tokener_parse(json ? json : ""), *results;

    *n = 0;
    *best = -1;
    if (!root || !json_object_object_get_ex(root, "results", &results) ||
        !json_object_is_type(results, json_type_array)) {
        json_object_put(root);
        return -EINVAL;
    }
    for (size_t i = 0; i < json_object_array_length(results); i++) {
        struct json_object *o = json_object_array_get_idx(results, i), *v;
        double fps = json_object_object_get_ex(o, "fps", &v) ? json_object_get_double(v) : -1;
        const char *codec = dcv_json_str(o, "codec", "");
        if (strcmp(dcv_json_str(o, "plugin", ""), plugin) != 0 || strcmp(dcv_json_str(o, "device_id", ""), device_id) != 0 ||
            !(fps > 0 && fps <= 1e6) || !text_ok(codec, sizeof out->codec - 1, 1))
            continue;
        if (fps > *best)
            *best = fps;
        if (*n < cap) {
            snprintf(out[*n].codec, sizeof out[*n].codec, "%s", codec);
            out[*n].fps = fps;
            (*n)++;
        }
    }
    json_object_put(root);
    return 0;
}
