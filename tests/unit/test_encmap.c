/*
 * Unit tests of the encoder plugins' shared library (plugins/common): the
 * per-family mapping tables, extra_opts parsing and application, caps from
 * the real encoders of this FFmpeg, parameter checks, error mapping, the
 * prefix-only caps hand-over and render-node discovery on a fake tree.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libavcodec/avcodec.h>
#include <libavutil/dict.h>
#include <libavutil/error.h>
#include <libavutil/hwcontext.h>
#include <libavutil/log.h>
#include <libavutil/opt.h>
#include <libavutil/pixdesc.h>

#include "enccaps.h"
#include "encmap.h"
#include "encsession.h"
#include "encutil.h"
#include "hwopen.h"
#include "hwprobe.h"
#include "tap.h"

static char err[512];

static struct dcv_enc_params params(const char *codec, int pix_fmt)
{
    struct dcv_enc_params p;

    memset(&p, 0, sizeof p);
    p.struct_size = sizeof p;
    snprintf(p.codec, sizeof p.codec, "%s", codec);
    p.width = 160;
    p.height = 90;
    p.pix_fmt = pix_fmt;
    p.time_base = (struct dcv_rational){1, 25};
    p.framerate = (struct dcv_rational){25, 1};
    p.color_range = AVCOL_RANGE_UNSPECIFIED;
    p.color_primaries = AVCOL_PRI_UNSPECIFIED;
    p.color_trc = AVCOL_TRC_UNSPECIFIED;
    p.colorspace = AVCOL_SPC_UNSPECIFIED;
    p.chroma_location = AVCHROMA_LOC_UNSPECIFIED;
    p.max_b_frames = -1;
    return p;
}

/* One mapping run: a context for `encoder` when this FFmpeg has it (so the
 * profile checks see the real option table), else a bare one. */
struct run {
    AVCodecContext *ctx;
    AVDictionary *opts;
    int rc;
};

static struct run map_with(const struct dcvenc_family *fam, const char *encoder,
                           const struct dcv_enc_params *p, const struct dcvenc_opts *o)
{
    struct run r;
    const AVCodec *c = encoder ? avcodec_find_encoder_by_name(encoder) : NULL;

    r.ctx = avcodec_alloc_context3(c);
    r.opts = NULL;
    if (!r.ctx)
        tap_bail("out of memory");
    err[0] = '\0';
    r.rc = dcvenc_map(fam, p, o, r.ctx, &r.opts, err, sizeof err);
    return r;
}

static void run_free(struct run *r)
{
    av_dict_free(&r->opts);
    avcodec_free_context(&r->ctx);
}

static const char *opt(const struct run *r, const char *key)
{
    const AVDictionaryEntry *e = av_dict_get(r->opts, key, NULL, 0);
    return e ? e->value : NULL;
}

static void test_presets(void)
{
    static const struct {
        const struct dcvenc_family *fam;
        const char *codec;
        const char *want[8];
    } t[] = {
        {&dcvenc_family_x264,
         "h264",
         {"medium", "ultrafast", "veryfast", "faster", "medium", "slow", "slower", "veryslow"}},
        {&dcvenc_family_x265,
         "hevc",
         {"medium", "ultrafast", "veryfast", "faster", "medium", "slow", "slower", "veryslow"}},
        {&dcvenc_family_nvenc, "h264", {"p4", "p1", "p2", "p3", "p4", "p5", "p6", "p7"}},
        {&dcvenc_family_qsv,
         "h264",
         {"medium", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow"}},
    };

    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        int good = 1;
        for (uint32_t level = 0; level <= 7; level++) {
            struct dcv_enc_params p = params(t[i].codec, AV_PIX_FMT_YUV420P);
            struct run r;
            p.preset = level;
            r = map_with(t[i].fam, NULL, &p, NULL);
            if (r.rc != 0 || !opt(&r, "preset") || strcmp(opt(&r, "preset"), t[i].want[level])) {
                tap_diag("%s preset %u: rc %d got '%s' want '%s' (%s)", t[i].fam->name, level, r.rc,
                         opt(&r, "preset") ? opt(&r, "preset") : "(none)", t[i].want[level], err);
                good = 0;
            }
            run_free(&r);
        }
        TAP_OK(good, "%s: preset 0..7 -> documented names", t[i].fam->name);
    }

    {
        int good = 1;
        for (uint32_t level = 0; level <= 7; level++) {
            struct dcv_enc_params p = params("hevc", AV_PIX_FMT_NV12);
            struct run r;
            int want = level ? 8 - (int)level : 4;
            p.preset = level;
            r = map_with(&dcvenc_family_vaapi, NULL, &p, NULL);
            if (r.rc != 0 || r.ctx->compression_level != want || opt(&r, "preset"))
                good = 0;
            run_free(&r);
        }
        TAP_OK(good, "vaapi: preset 1..7 -> compression_level 7..1, 0 -> 4");
    }
    {
        struct dcv_enc_params p = params("h264", AV_PIX_FMT_NV12);
        struct run r1, r4;
        p.preset = 1;
        r1 = map_with(&dcvenc_family_vtb, NULL, &p, NULL);
        p.preset = 4;
        r4 = map_with(&dcvenc_family_vtb, NULL, &p, NULL);
        TAP_OK(r1.rc == 0 && opt(&r1, "realtime") && !strcmp(opt(&r1, "realtime"), "1") &&
                   r4.rc == 0 && !opt(&r4, "realtime") && !opt(&r4, "preset"),
               "vtb: no preset option; steps 1-2 ask for realtime");
        run_free(&r1);
        run_free(&r4);
    }
    {
        struct dcv_enc_params p = params("h264", AV_PIX_FMT_YUV420P);
        struct run r;
        p.preset = 8;
        r = map_with(&dcvenc_family_x264, NULL, &p, NULL);
        TAP_IS_INT(r.rc, -EINVAL, "preset 8 is -EINVAL");
        TAP_HAS_STR(err, "preset 8", "... and the message names it");
        run_free(&r);
    }
    TAP_IS_STR(dcvenc_preset_name(&dcvenc_family_x265, 7), "veryslow", "dcvenc_preset_name");
    TAP_OK(dcvenc_preset_name(&dcvenc_family_vaapi, 3) == NULL, "no preset name for vaapi");
}

static struct run rc_run(const struct dcvenc_family *fam, const char *codec, int pix_fmt,
                         uint32_t mode, double q, uint32_t kbps, uint32_t maxkbps, uint32_t buf)
{
    struct dcv_enc_params p = params(codec, pix_fmt);

    p.rc_mode = mode;
    p.quality = q;
    p.bitrate_kbps = kbps;
    p.maxrate_kbps = maxkbps;
    p.bufsize_kbits = buf;
    return map_with(fam, NULL, &p, NULL);
}

static void test_rc_x26x(void)
{
    struct run r;

    r = rc_run(&dcvenc_family_x264, "h264", AV_PIX_FMT_YUV420P, DCV_RC_CRF, 23, 0, 0, 0);
    TAP_OK(r.rc == 0 && opt(&r, "crf") && !strcmp(opt(&r, "crf"), "23") && r.ctx->bit_rate == 0,
           "x264 crf 23 -> crf=23");
    run_free(&r);
    r = rc_run(&dcvenc_family_x264, "h264", AV_PIX_FMT_YUV420P, DCV_RC_CRF, 18.5, 0, 0, 0);
    TAP_IS_STR(opt(&r, "crf"), "18.5", "x264 crf keeps fractions");
    run_free(&r);
    r = rc_run(&dcvenc_family_x264, "h264", AV_PIX_FMT_YUV420P, DCV_RC_CRF, 99, 0, 0, 0);
    TAP_IS_INT(r.rc, -EINVAL, "x264 crf 99 is -EINVAL");
    TAP_HAS_STR(err, "crf 99", "... naming the value");
    run_free(&r);
    r = rc_run(&dcvenc_family_x264, "h264", AV_PIX_FMT_YUV420P, DCV_RC_CQP, 20, 0, 0, 0);
    TAP_IS_STR(opt(&r, "qp"), "20", "x264 cqp 20 -> qp=20");
    run_free(&r);
    r = rc_run(&dcvenc_family_x264, "h264", AV_PIX_FMT_YUV420P, DCV_RC_CQP, 20.5, 0, 0, 0);
    TAP_IS_INT(r.rc, -EINVAL, "x264 cqp 20.5 (not whole) is -EINVAL");
    run_free(&r);
    r = rc_run(&dcvenc_family_x264, "h264", AV_PIX_FMT_YUV420P, DCV_RC_CQP, 60, 0, 0, 0);
    TAP_IS_INT(r.rc, -EINVAL, "x264 cqp 60 at 8 bits is -EINVAL");
    run_free(&r);
    r = rc_run(&dcvenc_family_x264, "h264", AV_PIX_FMT_YUV420P10LE, DCV_RC_CQP, 60, 0, 0, 0);
    TAP_OK(r.rc == 0 && opt(&r, "qp") && !strcmp(opt(&r, "qp"), "60"),
           "x264 cqp 60 at 10 bits is fine (QP scale 0..63)");
    run_free(&r);
    r = rc_run(&dcvenc_family_x264, "h264", AV_PIX_FMT_YUV420P, DCV_RC_VBR, 0, 2000, 0, 0);
    TAP_OK(r.rc == 0 && r.ctx->bit_rate == 2000000 && r.ctx->rc_max_rate == 0 &&
               r.ctx->rc_buffer_size == 0 && !opt(&r, "nal-hrd"),
           "x264 vbr 2000 -> b=2M, no maxrate");
    run_free(&r);
    r = rc_run(&dcvenc_family_x264, "h264", AV_PIX_FMT_YUV420P, DCV_RC_VBR, 0, 2000, 3000, 0);
    TAP_OK(r.rc == 0 && r.ctx->bit_rate == 2000000 && r.ctx->rc_max_rate == 3000000 &&
               r.ctx->rc_buffer_size == 6000000,
           "x264 vbr 2000 max 3000 -> maxrate 3M, bufsize 2 s of maxrate");
    run_free(&r);
    r = rc_run(&dcvenc_family_x264, "h264", AV_PIX_FMT_YUV420P, DCV_RC_VBR, 0, 2000, 1000, 0);
    TAP_IS_INT(r.rc, -EINVAL, "vbr maxrate below bitrate is -EINVAL");
    run_free(&r);
    r = rc_run(&dcvenc_family_x264, "h264", AV_PIX_FMT_YUV420P, DCV_RC_CBR, 0, 2000, 0, 0);
    TAP_OK(r.rc == 0 && r.ctx->bit_rate == 2000000 && r.ctx->rc_max_rate == 2000000 &&
               r.ctx->rc_buffer_size == 2000000 && opt(&r, "nal-hrd") &&
               !strcmp(opt(&r, "nal-hrd"), "cbr"),
           "x264 cbr 2000 -> b=maxrate=2M, bufsize 1 s, nal-hrd=cbr");
    run_free(&r);
    r = rc_run(&dcvenc_family_x264, "h264", AV_PIX_FMT_YUV420P, DCV_RC_CBR, 0, 2000, 0, 500);
    TAP_IS_INT(r.ctx->rc_buffer_size, 500000, "cbr bufsize_kbits is used when set");
    run_free(&r);
    r = rc_run(&dcvenc_family_x264, "h264", AV_PIX_FMT_YUV420P, DCV_RC_CBR, 0, 0, 0, 0);
    TAP_IS_INT(r.rc, -EINVAL, "cbr without bitrate is -EINVAL");
    TAP_HAS_STR(err, "bitrate_kbps", "... naming bitrate_kbps");
    run_free(&r);
    r = rc_run(&dcvenc_family_x264, "h264", AV_PIX_FMT_YUV420P, DCV_RC_CBR, 0, 2000, 2500, 0);
    TAP_IS_INT(r.rc, -EINVAL, "cbr with a different maxrate is -EINVAL");
    run_free(&r);
    r = rc_run(&dcvenc_family_x264, "h264", AV_PIX_FMT_YUV420P, 9, 0, 0, 0, 0);
    TAP_IS_INT(r.rc, -EINVAL, "unknown rc_mode is -EINVAL");
    run_free(&r);
    r = rc_run(&dcvenc_family_x264, "h264", AV_PIX_FMT_YUV420P, DCV_RC_DEFAULT, 0, 0, 0, 0);
    TAP_OK(r.rc == 0 && !opt(&r, "crf") && !opt(&r, "qp") && !opt(&r, "x264-params"),
           "x264 default rc sets no rate option");
    run_free(&r);

    r = rc_run(&dcvenc_family_x265, "hevc", AV_PIX_FMT_YUV420P, DCV_RC_CRF, 28, 0, 0, 0);
    TAP_OK(r.rc == 0 && opt(&r, "crf") && !strcmp(opt(&r, "crf"), "28"), "x265 crf 28 -> crf=28");
    TAP_IS_STR(opt(&r, "x265-params"), "log-level=error", "x265 is always told log-level=error");
    run_free(&r);
    r = rc_run(&dcvenc_family_x265, "hevc", AV_PIX_FMT_YUV420P, DCV_RC_CQP, 30, 0, 0, 0);
    TAP_IS_STR(opt(&r, "qp"), "30", "x265 cqp 30 -> qp=30");
    run_free(&r);
    r = rc_run(&dcvenc_family_x265, "hevc", AV_PIX_FMT_YUV420P10LE, DCV_RC_CQP, 60, 0, 0, 0);
    TAP_IS_INT(r.rc, -EINVAL, "x265 cqp 60 is -EINVAL even at 10 bits");
    run_free(&r);
    r = rc_run(&dcvenc_family_x265, "hevc", AV_PIX_FMT_YUV420P, DCV_RC_CBR, 0, 1500, 0, 0);
    TAP_OK(r.rc == 0 && r.ctx->rc_max_rate == 1500000 && !opt(&r, "nal-hrd"),
           "x265 cbr -> b=maxrate, no nal-hrd");
    TAP_IS_STR(opt(&r, "x265-params"), "log-level=error:strict-cbr=1", "x265 cbr adds strict-cbr");
    run_free(&r);
    {
        struct dcv_enc_params p = params("hevc", AV_PIX_FMT_YUV420P);
        struct dcvenc_opts o = {0, NULL, "pools=2:aq-mode=3"};
        r = map_with(&dcvenc_family_x265, NULL, &p, &o);
        TAP_IS_STR(opt(&r, "x265-params"), "log-level=error:pools=2:aq-mode=3",
                   "configured x265_params follow log-level");
        run_free(&r);
    }
    {
        struct dcv_enc_params p = params("h264", AV_PIX_FMT_YUV420P);
        struct dcvenc_opts o = {0, NULL, "keyint=100"};
        r = map_with(&dcvenc_family_x264, NULL, &p, &o);
        TAP_IS_STR(opt(&r, "x264-params"), "keyint=100", "configured x264_params pass through");
        run_free(&r);
    }
}

static void test_rc_hw(void)
{
    struct run r;

    r = rc_run(&dcvenc_family_nvenc, "hevc", AV_PIX_FMT_NV12, DCV_RC_CRF, 28, 0, 0, 0);
    TAP_OK(r.rc == 0 && opt(&r, "rc") && !strcmp(opt(&r, "rc"), "vbr") && opt(&r, "cq") &&
               !strcmp(opt(&r, "cq"), "28") && r.ctx->bit_rate == 0,
           "nvenc crf 28 -> rc=vbr cq=28 b=0");
    run_free(&r);
    r = rc_run(&dcvenc_family_nvenc, "hevc", AV_PIX_FMT_NV12, DCV_RC_CRF, 0, 0, 0, 0);
    TAP_IS_INT(r.rc, -EINVAL, "nvenc cq 0 (NVENC's 'auto') is refused");
    run_free(&r);
    r = rc_run(&dcvenc_family_nvenc, "h264", AV_PIX_FMT_NV12, DCV_RC_CQP, 22, 0, 0, 0);
    TAP_OK(r.rc == 0 && !strcmp(opt(&r, "rc"), "constqp") && !strcmp(opt(&r, "qp"), "22"),
           "nvenc cqp 22 -> rc=constqp qp=22");
    run_free(&r);
    r = rc_run(&dcvenc_family_nvenc, "av1", AV_PIX_FMT_NV12, DCV_RC_CQP, 200, 0, 0, 0);
    TAP_IS_INT(r.rc, 0, "nvenc av1 qp 200 is inside AV1's 0..255");
    run_free(&r);
    r = rc_run(&dcvenc_family_nvenc, "h264", AV_PIX_FMT_NV12, DCV_RC_CBR, 0, 4000, 0, 0);
    TAP_OK(r.rc == 0 && !strcmp(opt(&r, "rc"), "cbr") && r.ctx->bit_rate == 4000000 &&
               r.ctx->rc_max_rate == 4000000,
           "nvenc cbr -> rc=cbr b=maxrate");
    run_free(&r);
    r = rc_run(&dcvenc_family_nvenc, "h264", AV_PIX_FMT_NV12, DCV_RC_VBR, 0, 4000, 6000, 0);
    TAP_OK(r.rc == 0 && !strcmp(opt(&r, "rc"), "vbr") && r.ctx->rc_max_rate == 6000000,
           "nvenc vbr -> rc=vbr with maxrate");
    run_free(&r);

    r = rc_run(&dcvenc_family_vaapi, "hevc", AV_PIX_FMT_NV12, DCV_RC_CRF, 25, 0, 0, 0);
    TAP_OK(r.rc == 0 && !opt(&r, "rc_mode") && r.ctx->global_quality == 25 &&
               r.ctx->bit_rate == 0,
           "vaapi crf 25 -> global_quality=25, b=0, rc_mode auto (ICQ, else CQP)");
    run_free(&r);
    r = rc_run(&dcvenc_family_vaapi, "h264", AV_PIX_FMT_NV12, DCV_RC_CQP, 26, 0, 0, 0);
    TAP_OK(r.rc == 0 && !strcmp(opt(&r, "rc_mode"), "CQP") && r.ctx->global_quality == 26 &&
               !opt(&r, "qp"),
           "vaapi cqp 26 -> rc_mode=CQP global_quality=26");
    run_free(&r);
    r = rc_run(&dcvenc_family_vaapi, "h264", AV_PIX_FMT_NV12, DCV_RC_CBR, 0, 3000, 0, 0);
    TAP_OK(r.rc == 0 && !strcmp(opt(&r, "rc_mode"), "CBR") && r.ctx->rc_max_rate == 3000000,
           "vaapi cbr -> rc_mode=CBR");
    run_free(&r);
    r = rc_run(&dcvenc_family_vaapi, "h264", AV_PIX_FMT_NV12, DCV_RC_VBR, 0, 3000, 0, 0);
    TAP_IS_STR(opt(&r, "rc_mode"), "VBR", "vaapi vbr -> rc_mode=VBR");
    run_free(&r);

    r = rc_run(&dcvenc_family_qsv, "hevc", AV_PIX_FMT_NV12, DCV_RC_CRF, 24, 0, 0, 0);
    TAP_OK(r.rc == 0 && r.ctx->global_quality == 24 && !(r.ctx->flags & AV_CODEC_FLAG_QSCALE),
           "qsv crf 24 -> global_quality=24 (ICQ)");
    run_free(&r);
    r = rc_run(&dcvenc_family_qsv, "hevc", AV_PIX_FMT_NV12, DCV_RC_CQP, 24, 0, 0, 0);
    TAP_OK(r.rc == 0 && r.ctx->global_quality == 24 * FF_QP2LAMBDA &&
               (r.ctx->flags & AV_CODEC_FLAG_QSCALE),
           "qsv cqp 24 -> -q:v 24 (QSCALE)");
    run_free(&r);
    r = rc_run(&dcvenc_family_qsv, "h264", AV_PIX_FMT_NV12, DCV_RC_CBR, 0, 5000, 0, 0);
    TAP_OK(r.rc == 0 && r.ctx->bit_rate == r.ctx->rc_max_rate, "qsv cbr -> maxrate == bitrate");
    run_free(&r);

    r = rc_run(&dcvenc_family_vtb, "hevc", AV_PIX_FMT_NV12, DCV_RC_CRF, 65, 0, 0, 0);
    TAP_OK(r.rc == 0 && r.ctx->global_quality == 65 * FF_QP2LAMBDA &&
               (r.ctx->flags & AV_CODEC_FLAG_QSCALE),
           "vtb crf 65 -> -q:v 65");
    run_free(&r);
    r = rc_run(&dcvenc_family_vtb, "hevc", AV_PIX_FMT_NV12, DCV_RC_CQP, 20, 0, 0, 0);
    TAP_IS_INT(r.rc, -ENOTSUP, "vtb cqp is -ENOTSUP");
    run_free(&r);
    r = rc_run(&dcvenc_family_vtb, "h264", AV_PIX_FMT_NV12, DCV_RC_CBR, 0, 5000, 0, 0);
    TAP_OK(r.rc == 0 && opt(&r, "constant_bit_rate") && r.ctx->bit_rate == 5000000,
           "vtb cbr -> constant_bit_rate=1");
    run_free(&r);
}

static void test_profiles(void)
{
    static const struct {
        const struct dcvenc_family *fam;
        const char *encoder, *codec;
        int pix_fmt;
        const char *want; /* NULL: no profile option set */
    } t[] = {
        {&dcvenc_family_x264, "libx264", "h264", AV_PIX_FMT_YUV420P10LE, "high10"},
        {&dcvenc_family_x264, "libx264", "h264", AV_PIX_FMT_YUV422P10LE, "high422"},
        {&dcvenc_family_x264, "libx264", "h264", AV_PIX_FMT_YUV444P10LE, "high444"},
        {&dcvenc_family_x264, "libx264", "h264", AV_PIX_FMT_YUV420P, NULL},
        {&dcvenc_family_x265, "libx265", "hevc", AV_PIX_FMT_YUV420P10LE, "main10"},
        {&dcvenc_family_x265, "libx265", "hevc", AV_PIX_FMT_YUV422P10LE, "main422-10"},
        {&dcvenc_family_x265, "libx265", "hevc", AV_PIX_FMT_YUV420P, NULL},
        {&dcvenc_family_nvenc, NULL, "hevc", AV_PIX_FMT_P010LE, "main10"},
        {&dcvenc_family_nvenc, NULL, "h264", AV_PIX_FMT_P010LE, "high10"},
        {&dcvenc_family_vaapi, NULL, "hevc", AV_PIX_FMT_P010LE, "main10"},
        {&dcvenc_family_qsv, NULL, "hevc", AV_PIX_FMT_P010LE, "main10"},
        {&dcvenc_family_vtb, NULL, "hevc", AV_PIX_FMT_P010LE, "main10"},
    };

    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        struct dcv_enc_params p = params(t[i].codec, t[i].pix_fmt);
        struct run r = map_with(t[i].fam, t[i].encoder, &p, NULL);
        const char *got = opt(&r, "profile");
        if (!tap_ok(r.rc == 0 && (t[i].want ? got && !strcmp(got, t[i].want) : !got),
                    "%s %s %s -> profile %s", t[i].fam->name, t[i].codec,
                    av_get_pix_fmt_name(t[i].pix_fmt), t[i].want ? t[i].want : "(encoder's)"))
            tap_diag("rc %d profile '%s' err '%s'", r.rc, got ? got : "(none)", err);
        run_free(&r);
    }

    /* An FFmpeg whose h264_nvenc lacks high10 (before 7.1) cannot do it. */
    if (avcodec_find_encoder_by_name("h264_nvenc")) {
        const AVCodec *c = avcodec_find_encoder_by_name("h264_nvenc");
        struct dcv_enc_params p = params("h264", AV_PIX_FMT_P010LE);
        struct run r = map_with(&dcvenc_family_nvenc, "h264_nvenc", &p, NULL);
        if (dcvenc_class_has_profile(c->priv_class, "high10"))
            TAP_IS_STR(opt(&r, "profile"), "high10", "h264_nvenc with high10 -> high10");
        else
            TAP_IS_INT(r.rc, -ENOTSUP, "h264_nvenc without high10: 10-bit is -ENOTSUP");
        run_free(&r);
    } else {
        tap_skip("no h264_nvenc in this FFmpeg", "h264_nvenc 10-bit profile check");
    }

    {
        struct dcv_enc_params p = params("h264", AV_PIX_FMT_YUV420P10LE);
        struct run r;
        snprintf(p.profile, sizeof p.profile, "main");
        r = map_with(&dcvenc_family_x264, "libx264", &p, NULL);
        TAP_IS_INT(r.rc, -ENOTSUP, "x264 profile main with 10-bit input is -ENOTSUP");
        TAP_HAS_STR(err, "high10", "... and suggests the 10-bit profiles");
        run_free(&r);
        snprintf(p.profile, sizeof p.profile, "foo");
        r = map_with(&dcvenc_family_x264, "libx264", &p, NULL);
        TAP_IS_INT(r.rc, -EINVAL, "unknown profile is -EINVAL");
        TAP_HAS_STR(err, "baseline, main, high", "... listing the known ones");
        run_free(&r);
        p = params("h264", AV_PIX_FMT_YUV422P);
        snprintf(p.profile, sizeof p.profile, "high");
        r = map_with(&dcvenc_family_x264, "libx264", &p, NULL);
        TAP_IS_INT(r.rc, -ENOTSUP, "profile high with 4:2:2 input is -ENOTSUP");
        run_free(&r);
        snprintf(p.profile, sizeof p.profile, "high422");
        r = map_with(&dcvenc_family_x264, "libx264", &p, NULL);
        TAP_IS_STR(opt(&r, "profile"), "high422", "explicit high422 with 4:2:2 passes");
        run_free(&r);
    }
}

static void test_generic(void)
{
    struct dcv_enc_params p;
    struct dcvenc_opts o = {0, NULL, NULL};
    struct run r;

    p = params("h264", AV_PIX_FMT_YUV420P);
    r = map_with(&dcvenc_family_x264, "libx264", &p, NULL);
    TAP_OK(r.rc == 0 && r.ctx->width == 160 && r.ctx->height == 90 &&
               r.ctx->pix_fmt == AV_PIX_FMT_YUV420P && r.ctx->time_base.num == 1 &&
               r.ctx->time_base.den == 25 && r.ctx->framerate.num == 25,
           "size, pix_fmt, time base and frame rate reach the context");
    TAP_IS_INT(r.ctx->thread_count, 0, "threads 0 -> auto (thread_count 0, as the CLI does)");
    TAP_OK(!(r.ctx->flags & AV_CODEC_FLAG_GLOBAL_HEADER), "no global header unless asked");
    run_free(&r);

    p.threads = 3;
    p.gop = 120;
    p.max_b_frames = 2;
    p.flags = DCV_ENC_GLOBAL_HEADER;
    p.sample_aspect_ratio = (struct dcv_rational){4, 3};
    p.color_primaries = AVCOL_PRI_BT709;
    p.colorspace = AVCOL_SPC_BT709;
    r = map_with(&dcvenc_family_x264, "libx264", &p, NULL);
    TAP_OK(r.rc == 0 && r.ctx->thread_count == 3 && r.ctx->gop_size == 120 &&
               r.ctx->max_b_frames == 2 && (r.ctx->flags & AV_CODEC_FLAG_GLOBAL_HEADER) &&
               r.ctx->sample_aspect_ratio.num == 4 && r.ctx->color_primaries == AVCOL_PRI_BT709 &&
               r.ctx->colorspace == AVCOL_SPC_BT709,
           "threads, gop, B-frames, global header, SAR and colours are mapped");
    run_free(&r);

    p = params("h264", AV_PIX_FMT_YUV420P);
    o.threads = 5;
    r = map_with(&dcvenc_family_x264, NULL, &p, &o);
    TAP_IS_INT(r.ctx->thread_count, 5, "configured threads apply when the job sets none");
    run_free(&r);

    p.flags = DCV_ENC_LOW_LATENCY;
    o = (struct dcvenc_opts){0, "film", NULL};
    r = map_with(&dcvenc_family_x264, NULL, &p, &o);
    TAP_OK(r.rc == 0 && r.ctx->max_b_frames == 0 && (r.ctx->flags & AV_CODEC_FLAG_LOW_DELAY),
           "LOW_LATENCY: no B-frames, low-delay flag");
    TAP_IS_STR(opt(&r, "tune"), "film,zerolatency", "x264: configured tune + zerolatency");
    run_free(&r);
    snprintf(p.codec, sizeof p.codec, "hevc");
    o.tune = "grain";
    r = map_with(&dcvenc_family_x265, NULL, &p, &o);
    TAP_IS_STR(opt(&r, "tune"), "zerolatency", "x265 takes one tune: LOW_LATENCY wins");
    run_free(&r);
    snprintf(p.codec, sizeof p.codec, "h264");
    p.pix_fmt = AV_PIX_FMT_NV12;
    r = map_with(&dcvenc_family_nvenc, NULL, &p, NULL);
    TAP_OK(r.rc == 0 && !strcmp(opt(&r, "tune"), "ll") && !strcmp(opt(&r, "zerolatency"), "1"),
           "nvenc LOW_LATENCY -> tune=ll zerolatency=1");
    run_free(&r);
    r = map_with(&dcvenc_family_vaapi, NULL, &p, NULL);
    TAP_IS_STR(opt(&r, "async_depth"), "1", "vaapi LOW_LATENCY -> async_depth=1");
    run_free(&r);
    p.max_b_frames = 2;
    r = map_with(&dcvenc_family_x264, NULL, &p, NULL);
    TAP_IS_INT(r.rc, -EINVAL, "LOW_LATENCY with B-frames is -EINVAL");
    run_free(&r);

    p = params("h264", AV_PIX_FMT_YUV420P);
    o = (struct dcvenc_opts){0, "cartoon", NULL};
    r = map_with(&dcvenc_family_x264, NULL, &p, &o);
    TAP_IS_INT(r.rc, -EINVAL, "unknown tune is -EINVAL");
    TAP_HAS_STR(err, "zerolatency", "... listing the tunes");
    run_free(&r);
    TAP_IS_INT(dcvenc_check_tune(&dcvenc_family_x265, "psnr,ssim", err, sizeof err), -EINVAL,
               "x265 takes no tune list");
    TAP_IS_INT(dcvenc_check_tune(&dcvenc_family_x264, "film,fastdecode", err, sizeof err), 0,
               "x264 takes a tune list");
    TAP_IS_INT(dcvenc_check_tune(&dcvenc_family_qsv, "film", err, sizeof err), -EINVAL,
               "qsv has no tune");

    p = params("h264", AV_PIX_FMT_YUV420P);
    p.flags = 1u << 7;
    r = map_with(&dcvenc_family_x264, NULL, &p, NULL);
    TAP_IS_INT(r.rc, -ENOTSUP, "unknown flags are -ENOTSUP");
    run_free(&r);
    p = params("h264", AV_PIX_FMT_YUV420P);
    p.time_base = (struct dcv_rational){0, 1};
    r = map_with(&dcvenc_family_x264, NULL, &p, NULL);
    TAP_IS_INT(r.rc, -EINVAL, "time_base 0/1 is -EINVAL");
    run_free(&r);
    p = params("h264", AV_PIX_FMT_YUV420P);
    p.max_b_frames = -2;
    r = map_with(&dcvenc_family_x264, NULL, &p, NULL);
    TAP_IS_INT(r.rc, -EINVAL, "max_b_frames -2 is -EINVAL");
    run_free(&r);
    p = params("h264", AV_PIX_FMT_YUV420P);
    p.color_primaries = 99;
    r = map_with(&dcvenc_family_x264, NULL, &p, NULL);
    TAP_IS_INT(r.rc, -EINVAL, "invalid colour primaries are -EINVAL");
    run_free(&r);
    p = params("h264", AV_PIX_FMT_YUV420P);
    p.colorspace = AVCOL_SPC_RGB;
    r = map_with(&dcvenc_family_x264, NULL, &p, NULL);
    TAP_IS_INT(r.rc, -EINVAL, "the RGB matrix on YUV frames is -EINVAL");
    run_free(&r);
    p = params("h264", AV_PIX_FMT_YUV420P);
    p.color_primaries = 0;
    p.color_trc = 0;
    r = map_with(&dcvenc_family_x264, NULL, &p, NULL);
    TAP_OK(r.rc == 0 && r.ctx->color_primaries == AVCOL_PRI_UNSPECIFIED &&
               r.ctx->color_trc == AVCOL_TRC_UNSPECIFIED,
           "reserved primaries/trc 0 read as unspecified");
    run_free(&r);
    p = params("h264", 9999);
    r = map_with(&dcvenc_family_x264, NULL, &p, NULL);
    TAP_IS_INT(r.rc, -EINVAL, "a pix_fmt that does not exist is -EINVAL");
    run_free(&r);
    p = params("h264", AV_PIX_FMT_YUV420P);
    p.quality = 0.0 / 0.0;
    p.rc_mode = DCV_RC_CRF;
    r = map_with(&dcvenc_family_x264, NULL, &p, NULL);
    TAP_IS_INT(r.rc, -EINVAL, "NaN quality is -EINVAL");
    run_free(&r);
    p = params("h264", AV_PIX_FMT_YUV420P);
    memset(p.profile, 'x', sizeof p.profile);
    r = map_with(&dcvenc_family_x264, NULL, &p, NULL);
    TAP_IS_INT(r.rc, -EINVAL, "an unterminated string field is -EINVAL");
    run_free(&r);
}

static int dict_count(AVDictionary *d)
{
    return av_dict_count(d);
}

static void test_kv(void)
{
    AVDictionary *d = NULL;
    const AVDictionaryEntry *e;
    int rc;

    rc = dcvenc_parse_kv("a=1:b=2", &d, err, sizeof err);
    TAP_OK(rc == 0 && dict_count(d) == 2 && !strcmp(av_dict_get(d, "b", NULL, 0)->value, "2"),
           "a=1:b=2 -> two entries");
    av_dict_free(&d);
    rc = dcvenc_parse_kv("x264-params='keyint=60:bframes=2':crf=20", &d, err, sizeof err);
    e = av_dict_get(d, "x264-params", NULL, 0);
    TAP_OK(rc == 0 && e && !strcmp(e->value, "keyint=60:bframes=2") && dict_count(d) == 2,
           "quotes keep ':' and '=' inside a value");
    av_dict_free(&d);
    rc = dcvenc_parse_kv("a\\:b=c\\=d=e", &d, err, sizeof err);
    e = av_dict_get(d, "a:b", NULL, 0);
    TAP_OK(rc == 0 && e && !strcmp(e->value, "c=d=e"),
           "backslash escapes; later '=' belong to the value");
    av_dict_free(&d);
    rc = dcvenc_parse_kv("", &d, err, sizeof err);
    TAP_OK(rc == 0 && dict_count(d) == 0, "empty string: nothing");
    rc = dcvenc_parse_kv("a=1::b=:", &d, err, sizeof err);
    TAP_OK(rc == 0 && dict_count(d) == 2 && !strcmp(av_dict_get(d, "b", NULL, 0)->value, ""),
           "empty items are skipped, empty values kept");
    av_dict_free(&d);
    rc = dcvenc_parse_kv("crf=20:preset", &d, err, sizeof err);
    TAP_IS_INT(rc, -EINVAL, "an item without '=' is -EINVAL");
    TAP_HAS_STR(err, "item 2 ('preset') is not key=value", "... naming the item");
    av_dict_free(&d);
    rc = dcvenc_parse_kv("=5", &d, err, sizeof err);
    TAP_IS_INT(rc, -EINVAL, "an empty key is -EINVAL");
    TAP_HAS_STR(err, "empty key", "... saying so");
    av_dict_free(&d);
    rc = dcvenc_parse_kv("a='x:b=1", &d, err, sizeof err);
    TAP_IS_INT(rc, -EINVAL, "an unclosed quote is -EINVAL");
    TAP_HAS_STR(err, "unclosed quote", "... saying so");
    av_dict_free(&d);
    rc = dcvenc_parse_kv("a=1\\", &d, err, sizeof err);
    TAP_IS_INT(rc, -EINVAL, "a trailing backslash is -EINVAL");
    av_dict_free(&d);
}

static void test_apply_opts(void)
{
    const AVCodec *c = avcodec_find_encoder_by_name("libx264");
    AVCodecContext *ctx;
    AVDictionary *d = NULL;
    double crf = 0;

    if (!c) {
        tap_skip("no libx264 in this FFmpeg", "apply_opts on libx264");
        return;
    }
    ctx = avcodec_alloc_context3(c);
    dcvenc_parse_kv("crf=20.5:g=77", &d, err, sizeof err);
    TAP_IS_INT(dcvenc_apply_opts(ctx, &d, "extra_opts", err, sizeof err), 0,
               "private (crf) and generic (g) options apply");
    av_opt_get_double(ctx->priv_data, "crf", 0, &crf);
    TAP_OK(crf > 20.4 && crf < 20.6 && ctx->gop_size == 77, "... and land (crf %g, g %d)", crf,
           ctx->gop_size);
    TAP_OK(d == NULL, "the dictionary is consumed");
    dcvenc_parse_kv("nosuchopt=1", &d, err, sizeof err);
    TAP_IS_INT(dcvenc_apply_opts(ctx, &d, "extra_opts", err, sizeof err), -EINVAL,
               "an unknown key is -EINVAL");
    TAP_HAS_STR(err, "extra_opts: libx264 has no option 'nosuchopt'", "... naming key and encoder");
    dcvenc_parse_kv("crf=abc", &d, err, sizeof err);
    TAP_IS_INT(dcvenc_apply_opts(ctx, &d, "extra_opts", err, sizeof err), -EINVAL,
               "a bad value is -EINVAL");
    TAP_HAS_STR(err, "invalid value 'abc' for option 'crf'", "... naming value and option");
    avcodec_free_context(&ctx);
}

static int list_has(const struct dcv_codec_caps *cc, int fmt)
{
    return dcvenc_caps_has_pix_fmt(cc, fmt);
}

static void test_caps(void)
{
    struct dcv_codec_caps cc;
    int rc;

    rc = dcvenc_codec_caps(&cc, &dcvenc_family_x264, "h264", "libx264", 16384, 16384);
    if (rc == -ENOENT) {
        tap_skip("no libx264 in this FFmpeg", "libx264 caps");
    } else {
        TAP_OK(rc == 0 && !strcmp(cc.codec, "h264") && !strcmp(cc.encoder, "libx264") &&
                   cc.pix_fmts[0] == AV_PIX_FMT_YUV420P && list_has(&cc, AV_PIX_FMT_NV12) &&
                   !list_has(&cc, AV_PIX_FMT_YUVJ420P) && !list_has(&cc, AV_PIX_FMT_GRAY8),
               "libx264: yuv420p first, family formats only");
        TAP_OK(cc.bit_depths & (1u << 8), "libx264: 8-bit");
        if (list_has(&cc, AV_PIX_FMT_YUV420P10LE))
            TAP_OK(cc.bit_depths & (1u << 10), "libx264 with yuv420p10le: 10-bit");
        else
            tap_skip("this libx264 is 8-bit only", "libx264 10-bit");
        TAP_IS_STR(cc.profiles, "baseline,main,high,high10,high422,high444", "libx264 profiles");
        TAP_OK(cc.max_width == 16384 && cc.max_height == 16384, "max size kept");
    }
    rc = dcvenc_codec_caps(&cc, &dcvenc_family_x265, "hevc", "libx265", 16888, 16888);
    if (rc == 0) {
        TAP_OK(cc.pix_fmts[0] == AV_PIX_FMT_YUV420P && !list_has(&cc, AV_PIX_FMT_YUV420P12LE) &&
                   !list_has(&cc, AV_PIX_FMT_GBRP),
               "libx265: no 12-bit or RGB formats");
    } else {
        tap_skip("no libx265 in this FFmpeg", "libx265 caps");
    }
    rc = dcvenc_codec_caps(&cc, &dcvenc_family_nvenc, "h264", "h264_nvenc", 4096, 4096);
    if (rc == 0) {
        const AVCodec *c = avcodec_find_encoder_by_name("h264_nvenc");
        int high10 = dcvenc_class_has_profile(c->priv_class, "high10");
        TAP_OK(cc.pix_fmts[0] == AV_PIX_FMT_NV12 && list_has(&cc, AV_PIX_FMT_P010LE) == high10 &&
                   !!(cc.bit_depths & (1u << 10)) == high10,
               "h264_nvenc: 10-bit only where this FFmpeg has high10 (%s)", high10 ? "yes" : "no");
        TAP_HAS_STR(cc.profiles, "high444p", "h264_nvenc profiles from its option table");
    } else {
        tap_skip("no h264_nvenc in this FFmpeg", "h264_nvenc caps");
    }
    rc = dcvenc_codec_caps(&cc, &dcvenc_family_vaapi, "hevc", "hevc_vaapi", 0, 0);
    if (rc == 0)
        TAP_OK(cc.pix_fmts[0] == AV_PIX_FMT_NV12 && cc.pix_fmts[1] == AV_PIX_FMT_P010LE &&
                   cc.pix_fmts[2] == -1 && cc.bit_depths == ((1u << 8) | (1u << 10)),
               "hevc_vaapi (hardware frames only): nv12 and p010 through upload");
    else
        tap_skip("no hevc_vaapi in this FFmpeg", "hevc_vaapi caps");
    TAP_IS_INT(dcvenc_codec_caps(&cc, &dcvenc_family_x264, "h264", "no_such_encoder", 0, 0),
               -ENOENT, "a missing encoder is -ENOENT");
    TAP_OK(cc.pix_fmts[0] == -1 && !strcmp(cc.encoder, "no_such_encoder"),
           "... with no formats but the names kept");

    /* dcvenc_caps_drop_depth */
    rc = dcvenc_codec_caps(&cc, &dcvenc_family_x264, "h264", "libx264", 0, 0);
    if (rc == 0) {
        dcvenc_caps_drop_depth(&cc, 10);
        TAP_OK(!list_has(&cc, AV_PIX_FMT_YUV420P10LE) && !(cc.bit_depths & (1u << 10)) &&
                   list_has(&cc, AV_PIX_FMT_YUV420P),
               "drop_depth removes the 10-bit formats only");
    }
}

static void test_caps_out(void)
{
    struct dcv_device_caps full;
    unsigned char buf[sizeof(struct dcv_device_caps) + 64];
    struct dcv_device_caps *out = (struct dcv_device_caps *)(void *)buf;
    size_t small = offsetof(struct dcv_device_caps, reserved);
    int untouched = 1;

    dcvenc_caps_init(&full);
    full.flags = DCV_CAP_AVAILABLE;
    snprintf(full.device_id, sizeof full.device_id, "cpu");
    memset(full.reserved, 0x11, sizeof full.reserved);

    memset(buf, 0xab, sizeof buf);
    out->struct_size = (uint32_t)small;
    TAP_IS_INT(dcvenc_caps_out(out, &full), 1, "caps_out returns 1");
    for (size_t i = small; i < sizeof buf; i++)
        if (buf[i] != 0xab)
            untouched = 0;
    TAP_OK(untouched && out->struct_size == small && !strcmp(out->device_id, "cpu") &&
               out->flags == DCV_CAP_AVAILABLE,
           "only the host's prefix is written, struct_size kept");

    memset(buf, 0, sizeof buf);
    out->struct_size = sizeof buf;
    dcvenc_caps_out(out, &full);
    TAP_OK(buf[sizeof buf - 1] == 0 && out->struct_size == sizeof buf,
           "a larger host struct keeps its unknown tail");
    out->struct_size = 8;
    TAP_IS_INT(dcvenc_caps_out(out, &full), -EINVAL,
               "a struct without room for the reason is -EINVAL");
}

static void test_check_params(void)
{
    struct dcv_codec_caps cc;
    struct dcv_enc_params p;

    if (dcvenc_codec_caps(&cc, &dcvenc_family_x264, "h264", "libx264", 16384, 16384) < 0) {
        tap_skip("no libx264 in this FFmpeg", "check_params");
        return;
    }
    p = params("h264", AV_PIX_FMT_YUV420P);
    TAP_IS_INT(dcvenc_check_params(&p, &cc, err, sizeof err), 0, "good params pass");
    p.width = 161;
    TAP_IS_INT(dcvenc_check_params(&p, &cc, err, sizeof err), -EINVAL,
               "odd width with 4:2:0 is -EINVAL");
    TAP_HAS_STR(err, "multiple of 2", "... saying why");
    p = params("h264", AV_PIX_FMT_YUV420P);
    p.width = 20000;
    TAP_IS_INT(dcvenc_check_params(&p, &cc, err, sizeof err), -ENOTSUP, "too wide is -ENOTSUP");
    p = params("h264", AV_PIX_FMT_YUV420P);
    p.height = 0;
    TAP_IS_INT(dcvenc_check_params(&p, &cc, err, sizeof err), -EINVAL, "height 0 is -EINVAL");
    p = params("h264", AV_PIX_FMT_RGB24);
    TAP_IS_INT(dcvenc_check_params(&p, &cc, err, sizeof err), -ENOTSUP, "rgb24 is -ENOTSUP");
    TAP_HAS_STR(err, "yuv420p", "... listing what it takes");
    p = params("h264", AV_PIX_FMT_YUV420P);
    p.bit_depth = 10;
    TAP_IS_INT(dcvenc_check_params(&p, &cc, err, sizeof err), -EINVAL,
               "bit_depth 10 with yuv420p is -EINVAL");
    p = params("hevc", AV_PIX_FMT_YUV420P);
    TAP_IS_INT(dcvenc_check_params(&p, &cc, err, sizeof err), -ENOTSUP,
               "another codec is -ENOTSUP");
    p = params("h264", AV_PIX_FMT_YUV420P);
    snprintf(p.encoder, sizeof p.encoder, "h264_nvenc");
    TAP_IS_INT(dcvenc_check_params(&p, &cc, err, sizeof err), -ENOTSUP,
               "another encoder is -ENOTSUP");
}

static void test_errors(void)
{
    TAP_IS_INT(dcvenc_averror(AVERROR(EAGAIN)), -EAGAIN, "EAGAIN -> -EAGAIN");
    TAP_IS_INT(dcvenc_averror(AVERROR_EOF), -ENODATA, "AVERROR_EOF -> -ENODATA");
    TAP_IS_INT(dcvenc_averror(AVERROR(ENOMEM)), -ENOMEM, "ENOMEM -> -ENOMEM");
    TAP_IS_INT(dcvenc_averror(AVERROR_INVALIDDATA), -EINVAL, "INVALIDDATA -> -EINVAL");
    TAP_IS_INT(dcvenc_averror(AVERROR_ENCODER_NOT_FOUND), -ENOTSUP,
               "ENCODER_NOT_FOUND -> -ENOTSUP");
    TAP_IS_INT(dcvenc_averror(AVERROR_EXTERNAL), -EIO, "EXTERNAL -> -EIO");
    TAP_IS_INT(dcvenc_averror(AVERROR(ENODATA)), -EIO, "an encoder's ENODATA is not end of stream");
    {
        char small[4];
        TAP_IS_INT(dcvenc_strlcpy(small, "abcdef", sizeof small), 1, "strlcpy reports truncation");
        TAP_IS_STR(small, "abc", "... and terminates");
    }
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (!f)
        tap_bail("cannot write %s", path);
    fputs(text, f);
    fclose(f);
}

static void test_render_nodes(void)
{
    char root[] = "/tmp/dcv-encmap.XXXXXX", dev[600], sys[600], path[700];
    struct dcvenc_render_node nodes[4];
    int n;

    if (!mkdtemp(root))
        tap_bail("mkdtemp failed");
    snprintf(dev, sizeof dev, "%s/dev", root);
    snprintf(sys, sizeof sys, "%s/sys", root);
    mkdir(dev, 0755);
    mkdir(sys, 0755);
    snprintf(path, sizeof path, "%s/renderD129", dev);
    write_file(path, "");
    snprintf(path, sizeof path, "%s/renderD128", dev);
    write_file(path, "");
    snprintf(path, sizeof path, "%s/card0", dev);
    write_file(path, "");
    snprintf(path, sizeof path, "%s/renderD128", sys);
    mkdir(path, 0755);
    snprintf(path, sizeof path, "%s/renderD128/device", sys);
    mkdir(path, 0755);
    snprintf(path, sizeof path, "%s/renderD128/device/vendor", sys);
    write_file(path, "0x8086\n");
    snprintf(path, sizeof path, "%s/renderD128/device/device", sys);
    write_file(path, "0x3e92\n");

    n = dcvenc_render_nodes(dev, sys, nodes, 4);
    TAP_IS_INT(n, 2, "two render nodes, card0 ignored");
    TAP_OK(n == 2 && !strcmp(nodes[0].name, "renderD128") && nodes[0].vendor == 0x8086 &&
               nodes[0].device == 0x3e92 && !strcmp(nodes[1].name, "renderD129") &&
               nodes[1].vendor == 0,
           "sorted by minor, vendor/device from sysfs");
    TAP_HAS_STR(n > 0 ? nodes[0].path : "", "/dev/renderD128", "node path");
    TAP_IS_INT(dcvenc_render_nodes(dev, sys, nodes, 1), 1, "max is respected");
    snprintf(path, sizeof path, "%s/none", root);
    TAP_IS_INT(dcvenc_render_nodes(path, sys, nodes, 4), 0, "a missing /dev/dri means no nodes");

    TAP_IS_STR(dcvenc_vendor_name(0x8086), "Intel", "vendor 0x8086");
    TAP_IS_STR(dcvenc_vendor_name(0x1002), "AMD", "vendor 0x1002");
    TAP_OK(dcvenc_vendor_name(0xdead) == NULL, "unknown vendor");

    snprintf(path, sizeof path, "%s/renderD128", dev);
    chmod(path, 0);
    if (geteuid() != 0) {
        TAP_IS_INT(dcvenc_node_access(path, err, sizeof err), -EACCES, "unreadable node: -EACCES");
        TAP_HAS_STR(err, "no permission on", "... with the permission message");
        TAP_HAS_STR(err, "group)", "... naming a group");
    } else {
        tap_skip("root may open anything", "node permission message");
    }
    snprintf(path, sizeof path, "%s/renderD200", dev);
    TAP_IS_INT(dcvenc_node_access(path, err, sizeof err), -ENOENT, "a missing node: -ENOENT");

    {
        char cmd[700];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
        if (system(cmd) != 0)
            tap_diag("could not remove %s", root);
    }
}

static void test_try_encoder(void)
{
    if (!avcodec_find_encoder_by_name("libx264")) {
        tap_skip("no libx264 in this FFmpeg", "dcvenc_hw_try_encoder");
        return;
    }
    /* The system-memory path (NVENC, VideoToolbox) on a software encoder. */
    TAP_IS_INT(
        dcvenc_hw_try_encoder(NULL, "libx264", -1, AV_PIX_FMT_NV12, NULL, NULL, err, sizeof err), 0,
        "try_encoder: libx264 encodes a test frame");
    TAP_IS_INT(dcvenc_hw_try_encoder(NULL, "libx264", -1, AV_PIX_FMT_YUV420P10LE, "high10", NULL,
                                     err, sizeof err),
               0, "try_encoder: 10-bit with a profile");
    TAP_OK(dcvenc_hw_try_encoder(NULL, "libx264", -1, AV_PIX_FMT_RGB24, NULL, NULL, err,
                                 sizeof err) < 0,
           "try_encoder: an input format the encoder refuses fails");
    TAP_HAS_STR(err, "libx264: opening the encoder failed", "... saying which step");
    TAP_IS_INT(dcvenc_hw_try_encoder(NULL, "no_such_encoder", -1, AV_PIX_FMT_NV12, NULL, NULL, err,
                                     sizeof err),
               -ENOTSUP, "try_encoder: a missing encoder is -ENOTSUP");
    TAP_IS_INT(dcvenc_hw_try_encoder(NULL, "libx264", AV_PIX_FMT_VAAPI, AV_PIX_FMT_NV12, NULL, NULL,
                                     err, sizeof err),
               -EINVAL, "try_encoder: hardware frames without a device is -EINVAL");
    TAP_IS_INT(
        dcvenc_hwdevice_open(AV_HWDEVICE_TYPE_NONE + 1000, NULL, NULL, NULL, err, sizeof err),
        -ENOTSUP, "hwdevice_open: a type this FFmpeg lacks is -ENOTSUP");
    TAP_HAS_STR(err, "built without", "... saying so");
}

/* Everything a table maps must be an option the real encoder in this
 * FFmpeg has: apply the mapped dictionary to a context of that encoder
 * (no hardware needed to set options). */
static void test_tables_fit_encoders(void)
{
    static const struct {
        const struct dcvenc_family *fam;
        const char *encoder, *codec;
        int pix_fmt;
    } t[] = {
        {&dcvenc_family_x264, "libx264", "h264", AV_PIX_FMT_YUV420P10LE},
        {&dcvenc_family_x265, "libx265", "hevc", AV_PIX_FMT_YUV420P10LE},
        {&dcvenc_family_nvenc, "h264_nvenc", "h264", AV_PIX_FMT_NV12},
        {&dcvenc_family_nvenc, "hevc_nvenc", "hevc", AV_PIX_FMT_P010LE},
        {&dcvenc_family_nvenc, "av1_nvenc", "av1", AV_PIX_FMT_P010LE},
        {&dcvenc_family_vaapi, "h264_vaapi", "h264", AV_PIX_FMT_NV12},
        {&dcvenc_family_vaapi, "hevc_vaapi", "hevc", AV_PIX_FMT_P010LE},
        {&dcvenc_family_vaapi, "av1_vaapi", "av1", AV_PIX_FMT_P010LE},
        {&dcvenc_family_vaapi, "vp9_vaapi", "vp9", AV_PIX_FMT_NV12},
        {&dcvenc_family_vaapi, "vp9_vaapi", "vp9", AV_PIX_FMT_P010LE},
        {&dcvenc_family_qsv, "h264_qsv", "h264", AV_PIX_FMT_NV12},
        {&dcvenc_family_qsv, "hevc_qsv", "hevc", AV_PIX_FMT_P010LE},
        {&dcvenc_family_qsv, "av1_qsv", "av1", AV_PIX_FMT_P010LE},
        {&dcvenc_family_vtb, "h264_videotoolbox", "h264", AV_PIX_FMT_NV12},
        {&dcvenc_family_vtb, "hevc_videotoolbox", "hevc", AV_PIX_FMT_P010LE},
    };
    static const uint32_t modes[] = {DCV_RC_DEFAULT, DCV_RC_CRF, DCV_RC_CQP, DCV_RC_VBR,
                                     DCV_RC_CBR};

    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        int good = 1, tried = 0;
        if (!avcodec_find_encoder_by_name(t[i].encoder)) {
            tap_skip("not in this FFmpeg", t[i].encoder);
            continue;
        }
        for (size_t m = 0; m < sizeof modes / sizeof modes[0]; m++) {
            for (uint32_t ll = 0; ll <= 1; ll++) {
                struct dcv_enc_params p = params(t[i].codec, t[i].pix_fmt);
                struct run r;
                p.rc_mode = modes[m];
                p.quality = 25;
                p.bitrate_kbps = 1000;
                p.preset = 2;
                p.flags = ll ? DCV_ENC_LOW_LATENCY : 0;
                r = map_with(t[i].fam, t[i].encoder, &p, NULL);
                if (r.rc == -ENOTSUP) { /* e.g. VideoToolbox CQP: a documented refusal */
                    run_free(&r);
                    continue;
                }
                tried++;
                if (r.rc == 0)
                    r.rc = dcvenc_apply_opts(r.ctx, &r.opts, "mapped options", err, sizeof err);
                if (r.rc != 0) {
                    tap_diag("%s mode %u ll %u: %d %s", t[i].encoder, modes[m], ll, r.rc, err);
                    good = 0;
                }
                run_free(&r);
            }
        }
        TAP_OK(good && tried, "%s: every mapped option exists in this FFmpeg's encoder",
               t[i].encoder);
    }
}

/* ---------------------------------------------------------------------
 * The hardware families against the real encoders of this FFmpeg: map,
 * apply to a context of that encoder (no device needed to set options),
 * then read back what the encoder would use. Encoders missing here skip. */

struct hwcase {
    const struct dcvenc_family *fam;
    const char *encoder, *codec;
};

/* The value of the named constant of private option `opt`, or INT64_MIN. */
static int64_t const_of(void *priv, const char *opt, const char *name)
{
    const AVOption *o = av_opt_find(priv, opt, NULL, 0, 0);
    const AVOption *k = o && o->unit ? av_opt_find(priv, name, o->unit, 0, 0) : NULL;
    return k && k->type == AV_OPT_TYPE_CONST ? k->default_val.i64 : INT64_MIN;
}

static int64_t priv_int(void *priv, const char *opt)
{
    int64_t v;
    return av_opt_get_int(priv, opt, 0, &v) < 0 ? INT64_MIN : v;
}

/* Is private option `opt` set to its named constant `name`? Both must exist. */
static int is_const(void *priv, const char *opt, const char *name)
{
    int64_t k = const_of(priv, opt, name);
    return k != INT64_MIN && priv_int(priv, opt) == k;
}

static double priv_dbl(void *priv, const char *opt)
{
    double v;
    return av_opt_get_double(priv, opt, 0, &v) < 0 ? -1.0 : v;
}

/* Map p onto a real `encoder` context and apply the options. */
static struct run real_map(const struct hwcase *c, const struct dcv_enc_params *p)
{
    struct run r = map_with(c->fam, c->encoder, p, NULL);
    if (r.rc == 0)
        r.rc = dcvenc_apply_opts(r.ctx, &r.opts, "mapped options", err, sizeof err);
    if (r.rc != 0)
        tap_diag("%s: %d %s", c->encoder, r.rc, err);
    return r;
}

static struct dcv_enc_params hwp(const char *codec, int pix_fmt, uint32_t mode, double q,
                                 uint32_t kbps)
{
    struct dcv_enc_params p = params(codec, pix_fmt);
    p.rc_mode = mode;
    p.quality = q;
    p.bitrate_kbps = kbps;
    return p;
}

/* What every hardware family maps the same way: gop, B-frames, low
 * latency (no B-frames), bitrates (cbr: maxrate = b, 1 s buffer). */
static void check_common(const struct hwcase *c)
{
    struct dcv_enc_params p = hwp(c->codec, AV_PIX_FMT_NV12, DCV_RC_CBR, 0, 4000);
    struct run r;

    p.gop = 120;
    p.max_b_frames = 2;
    r = real_map(c, &p);
    TAP_OK(r.rc == 0 && r.ctx->gop_size == 120 && r.ctx->max_b_frames == 2 &&
               r.ctx->bit_rate == 4000000 && r.ctx->rc_max_rate == 4000000 &&
               r.ctx->rc_buffer_size == 4000000,
           "%s: gop 120, 2 B-frames, cbr 4000 -> g=120 bf=2 b=maxrate=bufsize=4M", c->encoder);
    run_free(&r);
    p = hwp(c->codec, AV_PIX_FMT_NV12, DCV_RC_VBR, 0, 3000);
    p.maxrate_kbps = 6000;
    p.flags = DCV_ENC_LOW_LATENCY;
    r = real_map(c, &p);
    TAP_OK(r.rc == 0 && r.ctx->bit_rate == 3000000 && r.ctx->rc_max_rate == 6000000 &&
               r.ctx->rc_buffer_size == 12000000 && r.ctx->max_b_frames == 0,
           "%s: vbr 3000/6000 + low latency -> b=3M maxrate=6M bufsize=12M, no B-frames",
           c->encoder);
    run_free(&r);
}

static void test_real_nvenc(const struct hwcase *c)
{
    struct dcv_enc_params p;
    struct run r;

    p = hwp(c->codec, AV_PIX_FMT_NV12, DCV_RC_CRF, 28, 0);
    p.preset = 2;
    r = real_map(c, &p);
    TAP_OK(r.rc == 0 && is_const(r.ctx->priv_data, "rc", "vbr") &&
               priv_dbl(r.ctx->priv_data, "cq") == 28.0 && r.ctx->bit_rate == 0 &&
               is_const(r.ctx->priv_data, "preset", "p2"),
           "%s: crf 28, preset 2 -> rc=vbr cq=28 b=0 preset=p2", c->encoder);
    run_free(&r);
    p = hwp(c->codec, AV_PIX_FMT_NV12, DCV_RC_CQP, 22, 0);
    r = real_map(c, &p);
    TAP_OK(r.rc == 0 &&
               is_const(r.ctx->priv_data, "rc", "constqp") &&
               priv_int(r.ctx->priv_data, "qp") == 22,
           "%s: cqp 22 -> rc=constqp qp=22", c->encoder);
    run_free(&r);
    p = hwp(c->codec, AV_PIX_FMT_NV12, DCV_RC_CBR, 0, 5000);
    p.flags = DCV_ENC_LOW_LATENCY;
    r = real_map(c, &p);
    TAP_OK(r.rc == 0 && is_const(r.ctx->priv_data, "rc", "cbr") &&
               is_const(r.ctx->priv_data, "tune", "ll") &&
               priv_int(r.ctx->priv_data, "zerolatency") == 1,
           "%s: cbr + low latency -> rc=cbr tune=ll zerolatency=1", c->encoder);
    run_free(&r);
    if (strcmp(c->codec, "h264") != 0) {
        p = hwp(c->codec, AV_PIX_FMT_P010LE, DCV_RC_CRF, 30, 0);
        r = real_map(c, &p);
        TAP_OK(r.rc == 0 && r.ctx->pix_fmt == AV_PIX_FMT_P010LE &&
                   is_const(r.ctx->priv_data, "profile",
                            strcmp(c->codec, "hevc") == 0 ? "main10" : "main"),
               "%s: 10-bit p010 -> its 10-bit profile", c->encoder);
        run_free(&r);
    }
    check_common(c);
}

static void test_real_vaapi(const struct hwcase *c)
{
    struct dcv_enc_params p;
    struct run r;

    p = hwp(c->codec, AV_PIX_FMT_NV12, DCV_RC_CRF, 25, 0);
    p.preset = 2;
    r = real_map(c, &p);
    TAP_OK(r.rc == 0 && is_const(r.ctx->priv_data, "rc_mode", "auto") &&
               r.ctx->global_quality == 25 && r.ctx->bit_rate == 0 &&
               r.ctx->compression_level == 6,
           "%s: crf 25, preset 2 -> rc_mode auto, global_quality=25, b=0, compression_level 6",
           c->encoder);
    run_free(&r);
    p = hwp(c->codec, AV_PIX_FMT_NV12, DCV_RC_CQP, 26, 0);
    r = real_map(c, &p);
    TAP_OK(r.rc == 0 &&
               is_const(r.ctx->priv_data, "rc_mode", "CQP") &&
               r.ctx->global_quality == 26,
           "%s: cqp 26 -> rc_mode=CQP global_quality=26", c->encoder);
    run_free(&r);
    for (int cbr = 0; cbr <= 1; cbr++) {
        p = hwp(c->codec, AV_PIX_FMT_NV12, cbr ? DCV_RC_CBR : DCV_RC_VBR, 0, 3000);
        p.flags = DCV_ENC_LOW_LATENCY;
        r = real_map(c, &p);
        TAP_OK(r.rc == 0 &&
                   is_const(r.ctx->priv_data, "rc_mode", cbr ? "CBR" : "VBR") &&
                   priv_int(r.ctx->priv_data, "async_depth") == 1,
               "%s: %s + low latency -> rc_mode=%s async_depth=1", c->encoder, cbr ? "cbr" : "vbr",
               cbr ? "CBR" : "VBR");
        run_free(&r);
    }
    if (strcmp(c->codec, "hevc") == 0) {
        p = hwp(c->codec, AV_PIX_FMT_P010LE, DCV_RC_CRF, 25, 0);
        r = real_map(c, &p);
        TAP_OK(r.rc == 0 && r.ctx->pix_fmt == AV_PIX_FMT_P010LE &&
                   is_const(r.ctx->priv_data, "profile", "main10"),
               "%s: 10-bit -> main10", c->encoder);
        run_free(&r);
    }
    check_common(c);
}

static void test_real_qsv(const struct hwcase *c)
{
    struct dcv_enc_params p;
    struct run r;

    p = hwp(c->codec, AV_PIX_FMT_NV12, DCV_RC_CRF, 24, 0);
    p.preset = 2;
    r = real_map(c, &p);
    TAP_OK(r.rc == 0 && r.ctx->global_quality == 24 && !(r.ctx->flags & AV_CODEC_FLAG_QSCALE) &&
               r.ctx->rc_max_rate == 0 &&
               is_const(r.ctx->priv_data, "preset", "faster"),
           "%s: crf 24, preset 2 -> global_quality=24 without qscale (ICQ), preset=faster",
           c->encoder);
    run_free(&r);
    p = hwp(c->codec, AV_PIX_FMT_NV12, DCV_RC_CQP, 24, 0);
    p.flags = DCV_ENC_LOW_LATENCY;
    r = real_map(c, &p);
    TAP_OK(r.rc == 0 && (r.ctx->flags & AV_CODEC_FLAG_QSCALE) &&
               r.ctx->global_quality == 24 * FF_QP2LAMBDA &&
               priv_int(r.ctx->priv_data, "async_depth") == 1,
           "%s: cqp 24 + low latency -> qscale, global_quality=24*QP2LAMBDA, async_depth=1",
           c->encoder);
    run_free(&r);
    if (strcmp(c->codec, "hevc") == 0) {
        p = hwp(c->codec, AV_PIX_FMT_P010LE, DCV_RC_CRF, 25, 0);
        r = real_map(c, &p);
        TAP_OK(r.rc == 0 && r.ctx->pix_fmt == AV_PIX_FMT_P010LE &&
                   is_const(r.ctx->priv_data, "profile", "main10"),
               "%s: 10-bit -> main10", c->encoder);
        run_free(&r);
    }
    check_common(c);
}

static void test_real_vtb(const struct hwcase *c)
{
    struct dcv_enc_params p = hwp(c->codec, AV_PIX_FMT_NV12, DCV_RC_CRF, 65, 0);
    struct run r;

    p.preset = 1;
    r = real_map(c, &p);
    TAP_OK(r.rc == 0 && (r.ctx->flags & AV_CODEC_FLAG_QSCALE) &&
               r.ctx->global_quality == 65 * FF_QP2LAMBDA &&
               priv_int(r.ctx->priv_data, "realtime") == 1,
           "%s: crf 65, preset 1 -> -q:v 65, realtime=1", c->encoder);
    run_free(&r);
    check_common(c);
}

static void test_real_contexts(void)
{
    static const struct hwcase t[] = {
        {&dcvenc_family_nvenc, "h264_nvenc", "h264"},
        {&dcvenc_family_nvenc, "hevc_nvenc", "hevc"},
        {&dcvenc_family_nvenc, "av1_nvenc", "av1"},
        {&dcvenc_family_vaapi, "h264_vaapi", "h264"},
        {&dcvenc_family_vaapi, "hevc_vaapi", "hevc"},
        {&dcvenc_family_vaapi, "av1_vaapi", "av1"},
        {&dcvenc_family_vaapi, "vp9_vaapi", "vp9"},
        {&dcvenc_family_qsv, "h264_qsv", "h264"},
        {&dcvenc_family_qsv, "hevc_qsv", "hevc"},
        {&dcvenc_family_qsv, "av1_qsv", "av1"},
        {&dcvenc_family_vtb, "h264_videotoolbox", "h264"},
        {&dcvenc_family_vtb, "hevc_videotoolbox", "hevc"},
    };

    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        if (!avcodec_find_encoder_by_name(t[i].encoder)) {
            tap_skip("not in this FFmpeg", t[i].encoder);
            continue;
        }
        if (t[i].fam == &dcvenc_family_nvenc)
            test_real_nvenc(&t[i]);
        else if (t[i].fam == &dcvenc_family_vaapi)
            test_real_vaapi(&t[i]);
        else if (t[i].fam == &dcvenc_family_qsv)
            test_real_qsv(&t[i]);
        else
            test_real_vtb(&t[i]);
    }
}

/* The -EBUSY mapping of hardware open failures (hwopen.h). */
static void test_open_errno(void)
{
    const char *d = "cannot open h264_nvenc for 1920x1080 nv12: Cannot allocate memory";

    TAP_IS_INT(dcvenc_hw_open_errno("h264_nvenc", AVERROR(ENOMEM), -1, d, err, sizeof err),
               -EBUSY, "nvenc ENOMEM (NVENC error 10) -> -EBUSY");
    TAP_HAS_STR(err, "NVENC refused another encode session: the GPU's session limit is in use",
                "... with the session-limit message");
    TAP_HAS_STR(err, d, "... and the step's own text");
    TAP_IS_INT(dcvenc_hw_open_errno("hevc_nvenc", AVERROR(EINVAL), 1, NULL, err, sizeof err),
               -EBUSY, "nvenc EINVAL with a bare session refused too (error 21) -> -EBUSY");
    TAP_HAS_STR(err, "incompatible client key", "... naming NVENC's error 21");
    TAP_IS_INT(dcvenc_hw_open_errno("hevc_nvenc", AVERROR(EINVAL), 0, "bad", err, sizeof err),
               -EINVAL, "nvenc EINVAL with a bare session that opened -> -EINVAL (parameters)");
    TAP_IS_INT(dcvenc_hw_open_errno("av1_nvenc", AVERROR(EINVAL), -1, "bad", err, sizeof err),
               -EINVAL, "nvenc EINVAL without the bare check -> -EINVAL");
    TAP_IS_INT(dcvenc_hw_open_errno("h264_nvenc", AVERROR(ENOSYS), -1, NULL, err, sizeof err),
               -ENOTSUP, "nvenc ENOSYS (unsupported / driver too old) -> -ENOTSUP");
    TAP_HAS_STR(err, "driver older", "... saying the driver may be too old");
    TAP_IS_INT(dcvenc_hw_open_errno("h264_nvenc", AVERROR_EXTERNAL, -1, NULL, err, sizeof err),
               -EIO, "nvenc 'no capable devices' (external) stays an error, not busy");
    TAP_IS_INT(dcvenc_hw_open_errno("h264_qsv", AVERROR(ENOMEM), -1, NULL, err, sizeof err),
               -EBUSY, "qsv ENOMEM (MFX_ERR_MEMORY_ALLOC) -> -EBUSY");
    TAP_HAS_STR(err, "Quick Sync", "... naming Quick Sync");
    TAP_IS_INT(dcvenc_hw_open_errno("hevc_vaapi", AVERROR(ENOMEM), -1, NULL, err, sizeof err),
               -EBUSY, "vaapi ENOMEM (no surfaces) -> -EBUSY");
    TAP_IS_INT(dcvenc_hw_open_errno("hevc_vaapi", AVERROR(EIO), -1, NULL, err, sizeof err), -EIO,
               "vaapi EIO stays -EIO");
    TAP_IS_INT(dcvenc_hw_open_errno("h264_videotoolbox", AVERROR_EXTERNAL, -12915, NULL, err,
                                    sizeof err),
               -EBUSY, "videotoolbox -12915 (kVTVideoEncoderNotAvailableNowErr) -> -EBUSY");
    TAP_HAS_STR(err, "-12915", "... naming the status");
    TAP_IS_INT(dcvenc_hw_open_errno("hevc_videotoolbox", AVERROR_EXTERNAL, -12908, NULL, err,
                                    sizeof err),
               -ENODEV, "videotoolbox -12908 (no encoder) -> -ENODEV");
    TAP_IS_INT(dcvenc_hw_open_errno("hevc_videotoolbox", AVERROR_EXTERNAL, 0, NULL, err,
                                    sizeof err),
               -EIO, "videotoolbox without a status stays -EIO");
    TAP_IS_INT(dcvenc_hw_open_errno("libx264", AVERROR(ENOMEM), -1, NULL, err, sizeof err),
               -ENOMEM, "a software encoder's ENOMEM is not busy");
    TAP_IS_INT(dcvenc_hw_open_errno("h264_nvenc", AVERROR(EAGAIN), -1, NULL, err, sizeof err),
               -EIO, "EAGAIN at open is -EIO (never 'feed more input')");
    TAP_OK(dcvenc_hw_open_needs_bare("h264_nvenc", AVERROR(EINVAL)) &&
               !dcvenc_hw_open_needs_bare("h264_nvenc", AVERROR(ENOMEM)) &&
               !dcvenc_hw_open_needs_bare("h264_vaapi", AVERROR(EINVAL)),
           "only NVENC's EINVAL needs the bare-session check");
    if (avcodec_find_encoder_by_name("libx264")) {
        TAP_IS_INT(dcvenc_hw_bare_open(NULL, "libx264", -1), 0,
                   "bare_open: a session that opens answers 0");
        TAP_IS_INT(dcvenc_hw_bare_open(NULL, "libx264", AV_PIX_FMT_VAAPI), AVERROR(EINVAL),
                   "bare_open: hardware frames without a device");
    } else {
        tap_skip("no libx264", "bare_open");
        tap_skip("no libx264", "bare_open without a device");
    }
    TAP_IS_INT(dcvenc_hw_bare_open(NULL, "no_such_encoder", -1), AVERROR_ENCODER_NOT_FOUND,
               "bare_open: a missing encoder");
}

int main(void)
{
    av_log_set_level(AV_LOG_QUIET); /* the bad-value cases make libx264 complain */
    test_presets();
    test_rc_x26x();
    test_rc_hw();
    test_profiles();
    test_generic();
    test_kv();
    test_apply_opts();
    test_caps();
    test_caps_out();
    test_check_params();
    test_errors();
    test_render_nodes();
    test_try_encoder();
    test_tables_fit_encoders();
    test_real_contexts();
    test_open_errno();
    return tap_done();
}
