/*
 * enc-x265: HEVC through libavcodec's libx265, 8- and 10-bit as far as the
 * linked libx265 goes. Everything but this description lives in
 * plugins/common (the family table "x265" is in families.c).
 *
 * Configuration, plugins.x265 { ... }:
 *   threads      = 0;        frame threads when a job sets none (0 = auto)
 *   tune         = "grain";  one x265 tune
 *   x265_params  = "...";    appended to x265-params (key=value:...), e.g.
 *                            "pools=4" to bound x265's worker threads; the
 *                            plugin always starts the string with
 *                            log-level=error (x265 logs to stderr itself)
 *   max_sessions = 4;        cap concurrent sessions on this host
 */

#include "build-config.h"
#include "encplugin.h"

static const struct dcvenc_codec_desc x265_codecs[] = {
    /* x265 itself enforces no maximum; HEVC's largest level (6.2) allows
     * 16888 samples on a side (sqrt(8 * MaxLumaPs)) and 35651584 in all,
     * e.g. 8192x4352. The per-side limit is what caps can express. */
    {"hevc", "libx265", 16888, 16888},
    {NULL, NULL, 0, 0},
};

static const struct dcvenc_desc x265_desc = {
    .name = "x265",
    .family = &dcvenc_family_x265,
    .codecs = x265_codecs,
    .params_key = "x265_params",
    .cfg_tune = 1,
};

DCVENC_PLUGIN(x265, &x265_desc, "HEVC (H.265) on the CPU with libx265")
