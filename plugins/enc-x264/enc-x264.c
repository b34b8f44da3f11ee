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

DCVENC_PLUGIN(x264, &x264_desc, "H.264 on the CPU with libx264")
