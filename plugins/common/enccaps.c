#include "enccaps.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <libavcodec/avcodec.h>
#include <libavutil/opt.h>
#include <libavutil/pixdesc.h>

#include "encutil.h"

static const enum AVPixelFormat *encoder_pix_fmts(const AVCodec *c)
{
#if LIBAVCODEC_VERSION_INT >= AV_VERSION_INT(61, 13, 100)
    const void *cfg = NULL;
    int n = 0;

    if (avcodec_get_supported_config(NULL, c, AV_CODEC_CONFIG_PIX_FORMAT, 0, &cfg, &n) < 0)
        return NULL;
    return cfg;
#else
    return c->pix_fmts;
#endif
}

/* Append ",name" (or "name") if it fits whole. */
static void list_add(char *buf, size_t size, const char *name)
{
    size_t used = strlen(buf), n = strlen(name);

    if (!n || used + (used ? 1 : 0) + n + 1 > size)
        return;
    if (used)
        buf[used++] = ',';
    memcpy(buf + used, name, n + 1);
}

/* Can some profile of fam's table for codec carry depth/chroma in this
 * build? Codecs without table entries: yes (the encoder decides). */
static int profile_carries(const struct dcvenc_family *fam, const AVCodec *c, const char *codec,
                           unsigned depth, int chroma)
{
    int have = 0;

    for (const struct dcvenc_profile *pr = fam->profiles; pr && pr->name; pr++) {
        if (strcmp(pr->codec, codec) != 0)
            continue;
        have = 1;
        if ((pr->depths & (1u << depth)) && chroma <= pr->chroma &&
            dcvenc_class_has_profile(c->priv_class, pr->name))
            return 1;
    }
    return !have;
}

static void fill_profiles(struct dcv_codec_caps *cc, const struct dcvenc_family *fam,
                          const AVCodec *c, const char *codec)
{
    const AVOption *o;
    const AVClass *cls = c->priv_class;
    char *buf = cc->profiles;
    size_t size = sizeof cc->profiles;

    buf[0] = '\0';
    for (const struct dcvenc_profile *pr = fam->profiles; pr && pr->name; pr++)
        if (strcmp(pr->codec, codec) == 0 && dcvenc_class_has_profile(c->priv_class, pr->name))
            list_add(buf, size, pr->name);
    if (buf[0])
        return;

    o = cls ? av_opt_find(&cls, "profile", NULL, 0, AV_OPT_SEARCH_FAKE_OBJ) : NULL;
    if (o && o->unit) {
        const AVOption *k = NULL;
        while ((k = av_opt_next(&cls, k)))
            if (k->type == AV_OPT_TYPE_CONST && k->unit && strcmp(k->unit, o->unit) == 0 &&
                strcmp(k->name, "unknown") != 0)
                list_add(buf, size, k->name);
    }
    if (buf[0])
        return;

#ifdef AV_PROFILE_UNKNOWN
    for (const AVProfile *pf = c->profiles; pf && pf->profile != AV_PROFILE_UNKNOWN; pf++) {
#else
    for (const AVProfile *pf = c->profiles; pf && pf->profile != FF_PROFILE_UNKNOWN; pf++) {
#endif
        /* "High 10" -> "high10": the spelling encoders' options use */
        char name[32];
        size_t j = 0;
        for (const char *s = pf->name; *s && j + 1 < sizeof name; s++)
            if (*s != ' ')
                name[j++] = (char)((*s >= 'A' && *s <= 'Z') ? *s - 'A' + 'a' : *s);
        name[j] = '\0';
        list_add(buf, size, name);
    }
}

int dcvenc_codec_caps(struct dcv_codec_caps *cc, const struct dcvenc_family *fam, const char *codec,
                      const char *encoder, uint32_t max_width, uint32_t max_height)
{
    const AVCodec *c = avcodec_find_encoder_by_name(encoder);
    const enum AVPixelFormat *list;
    int upload = 0, n = 0;

    memset(cc, 0, sizeof *cc);
    dcvenc_strlcpy(cc->codec, codec, sizeof cc->codec);
    dcvenc_strlcpy(cc->encoder, encoder, sizeof cc->encoder);
    for (int i = 0; i < DCV_MAX_PIX_FMTS; i++)
        cc->pix_fmts[i] = -1;
    if (!c)
        return -ENOENT;

    list = encoder_pix_fmts(c);
    for (const enum AVPixelFormat *f = list; f && *f != AV_PIX_FMT_NONE; f++) {
        const AVPixFmtDescriptor *d = av_pix_fmt_desc_get(*f);
        if (d && (d->flags & AV_PIX_FMT_FLAG_HWACCEL))
            upload = 1;
    }
    for (const int32_t *f = fam->pix_fmts; f && *f >= 0 && n < DCV_MAX_PIX_FMTS; f++) {
        unsigned depth;
        int chroma, direct = 0;

        for (const enum AVPixelFormat *g = list; g && *g != AV_PIX_FMT_NONE; g++)
            if ((int)*g == *f)
                direct = 1;
        if (!direct && !upload)
            continue;
        if (dcvenc_pix_fmt_info(*f, &depth, &chroma) < 0 || (depth != 8 && depth != 10))
            continue;
        if (!profile_carries(fam, c, codec, depth, chroma))
            continue;
        cc->pix_fmts[n++] = *f;
        cc->bit_depths |= 1u << depth;
    }
    fill_profiles(cc, fam, c, codec);
    cc->max_width = max_width;
    cc->max_height = max_height;
    return 0;
}

void dcvenc_caps_drop_depth(struct dcv_codec_caps *cc, unsigned depth)
{
    int j = 0;

    for (int i = 0; i < DCV_MAX_PIX_FMTS && cc->pix_fmts[i] >= 0; i++) {
        unsigned d = 0;
        dcvenc_pix_fmt_info(cc->pix_fmts[i], &d, NULL);
        if (d != depth)
            cc->pix_fmts[j++] = cc->pix_fmts[i];
    }
    for (; j < DCV_MAX_PIX_FMTS; j++)
        cc->pix_fmts[j] = -1;
    if (depth < 32)
        cc->bit_depths &= ~(1u << depth);
}

int dcvenc_caps_has_pix_fmt(const struct dcv_codec_caps *cc, int pix_fmt)
{
    for (int i = 0; i < DCV_MAX_PIX_FMTS && cc->pix_fmts[i] >= 0; i++)
        if (cc->pix_fmts[i] == pix_fmt)
            return 1;
    return 0;
}

void dcvenc_caps_pix_fmt_list(const struct dcv_codec_caps *cc, char *buf, size_t size)
{
    size_t used = 0;

    if (!size)
        return;
    buf[0] = '\0';
    for (int i = 0; i < DCV_MAX_PIX_FMTS && cc->pix_fmts[i] >= 0; i++) {
        char tmp[32];
        int n = snprintf(buf + used, size - used, "%s%s", used ? ", " : "",
                         dcvenc_pix_fmt_name(cc->pix_fmts[i], tmp, sizeof tmp));
        if (n < 0 || (size_t)n >= size - used)
            break;
        used += (size_t)n;
    }
    if (!buf[0])
        dcvenc_strlcpy(buf, "none", size);
}

void dcvenc_caps_init(struct dcv_device_caps *caps)
{
    memset(caps, 0, sizeof *caps);
    caps->struct_size = sizeof *caps;
}

void dcvenc_caps_unavailable(struct dcv_device_caps *caps, const char *fmt, ...)
{
    va_list ap;

    caps->flags &= ~DCV_CAP_AVAILABLE;
    va_start(ap, fmt);
    vsnprintf(caps->unavailable_reason, sizeof caps->unavailable_reason, fmt, ap);
    va_end(ap);
}

int dcvenc_caps_out(struct dcv_device_caps *out, const struct dcv_device_caps *full)
{
    uint32_t size;

    if (!out || !DCV_HAS_FIELD(out, struct dcv_device_caps, unavailable_reason))
        return -EINVAL;
    size = out->struct_size;
    memcpy(out, full, size < sizeof *full ? size : sizeof *full);
    out->struct_size = size;
    return 1;
}
