#include "hwframes.h"

#include <errno.h>
#include <string.h>

#include <libavutil/buffer.h>
#include <libavutil/frame.h>
#include <libavutil/hwcontext.h>
#include <libavutil/pixdesc.h>

#include "encutil.h"

#define POOL_MARGIN 4 /* the frame being uploaded, the one being sent, slack */

int dcvenc_hwdevice_type(const AVBufferRef *device)
{
    return device ? (int)((const AVHWDeviceContext *)(const void *)device->data)->type : -1;
}

int dcvenc_hwframes_on_device(const AVBufferRef *frames, const AVBufferRef *device)
{
    const AVHWFramesContext *fc;

    if (!frames || !device)
        return 0;
    fc = (const AVHWFramesContext *)(const void *)frames->data;
    return (const void *)fc->device_ctx == (const void *)device->data;
}

int dcvenc_hw_pool_size(int b_frames, int async_depth, int lookahead)
{
    int n = (b_frames < 0 ? 4 : b_frames) + 1;

    n += async_depth < 0 ? 4 : async_depth;
    n += lookahead < 0 ? 0 : lookahead;
    return n + POOL_MARGIN;
}

static const char *fmt_name(int fmt)
{
    const char *n = fmt >= 0 ? av_get_pix_fmt_name((enum AVPixelFormat)fmt) : NULL;
    return n ? n : "none";
}

static const char *type_name(const AVBufferRef *device)
{
    const char *n = device ? av_hwdevice_get_type_name(
                                 (enum AVHWDeviceType)dcvenc_hwdevice_type(device))
                           : NULL;
    return n ? n : "hardware";
}

/* A pool of our own on h->device. */
static int make_pool(struct dcvenc_hwframes *h, AVBufferRef **out, char *err, size_t errlen)
{
    AVBufferRef *ref = av_hwframe_ctx_alloc(h->device);
    AVHWFramesContext *fc;
    char ebuf[128];
    int ret;

    if (!ref)
        return dcvenc_err(err, errlen, -ENOMEM, "out of memory for a %s frames context",
                          type_name(h->device));
    fc = (AVHWFramesContext *)(void *)ref->data;
    fc->format = (enum AVPixelFormat)h->hw_fmt;
    fc->sw_format = (enum AVPixelFormat)h->sw_fmt;
    fc->width = h->width;
    fc->height = h->height;
    fc->initial_pool_size = h->pool_size;
    ret = av_hwframe_ctx_init(ref);
    if (ret < 0) {
        int rc = dcvenc_averror(ret);
        av_buffer_unref(&ref);
        /* A device out of surfaces (too many sessions, too little video
         * memory) says ENOMEM; keep it so the caller can call it busy. */
        return dcvenc_err(err, errlen, rc == -EAGAIN || rc == -ENODATA ? -EIO : rc,
                          "cannot create a %dx%d %s pool of %s %s surfaces: %s", h->width,
                          h->height, fmt_name(h->sw_fmt), type_name(h->device),
                          fmt_name(h->hw_fmt), dcvenc_av_strerror(ret, ebuf, sizeof ebuf));
    }
    *out = ref;
    return 0;
}

int dcvenc_hwframes_init(struct dcvenc_hwframes *h, AVBufferRef *device, AVBufferRef *frames,
                         int hw_fmt, int sw_fmt, int width, int height, int pool_size, char *err,
                         size_t errlen)
{
    int rc;

    memset(h, 0, sizeof *h);
    if (!device || width <= 0 || height <= 0 || hw_fmt < 0 || sw_fmt < 0)
        return dcvenc_err(err, errlen, -EINVAL, "hardware frames: no device, format or size");
    h->hw_fmt = hw_fmt;
    h->sw_fmt = sw_fmt;
    h->width = width;
    h->height = height;
    h->pool_size = pool_size < 0 ? 0 : pool_size;
    if (!(h->device = av_buffer_ref(device)))
        return dcvenc_err(err, errlen, -ENOMEM, "out of memory");
    if (frames) {
        const AVHWFramesContext *fc = (const AVHWFramesContext *)(const void *)frames->data;
        if (!dcvenc_hwframes_on_device(frames, device))
            rc = dcvenc_err(err, errlen, -EINVAL,
                            "the host's frames context is on another device than the %s "
                            "device of this session",
                            type_name(device));
        else if ((int)fc->format != hw_fmt || (int)fc->sw_format != sw_fmt)
            rc = dcvenc_err(err, errlen, -EINVAL,
                            "the host's frames are %s/%s, this session takes %s/%s",
                            fmt_name(fc->format), fmt_name(fc->sw_format), fmt_name(hw_fmt),
                            fmt_name(sw_fmt));
        else if (fc->width < width || fc->height < height)
            rc = dcvenc_err(err, errlen, -EINVAL,
                            "the host's frames are %dx%d, smaller than the session's %dx%d",
                            fc->width, fc->height, width, height);
        else if (!(h->frames = av_buffer_ref(frames)))
            rc = dcvenc_err(err, errlen, -ENOMEM, "out of memory");
        else
            rc = 0;
    } else {
        rc = make_pool(h, &h->frames, err, errlen);
        if (rc == 0 && !(h->upload = av_buffer_ref(h->frames)))
            rc = dcvenc_err(err, errlen, -ENOMEM, "out of memory");
    }
    if (rc < 0)
        dcvenc_hwframes_free(h);
    return rc;
}

int dcvenc_hwframes_get(struct dcvenc_hwframes *h, const AVFrame *src, AVFrame *dst, char *err,
                        size_t errlen)
{
    char ebuf[128];
    int ret, rc;

    if (!h || !h->device || !src || !dst)
        return dcvenc_err(err, errlen, -EINVAL, "hardware frames: not set up");
    if (src->hw_frames_ctx) {
        const AVHWFramesContext *fc = (const AVHWFramesContext *)(const void *)src->hw_frames_ctx->data;
        if (!dcvenc_hwframes_on_device(src->hw_frames_ctx, h->device))
            return dcvenc_err(err, errlen, -EINVAL,
                              "a %s frame from another device than this session's %s device "
                              "(the host must download it or decode on this device)",
                              fmt_name(src->format), type_name(h->device));
        if (src->format != h->hw_fmt || (int)fc->sw_format != h->sw_fmt ||
            src->width != h->width || src->height != h->height)
            return dcvenc_err(err, errlen, -EINVAL,
                              "hardware frame %dx%d %s/%s does not match the session's %dx%d "
                              "%s/%s",
                              src->width, src->height, fmt_name(src->format),
                              fmt_name(fc->sw_format), h->width, h->height, fmt_name(h->hw_fmt),
                              fmt_name(h->sw_fmt));
        /* Zero copy: the encoder reads the decoder's surface. */
        if ((ret = av_frame_ref(dst, src)) < 0)
            return dcvenc_err(err, errlen, dcvenc_averror(ret), "av_frame_ref: %s",
                              dcvenc_av_strerror(ret, ebuf, sizeof ebuf));
        h->passed++;
        return 1;
    }
    if (src->format != h->sw_fmt || src->width != h->width || src->height != h->height)
        return dcvenc_err(err, errlen, -EINVAL,
                          "frame %dx%d %s does not match the session's %dx%d %s", src->width,
                          src->height, fmt_name(src->format), h->width, h->height,
                          fmt_name(h->sw_fmt));
    if (!h->upload && (rc = make_pool(h, &h->upload, err, errlen)) < 0)
        return rc;
    if ((ret = av_hwframe_get_buffer(h->upload, dst, 0)) < 0) {
        rc = dcvenc_averror(ret);
        return dcvenc_err(err, errlen, rc == -EAGAIN || rc == -ENODATA ? -EIO : rc,
                          "no free %s surface to upload into: %s", type_name(h->device),
                          dcvenc_av_strerror(ret, ebuf, sizeof ebuf));
    }
    /* The pool's surfaces may be larger (alignment); the picture is not. */
    dst->width = src->width;
    dst->height = src->height;
    if ((ret = av_hwframe_transfer_data(dst, src, 0)) < 0 ||
        (ret = av_frame_copy_props(dst, src)) < 0) {
        av_frame_unref(dst);
        rc = dcvenc_averror(ret);
        return dcvenc_err(err, errlen, rc == -EAGAIN || rc == -ENODATA ? -EIO : rc,
                          "uploading a %dx%d %s frame to the %s device: %s", src->width,
                          src->height, fmt_name(src->format), type_name(h->device),
                          dcvenc_av_strerror(ret, ebuf, sizeof ebuf));
    }
    h->uploaded++;
    return 0;
}

void dcvenc_hwframes_free(struct dcvenc_hwframes *h)
{
    if (!h)
        return;
    av_buffer_unref(&h->upload);
    av_buffer_unref(&h->frames);
    av_buffer_unref(&h->device);
}
