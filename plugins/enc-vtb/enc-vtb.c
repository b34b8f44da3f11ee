/*
 * enc-vtb: H.264 and HEVC through Apple VideoToolbox (macOS).
 *
 * Elsewhere the plugin still builds (--enable-vtb) and loads, and its one
 * entry explains that VideoToolbox is macOS-only. On macOS the probe checks
 * that {h264,hevc}_videotoolbox are compiled into libavcodec, that FFmpeg
 * can create a VideoToolbox device, and that each encoder opens and encodes
 * three small NV12 frames (then P010 with main10). Apple publishes no session
 * cap (failures look like "encoder busy", -12915), so the entry says
 * unlimited unless plugins.vtb.max_sessions sets one.
 *
 * VideoToolbox has no speed preset; the portable scale's steps 1-2 ask for
 * real-time encoding (see families.c).
 *
 * Encoding: the encoders take system-memory NV12/P010/yuv420p frames and
 * open their own VideoToolbox session, so a session needs no device and no
 * upload; no zero copy is offered (hw_device ""). When avcodec_open2()
 * fails, FFmpeg says only AVERROR_EXTERNAL; the plugin then asks
 * VideoToolbox itself (VTCompressionSessionCreate, loaded with dlopen) for
 * the status, so -12915 (kVTVideoEncoderNotAvailableNowErr: busy) becomes
 * -EBUSY (hwopen.h). That code is built on macOS only and has never run in
 * this project's CI (no macOS machine): it is written to Apple's
 * documented C API.
 *
 * Configuration, plugins.vtb { max_sessions = N; }.
 */
#include <stdio.h>
#include <string.h>
#ifdef __APPLE__
#include <dlfcn.h>
#include <stdint.h>
#include <libavutil/error.h>
#endif

#include <libavutil/buffer.h>
#include <libavutil/hwcontext.h>
#include <libavutil/pixfmt.h>

#include "build-config.h"
#include "enccaps.h"
#include "encplugin.h"
#include "encutil.h"
#include "hwprobe.h"

static const struct dcvenc_codec_desc vtb_codecs[] = {
    {"h264", "h264_videotoolbox", 4096, 4096},
    {"hevc", "hevc_videotoolbox", 8192, 8192},
    {NULL, NULL, 0, 0},
};

#ifdef __APPLE__
static int vtb_probe_apple(struct dcvenc_ctx *ctx, struct dcv_device_caps *caps)
{
    AVBufferRef *dev = NULL;
    struct dcvenc_hw_tried tried;
    char msg[256], missing[96];

    if (!dcvenc_have_any_encoder(vtb_codecs, missing, sizeof missing)) {
        dcvenc_caps_unavailable(caps, "%s missing from this FFmpeg build", missing);
        return 1;
    }
    if (dcvenc_hwdevice_open(AV_HWDEVICE_TYPE_VIDEOTOOLBOX, NULL, NULL, &dev, msg, sizeof msg) <
        0) {
        dcvenc_caps_unavailable(caps, "%s", msg);
        return 1;
    }
    /* The encoders open their own VideoToolbox session from system-memory
     * frames (no device, no hardware pixel format); the device above only
     * shows that VideoToolbox works at all. With one device, first_err in
     * the reason says enough: no debug line per failure. */
    dcvenc_hw_try_codecs(ctx, caps, vtb_codecs, NULL, -1, NULL, &tried);
    av_buffer_unref(&dev);
    if (!caps->n_codecs)
        dcvenc_caps_unavailable(caps, "VideoToolbox encodes neither h264 nor hevc here (%s)",
                                tried.first_err);
    else
        caps->flags |= DCV_CAP_AVAILABLE;
    return 1;
}

/*
 * The OSStatus of a compression session like the one FFmpeg failed to
 * create (codec and size; FFmpeg adds properties, which do not decide
 * whether the hardware is free). Types are spelled as the C ABI sees them
 * (CoreFoundation objects are pointers, FourCC codec types uint32_t), so
 * no Apple header is needed.
 */
typedef int32_t (*vt_create_fn)(const void *alloc, int32_t w, int32_t h, uint32_t codec,
                                const void *enc_spec, const void *src_attrs,
                                const void *data_alloc, void *cb, void *cb_ref, void **out);
typedef void (*vt_invalidate_fn)(void *session);
typedef void (*cf_release_fn)(const void *obj);

static int vtb_open_hint(struct dcvenc_ctx *ctx, const struct dcvenc_hwsetup *hw,
                         const struct dcv_codec_caps *cc, const struct dcv_enc_params *p,
                         int averr)
{
    static void *vt, *cf;
    vt_create_fn create = NULL;
    vt_invalidate_fn invalidate = NULL;
    cf_release_fn release = NULL;
    void *session = NULL, *sym;
    int32_t status;

    (void)ctx, (void)hw;
    if (averr != AVERROR_EXTERNAL)
        return 0;
    /* Never dlclose()d: the frameworks are loaded by FFmpeg anyway. */
    if (!vt)
        vt = dlopen("/System/Library/Frameworks/VideoToolbox.framework/VideoToolbox", RTLD_NOW);
    if (!cf)
        cf = dlopen("/System/Library/Frameworks/CoreFoundation.framework/CoreFoundation",
                    RTLD_NOW);
    if (!vt || !cf)
        return 0;
    sym = dlsym(vt, "VTCompressionSessionCreate");
    memcpy(&create, &sym, sizeof sym);
    sym = dlsym(vt, "VTCompressionSessionInvalidate");
    memcpy(&invalidate, &sym, sizeof sym);
    sym = dlsym(cf, "CFRelease");
    memcpy(&release, &sym, sizeof sym);
    if (!create || !invalidate || !release)
        return 0;
    status = create(NULL, p->width, p->height,
                    strcmp(cc->codec, "hevc") == 0 ? 0x68766331u /* 'hvc1' */
                                                   : 0x61766331u /* 'avc1' */,
                    NULL, NULL, NULL, NULL, NULL, &session);
    if (session) {
        invalidate(session);
        release(session);
    }
    return status;
}
#endif

static int vtb_hw_setup(struct dcvenc_ctx *ctx, const struct dcv_enc_params *p,
                        const struct dcv_device_caps *caps, struct dcvenc_hwsetup *out, char *err,
                        size_t errlen)
{
    (void)ctx, (void)p, (void)caps, (void)err, (void)errlen;
    out->device = NULL; /* the encoder opens its own session */
    out->hw_fmt = -1;
    return 0;
}

static int vtb_probe(struct dcvenc_ctx *ctx, uint32_t index, struct dcv_device_caps *caps)
{
    if (index > 0)
        return 0;
    caps->hw_type = DCV_HW_VIDEOTOOLBOX;
    caps->flags |= DCV_CAP_HARDWARE;
    caps->max_sessions_scope = DCV_SCOPE_UNLIMITED;
    caps->max_sessions_source = DCV_LIMIT_VENDOR;
    dcvenc_strlcpy(caps->device_id, "videotoolbox", sizeof caps->device_id);
    dcvenc_strlcpy(caps->device_name, "Apple VideoToolbox", sizeof caps->device_name);
    dcvenc_apply_session_config(ctx, caps, DCV_SCOPE_PER_HOST);
#ifdef __APPLE__
    return vtb_probe_apple(ctx, caps);
#else
    dcvenc_caps_unavailable(caps, "VideoToolbox is only available on macOS");
    return 1;
#endif
}

static const struct dcvenc_desc vtb_desc = {
    .name = "vtb",
    .family = &dcvenc_family_vtb,
    .codecs = vtb_codecs,
    .probe = vtb_probe,
    .hw_setup = vtb_hw_setup,
#ifdef __APPLE__
    .open_hint = vtb_open_hint,
#endif
};

DCVENC_PLUGIN(vtb, &vtb_desc, "H.264/HEVC on Apple hardware through VideoToolbox")
