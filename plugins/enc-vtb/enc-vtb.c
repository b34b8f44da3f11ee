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

#include <libavcodec/version.h>
#include <libavutil/buffer.h>
#include <libavutil/hwcontext.h>
#include <libavutil/pixfmt.h>
#include <libavutil/version.h>

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
    char msg[256], missing[96] = "", found[64] = "", first_err[256] = "";
    int have = 0;

    for (const struct dcvenc_codec_desc *c = vtb_codecs; c->codec; c++) {
        if (dcvenc_have_encoder(c->encoder)) {
            have = 1;
        } else {
            size_t used = strlen(missing);
            snprintf(missing + used, sizeof missing - used, "%s%s", used ? ", " : "", c->encoder);
        }
    }
    if (!have) {
        dcvenc_caps_unavailable(caps, "%s missing from this FFmpeg build", missing);
        return 1;
    }
    if (dcvenc_hwdevice_open(AV_HWDEVICE_TYPE_VIDEOTOOLBOX, NULL, NULL, &dev, msg, sizeof msg) <
        0) {
        dcvenc_caps_unavailable(caps, "%s", msg);
        return 1;
    }
    for (const struct dcvenc_codec_desc *c = vtb_codecs; c->codec; c++) {
        struct dcv_codec_caps *cc = &caps->codecs[caps->n_codecs];
        if (caps->n_codecs >= DCV_MAX_CODECS ||
            dcvenc_codec_caps(cc, ctx->desc->family, c->codec, c->encoder, c->max_width,
                              c->max_height) < 0)
            continue;
        if (dcvenc_hw_try_encoder(NULL, c->encoder, -1, AV_PIX_FMT_NV12, NULL, NULL, msg,
                                  sizeof msg) < 0) {
            if (!first_err[0])
                dcvenc_strlcpy(first_err, msg, sizeof first_err);
            memset(cc, 0, sizeof *cc);
            continue;
        }
        if ((cc->bit_depths & (1u << 10)) &&
            dcvenc_hw_try_encoder(NULL, c->encoder, -1, AV_PIX_FMT_P010LE,
                                  dcvenc_profile_for(ctx->desc->family, c->codec, 10, 0, NULL),
                                  NULL, msg, sizeof msg) < 0)
            dcvenc_caps_drop_depth(cc, 10);
        if (cc->bit_depths & (1u << 10))
            caps->flags |= DCV_CAP_TEN_BIT;
        snprintf(found + strlen(found), sizeof found - strlen(found), "%s%s", found[0] ? ", " : "",
                 c->codec);
        caps->n_codecs++;
    }
    av_buffer_unref(&dev);
    if (!caps->n_codecs)
        dcvenc_caps_unavailable(caps, "VideoToolbox encodes neither h264 nor hevc here (%s)",
                                first_err);
    else
        dcvenc_caps_unavailable(caps,
                                "VideoToolbox encodes %s, but the hardware encode path "
                                "arrives with the hardware-encoders work",
                                found);
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

static int vtb_init(const struct dcv_host_api *host, const struct dcv_config *cfg, void **pctx,
                    char *err, size_t errlen)
{
    return dcvenc_plugin_init(&vtb_desc, host, cfg, pctx, err, errlen);
}

static const struct dcv_plugin_header vtb_header = {
    .magic = DCV_PLUGIN_MAGIC,
    .abi_major = DCV_ABI_MAJOR,
    .abi_minor = DCV_ABI_MINOR,
    .struct_size = sizeof(struct dcv_plugin_header),
    .kind = DCV_PLUGIN_ENCODER,
    .avcodec_major = LIBAVCODEC_VERSION_MAJOR,
    .avutil_major = LIBAVUTIL_VERSION_MAJOR,
    .name = "vtb",
    .version = PACKAGE_VERSION,
    .license = "GPL-2.0-or-later",
    .description = "H.264/HEVC on Apple hardware through VideoToolbox",
    .init = vtb_init,
    .fini = dcvenc_plugin_fini,
    .ops = &dcvenc_encoder_ops,
};

DCV_EXPORT const struct dcv_plugin_header *dcv_plugin_query_v1(void)
{
    return &vtb_header;
}
