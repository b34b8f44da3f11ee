/*
 * enc-vaapi: H.264, HEVC, AV1 and VP9 through VA-API (Intel iHD/i965, AMD
 * and others through Mesa), one device per DRM render node.
 *
 * The probe checks for real, in order, and stops at the first problem,
 * which becomes the device's unavailable_reason:
 *   1. /dev/dri/renderD* exist (vendor from /sys/class/drm/<node>/device);
 *   2. {h264,hevc,av1,vp9}_vaapi are compiled into libavcodec;
 *   3. the node may be opened read-write (else: which group to join);
 *   4. FFmpeg can create a VAAPI device on it (av_hwdevice_ctx_create);
 *   5. each encoder opens on a small hardware frames pool (8-bit NV12,
 *      then P010 with a 10-bit profile), which is where the driver says
 *      whether it has an encode entrypoint for that codec.
 * VA-API has no licensing cap on sessions; throughput is the limit, so the
 * entry says unlimited unless plugins.vaapi.max_sessions sets one (counted
 * per device).
 *
 * Encoding itself needs a hardware frames context and an upload per frame,
 * which belongs to the hardware-encoders work. Until then the entry is never
 * AVAILABLE and open() fails cleanly (dcvenc_hw_open_gate): -ENODEV with the
 * probe's reason, or -ENOTSUP when the hardware is there.
 *
 * Configuration, plugins.vaapi { max_sessions = N; }.
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

#define MAX_NODES 16

static const struct dcvenc_codec_desc vaapi_codecs[] = {
    /* Sizes are the driver's business; 0 = unknown until the encode path
     * queries the frames constraints. */
    {"h264", "h264_vaapi", 0, 0}, {"hevc", "hevc_vaapi", 0, 0}, {"av1", "av1_vaapi", 0, 0},
    {"vp9", "vp9_vaapi", 0, 0},   {NULL, NULL, 0, 0},
};

static int vaapi_probe(struct dcvenc_ctx *ctx, uint32_t index, struct dcv_device_caps *caps)
{
    struct dcvenc_render_node nodes[MAX_NODES];
    const struct dcvenc_render_node *node;
    const char *vendor;
    AVBufferRef *dev = NULL;
    struct dcvenc_hw_tried tried;
    char msg[256], missing[96];
    int n;

    caps->hw_type = DCV_HW_VAAPI;
    caps->flags |= DCV_CAP_HARDWARE;
    caps->max_sessions_scope = DCV_SCOPE_UNLIMITED;
    caps->max_sessions_source = DCV_LIMIT_VENDOR;

    n = dcvenc_render_nodes("/dev/dri", "/sys/class/drm", nodes, MAX_NODES);
    if (n <= 0) {
        if (index > 0)
            return 0;
        dcvenc_strlcpy(caps->device_id, "none", sizeof caps->device_id);
        dcvenc_strlcpy(caps->device_name, "VA-API (no device)", sizeof caps->device_name);
        if (n < 0)
            dcvenc_caps_unavailable(caps, "cannot read /dev/dri: %s", strerror(-n));
        else
            dcvenc_caps_unavailable(caps, "no /dev/dri/renderD* device (no GPU driver loaded, "
                                          "or a container started without /dev/dri)");
        return 1;
    }
    if (index >= (uint32_t)n)
        return 0;
    node = &nodes[index];
    vendor = dcvenc_vendor_name(node->vendor);
    dcvenc_strlcpy(caps->device_id, node->path, sizeof caps->device_id);
    if (vendor && node->device)
        snprintf(caps->device_name, sizeof caps->device_name, "%s GPU %04x (%s)", vendor,
                 node->device, node->name);
    else if (vendor)
        snprintf(caps->device_name, sizeof caps->device_name, "%s GPU (%s)", vendor, node->name);
    else
        snprintf(caps->device_name, sizeof caps->device_name, "GPU %04x:%04x (%s)", node->vendor,
                 node->device, node->name);

    if (!dcvenc_have_any_encoder(vaapi_codecs, missing, sizeof missing)) {
        dcvenc_caps_unavailable(caps, "%s missing from this FFmpeg build", missing);
        return 1;
    }
    if (dcvenc_node_access(node->path, msg, sizeof msg) < 0) {
        dcvenc_caps_unavailable(caps, "%s", msg);
        return 1;
    }
    if (dcvenc_hwdevice_open(AV_HWDEVICE_TYPE_VAAPI, node->path, NULL, &dev, msg, sizeof msg) < 0) {
        /* FFmpeg's own log line has the detail ("No VA display found"). */
        dcvenc_caps_unavailable(caps,
                                "%s (is a VA-API driver for this GPU installed, e.g. "
                                "intel-media-va-driver or mesa-va-drivers?)",
                                msg);
        return 1;
    }

    /* The driver answers per codec only when the encoder opens on its frames. */
    dcvenc_hw_try_codecs(ctx, caps, vaapi_codecs, dev, AV_PIX_FMT_VAAPI, node->path, &tried);
    av_buffer_unref(&dev);

    dcvenc_apply_session_config(ctx, caps, DCV_SCOPE_PER_DEVICE);
    if (!caps->n_codecs)
        dcvenc_caps_unavailable(caps,
                                "the VA-API driver on %s encodes none of h264, hevc, av1, "
                                "vp9 (%s)",
                                node->path, tried.first_err);
    else
        dcvenc_hw_pending(caps, caps->device_name, tried.found);
    return 1;
}

static const struct dcvenc_desc vaapi_desc = {
    .name = "vaapi",
    .family = &dcvenc_family_vaapi,
    .codecs = vaapi_codecs,
    .probe = vaapi_probe,
    .open_gate = dcvenc_hw_open_gate,
};

DCVENC_PLUGIN(vaapi, &vaapi_desc, "H.264/HEVC/AV1/VP9 on Intel and AMD GPUs through VA-API")
