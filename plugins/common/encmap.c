#include "encmap.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libavcodec/avcodec.h>
#include <libavutil/dict.h>
#include <libavutil/opt.h>
#include <libavutil/pixdesc.h>

#include "encutil.h"

#define KNOWN_ENC_FLAGS (DCV_ENC_GLOBAL_HEADER | DCV_ENC_LOW_LATENCY)

static const char *const chroma_names[] = {"4:2:0", "4:2:2", "4:4:4"};

static int terminated(const char *s, size_t size)
{
    return memchr(s, '\0', size) != NULL;
}

const char *dcvenc_preset_name(const struct dcvenc_family *fam, uint32_t level)
{
    if (!fam || !fam->preset_opt || !fam->presets || level > DCV_PRESET_MAX)
        return NULL;
    return fam->presets[level ? level : DCV_PRESET_DEFAULT];
}

int dcvenc_class_has_profile(const void *priv_class, const char *name)
{
    const AVOption *o, *c;

    if (!priv_class)
        return 1;
    o = av_opt_find(&priv_class, "profile", NULL, 0, AV_OPT_SEARCH_FAKE_OBJ);
    if (!o)
        return 0;
    if (o->type == AV_OPT_TYPE_STRING)
        return 1;
    if (!o->unit)
        return 0;
    c = av_opt_find(&priv_class, name, o->unit, 0, AV_OPT_SEARCH_FAKE_OBJ);
    return c && c->type == AV_OPT_TYPE_CONST;
}

int dcvenc_encoder_has_profile(const AVCodecContext *ctx, const char *name)
{
    if (!ctx || !ctx->codec)
        return 1;
    return dcvenc_class_has_profile(ctx->codec->priv_class, name);
}

const char *dcvenc_profile_for(const struct dcvenc_family *fam, const char *codec, unsigned depth,
                               int chroma, const void *priv_class)
{
    for (const struct dcvenc_profile *pr = fam->profiles; pr && pr->name; pr++)
        if (strcmp(pr->codec, codec) == 0 && (pr->depths & (1u << depth)) && chroma <= pr->chroma &&
            dcvenc_class_has_profile(priv_class, pr->name))
            return pr->name;
    return NULL;
}

/* "baseline, main, high" for the codec's profiles, optionally only those
 * carrying `depth`. */
static void profile_list(const struct dcvenc_family *fam, const char *codec, unsigned depth,
                         char *buf, size_t size)
{
    size_t used = 0;

    buf[0] = '\0';
    for (const struct dcvenc_profile *pr = fam->profiles; pr && pr->name; pr++) {
        int n;
        if (strcmp(pr->codec, codec) != 0 || (depth && !(pr->depths & (1u << depth))))
            continue;
        n = snprintf(buf + used, size - used, "%s%s", used ? ", " : "", pr->name);
        if (n < 0 || (size_t)n >= size - used)
            break;
        used += (size_t)n;
    }
    if (!buf[0])
        dcvenc_strlcpy(buf, "none", size);
}

static int map_profile(const struct dcvenc_family *fam, const struct dcv_enc_params *p,
                       unsigned depth, int chroma, const AVCodecContext *ctx, AVDictionary **opts,
                       char *err, size_t errlen)
{
    const struct dcvenc_profile *pr, *hit = NULL;
    int have_codec = 0;
    char list[160];

    for (pr = fam->profiles; pr && pr->name; pr++) {
        if (strcmp(pr->codec, p->codec) != 0)
            continue;
        have_codec = 1;
        if (p->profile[0] ? strcmp(pr->name, p->profile) == 0
                          : ((pr->depths & (1u << depth)) && chroma <= pr->chroma &&
                             dcvenc_encoder_has_profile(ctx, pr->name))) {
            hit = pr;
            break;
        }
    }

    if (!p->profile[0]) {
        /* 8-bit: the encoder picks the smallest profile itself (x264 goes to
         * high444 for 4:4:4 on its own). Deeper input needs a profile that
         * carries it, which some encoders do not choose by themselves. */
        if (depth <= 8 || !have_codec)
            return 0;
        if (!hit)
            return dcvenc_err(err, errlen, -ENOTSUP, "%s has no %s profile for %u-bit %s input",
                              fam->name, p->codec, depth,
                              chroma >= 0 ? chroma_names[chroma] : "RGB");
        return av_dict_set(opts, "profile", hit->name, 0) < 0 ? -ENOMEM : 0;
    }

    if (have_codec) {
        if (!hit) {
            profile_list(fam, p->codec, 0, list, sizeof list);
            return dcvenc_err(err, errlen, -EINVAL, "profile '%s' is not a %s %s profile (%s)",
                              p->profile, fam->name, p->codec, list);
        }
        if (!(hit->depths & (1u << depth))) {
            profile_list(fam, p->codec, depth, list, sizeof list);
            return dcvenc_err(err, errlen, -ENOTSUP,
                              "profile '%s' cannot carry %u-bit video (%u-bit %s profiles: %s)",
                              p->profile, depth, depth, p->codec, list);
        }
        if (chroma > hit->chroma)
            return dcvenc_err(err, errlen, -ENOTSUP, "profile '%s' cannot carry %s chroma",
                              p->profile, chroma_names[chroma]);
        if (!dcvenc_encoder_has_profile(ctx, p->profile))
            return dcvenc_err(err, errlen, -ENOTSUP, "%s in this FFmpeg build has no profile '%s'",
                              ctx->codec->name, p->profile);
    }
    /* Without a table for this codec the encoder itself validates the name. */
    return av_dict_set(opts, "profile", p->profile, 0) < 0 ? -ENOMEM : 0;
}

static int tune_known(const struct dcvenc_family *fam, const char *name, size_t len)
{
    for (const char *const *t = fam->tunes; t && *t; t++)
        if (strlen(*t) == len && strncmp(*t, name, len) == 0)
            return 1;
    return 0;
}

int dcvenc_check_tune(const struct dcvenc_family *fam, const char *tune, char *err, size_t errlen)
{
    if (!tune || !tune[0])
        return 0;
    if (!fam->tunes)
        return dcvenc_err(err, errlen, -EINVAL, "%s has no tune setting (tune '%s')", fam->name,
                          tune);
    for (const char *s = tune; *s;) {
        size_t len = strcspn(s, ",");
        if (!tune_known(fam, s, len) || (!fam->tune_list && s[len] == ',')) {
            char all[160] = "";
            size_t used = 0;
            for (const char *const *t = fam->tunes; *t; t++) {
                int n = snprintf(all + used, sizeof all - used, "%s%s", used ? ", " : "", *t);
                if (n < 0 || (size_t)n >= sizeof all - used)
                    break;
                used += (size_t)n;
            }
            return dcvenc_err(err, errlen, -EINVAL, "tune '%s' is not %s %s tune (%s)", tune,
                              fam->tune_list ? "a list of" : "one", fam->name, all);
        }
        s += len;
        if (*s == ',')
            s++;
    }
    return 0;
}

static int map_tune(const struct dcvenc_family *fam, const struct dcv_enc_params *p,
                    const struct dcvenc_opts *o, AVDictionary **opts, char *err, size_t errlen)
{
    const char *cfg = o->tune && o->tune[0] ? o->tune : NULL;
    const char *ll = (p->flags & DCV_ENC_LOW_LATENCY) ? fam->ll_tune : NULL;
    char buf[128];
    int rc;

    if (!cfg && !ll)
        return 0;
    if ((rc = dcvenc_check_tune(fam, cfg, err, errlen)) < 0)
        return rc;
    /* LOW_LATENCY joins the configured tune where the encoder takes a list;
     * where it takes one name, live use wins over the configured flavour. */
    if (cfg && ll && fam->tune_list && !strstr(cfg, ll))
        snprintf(buf, sizeof buf, "%s,%s", cfg, ll);
    else
        dcvenc_strlcpy(buf, ll ? ll : cfg, sizeof buf);
    return av_dict_set(opts, "tune", buf, 0) < 0 ? -ENOMEM : 0;
}

int dcvenc_map(const struct dcvenc_family *fam, const struct dcv_enc_params *p,
               const struct dcvenc_opts *o, AVCodecContext *ctx, AVDictionary **opts, char *err,
               size_t errlen)
{
    static const struct dcvenc_opts no_opts;
    unsigned depth = 0;
    int chroma = -1, rc;
    uint32_t threads;

    if (!fam || !p || !ctx || !opts)
        return dcvenc_err(err, errlen, -EINVAL, "internal error: NULL argument to dcvenc_map");
    if (!o)
        o = &no_opts;
    if (!terminated(p->codec, sizeof p->codec) || !terminated(p->encoder, sizeof p->encoder) ||
        !terminated(p->profile, sizeof p->profile) ||
        !terminated(p->extra_opts, sizeof p->extra_opts))
        return dcvenc_err(err, errlen, -EINVAL,
                          "a string field of the parameters is not terminated");
    if (dcvenc_pix_fmt_info(p->pix_fmt, &depth, &chroma) < 0)
        return dcvenc_err(err, errlen, -EINVAL, "pix_fmt %d is not a pixel format", p->pix_fmt);
    if (p->flags & ~KNOWN_ENC_FLAGS)
        return dcvenc_err(err, errlen, -ENOTSUP, "unknown encode flags 0x%x for %s",
                          p->flags & ~KNOWN_ENC_FLAGS, fam->name);
    if (p->preset > DCV_PRESET_MAX)
        return dcvenc_err(err, errlen, -EINVAL, "preset %u is outside 1..7 (0 = default %d)",
                          p->preset, DCV_PRESET_DEFAULT);
    if (p->rc_mode > DCV_RC_CBR)
        return dcvenc_err(err, errlen, -EINVAL, "rc_mode %u is not a rate-control mode",
                          p->rc_mode);
    if (!isfinite(p->quality))
        return dcvenc_err(err, errlen, -EINVAL, "quality is not a finite number");
    if (p->gop < 0)
        return dcvenc_err(err, errlen, -EINVAL, "gop %d is negative (0 = encoder default)", p->gop);
    if (p->max_b_frames < -1)
        return dcvenc_err(err, errlen, -EINVAL,
                          "max_b_frames %d is below -1 (-1 = encoder default)", p->max_b_frames);
    if ((p->flags & DCV_ENC_LOW_LATENCY) && p->max_b_frames > 0)
        return dcvenc_err(err, errlen, -EINVAL,
                          "LOW_LATENCY excludes B-frames, but max_b_frames is %d", p->max_b_frames);
    if (p->time_base.num <= 0 || p->time_base.den <= 0)
        return dcvenc_err(err, errlen, -EINVAL, "time_base %d/%d is not positive", p->time_base.num,
                          p->time_base.den);
    if (p->framerate.num < 0 || p->framerate.den < 0 ||
        (p->framerate.num > 0 && p->framerate.den == 0))
        return dcvenc_err(err, errlen, -EINVAL, "framerate %d/%d is invalid (0/1 = unknown)",
                          p->framerate.num, p->framerate.den);
    if (p->sample_aspect_ratio.num < 0 || p->sample_aspect_ratio.den < 0)
        return dcvenc_err(err, errlen, -EINVAL, "sample_aspect_ratio %d:%d is negative",
                          p->sample_aspect_ratio.num, p->sample_aspect_ratio.den);
    if (!av_color_range_name((enum AVColorRange)p->color_range) ||
        !av_color_primaries_name((enum AVColorPrimaries)p->color_primaries) ||
        !av_color_transfer_name((enum AVColorTransferCharacteristic)p->color_trc) ||
        !av_color_space_name((enum AVColorSpace)p->colorspace) ||
        !av_chroma_location_name((enum AVChromaLocation)p->chroma_location))
        return dcvenc_err(err, errlen, -EINVAL,
                          "colour properties range %d primaries %d trc %d space %d "
                          "chroma location %d are not all valid FFmpeg values",
                          p->color_range, p->color_primaries, p->color_trc, p->colorspace,
                          p->chroma_location);

    ctx->width = p->width;
    ctx->height = p->height;
    ctx->pix_fmt = (enum AVPixelFormat)p->pix_fmt;
    ctx->time_base = (AVRational){p->time_base.num, p->time_base.den};
    if (p->framerate.num > 0 && p->framerate.den > 0)
        ctx->framerate = (AVRational){p->framerate.num, p->framerate.den};
    if (p->sample_aspect_ratio.num > 0 && p->sample_aspect_ratio.den > 0)
        ctx->sample_aspect_ratio =
            (AVRational){p->sample_aspect_ratio.num, p->sample_aspect_ratio.den};
    /* colorspace 0 is the identity (GBR) matrix: on YUV input it would tell
     * every player to show the picture as RGB. */
    if (p->colorspace == AVCOL_SPC_RGB && chroma >= 0)
        return dcvenc_err(err, errlen, -EINVAL,
                          "colorspace 0 (gbr, RGB) does not describe %s frames; use %d "
                          "(unspecified) or the source's matrix",
                          av_get_pix_fmt_name((enum AVPixelFormat)p->pix_fmt),
                          AVCOL_SPC_UNSPECIFIED);
    ctx->color_range = (enum AVColorRange)p->color_range;
    /* 0 is a reserved code for both, never signalled: read it as unset. */
    ctx->color_primaries = p->color_primaries == AVCOL_PRI_RESERVED0
                               ? AVCOL_PRI_UNSPECIFIED
                               : (enum AVColorPrimaries)p->color_primaries;
    ctx->color_trc = p->color_trc == AVCOL_TRC_RESERVED0
                         ? AVCOL_TRC_UNSPECIFIED
                         : (enum AVColorTransferCharacteristic)p->color_trc;
    ctx->colorspace = (enum AVColorSpace)p->colorspace;
    ctx->chroma_sample_location = (enum AVChromaLocation)p->chroma_location;
    /* 0 = auto, as the ffmpeg CLI sets it: the library default of 1 would
     * run libx265 with one frame thread. */
    threads = p->threads ? p->threads : o->threads;
    if (threads > 1024)
        return dcvenc_err(err, errlen, -EINVAL, "threads %u is more than 1024", threads);
    ctx->thread_count = (int)threads;
    if (p->gop > 0)
        ctx->gop_size = p->gop;
    if (p->max_b_frames >= 0)
        ctx->max_b_frames = p->max_b_frames;
    if (p->flags & DCV_ENC_GLOBAL_HEADER)
        ctx->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
    if (p->flags & DCV_ENC_LOW_LATENCY) {
        ctx->flags |= AV_CODEC_FLAG_LOW_DELAY;
        ctx->max_b_frames = 0;
    }

    if (fam->preset_opt &&
        av_dict_set(opts, fam->preset_opt, dcvenc_preset_name(fam, p->preset), 0) < 0)
        return -ENOMEM;
    if ((rc = map_tune(fam, p, o, opts, err, errlen)) < 0)
        return rc;
    if ((rc = map_profile(fam, p, depth, chroma, ctx, opts, err, errlen)) < 0)
        return rc;
    return fam->map ? fam->map(fam, p, o, ctx, opts, err, errlen) : 0;
}

/* One "key=value" item of s, unescaped into key/val (each strlen(s)+1). */
static int parse_item(const char **sp, char *key, char *val, int item, char *err, size_t errlen)
{
    const char *s = *sp, *start = s;
    char *dst = key;
    size_t kl = 0, vl = 0, *len = &kl;
    int have_eq = 0;

    while (*s && *s != ':') {
        if (*s == '\\') {
            if (!s[1])
                return dcvenc_err(err, errlen, -EINVAL, "item %d ('%s') ends in a lone backslash",
                                  item, start);
            dst[(*len)++] = s[1];
            s += 2;
        } else if (*s == '\'') {
            const char *q = strchr(s + 1, '\'');
            if (!q)
                return dcvenc_err(err, errlen, -EINVAL, "item %d ('%s') has an unclosed quote",
                                  item, start);
            memcpy(dst + *len, s + 1, (size_t)(q - s - 1));
            *len += (size_t)(q - s - 1);
            s = q + 1;
        } else if (*s == '=' && !have_eq) {
            have_eq = 1;
            dst = val;
            len = &vl;
            s++;
        } else {
            dst[(*len)++] = *s++;
        }
    }
    *sp = s;
    key[kl] = '\0';
    val[vl] = '\0';
    if (!have_eq)
        return dcvenc_err(err, errlen, -EINVAL, "item %d ('%.*s') is not key=value", item,
                          (int)(s - start), start);
    if (!kl)
        return dcvenc_err(err, errlen, -EINVAL, "item %d ('%.*s') has an empty key", item,
                          (int)(s - start), start);
    return 1;
}

int dcvenc_parse_kv(const char *s, AVDictionary **out, char *err, size_t errlen)
{
    char *key, *val;
    int item = 0, rc = 0;
    size_t n;

    if (!s || !*s)
        return 0;
    n = strlen(s);
    key = malloc(n + 1);
    val = malloc(n + 1);
    if (!key || !val) {
        free(key);
        free(val);
        return dcvenc_err(err, errlen, -ENOMEM, "out of memory");
    }
    while (*s) {
        if (*s == ':') { /* tolerate "a=1::b=2" and a trailing ':' */
            s++;
            continue;
        }
        rc = parse_item(&s, key, val, ++item, err, errlen);
        if (rc < 0)
            break;
        if (av_dict_set(out, key, val, 0) < 0) {
            rc = dcvenc_err(err, errlen, -ENOMEM, "out of memory");
            break;
        }
        rc = 0;
    }
    free(key);
    free(val);
    return rc;
}

int dcvenc_apply_opts(AVCodecContext *ctx, AVDictionary **opts, const char *what, char *err,
                      size_t errlen)
{
    const AVDictionaryEntry *e = NULL;
    const char *enc = ctx->codec ? ctx->codec->name : "the encoder";
    char ebuf[128];
    int rc = 0;

    while ((e = av_dict_get(*opts, "", e, AV_DICT_IGNORE_SUFFIX))) {
        void *target = NULL;
        int ret;

        if (!av_opt_find2(ctx, e->key, NULL, 0, AV_OPT_SEARCH_CHILDREN, &target)) {
            rc = dcvenc_err(err, errlen, -EINVAL, "%s: %s has no option '%s'", what, enc, e->key);
            break;
        }
        ret = av_opt_set(ctx, e->key, e->value, AV_OPT_SEARCH_CHILDREN);
        if (ret < 0) {
            rc = dcvenc_err(err, errlen, ret == AVERROR(ENOMEM) ? -ENOMEM : -EINVAL,
                            "%s: invalid value '%s' for option '%s' of %s: %s", what, e->value,
                            e->key, enc, dcvenc_av_strerror(ret, ebuf, sizeof ebuf));
            break;
        }
    }
    av_dict_free(opts);
    return rc;
}
