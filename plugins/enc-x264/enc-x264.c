/*
 * enc-x264: H.264 through libavcodec's libx264, 8- and 10-bit as far as the
 * linked libx264 goes. Everything but this description lives in
 * plugins/common (the family table "x264" is in families.c).
 *
 * Configuration, plugins.x264 { ... }:
 *   threads      = 0;        encoder threads when a job sets none (0 = auto)
 *   tune         = "film";   x264 tune(s), comma separated
 *   x264_params  = "...";    passed through as x264-params (key=value:...)
 *   max_sessions = 4;        cap concurrent sessions on this host
 */
#include <libavcodec/version.h>
#include <libavutil/version.h>

#include "build-config.h"
#include "encplugin.h"

static const struct dcvenc_codec_desc x264_codecs[] = {
    /* x264 refuses either side above 16384 ("invalid width x height"). */
    {"h264", "libx264", 16384, 16384},
    {NULL, NULL, 0, 0},
};

static const struct dcvenc_desc x264_desc = {
    .name = "x264",
    .family = &dcvenc_family_x264,
    .codecs = x264_codecs,
    .params_key = "x264_params",
    .cfg_tune = 1,
};

static int x264_init(const struct dcv_host_api *host, const struct dcv_config *cfg, void **pctx,
                     char *err, size_t errlen)
{
    return dcvenc_plugin_init(&x264_desc, host, cfg, pctx, err, errlen);
}

static const struct dcv_plugin_header x264_header = {
    .magic = DCV_PLUGIN_MAGIC,
    .abi_major = DCV_ABI_MAJOR,
    .abi_minor = DCV_ABI_MINOR,
    .struct_size = sizeof(struct dcv_plugin_header),
    .kind = DCV_PLUGIN_ENCODER,
    .avcodec_major = LIBAVCODEC_VERSION_MAJOR,
    .avutil_major = LIBAVUTIL_VERSION_MAJOR,
    .name = "x264",
    .version = PACKAGE_VERSION,
    .license = "GPL-2.0-or-later",
    .description = "H.264 on the CPU with libx264",
    .init = x264_init,
    .fini = dcvenc_plugin_fini,
    .ops = &dcvenc_encoder_ops,
};

DCV_EXPORT const struct dcv_plugin_header *dcv_plugin_query_v1(void)
{
    return &x264_header;
}
