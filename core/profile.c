/*
 * The portable encode profile and its option parser.
 *
 * Parsing is strict on purpose: "--crf 2O" or "--bitrate 5MB" must fail with
 * a message naming the option, never silently become 2 or 5000. Options are
 * one table so the parser and --help cannot drift apart.
 */
#include "profile.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "distconv/plugin.h"

#define QUALITY_UNSET (-1.0)

void dcv_profile_defaults(struct dcv_profile *p)
{
    memset(p, 0, sizeof *p);
    snprintf(p->codec, sizeof p->codec, "h264");
    snprintf(p->encoder, sizeof p->encoder, "auto");
    p->rc_mode = DCV_RC_CRF;
    p->quality = QUALITY_UNSET;
    p->preset = DCV_PRESET_DEFAULT;
    p->audio = DCV_AUDIO_COPY;
    p->subs = DCV_SUBS_COPY;
    p->start_us = -1;
    p->duration_us = -1;
    p->gpu_policy = -1;
    p->gpu_wait_s = -1;
}

void dcv_profile_resolve(struct dcv_profile *p)
{
    /* Defaults give roughly the same visual quality per codec, which is what
     * "I did not say" means; the scales differ between encoders. */
    static const struct { const char *codec; double crf; } crf_defaults[] = {
        { "h264", 23 }, { "hevc", 28 }, { "av1", 35 }, { "vp9", 31 },
    };
    if (p->rc_mode != DCV_RC_CRF || p->quality >= 0)
        return;
    p->quality = 23;
    for (size_t i = 0; i < sizeof crf_defaults / sizeof crf_defaults[0]; i++)
        if (strcmp(p->codec, crf_defaults[i].codec) == 0)
            p->quality = crf_defaults[i].crf;
}

/* ---- strict scalar parsing --------------------------------------------- */

/* [0-9]+ only: no sign, no spaces, no base prefixes. */
static int parse_uint(const char *s, long long max, long long *out)
{
    long long v = 0;
    if (!s || !*s)
        return -EINVAL;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return -EINVAL;
        if (v > (max - (*s - '0')) / 10)
            return -ERANGE;
        v = v * 10 + (*s - '0');
    }
    *out = v;
    return 0;
}

/* Plain decimal: digits with at most one '.', at least one digit; no sign,
 * exponent, hex, inf or nan (all of which strtod would take). */
static int parse_decimal(const char *s, double *out)
{
    int digits = 0, dots = 0;
    char *end;
    double v;
    if (!s || !*s)
        return -EINVAL;
    for (const char *p = s; *p; p++) {
        if (*p >= '0' && *p <= '9')
            digits++;
        else if (*p == '.' && !dots)
            dots++;
        else
            return -EINVAL;
    }
    if (!digits || strlen(s) > 32)
        return -EINVAL;
    errno = 0;
    v = strtod(s, &end);
    if (errno || *end || !isfinite(v))
        return -EINVAL;
    *out = v;
    return 0;
}

int dcv_preset_parse(const char *s, uint32_t *out)
{
    static const struct { const char *word; uint32_t v; } words[] = {
        { "ultrafast", 1 }, { "veryfast", 2 }, { "faster", 3 }, { "fast", 3 },
        { "medium", 4 },    { "slow", 5 },     { "slower", 6 }, { "veryslow", 7 },
    };
    long long v;
    if (!s)
        return -EINVAL;
    if (parse_uint(s, 1000, &v) == 0) {
        if (v < DCV_PRESET_MIN || v > DCV_PRESET_MAX)
            return -EINVAL;
        *out = (uint32_t)v;
        return 0;
    }
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++) {
        if (strcasecmp(s, words[i].word) == 0) {
            *out = words[i].v;
            return 0;
        }
    }
    return -EINVAL;
}

int dcv_parse_time_us(const char *s, int64_t *out)
{
    /* [[HH:]MM:]SS[.ffffff]; the leading field is unbounded ("90", "90:00"),
     * later ones are below 60 as on a clock. */
    long long field[3];
    int nf = 0;
    long long frac_us = 0;
    const char *p = s;

    if (!s || !*s)
        return -EINVAL;
    for (;;) {
        long long v = 0;
        int nd = 0;
        if (nf == 3)
            return -EINVAL;
        while (*p >= '0' && *p <= '9') {
            if (v > (INT64_MAX / 1000000 - 9) / 10)
                return -ERANGE;
            v = v * 10 + (*p - '0');
            p++;
            nd++;
        }
        if (nd == 0)
            return -EINVAL;
        field[nf++] = v;
        if (*p == ':') {
            p++;
            continue;
        }
        break;
    }
    if (*p == '.') {
        long long scale = 100000;
        int nd = 0;
        p++;
        while (*p >= '0' && *p <= '9') {
            if (++nd > 6)
                return -EINVAL; /* finer than a microsecond is a typo */
            frac_us += (*p - '0') * scale;
            scale /= 10;
            p++;
        }
        if (nd == 0)
            return -EINVAL;
    }
    if (*p)
        return -EINVAL;

    long long secs = field[0];
    for (int i = 1; i < nf; i++) {
        if (field[i] >= 60)
            return -EINVAL;
        if (secs > (INT64_MAX / 1000000 - 59) / 60)
            return -ERANGE;
        secs = secs * 60 + field[i];
    }
    if (secs > (INT64_MAX - frac_us) / 1000000)
        return -ERANGE;
    *out = (int64_t)secs * 1000000 + frac_us;
    return 0;
}

/* ---- options ----------------------------------------------------------- */

struct opt_def;
typedef int (*opt_setter)(struct dcv_profile *p, const struct opt_def *o, const char *v);

struct opt_def {
    const char *name;
    opt_setter set;
    const char *expect; /* the "expected ..." part of the error */
    long long min, max; /* for integer options */
};

static int set_codec(struct dcv_profile *p, const struct opt_def *o, const char *v)
{
    static const struct { const char *alias, *name; } aliases[] = {
        { "h265", "hevc" }, { "avc", "h264" },
    };
    size_t n = strlen(v);
    (void)o;
    for (size_t i = 0; i < sizeof aliases / sizeof aliases[0]; i++)
        if (strcmp(v, aliases[i].alias) == 0)
            v = aliases[i].name;
    /* Other names pass: a plugin may offer a codec the core never heard of. */
    if (n == 0 || n >= sizeof p->codec)
        return -EINVAL;
    for (const char *c = v; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9')))
            return -EINVAL;
    snprintf(p->codec, sizeof p->codec, "%s", v);
    return 0;
}

static int set_encoder(struct dcv_profile *p, const struct opt_def *o, const char *v)
{
    size_t n = strlen(v);
    (void)o;
    if (n == 0 || n >= sizeof p->encoder)
        return -EINVAL;
    for (const char *c = v; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '_' || *c == '-'))
            return -EINVAL;
    snprintf(p->encoder, sizeof p->encoder, "%s", v);
    return 0;
}

static int set_crf(struct dcv_profile *p, const struct opt_def *o, const char *v)
{
    double d;
    if (parse_decimal(v, &d) < 0 || d < (double)o->min || d > (double)o->max)
        return -EINVAL;
    p->rc_mode = DCV_RC_CRF;
    p->quality = d;
    return 0;
}

static int parse_ranged(const struct opt_def *o, const char *v, long long *out)
{
    long long x;
    if (parse_uint(v, o->max < 1000000000LL ? 1000000000LL : o->max, &x) < 0 || x < o->min ||
        x > o->max)
        return -EINVAL;
    *out = x;
    return 0;
}

static int set_qp(struct dcv_profile *p, const struct opt_def *o, const char *v)
{
    long long x;
    if (parse_ranged(o, v, &x) < 0)
        return -EINVAL;
    p->rc_mode = DCV_RC_CQP;
    p->quality = (double)x;
    return 0;
}

/* "2500" and "2500k" are kbit/s, "5M" and "2.5M" are Mbit/s. */
static int parse_rate_kbps(const char *v, long long min, long long max, int allow_m,
                           long long *out)
{
    char num[40];
    size_t n = strlen(v);
    double d, mult = 1;
    if (n == 0 || n >= sizeof num)
        return -EINVAL;
    memcpy(num, v, n + 1);
    if (num[n - 1] == 'k' || num[n - 1] == 'K') {
        num[--n] = '\0';
    } else if (allow_m && (num[n - 1] == 'm' || num[n - 1] == 'M')) {
        num[--n] = '\0';
        mult = 1000;
    }
    if (parse_decimal(num, &d) < 0)
        return -EINVAL;
    d *= mult;
    if (d < (double)min || d > (double)max || (double)(long long)d != d)
        return -EINVAL;
    *out = (long long)d;
    return 0;
}

static int set_bitrate(struct dcv_profile *p, const struct opt_def *o, const char *v)
{
    long long k;
    if (parse_rate_kbps(v, o->min, o->max, 1, &k) < 0)
        return -EINVAL;
    p->rc_mode = DCV_RC_VBR;
    p->bitrate_kbps = (uint32_t)k;
    return 0;
}

static int set_preset(struct dcv_profile *p, const struct opt_def *o, const char *v)
{
    (void)o;
    return dcv_preset_parse(v, &p->preset) < 0 ? -EINVAL : 0;
}

static int set_max_height(struct dcv_profile *p, const struct opt_def *o, const char *v)
{
    long long x;
    if (parse_ranged(o, v, &x) < 0)
        return -EINVAL;
    p->max_height = (uint32_t)x;
    return 0;
}

static int set_bit_depth(struct dcv_profile *p, const struct opt_def *o, const char *v)
{
    (void)o;
    if (strcmp(v, "8") == 0)
        p->bit_depth = 8;
    else if (strcmp(v, "10") == 0)
        p->bit_depth = 10;
    else
        return -EINVAL;
    return 0;
}

static int set_gop(struct dcv_profile *p, const struct opt_def *o, const char *v)
{
    long long x;
    if (parse_ranged(o, v, &x) < 0)
        return -EINVAL;
    p->gop = (int32_t)x;
    return 0;
}

static int set_audio(struct dcv_profile *p, const struct opt_def *o, const char *v)
{
    static const struct { const char *name; enum dcv_audio_mode m; } modes[] = {
        { "copy", DCV_AUDIO_COPY }, { "aac", DCV_AUDIO_AAC },
        { "opus", DCV_AUDIO_OPUS }, { "none", DCV_AUDIO_NONE },
    };
    (void)o;
    for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++) {
        if (strcmp(v, modes[i].name) == 0) {
            p->audio = modes[i].m;
            return 0;
        }
    }
    return -EINVAL;
}

static int set_audio_bitrate(struct dcv_profile *p, const struct opt_def *o, const char *v)
{
    long long k;
    if (parse_rate_kbps(v, o->min, o->max, 0, &k) < 0)
        return -EINVAL;
    p->audio_bitrate_kbps = (uint32_t)k;
    return 0;
}

static int set_subtitles(struct dcv_profile *p, const struct opt_def *o, const char *v)
{
    (void)o;
    if (strcmp(v, "copy") == 0)
        p->subs = DCV_SUBS_COPY;
    else if (strcmp(v, "none") == 0)
        p->subs = DCV_SUBS_NONE;
    else
        return -EINVAL;
    return 0;
}

/* Container names and file extensions -> the canonical container. */
static const struct { const char *name, *canon; } container_names[] = {
    { "mkv", "mkv" }, { "matroska", "mkv" }, { "mp4", "mp4" }, { "m4v", "mp4" },
    { "ts", "ts" },   { "mpegts", "ts" },    { "m2ts", "ts" }, { "mts", "ts" },
};

const char *dcv_profile_container_of(const char *name)
{
    for (size_t i = 0; name && i < sizeof container_names / sizeof container_names[0]; i++)
        if (strcasecmp(name, container_names[i].name) == 0)
            return container_names[i].canon;
    return NULL;
}

static int set_container(struct dcv_profile *p, const struct opt_def *o, const char *v)
{
    const char *canon = dcv_profile_container_of(v);
    (void)o;
    if (!canon)
        return -EINVAL;
    snprintf(p->container, sizeof p->container, "%s", canon);
    return 0;
}

static int set_start(struct dcv_profile *p, const struct opt_def *o, const char *v)
{
    int64_t t;
    (void)o;
    if (dcv_parse_time_us(v, &t) < 0)
        return -EINVAL;
    p->start_us = t;
    return 0;
}

static int set_duration(struct dcv_profile *p, const struct opt_def *o, const char *v)
{
    int64_t t;
    (void)o;
    if (dcv_parse_time_us(v, &t) < 0 || t <= 0)
        return -EINVAL;
    p->duration_us = t;
    return 0;
}

static int set_threads(struct dcv_profile *p, const struct opt_def *o, const char *v)
{
    long long x;
    if (parse_ranged(o, v, &x) < 0)
        return -EINVAL;
    p->threads = (uint32_t)x;
    return 0;
}

static int parse_bool(const char *v, int *out)
{
    static const char *const yes[] = {"true", "yes", "on", "1"};
    static const char *const no[] = {"false", "no", "off", "0"};
    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++) {
        if (strcmp(v, yes[i]) == 0) {
            *out = 1;
            return 0;
        }
        if (strcmp(v, no[i]) == 0) {
            *out = 0;
            return 0;
        }
    }
    return -EINVAL;
}

static int set_skip(struct dcv_profile *p, const struct opt_def *o, const char *v)
{
    (void)o;
    return parse_bool(v, &p->skip_if_target_met);
}

static int set_keep(struct dcv_profile *p, const struct opt_def *o, const char *v)
{
    (void)o;
    return parse_bool(v, &p->keep_original_if_larger);
}

static int set_verify_tolerance(struct dcv_profile *p, const struct opt_def *o, const char *v)
{
    int64_t t;
    (void)o;
    /* Above an hour it no longer checks anything: a typo, not a wish. */
    if (dcv_parse_time_us(v, &t) < 0 || t <= 0 || t > 3600LL * 1000000)
        return -EINVAL;
    p->verify_tolerance_us = t;
    return 0;
}

static int set_gpu_policy(struct dcv_profile *p, const struct opt_def *o, const char *v)
{
    static const char *const names[] = {"queue", "fallback", "reject"};
    (void)o;
    for (int i = 0; i < 3; i++)
        if (strcmp(v, names[i]) == 0) {
            p->gpu_policy = i;
            return 0;
        }
    return -EINVAL;
}

static int set_gpu_wait(struct dcv_profile *p, const struct opt_def *o, const char *v)
{
    long long x;
    if (parse_ranged(o, v, &x) < 0)
        return -EINVAL;
    p->gpu_wait_s = x;
    return 0;
}

static int set_deinterlace(struct dcv_profile *p, const struct opt_def *o, const char *v)
{
    static const char *const names[] = {"auto", "on", "off", "double"};
    (void)o;
    for (int i = 0; i < 4; i++)
        if (strcmp(v, names[i]) == 0) {
            p->deinterlace = i; /* the order of DCV_DEINT_* */
            return 0;
        }
    return -EINVAL;
}

static int set_interlaced(struct dcv_profile *p, const struct opt_def *o, const char *v)
{
    (void)o;
    if (strcmp(v, "progressive") == 0)
        p->interlaced_keep = 0;
    else if (strcmp(v, "keep") == 0)
        p->interlaced_keep = 1;
    else
        return -EINVAL;
    return 0;
}

/* The names the core knows without asking a device: what distconvctl
 * checks before an upload, and the job process without a registry. The
 * coordinator also refuses what its workers probed as hardware
 * (DCV_CAP_HARDWARE, coordinator/registry.c), so a plugin not named here
 * is still caught at submit. */
int dcv_profile_hw_only(const char *e)
{
    static const char *const plugins[] = {"hw", "nvenc", "vaapi", "qsv", "vtb", "amf"};
    static const char *const suffixes[] = {"_nvenc", "_vaapi", "_qsv", "_videotoolbox", "_amf"};
    size_t n;
    if (!e)
        return 0;
    for (size_t i = 0; i < sizeof plugins / sizeof plugins[0]; i++)
        if (strcmp(e, plugins[i]) == 0)
            return 1;
    n = strlen(e);
    for (size_t i = 0; i < sizeof suffixes / sizeof suffixes[0]; i++) {
        size_t m = strlen(suffixes[i]);
        if (n > m && strcmp(e + n - m, suffixes[i]) == 0)
            return 1;
    }
    return 0;
}

int dcv_profile_fallback_refused(const struct dcv_profile *p, char *err, size_t errlen)
{
    if (err && errlen)
        snprintf(err, errlen,
                 "--gpu-policy fallback needs a job that may run in software: use "
                 "--encoder auto (--encoder %s runs on hardware only)",
                 p->encoder);
    return -EINVAL;
}

int dcv_profile_check(const struct dcv_profile *p, char *err, size_t errlen)
{
    /* Falling back means encoding in software: a job that may only use
     * hardware would silently get what it asked not to. */
    if (p->gpu_policy == DCV_PROFILE_GPU_FALLBACK && dcv_profile_hw_only(p->encoder))
        return dcv_profile_fallback_refused(p, err, errlen);
    if (p->interlaced_keep &&
        (p->deinterlace == DCV_DEINT_ON || p->deinterlace == DCV_DEINT_DOUBLE)) {
        if (err && errlen)
            snprintf(err, errlen, "--interlaced keep encodes the fields as they are: it cannot "
                                  "go with --deinterlace %s",
                     p->deinterlace == DCV_DEINT_ON ? "on" : "double");
        return -EINVAL;
    }
    /* Only x264 codes fields here: libx265 in FFmpeg has no interlaced
     * mode, and interlaced HEVC (fields as pictures) plays badly anyway. */
    if (p->interlaced_keep && strcmp(p->codec, "h264") != 0) {
        if (err && errlen)
            snprintf(err, errlen,
                     "--interlaced keep: only h264 (x264) can be encoded interlaced, not %s; "
                     "leave it out to deinterlace",
                     p->codec);
        return -EINVAL;
    }
    return 0;
}

static const struct opt_def opts[] = {
    { "codec", set_codec, "a codec name of lowercase letters and digits (h264, hevc, av1, vp9)",
      0, 0 },
    { "encoder", set_encoder,
      "auto, hw, sw, a plugin or a libavcodec encoder name ([a-z0-9_-], at most 31)", 0, 0 },
    { "crf", set_crf, "a number from 0 to 63", 0, 63 },
    { "qp", set_qp, "an integer from 0 to 63", 0, 63 },
    { "bitrate", set_bitrate, "kbit/s like 2500, 2500k or 5M (1k to 2000M)", 1, 2000000 },
    { "preset", set_preset,
      "1 to 7 or ultrafast, veryfast, faster, fast, medium, slow, slower, veryslow", 0, 0 },
    { "max-height", set_max_height, "an integer from 16 to 8640", 16, 8640 },
    { "bit-depth", set_bit_depth, "8 or 10", 0, 0 },
    { "gop", set_gop, "an integer from 1 to 10000", 1, 10000 },
    { "audio", set_audio, "copy, aac, opus or none", 0, 0 },
    { "audio-bitrate", set_audio_bitrate, "kbit/s from 8 to 1024", 8, 1024 },
    { "subtitles", set_subtitles, "copy or none", 0, 0 },
    { "container", set_container, "mkv, mp4 or ts", 0, 0 },
    { "start", set_start, "a time like 90, 90.5, 1:30 or 01:02:03.250", 0, 0 },
    { "duration", set_duration, "a time above zero like 90, 90.5, 1:30 or 01:02:03.250", 0, 0 },
    { "threads", set_threads, "an integer from 0 to 256", 0, 256 },
    { "skip-if-target-met", set_skip, "true or false (yes/no, on/off, 1/0)", 0, 0 },
    { "keep-original-if-larger", set_keep, "true or false (yes/no, on/off, 1/0)", 0, 0 },
    { "verify-tolerance", set_verify_tolerance,
      "a time above zero up to an hour like 0.5, 2 or 1:00", 0, 0 },
    { "gpu-policy", set_gpu_policy, "queue, fallback or reject", 0, 0 },
    { "gpu-wait", set_gpu_wait, "seconds from 0 (forever) to 2592000 (30 days)", 0,
      30LL * 86400 },
    { "deinterlace", set_deinterlace, "auto, on, off or double", 0, 0 },
    { "interlaced", set_interlaced, "progressive or keep", 0, 0 },
};

int dcv_profile_opt_is_flag(const char *opt)
{
    return opt && (strcmp(opt, "skip-if-target-met") == 0 ||
                   strcmp(opt, "keep-original-if-larger") == 0);
}

_Static_assert(sizeof opts / sizeof opts[0] <= DCV_PROFILE_OPTS_MAX,
               "DCV_PROFILE_OPTS_MAX sizes the callers' getopt tables");

/* Library rules and GPU sessions are what a job asks of the coordinator
 * and its worker: `distconvd --transcode` encodes one file and has neither. */
static const char *const job_only[] = {
    "skip-if-target-met", "keep-original-if-larger", "verify-tolerance", "gpu-policy", "gpu-wait",
};

const char *dcv_profile_option(size_t i, unsigned *flags)
{
    if (i >= sizeof opts / sizeof opts[0])
        return NULL;
    if (flags) {
        *flags = dcv_profile_opt_is_flag(opts[i].name) ? DCV_PROFILE_OPT_BOOL : 0;
        for (size_t k = 0; k < sizeof job_only / sizeof job_only[0]; k++)
            if (strcmp(opts[i].name, job_only[k]) == 0)
                *flags |= DCV_PROFILE_OPT_JOB;
    }
    return opts[i].name;
}

int dcv_profile_set(struct dcv_profile *p, const char *opt, const char *value, char *err,
                    size_t errlen)
{
    const struct opt_def *o = NULL;
    if (!opt)
        return -ENOENT;
    for (size_t i = 0; i < sizeof opts / sizeof opts[0]; i++)
        if (strcmp(opt, opts[i].name) == 0)
            o = &opts[i];
    if (!o)
        return -ENOENT;
    if (!value) {
        if (err && errlen)
            snprintf(err, errlen, "--%s: expected %s, got nothing", o->name, o->expect);
        return -EINVAL;
    }
    if (o->set(p, o, value) < 0) {
        if (err && errlen)
            snprintf(err, errlen, "--%s: expected %s, got '%s'", o->name, o->expect, value);
        return -EINVAL;
    }
    return 0;
}

const char *dcv_profile_usage(void)
{
    return "Encode options:\n"
           "  --codec NAME          video codec: h264 (avc), hevc (h265), av1, vp9 (default: h264)\n"
           "  --encoder NAME        auto, hw, sw, a plugin (x264, nvenc, ...) or a libavcodec\n"
           "                        encoder (default: auto)\n"
           "  --crf Q               constant quality 0-63, lower is better (default: 23 h264,\n"
           "                        28 hevc, 35 av1, 31 vp9)\n"
           "  --qp N                constant quantiser 0-63, instead of --crf\n"
           "  --bitrate RATE        average bitrate: 2500 or 2500k (kbit/s), 5M (Mbit/s),\n"
           "                        instead of --crf\n"
           "  --preset P            speed 1 (fastest) to 7 (slowest, smallest), or ultrafast,\n"
           "                        veryfast, faster, fast, medium, slow, slower, veryslow\n"
           "                        (default: 4 = medium)\n"
           "  --max-height N        downscale to at most N lines, 16-8640, never upscale\n"
           "                        (default: keep)\n"
           "  --bit-depth N         8 or 10 (default: as the source)\n"
           "  --gop N               keyframe interval in frames, 1-10000 (default: encoder's)\n"
           "  --audio MODE          copy, aac, opus or none (default: copy)\n"
           "  --audio-bitrate KBPS  8-1024 when re-encoding audio (default: codec's)\n"
           "  --subtitles MODE      copy or none (default: copy)\n"
           "  --container FMT       mkv, mp4 or ts (default: from the output file name)\n"
           "  --start TIME          start at 90, 90.5, 1:30 or 01:02:03.250 (default: beginning)\n"
           "  --duration TIME       encode only this long (default: to the end)\n"
           "  --threads N           encoder threads 0-256, 0 = auto (default: 0)\n"
           "  --deinterlace MODE    auto (interlaced sources, by their field order or a\n"
           "                        look with idet), on (every frame), off, or double\n"
           "                        (as auto, one frame per field: 50i -> 50p); bwdif\n"
           "                        (default: auto)\n"
           "  --interlaced MODE     progressive, or keep: encode an interlaced source\n"
           "                        interlaced, fields flagged (h264/x264 only)\n"
           "                        (default: progressive)\n"
           "Library rules and verification (jobs only):\n"
           "  --skip-if-target-met[=BOOL]  do not encode a source already in the target\n"
           "                        codec, not above --max-height, at or below --bitrate\n"
           "                        and --bit-depth when given (default: false)\n"
           "  --keep-original-if-larger[=BOOL]  when the output is not smaller than the\n"
           "                        source, keep the source (no output; default: false)\n"
           "  --verify-tolerance T  how far the output's duration may differ from the\n"
           "                        source's (default: 0.5 s or 1 %, the larger)\n"
           "GPU sessions (jobs only):\n"
           "  --gpu-policy P        when every GPU that could take the job is out of\n"
           "                        encoder sessions: queue (wait), fallback (software\n"
           "                        encoder of the same codec; --encoder auto only) or\n"
           "                        reject (default: the coordinator's queue.gpu_policy)\n"
           "  --gpu-wait S          seconds the queue policy waits before the job fails,\n"
           "                        0 = forever (default: queue.gpu_wait_s)\n";
}
