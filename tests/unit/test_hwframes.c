/*
 * The hardware plugins' shared frames module (plugins/common/hwframes.c)
 * against a real FFmpeg hardware device: Vulkan, which Mesa's lavapipe
 * provides on machines without a GPU (package mesa-vulkan-drivers). The
 * module does not depend on the device type, so what holds here holds for
 * the VAAPI, QSV and CUDA devices the plugins give it:
 *   - software frames (yuv420p, nv12, p010) uploaded into our own pool,
 *     downloaded again and compared pixel for pixel, props and pts kept;
 *   - a frame already on the device passed through by reference (same
 *     buffer: no copy), on our pool and on a "host" pool (zero copy);
 *   - frames of another device, format or size refused with -EINVAL, and
 *     a host frames context that does not fit refused at init;
 *   - a host frames context used for the encoder while software frames go
 *     to a pool of our own.
 * Skipped (TAP skip, with the reason) where no Vulkan device can be made.
 */
#include <dlfcn.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <libavutil/buffer.h>
#include <libavutil/frame.h>
#include <libavutil/hwcontext.h>
#include <libavutil/imgutils.h>
#include <libavutil/log.h>
#include <libavutil/pixdesc.h>

#include "hwframes.h"
#include "tap.h"

#define W 64
#define H 48

static char err[512];

/* A picture whose every sample differs from its neighbours and between
 * frames n, within the format's depth. */
static AVFrame *pattern(int fmt, int w, int h, int n)
{
    const AVPixFmtDescriptor *d = av_pix_fmt_desc_get(fmt);
    AVFrame *f = av_frame_alloc();

    if (!f)
        tap_bail("out of memory");
    f->format = fmt;
    f->width = w;
    f->height = h;
    if (av_frame_get_buffer(f, 0) < 0)
        tap_bail("av_frame_get_buffer");
    for (int c = 0; c < d->nb_components; c++) {
        const AVComponentDescriptor *cd = &d->comp[c];
        int cw = c == 1 || c == 2 ? AV_CEIL_RSHIFT(w, d->log2_chroma_w) : w;
        int ch = c == 1 || c == 2 ? AV_CEIL_RSHIFT(h, d->log2_chroma_h) : h;
        int maxv = (1 << cd->depth) - 1;
        for (int y = 0; y < ch; y++) {
            uint8_t *row = f->data[cd->plane] + (ptrdiff_t)y * f->linesize[cd->plane];
            for (int x = 0; x < cw; x++) {
                int v = (x * 7 + y * 13 + c * 50 + n * 3) % (maxv + 1);
                uint8_t *p = row + x * cd->step + cd->offset;
                if (cd->depth > 8) {
                    uint16_t s = (uint16_t)(v << cd->shift);
                    memcpy(p, &s, 2);
                } else {
                    *p = (uint8_t)v;
                }
            }
        }
    }
    f->pts = 1000 + n;
    f->color_range = AVCOL_RANGE_MPEG;
    f->colorspace = AVCOL_SPC_BT709;
    return f;
}

/* Same picture content (visible area only)? */
static int same_pixels(const AVFrame *a, const AVFrame *b)
{
    const AVPixFmtDescriptor *d = av_pix_fmt_desc_get(a->format);
    int planes = av_pix_fmt_count_planes(a->format);

    if (a->format != b->format || a->width != b->width || a->height != b->height)
        return 0;
    for (int p = 0; p < planes; p++) {
        int bytes = av_image_get_linesize(a->format, a->width, p);
        int rows = p == 0 || (d->flags & AV_PIX_FMT_FLAG_RGB)
                       ? a->height
                       : AV_CEIL_RSHIFT(a->height, d->log2_chroma_h);
        for (int y = 0; y < rows; y++)
            if (memcmp(a->data[p] + (ptrdiff_t)y * a->linesize[p],
                       b->data[p] + (ptrdiff_t)y * b->linesize[p], (size_t)bytes) != 0)
                return 0;
    }
    return 1;
}

static AVFrame *download(const AVFrame *hw, int sw_fmt)
{
    AVFrame *f = av_frame_alloc();

    if (!f)
        tap_bail("out of memory");
    f->format = sw_fmt;
    if (av_hwframe_transfer_data(f, hw, 0) < 0) {
        av_frame_free(&f);
        return NULL;
    }
    return f;
}

/* A frames context of our own making, as a decoder would have. */
static AVBufferRef *host_pool(AVBufferRef *dev, int sw_fmt, int w, int h)
{
    AVBufferRef *ref = av_hwframe_ctx_alloc(dev);
    AVHWFramesContext *fc;

    if (!ref)
        tap_bail("out of memory");
    fc = (AVHWFramesContext *)(void *)ref->data;
    fc->format = AV_PIX_FMT_VULKAN;
    fc->sw_format = sw_fmt;
    fc->width = w;
    fc->height = h;
    if (av_hwframe_ctx_init(ref) < 0)
        av_buffer_unref(&ref);
    return ref;
}

static void test_round_trip(AVBufferRef *dev, int sw_fmt)
{
    const char *name = av_get_pix_fmt_name(sw_fmt);
    struct dcvenc_hwframes h;
    AVFrame *hw = av_frame_alloc(), *again = av_frame_alloc();
    int good = 1, props = 1, rc;

    rc = dcvenc_hwframes_init(&h, dev, NULL, AV_PIX_FMT_VULKAN, sw_fmt, W, H, 0, err, sizeof err);
    if (!tap_ok(rc == 0 && h.frames && h.upload && h.device, "%s: own pool on the device", name)) {
        tap_diag("%d %s", rc, err);
        av_frame_free(&hw);
        av_frame_free(&again);
        return;
    }
    TAP_OK(dcvenc_hwframes_on_device(h.frames, dev), "%s: the pool is on that device", name);
    for (int n = 0; n < 3; n++) {
        AVFrame *src = pattern(sw_fmt, W, H, n), *back;
        rc = dcvenc_hwframes_get(&h, src, hw, err, sizeof err);
        if (rc != 0) {
            tap_diag("upload %d: %d %s", n, rc, err);
            good = 0;
            av_frame_free(&src);
            break;
        }
        if (hw->format != AV_PIX_FMT_VULKAN || !hw->hw_frames_ctx || hw->width != W ||
            hw->height != H)
            good = 0;
        if (hw->pts != src->pts || hw->color_range != src->color_range ||
            hw->colorspace != src->colorspace)
            props = 0;
        back = download(hw, sw_fmt);
        if (!back || !same_pixels(src, back))
            good = 0;
        av_frame_free(&back);
        av_frame_free(&src);
        if (n == 2)
            break;
        av_frame_unref(hw);
    }
    TAP_OK(good, "%s: three frames uploaded and downloaded again, pixel for pixel", name);
    TAP_OK(props, "%s: pts and colour properties travel with the upload", name);
    TAP_IS_INT((int)h.uploaded, 3, "three uploads counted");

    /* A frame already on the device: a reference, not a copy. */
    rc = dcvenc_hwframes_get(&h, hw, again, err, sizeof err);
    TAP_IS_INT(rc, 1, "a frame on the device passes through");
    TAP_OK(rc == 1 && again->buf[0] && hw->buf[0] && again->buf[0]->data == hw->buf[0]->data &&
               again->data[0] == hw->data[0],
           "... the same buffer (no copy)");
    TAP_IS_INT((int)h.passed, 1, "one pass-through counted");
    av_frame_unref(again);

    /* A software frame of another format or size. */
    {
        int other = sw_fmt == AV_PIX_FMT_NV12 ? AV_PIX_FMT_YUV420P : AV_PIX_FMT_NV12;
        AVFrame *f = pattern(other, W, H, 0);
        TAP_IS_INT(dcvenc_hwframes_get(&h, f, again, err, sizeof err), -EINVAL,
                   "a software frame of another format is refused");
        TAP_HAS_STR(err, "does not match", "... saying why");
        av_frame_free(&f);
        f = pattern(sw_fmt, W + 16, H, 0);
        TAP_IS_INT(dcvenc_hwframes_get(&h, f, again, err, sizeof err), -EINVAL,
                   "a software frame of another size is refused");
        av_frame_free(&f);
    }
    av_frame_free(&hw);
    av_frame_free(&again);
    dcvenc_hwframes_free(&h);
    TAP_OK(!h.device && !h.frames && !h.upload, "free drops every reference");
}

static void test_other_device(AVBufferRef *dev, AVBufferRef *dev2)
{
    struct dcvenc_hwframes h, h2;
    AVFrame *src = pattern(AV_PIX_FMT_NV12, W, H, 0);
    AVFrame *hw2 = av_frame_alloc(), *out = av_frame_alloc();
    AVBufferRef *pool2;

    if (dcvenc_hwframes_init(&h, dev, NULL, AV_PIX_FMT_VULKAN, AV_PIX_FMT_NV12, W, H, 0, err,
                             sizeof err) < 0 ||
        dcvenc_hwframes_init(&h2, dev2, NULL, AV_PIX_FMT_VULKAN, AV_PIX_FMT_NV12, W, H, 0, err,
                             sizeof err) < 0)
        tap_bail("hwframes_init on a working device failed: %s", err);
    TAP_IS_INT(dcvenc_hwframes_get(&h2, src, hw2, err, sizeof err), 0,
               "an upload on the second device");
    TAP_IS_INT(dcvenc_hwframes_get(&h, hw2, out, err, sizeof err), -EINVAL,
               "a frame of another device is refused");
    TAP_HAS_STR(err, "another device", "... saying so");
    TAP_OK(!out->buf[0], "... and nothing is referenced");

    /* The host's frames context must be on the session's device, of its
     * formats and at least its size. */
    pool2 = host_pool(dev2, AV_PIX_FMT_NV12, W, H);
    if (pool2) {
        struct dcvenc_hwframes h3;
        TAP_IS_INT(dcvenc_hwframes_init(&h3, dev, pool2, AV_PIX_FMT_VULKAN, AV_PIX_FMT_NV12, W, H,
                                        0, err, sizeof err),
                   -EINVAL, "init refuses a host frames context of another device");
        av_buffer_unref(&pool2);
    }
    dcvenc_hwframes_free(&h);
    dcvenc_hwframes_free(&h2);
    av_frame_free(&src);
    av_frame_free(&hw2);
    av_frame_free(&out);
}

/* Zero copy: the host's pool (a decoder's) is the encoder's frames
 * context; its frames pass through, software frames go to our own pool. */
static void test_host_frames(AVBufferRef *dev)
{
    struct dcvenc_hwframes h;
    AVBufferRef *host = host_pool(dev, AV_PIX_FMT_NV12, W, H + 16); /* aligned, like a decoder's */
    AVFrame *dec = av_frame_alloc(), *out = av_frame_alloc(), *src, *back;
    int rc;

    if (!tap_ok(host != NULL, "a host frames pool on the device")) {
        av_frame_free(&dec);
        av_frame_free(&out);
        return;
    }
    TAP_IS_INT(dcvenc_hwframes_init(&h, dev, host, AV_PIX_FMT_VULKAN, AV_PIX_FMT_YUV420P, W, H, 0,
                                    err, sizeof err),
               -EINVAL, "init refuses host frames of another sw format");
    TAP_HAS_STR(err, "nv12", "... naming them");
    TAP_IS_INT(dcvenc_hwframes_init(&h, dev, host, AV_PIX_FMT_VULKAN, AV_PIX_FMT_NV12, W, H + 32, 0,
                                    err, sizeof err),
               -EINVAL, "init refuses host frames smaller than the session");
    rc = dcvenc_hwframes_init(&h, dev, host, AV_PIX_FMT_VULKAN, AV_PIX_FMT_NV12, W, H, 0, err,
                              sizeof err);
    TAP_OK(rc == 0 && h.frames && h.frames->data == host->data && !h.upload,
           "init takes the host's (larger, aligned) frames context, no upload pool yet");

    /* A "decoded" frame from the host's pool, visible size W x H. */
    src = pattern(AV_PIX_FMT_NV12, W, H, 5);
    if (av_hwframe_get_buffer(host, dec, 0) < 0)
        tap_bail("av_hwframe_get_buffer on the host pool");
    dec->width = W;
    dec->height = H;
    if (av_hwframe_transfer_data(dec, src, 0) < 0)
        tap_bail("uploading the host's frame");
    rc = dcvenc_hwframes_get(&h, dec, out, err, sizeof err);
    TAP_OK(rc == 1 && out->data[0] == dec->data[0], "the host's frame passes through (zero copy)");
    av_frame_unref(out);

    rc = dcvenc_hwframes_get(&h, src, out, err, sizeof err);
    TAP_OK(rc == 0 && h.upload && h.upload->data != host->data,
           "a software frame after a mid-stream change goes to a pool of our own");
    back = rc == 0 ? download(out, AV_PIX_FMT_NV12) : NULL;
    TAP_OK(back && same_pixels(src, back), "... and arrives intact");
    av_frame_free(&back);
    av_frame_free(&src);
    av_frame_free(&dec);
    av_frame_free(&out);
    dcvenc_hwframes_free(&h);
    av_buffer_unref(&host);
}

static void test_pool_size(void)
{
    TAP_IS_INT(dcvenc_hw_pool_size(-1, -1, -1), 4 + 1 + 4 + 4, "pool: encoder defaults");
    TAP_IS_INT(dcvenc_hw_pool_size(0, 1, 0), 0 + 1 + 1 + 4, "pool: no B-frames, async 1");
    TAP_IS_INT(dcvenc_hw_pool_size(3, 4, 40), 3 + 1 + 4 + 40 + 4, "pool: QSV lookahead 40");
    TAP_IS_INT(dcvenc_hwframes_init(&(struct dcvenc_hwframes){0}, NULL, NULL, 0, 0, W, H, 0, err,
                                    sizeof err),
               -EINVAL, "init without a device is -EINVAL");
}

int main(void)
{
    AVBufferRef *dev = NULL, *dev2 = NULL;
    int ret;

    av_log_set_level(AV_LOG_QUIET);
    /* lavapipe keeps a global allocation that becomes unreachable when the
     * Vulkan loader unloads it with the device, which LeakSanitizer then
     * reports from an "<unknown module>"; keeping the driver mapped makes
     * it what it is, memory still in use at exit. No effect elsewhere. */
    (void)dlopen("libvulkan_lvp.so", RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
    test_pool_size();
    ret = av_hwdevice_ctx_create(&dev, AV_HWDEVICE_TYPE_VULKAN, NULL, NULL, 0);
    if (ret < 0) {
        char e[128];
        av_strerror(ret, e, sizeof e);
        tap_diag("no Vulkan device: %s (install mesa-vulkan-drivers for lavapipe)", e);
        tap_skip("no Vulkan device can be created here", "hwframes against a real device");
        return tap_done();
    }
    if (av_hwdevice_ctx_create(&dev2, AV_HWDEVICE_TYPE_VULKAN, NULL, NULL, 0) < 0)
        tap_bail("a second Vulkan device failed where the first worked");
    TAP_IS_INT(dcvenc_hwdevice_type(dev), AV_HWDEVICE_TYPE_VULKAN, "device type read back");
    TAP_IS_INT(dcvenc_hwdevice_type(NULL), -1, "no device: -1");
    test_round_trip(dev, AV_PIX_FMT_NV12);
    test_round_trip(dev, AV_PIX_FMT_YUV420P);
    test_round_trip(dev, AV_PIX_FMT_P010LE);
    test_other_device(dev, dev2);
    test_host_frames(dev);
    av_buffer_unref(&dev2);
    av_buffer_unref(&dev);
    return tap_done();
}
