/*
 * enc-vtb: H.264 and HEVC through Apple VideoToolbox (macOS).
 *
 * Elsewhere the plugin still builds (--enable-vtb) and loads, and its one
 * entry explains that VideoToolbox is macOS-only. On macOS the probe checks
 * that {h264,hevc}_videotoolbox are compiled into libavcodec, that FFmpeg
 * can create a VideoToolbox device, and that each encoder opens and encodes
 * one small NV12 frame (then P010 with main10). Apple publishes no session
 * cap (failures look like "encoder busy", -12915), so the entry says
 * unlimited unless plugins.vtb.max_sessions sets one.
 *
 * VideoToolbox has no speed preset; the portable scale's steps 1-2 ask for
 * real-time encoding (see families.c). The encode path (VideoToolbox frames
 * and the session's use of them) belongs to the hardware-encoders work; until
 * then the entry is never AVAILABLE and open() fails cleanly
 * (dcvenc_hw_open_gate): -ENODEV with the probe's reason, -ENOTSUP when
 * the hardware is there.
 *
 * Configuration, plugins.vtb { max_sessions = N; }.
 */
#include <stdio.h>
#include <string.h>

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
        dcvenc_hw_pending(caps, "VideoToolbox", tried.found);
    return 1;
}
#endif

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
    .open_gate = dcvenc_hw_open_gate,
};

DCVENC_PLUGIN(vtb, &vtb_desc, "H.264/HEVC on Apple hardware through VideoToolbox")
