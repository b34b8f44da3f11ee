/*
 * enc-qsv: H.264, HEVC and AV1 through Intel Quick Sync (oneVPL / Media
 * SDK), one device per Intel render node.
 *
 * The probe checks for real, in order, and stops at the first problem:
 *   1. {h264,hevc,av1}_qsv are compiled into libavcodec;
 *   2. an Intel render node exists (PCI vendor 0x8086 in sysfs): QSV runs
 *      on Intel GPUs only, so other vendors' nodes do not count;
 *   3. the node may be opened read-write;
 *   4. FFmpeg can create a VA-API device on it and derive a QSV device
 *      from that (av_hwdevice_ctx_create_derived), which needs a working
 *      Intel runtime (oneVPL or Media SDK);
 *   5. each encoder opens on a small QSV frames pool and encodes three
 *      uploaded frames (NV12, then P010 with a 10-bit profile); a device
 *      with at least one is AVAILABLE.
 * Intel documents no session cap: unlimited unless
 * plugins.qsv.max_sessions sets one (counted per device).
 *
 * Encoding: a session derives its own QSV device from a VA-API device on
 * the node (or takes the host's QSV device), makes a fixed QSV surface
 * pool sized for the encoder's async depth, lookahead and B-frames (QSV
 * cannot grow a pool) and uploads each software NV12/P010 frame into it.
 * No zero copy is offered (hw_device stays ""): FFmpeg's native decoders
 * do not decode to QSV surfaces, and mapping VA-API surfaces into a
 * derived QSV context is not done here.
 *
 * Configuration, plugins.qsv { max_sessions = N; device = "/dev/dri/renderD128"; }:
 * device names the Intel render node to use (default: every Intel node).
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
#include "hwframes.h"
#include "hwprobe.h"

#define MAX_NODES 16
#define PCI_VENDOR_INTEL 0x8086

static const struct dcvenc_codec_desc qsv_codecs[] = {
    /* Sizes depend on the GPU generation; 0 = unknown until the encode
     * path queries them. */
    {"h264", "h264_qsv", 0, 0},
    {"hevc", "hevc_qsv", 0, 0},
    {"av1", "av1_qsv", 0, 0},
    {NULL, NULL, 0, 0},
};

/* A QSV device on the render node: VA-API there, QSV derived from it (how
 * FFmpeg itself sets QSV up on Linux, and the VA-API device stays the
 * surfaces' owner). */
static int qsv_device(const char *node, AVBufferRef **out, char *err, size_t errlen)
{
    AVBufferRef *va = NULL;
    char ebuf[128];
    int ret, rc;

    if ((rc = dcvenc_hwdevice_open(AV_HWDEVICE_TYPE_VAAPI, node, NULL, &va, err, errlen)) < 0)
        return rc;
    ret = av_hwdevice_ctx_create_derived(out, AV_HWDEVICE_TYPE_QSV, va, 0);
    av_buffer_unref(&va);
    if (ret < 0) {
        rc = dcvenc_averror(ret);
        return dcvenc_err(err, errlen, rc == -EAGAIN || rc == -ENODATA ? -ENODEV : rc,
                          "cannot derive a QSV device from VA-API on %s: %s", node,
                          dcvenc_av_strerror(ret, ebuf, sizeof ebuf));
    }
    return 0;
}

static int qsv_probe(struct dcvenc_ctx *ctx, uint32_t index, struct dcv_device_caps *caps)
{
    struct dcvenc_render_node nodes[MAX_NODES];
    const struct dcvenc_render_node *node = NULL;
    AVBufferRef *dev = NULL;
    struct dcvenc_hw_tried tried;
    char msg[256], missing[96], others[128] = "";
    int n, have, rc;
    uint32_t seen = 0;

    caps->hw_type = DCV_HW_QSV;
    caps->flags |= DCV_CAP_HARDWARE;
    caps->max_sessions_scope = DCV_SCOPE_UNLIMITED;
    caps->max_sessions_source = DCV_LIMIT_VENDOR;

    have = dcvenc_have_any_encoder(qsv_codecs, missing, sizeof missing);

    n = dcvenc_render_nodes("/dev/dri", "/sys/class/drm", nodes, MAX_NODES);
    for (int i = 0; i < n; i++) {
        if (ctx->device && strcmp(nodes[i].path, ctx->device) != 0)
            continue;
        if (nodes[i].vendor == PCI_VENDOR_INTEL || ctx->device) {
            if (seen++ == index)
                node = &nodes[i];
        } else {
            const char *v = dcvenc_vendor_name(nodes[i].vendor);
            size_t used = strlen(others);
            snprintf(others + used, sizeof others - used, "%s%s (%s)", used ? ", " : "",
                     nodes[i].name, v ? v : "unknown vendor");
        }
    }
    if (!node) {
        if (index > 0)
            return 0;
        dcvenc_strlcpy(caps->device_id, "none", sizeof caps->device_id);
        dcvenc_strlcpy(caps->device_name, "Intel Quick Sync (no device)", sizeof caps->device_name);
        if (!have)
            dcvenc_caps_unavailable(caps, "%s missing from this FFmpeg build", missing);
        else if (ctx->device)
            dcvenc_caps_unavailable(caps, "plugins.qsv.device %s is not a render node here",
                                    ctx->device);
        else if (n <= 0)
            dcvenc_caps_unavailable(caps, "no Intel GPU render node (no /dev/dri/renderD* at all)");
        else
            dcvenc_caps_unavailable(caps, "no Intel GPU render node (found %s)", others);
        return 1;
    }
    dcvenc_strlcpy(caps->device_id, node->path, sizeof caps->device_id);
    if (node->device)
        snprintf(caps->device_name, sizeof caps->device_name, "Intel GPU %04x (%s)", node->device,
                 node->name);
    else
        snprintf(caps->device_name, sizeof caps->device_name, "Intel GPU (%s)", node->name);
    if (!have) {
        dcvenc_caps_unavailable(caps, "%s missing from this FFmpeg build", missing);
        return 1;
    }
    if (dcvenc_node_access(node->path, msg, sizeof msg) < 0) {
        dcvenc_caps_unavailable(caps, "%s", msg);
        return 1;
    }
    rc = qsv_device(node->path, &dev, msg, sizeof msg);
    if (rc < 0) {
        dcvenc_caps_unavailable(caps,
                                "%s: %s (is the Intel media runtime, oneVPL or Media SDK, "
                                "installed?)",
                                node->path, msg);
        return 1;
    }

    dcvenc_hw_try_codecs(ctx, caps, qsv_codecs, dev, AV_PIX_FMT_QSV, node->path, &tried);
    av_buffer_unref(&dev);

    dcvenc_apply_session_config(ctx, caps, DCV_SCOPE_PER_DEVICE);
    if (!caps->n_codecs)
        dcvenc_caps_unavailable(caps, "Quick Sync on %s encodes none of h264, hevc, av1 (%s)",
                                node->path, tried.first_err);
    else
        caps->flags |= DCV_CAP_AVAILABLE;
    return 1;
}

static int qsv_hw_setup(struct dcvenc_ctx *ctx, const struct dcv_enc_params *p,
                        const struct dcv_device_caps *caps, struct dcvenc_hwsetup *out, char *err,
                        size_t errlen)
{
    (void)ctx;
    out->hw_fmt = AV_PIX_FMT_QSV;
    out->pool_size = -1; /* fixed, sized for the encoder */
    if (p->hw_device && dcvenc_hwdevice_type(p->hw_device) == AV_HWDEVICE_TYPE_QSV) {
        if (!(out->device = av_buffer_ref(p->hw_device)))
            return dcvenc_err(err, errlen, -ENOMEM, "out of memory");
        out->frames = p->hw_frames;
        return 0;
    }
    return qsv_device(caps->device_id, &out->device, err, errlen);
}

static const struct dcvenc_desc qsv_desc = {
    .name = "qsv",
    .family = &dcvenc_family_qsv,
    .codecs = qsv_codecs,
    .probe = qsv_probe,
    .hw_setup = qsv_hw_setup,
    .cfg_device = 1,
};

DCVENC_PLUGIN(qsv, &qsv_desc, "H.264/HEVC/AV1 on Intel GPUs through Quick Sync Video")
