#include "hwprobe.h"

#include <dirent.h>
#include <errno.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libavcodec/avcodec.h>
#include <libavcodec/packet.h>
#include <libavutil/buffer.h>
#include <libavutil/dict.h>
#include <libavutil/frame.h>
#include <libavutil/hwcontext.h>
#include <libavutil/imgutils.h>
#include <libavutil/opt.h>
#include <libavutil/pixfmt.h>

#include "enccaps.h"
#include "encplugin.h"
#include "encutil.h"
#include "hwframes.h"

int dcvenc_have_encoder(const char *name)
{
    return name && avcodec_find_encoder_by_name(name) != NULL;
}

int dcvenc_have_any_encoder(const struct dcvenc_codec_desc *codecs, char *missing, size_t size)
{
    int have = 0;

    missing[0] = '\0';
    for (const struct dcvenc_codec_desc *c = codecs; c->codec; c++) {
        if (dcvenc_have_encoder(c->encoder)) {
            have = 1;
        } else {
            size_t used = strlen(missing);
            snprintf(missing + used, size - used, "%s%s", used ? ", " : "", c->encoder);
        }
    }
    return have;
}

static unsigned read_hex_file(const char *path)
{
    char buf[32];
    FILE *f = fopen(path, "re");
    unsigned long v = 0;

    if (!f)
        return 0;
    if (fgets(buf, sizeof buf, f))
        v = strtoul(buf, NULL, 16);
    fclose(f);
    return v > 0xffff ? 0 : (unsigned)v;
}

static int node_minor(const char *name)
{
    return atoi(name + strlen("renderD"));
}

static int cmp_nodes(const void *a, const void *b)
{
    const struct dcvenc_render_node *x = a, *y = b;
    return node_minor(x->name) - node_minor(y->name);
}

int dcvenc_render_nodes(const char *dev_dir, const char *sys_dir, struct dcvenc_render_node *out,
                        int max)
{
    DIR *d = opendir(dev_dir);
    struct dirent *e;
    int n = 0;

    if (!d)
        return (errno == ENOENT || errno == ENOTDIR) ? 0 : -errno;
    while ((e = readdir(d)) && n < max) {
        struct dcvenc_render_node *r = &out[n];
        char path[512];

        if (strncmp(e->d_name, "renderD", 7) != 0 || !e->d_name[7])
            continue;
        memset(r, 0, sizeof *r);
        if (dcvenc_strlcpy(r->name, e->d_name, sizeof r->name) ||
            snprintf(r->path, sizeof r->path, "%s/%s", dev_dir, e->d_name) >= (int)sizeof r->path)
            continue;
        snprintf(path, sizeof path, "%s/%s/device/vendor", sys_dir, e->d_name);
        r->vendor = read_hex_file(path);
        snprintf(path, sizeof path, "%s/%s/device/device", sys_dir, e->d_name);
        r->device = read_hex_file(path);
        n++;
    }
    closedir(d);
    qsort(out, (size_t)n, sizeof *out, cmp_nodes);
    return n;
}

const char *dcvenc_vendor_name(unsigned vendor)
{
    static const struct {
        unsigned id;
        const char *name;
    } vendors[] = {
        {0x8086, "Intel"},  {0x1002, "AMD"},     {0x1022, "AMD"},           {0x10de, "NVIDIA"},
        {0x1af4, "virtio"}, {0x15ad, "VMware"},  {0x1a03, "ASPEED"},        {0x5143, "Qualcomm"},
        {0x13b5, "Arm"},    {0x1d17, "Zhaoxin"}, {0x1ed5, "Moore Threads"},
    };

    for (size_t i = 0; i < sizeof vendors / sizeof vendors[0]; i++)
        if (vendors[i].id == vendor)
            return vendors[i].name;
    return NULL;
}

int dcvenc_node_access(const char *path, char *err, size_t errlen)
{
    struct stat st;
    char grp[64] = "render";

    if (access(path, R_OK | W_OK) == 0)
        return 0;
    if (errno != EACCES && errno != EPERM)
        return dcvenc_err(err, errlen, -errno, "cannot use %s: %s", path, strerror(errno));
    if (stat(path, &st) == 0) {
        struct group gr, *res = NULL;
        char buf[4096];
        if (getgrgid_r(st.st_gid, &gr, buf, sizeof buf, &res) == 0 && res && res->gr_name)
            dcvenc_strlcpy(grp, res->gr_name, sizeof grp);
    }
    return dcvenc_err(err, errlen, -EACCES, "no permission on %s (add the user to the '%s' group)",
                      path, grp);
}

int dcvenc_hwdevice_open(int type, const char *device, AVDictionary *opts, AVBufferRef **out,
                         char *err, size_t errlen)
{
    enum AVHWDeviceType t = AV_HWDEVICE_TYPE_NONE;
    const char *tname = av_hwdevice_get_type_name((enum AVHWDeviceType)type);
    char ebuf[128];
    int ret, built = 0;

    while ((t = av_hwdevice_iterate_types(t)) != AV_HWDEVICE_TYPE_NONE)
        if ((int)t == type)
            built = 1;
    if (!built)
        return dcvenc_err(err, errlen, -ENOTSUP,
                          "this FFmpeg (libavutil) was built without %s "
                          "support",
                          tname ? tname : "this hardware");
    ret = av_hwdevice_ctx_create(out, (enum AVHWDeviceType)type, device, opts, 0);
    if (ret < 0) {
        int rc = dcvenc_averror(ret);
        return dcvenc_err(err, errlen, rc == -EAGAIN || rc == -ENODATA ? -ENODEV : rc,
                          "cannot create a %s device%s%s: %s", tname ? tname : "hardware",
                          device ? " on " : "", device ? device : "",
                          dcvenc_av_strerror(ret, ebuf, sizeof ebuf));
    }
    return 0;
}

#define TRY_W 256 /* large enough for every encoder's minimum (NVENC HEVC: 129x33), */
#define TRY_H 144 /* small enough to cost nothing */
#define TRY_FRAMES 3

/* Encode TRY_FRAMES black frames (uploaded through hwf when it is set up)
 * and require a packet back: some drivers open and then fail on the first
 * frame. */
static int encode_few(AVCodecContext *ctx, struct dcvenc_hwframes *hwf, int sw_pix_fmt,
                      const char **step, char *msg, size_t msglen)
{
    AVFrame *f = av_frame_alloc(), *hw = av_frame_alloc();
    AVPacket *pkt = av_packet_alloc();
    int ret = AVERROR(ENOMEM), got = 0, rc;

    *step = "allocating a frame";
    if (!f || !hw || !pkt)
        goto out;
    f->format = sw_pix_fmt;
    f->width = ctx->width;
    f->height = ctx->height;
    if ((ret = av_frame_get_buffer(f, 0)) < 0)
        goto out;
    ptrdiff_t ls[4] = {f->linesize[0], f->linesize[1], f->linesize[2], f->linesize[3]};
    if ((ret = av_image_fill_black(f->data, ls, (enum AVPixelFormat)sw_pix_fmt, AVCOL_RANGE_MPEG,
                                   f->width, f->height)) < 0)
        goto out;
    for (int i = 0; i < TRY_FRAMES; i++) {
        const AVFrame *in = f;
        f->pts = i;
        if (hwf->device) {
            *step = "uploading a frame";
            rc = dcvenc_hwframes_get(hwf, f, hw, msg, msglen);
            if (rc < 0) {
                ret = rc == -ENOMEM ? AVERROR(ENOMEM) : AVERROR(-rc);
                goto out;
            }
            in = hw;
        }
        *step = "sending a frame";
        ret = avcodec_send_frame(ctx, in);
        av_frame_unref(hw);
        while (ret == 0 && (ret = avcodec_receive_packet(ctx, pkt)) == 0) {
            got = 1;
            av_packet_unref(pkt);
        }
        if (ret < 0 && ret != AVERROR(EAGAIN))
            goto out;
    }
    *step = "sending a frame";
    if ((ret = avcodec_send_frame(ctx, NULL)) < 0)
        goto out;
    *step = "receiving a packet";
    while ((ret = avcodec_receive_packet(ctx, pkt)) == 0) {
        got = 1;
        av_packet_unref(pkt);
    }
    if (ret == AVERROR_EOF)
        ret = got ? 0 : AVERROR(ENODATA);
out:
    av_frame_free(&f);
    av_frame_free(&hw);
    av_packet_free(&pkt);
    return ret;
}

/* Open (and with nframes, encode a few frames through) `encoder`; the
 * FFmpeg error of the failing step in *averr, the step in *step. */
static int try_open(AVBufferRef *dev, const AVCodec *codec, int hw_pix_fmt, int sw_pix_fmt,
                    const char *profile, AVDictionary *opts, int encode, int *averr,
                    const char **step, char *msg, size_t msglen)
{
    AVCodecContext *ctx = NULL;
    struct dcvenc_hwframes hwf;
    AVDictionary *o = NULL;
    int ret = AVERROR(ENOMEM), rc;

    memset(&hwf, 0, sizeof hwf);
    msg[0] = '\0';
    *step = "allocating the encoder";
    if (!(ctx = avcodec_alloc_context3(codec)))
        goto out;
    ctx->width = TRY_W;
    ctx->height = TRY_H;
    ctx->time_base = (AVRational){1, 25};
    ctx->framerate = (AVRational){25, 1};
    if (hw_pix_fmt >= 0) {
        *step = "creating a hardware frames pool";
        /* QSV needs a fixed pool; 8 covers the few frames in flight here. */
        rc = dcvenc_hwframes_init(&hwf, dev, NULL, hw_pix_fmt, sw_pix_fmt, TRY_W, TRY_H, 8, msg,
                                  msglen);
        if (rc < 0) {
            ret = rc == -ENOMEM ? AVERROR(ENOMEM) : AVERROR(-rc);
            goto out;
        }
        ctx->pix_fmt = (enum AVPixelFormat)hw_pix_fmt;
        ret = AVERROR(ENOMEM);
        if (!(ctx->hw_frames_ctx = av_buffer_ref(hwf.frames)))
            goto out;
    } else {
        ctx->pix_fmt = (enum AVPixelFormat)sw_pix_fmt;
        if (dev && !(ctx->hw_device_ctx = av_buffer_ref(dev)))
            goto out;
    }
    *step = "setting options";
    if ((opts && av_dict_copy(&o, opts, 0) < 0) ||
        (profile && av_dict_set(&o, "profile", profile, 0) < 0))
        goto out;
    *step = "opening the encoder";
    if ((ret = avcodec_open2(ctx, codec, &o)) < 0)
        goto out;
    ret = encode ? encode_few(ctx, &hwf, sw_pix_fmt, step, msg, msglen) : 0;
out:
    *averr = ret;
    av_dict_free(&o);
    avcodec_free_context(&ctx);
    dcvenc_hwframes_free(&hwf);
    return ret;
}

int dcvenc_hw_try_encoder(AVBufferRef *dev, const char *encoder, int hw_pix_fmt, int sw_pix_fmt,
                          const char *profile, AVDictionary *opts, char *err, size_t errlen)
{
    const AVCodec *codec = avcodec_find_encoder_by_name(encoder);
    const char *step = "";
    char ebuf[128], msg[256];
    int averr = 0, rc;

    if (!codec)
        return dcvenc_err(err, errlen, -ENOTSUP, "%s missing from this FFmpeg build", encoder);
    if (hw_pix_fmt >= 0 && !dev)
        return dcvenc_err(err, errlen, -EINVAL, "%s: hardware frames need a device", encoder);
    if (try_open(dev, codec, hw_pix_fmt, sw_pix_fmt, profile, opts, 1, &averr, &step, msg,
                 sizeof msg) >= 0)
        return 0;
    rc = dcvenc_averror(averr);
    return dcvenc_err(err, errlen, rc == -ENODATA || rc == -EAGAIN ? -EIO : rc,
                      "%s: %s failed: %s", encoder, step,
                      msg[0]                      ? msg
                      : averr == AVERROR(ENODATA) ? "no packet came out"
                                                  : dcvenc_av_strerror(averr, ebuf, sizeof ebuf));
}

int dcvenc_hw_bare_open(AVBufferRef *dev, const char *encoder, int hw_pix_fmt)
{
    const AVCodec *codec = avcodec_find_encoder_by_name(encoder);
    const char *step;
    char msg[256];
    int averr = 0;

    if (!codec)
        return AVERROR_ENCODER_NOT_FOUND;
    if (hw_pix_fmt >= 0 && !dev)
        return AVERROR(EINVAL);
    try_open(dev, codec, hw_pix_fmt, AV_PIX_FMT_NV12, NULL, NULL, 0, &averr, &step, msg,
             sizeof msg);
    return averr;
}

void dcvenc_hw_try_codecs(struct dcvenc_ctx *ctx, struct dcv_device_caps *caps,
                          const struct dcvenc_codec_desc *codecs, AVBufferRef *dev, int hw_pix_fmt,
                          const char *where, struct dcvenc_hw_tried *out)
{
    const struct dcvenc_family *fam = ctx->desc->family;
    char msg[256];

    out->found[0] = out->first_err[0] = '\0';
    out->first_rc = 0;
    for (const struct dcvenc_codec_desc *c = codecs; c->codec; c++) {
        struct dcv_codec_caps *cc = &caps->codecs[caps->n_codecs];
        size_t used;
        int rc;

        if (caps->n_codecs >= DCV_MAX_CODECS ||
            dcvenc_codec_caps(cc, fam, c->codec, c->encoder, c->max_width, c->max_height) < 0)
            continue;
        /* What libavcodec lists is not what the device does: only an open
         * and a few encoded frames tell. */
        rc = dcvenc_hw_try_encoder(dev, c->encoder, hw_pix_fmt, AV_PIX_FMT_NV12, NULL, NULL, msg,
                                   sizeof msg);
        if (rc < 0) {
            if (where)
                dcvenc_log(ctx, DCV_LOG_DEBUG, "%s on %s: %s", c->encoder, where, msg);
            if (!out->first_rc) {
                dcvenc_strlcpy(out->first_err, msg, sizeof out->first_err);
                out->first_rc = rc;
            }
            memset(cc, 0, sizeof *cc);
            continue;
        }
        /* 10-bit needs its own profile, which older hardware lacks even
         * where the encoder takes P010. */
        if ((cc->bit_depths & (1u << 10)) &&
            dcvenc_hw_try_encoder(dev, c->encoder, hw_pix_fmt, AV_PIX_FMT_P010LE,
                                  dcvenc_profile_for(fam, c->codec, 10, 0, NULL), NULL, msg,
                                  sizeof msg) < 0)
            dcvenc_caps_drop_depth(cc, 10);
        if (cc->bit_depths & (1u << 10))
            caps->flags |= DCV_CAP_TEN_BIT;
        used = strlen(out->found);
        snprintf(out->found + used, sizeof out->found - used, "%s%s", used ? ", " : "", c->codec);
        caps->n_codecs++;
    }
}
