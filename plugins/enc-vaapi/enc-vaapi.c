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
 *   5. each encoder opens on a small hardware frames pool and encodes
 *      three uploaded frames (8-bit NV12, then P010 with a 10-bit
 *      profile), which is where the driver says whether it has an encode
 *      entrypoint for that codec; a device with at least one is AVAILABLE.
 * VA-API has no licensing cap on sessions; throughput is the limit, so the
 * entry says unlimited unless plugins.vaapi.max_sessions sets one (counted
 * per device).
 *
 * Encoding: the encoders take VAAPI surfaces only. A session uses the
 * host's VAAPI device when it passes one (ABI 1.2: it decoded there; its
 * surfaces go straight to the encoder, zero copy), else its own device on
 * the render node, and uploads software NV12/P010 frames into a surface
 * pool sized for the encoder's options (hwframes.c).
 *
 * Configuration, plugins.vaapi { max_sessions = N; device = "/dev/dri/renderD129"; }:
 * device limits the plugin to that one render node (default: every node).
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <libavutil/buffer.h>
#include <libavutil/hwcontext.h>
#include <libavutil/pixfmt.h>

#include "build-config.h"
#include "enccaps.h"
#include "encplugin.h"
#include "encutil.h"
#include "hwframes.h"
#include "hwprobe.h"

#define MAX_NODES 16

static const struct dcvenc_codec_desc vaapi_codecs[] = {
    /* Sizes are the driver's business; 0 = unknown until the encode path
     * queries the frames constraints. */
    {"h264", "h264_vaapi", 0, 0}, {"hevc", "hevc_vaapi", 0, 0}, {"av1", "av1_vaapi", 0, 0},
    {"vp9", "vp9_vaapi", 0, 0},   {NULL, NULL, 0, 0},
};

/* Keep only the node at `path` (plugins.vaapi.device); a path that is
 * no render node at all (a symlink, /dev/dri/by-path/...) is taken as
 * given. */
static int only_node(const char *path, struct dcvenc_render_node *nodes, int n)
{
    for (int i = 0; i < n; i++)
        if (strcmp(nodes[i].path, path) == 0) {
            nodes[0] = nodes[i];
            return 1;
        }
    if (access(path, F_OK) != 0)
        return 0;
    memset(&nodes[0], 0, sizeof nodes[0]);
    dcvenc_strlcpy(nodes[0].path, path, sizeof nodes[0].path);
    dcvenc_strlcpy(nodes[0].name, strrchr(path, '/') + 1, sizeof nodes[0].name);
    return 1;
}

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
    if (ctx->device)
        n = only_node(ctx->device, nodes, n);
    if (n <= 0 && ctx->device) {
        if (index > 0)
            return 0;
        dcvenc_strlcpy(caps->device_id, ctx->device, sizeof caps->device_id);
        dcvenc_strlcpy(caps->device_name, "VA-API (no device)", sizeof caps->device_name);
        dcvenc_caps_unavailable(caps, "plugins.vaapi.device %s is not a render node here",
                                ctx->device);
        return 1;
    }
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
    dcvenc_strlcpy(caps->hw_device, node->path, sizeof caps->hw_device);
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
        caps->flags |= DCV_CAP_AVAILABLE;
    return 1;
}

static int vaapi_hw_setup(struct dcvenc_ctx *ctx, const struct dcv_enc_params *p,
                          const struct dcv_device_caps *caps, struct dcvenc_hwsetup *out,
                          char *err, size_t errlen)
{
    (void)ctx;
    out->hw_fmt = AV_PIX_FMT_VAAPI;
    out->pool_size = -1; /* sized for the encoder's B-frames and async depth */
    /* The host opened its device from our caps->hw_device (the ABI's
     * contract), so a VAAPI one is this render node. */
    if (p->hw_device && dcvenc_hwdevice_type(p->hw_device) == AV_HWDEVICE_TYPE_VAAPI) {
        if (!(out->device = av_buffer_ref(p->hw_device)))
            return dcvenc_err(err, errlen, -ENOMEM, "out of memory");
        out->frames = p->hw_frames;
        return 0;
    }
    return dcvenc_hwdevice_open(AV_HWDEVICE_TYPE_VAAPI, caps->hw_device, NULL, &out->device, err,
                                errlen);
}

static const struct dcvenc_desc vaapi_desc = {
    .name = "vaapi",
    .family = &dcvenc_family_vaapi,
    .codecs = vaapi_codecs,
    .probe = vaapi_probe,
    .hw_setup = vaapi_hw_setup,
    .cfg_device = 1,
};

DCVENC_PLUGIN(vaapi, &vaapi_desc, "H.264/HEVC/AV1/VP9 on Intel and AMD GPUs through VA-API")
