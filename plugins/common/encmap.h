/*
 * Portable encode parameters -> one libavcodec encoder's settings.
 *
 * Each encoder family (x264, x265, nvenc, vaapi, qsv, vtb) is one
 * struct dcvenc_family: its documented tables (the 1..7 preset scale,
 * profiles, tunes, accepted input formats) and a map() hook for the part
 * that really differs (rate control). Plugins pick their family by
 * pointer, never by comparing names.
 *
 * dcvenc_map() is pure: it writes only the given AVCodecContext fields and
 * the options dictionary (applied later to the encoder's private options),
 * so tests can check every table without opening an encoder. The codec
 * context may come from avcodec_alloc_context3(NULL); when it was allocated
 * for the real encoder, the mapping also checks that profile names exist in
 * that FFmpeg build.
 */
#ifndef DCVENC_ENCMAP_H
#define DCVENC_ENCMAP_H

#include <stddef.h>
#include <stdint.h>
#include "distconv/plugin.h"

struct AVCodecContext;
struct AVDictionary;

/* Plugin-wide defaults from the plugin's configuration subtree. */
struct dcvenc_opts {
    uint32_t threads;         /* used when params->threads is 0; 0 = auto */
    const char *tune;         /* family tune name(s), comma separated; NULL = none */
    const char *codec_params; /* x264-params / x265-params from the config; NULL = none */
};

struct dcvenc_profile {
    const char *codec; /* portable codec name ("h264") */
    const char *name;  /* value of the encoder's "profile" option */
    uint32_t depths;   /* bit depths it carries: (1u << 8) | (1u << 10) */
    int chroma;        /* widest chroma: 0 = 4:2:0 (or gray), 1 = 4:2:2, 2 = 4:4:4 */
};

struct dcvenc_family {
    const char *name; /* names the table in errors and docs/plugin-abi.md */
    /* presets[1..7]: value of preset_opt for each step of the portable
     * scale; preset_opt NULL when the family maps presets in map(). */
    const char *preset_opt;
    const char *const *presets;
    const struct dcvenc_profile *profiles; /* {NULL}-terminated, best first per codec */
    const char *const *tunes;              /* NULL-terminated; NULL: no tune option */
    const char *ll_tune;                   /* tune that DCV_ENC_LOW_LATENCY adds, or NULL */
    int tune_list;                         /* tune takes a comma list (x264) */
    /* Software input formats the plugin accepts, best first, -1 terminated.
     * Filtered at probe time by what the encoder in this FFmpeg takes. */
    const int32_t *pix_fmts;
    const void *priv; /* family-specific constants for map() */
    /* Rate control and everything else the family does its own way.
     * Called after the generic fields and the preset/profile/tune handling;
     * returns 0 or a negative errno with the reason in err. */
    int (*map)(const struct dcvenc_family *fam, const struct dcv_enc_params *p,
               const struct dcvenc_opts *o, struct AVCodecContext *ctx, struct AVDictionary **opts,
               char *err, size_t errlen);
};

extern const struct dcvenc_family dcvenc_family_x264;
extern const struct dcvenc_family dcvenc_family_x265;
extern const struct dcvenc_family dcvenc_family_nvenc;
extern const struct dcvenc_family dcvenc_family_vaapi;
extern const struct dcvenc_family dcvenc_family_qsv;
extern const struct dcvenc_family dcvenc_family_vtb;

/*
 * Fill ctx and *opts from p (and the plugin defaults o, may be NULL):
 *   generic  width, height, pix_fmt, time_base, framerate, sample aspect
 *            ratio, colour properties, thread_count (params, else config,
 *            else 0 = auto: what the ffmpeg CLI does), gop_size, max_b_frames,
 *            GLOBAL_HEADER -> AV_CODEC_FLAG_GLOBAL_HEADER,
 *            LOW_LATENCY -> AV_CODEC_FLAG_LOW_DELAY and no B-frames;
 *   family   preset (0 = 4), tune (config + LOW_LATENCY), profile (explicit
 *            one validated against the table, else the first table profile
 *            that carries a 10-bit input), then fam->map() for rate control.
 * Checks the values it maps (preset range, quality range, bitrates,
 * profile/bit depth/chroma, flags); frame geometry against an encoder's
 * limits is dcvenc_check_params()'s job. 0, -EINVAL (wrong in itself),
 * -ENOTSUP (this family cannot), -ENOMEM.
 */
int dcvenc_map(const struct dcvenc_family *fam, const struct dcv_enc_params *p,
               const struct dcvenc_opts *o, struct AVCodecContext *ctx, struct AVDictionary **opts,
               char *err, size_t errlen);

/* Is `tune` (config text) acceptable to fam: known names, a comma list
 * only where the family takes one? 0 or -EINVAL naming the choices. */
int dcvenc_check_tune(const struct dcvenc_family *fam, const char *tune, char *err, size_t errlen);

/* The preset option value for step `level` (0 = default) or NULL when the
 * family has no preset option or level > 7. */
const char *dcvenc_preset_name(const struct dcvenc_family *fam, uint32_t level);

/*
 * Parse "key=value:key=value" into *out (appending). A backslash escapes
 * the next character and '...' quotes a span, so values may contain ':' or
 * '=' (x264-params='keyint=60:bframes=2'). Empty input is fine. Malformed
 * input (an item without '=', an empty key, a dangling backslash or an
 * unclosed quote) is -EINVAL naming the item.
 */
int dcvenc_parse_kv(const char *s, struct AVDictionary **out, char *err, size_t errlen);

/*
 * Set every entry of *opts on the encoder, private options first and the
 * generic codec-context options second (av_opt_set with
 * AV_OPT_SEARCH_CHILDREN looks in priv_data before the context itself).
 * `what` names the source in errors ("extra_opts"). An unknown key or a bad
 * value is -EINVAL naming the key and the encoder. *opts is freed.
 */
int dcvenc_apply_opts(struct AVCodecContext *ctx, struct AVDictionary **opts, const char *what,
                      char *err, size_t errlen);

/* Is `name` a profile the encoder behind ctx (if any) accepts? 1 yes, 0 no;
 * 1 when ctx has no encoder or a free-form (string) profile option. */
int dcvenc_encoder_has_profile(const struct AVCodecContext *ctx, const char *name);

/* The first profile of fam's table for codec that carries depth bits at
 * chroma class `chroma` (0 4:2:0, 1 4:2:2, 2 4:4:4) and that priv_class
 * (an encoder's AVClass, may be NULL) accepts; NULL when there is none. */
const char *dcvenc_profile_for(const struct dcvenc_family *fam, const char *codec, unsigned depth,
                               int chroma, const void *priv_class);

/* Same for an AVClass (the encoder's priv_class), for probing. */
int dcvenc_class_has_profile(const void *priv_class, const char *name);

#endif
