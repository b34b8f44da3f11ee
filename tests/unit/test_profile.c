/* Encode profile options: every option with good and bad values. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "distconv/plugin.h"
#include "profile.h"
#include "tap.h"

static struct dcv_profile P;

static void good(const char *opt, const char *val)
{
    char err[256] = "";
    dcv_profile_defaults(&P);
    if (!tap_ok(dcv_profile_set(&P, opt, val, err, sizeof err) == 0, "--%s '%s' accepted", opt,
                val))
        tap_diag("  err: %s", err);
}

/* A bad value fails with the exact message prefix and leaves P alone. */
static void bad(const char *opt, const char *val)
{
    char err[256] = "", want[256];
    struct dcv_profile before;
    int r;
    dcv_profile_defaults(&P);
    before = P;
    r = dcv_profile_set(&P, opt, val, err, sizeof err);
    snprintf(want, sizeof want, "--%s: expected ", opt);
    if (!tap_ok(r == -EINVAL && strncmp(err, want, strlen(want)) == 0 &&
                    strstr(err, ", got '") != NULL,
                "--%s '%s' rejected", opt, val))
        tap_diag("  r=%d err: %s", r, err);
    TAP_OK(memcmp(&before, &P, sizeof P) == 0, "--%s '%s' leaves the profile unchanged", opt,
           val);
}

static void test_defaults(void)
{
    dcv_profile_defaults(&P);
    TAP_IS_STR(P.codec, "h264", "default codec");
    TAP_IS_STR(P.encoder, "auto", "default encoder");
    TAP_IS_INT(P.rc_mode, DCV_RC_CRF, "default rate control is CRF");
    TAP_OK(P.quality < 0, "default quality is unset until resolved");
    TAP_IS_INT(P.preset, 4, "default preset 4");
    TAP_IS_INT(P.max_height, 0, "default max_height keeps");
    TAP_IS_INT(P.bit_depth, 0, "default bit depth as source");
    TAP_IS_INT(P.gop, 0, "default gop");
    TAP_IS_INT(P.audio, DCV_AUDIO_COPY, "default audio copy");
    TAP_IS_INT(P.audio_bitrate_kbps, 0, "default audio bitrate");
    TAP_IS_INT(P.subs, DCV_SUBS_COPY, "default subtitles copy");
    TAP_IS_STR(P.container, "", "default container from file name");
    TAP_IS_INT(P.start_us, -1, "default start");
    TAP_IS_INT(P.duration_us, -1, "default duration");
    TAP_IS_INT(P.threads, 0, "default threads");

    dcv_profile_resolve(&P);
    TAP_OK(P.quality == 23, "h264 resolves to crf 23");
    dcv_profile_resolve(&P);
    TAP_OK(P.quality == 23, "resolve is idempotent");

    good("codec", "hevc");
    dcv_profile_resolve(&P);
    TAP_OK(P.quality == 28, "hevc with untouched quality resolves to crf 28");

    good("codec", "h265");
    TAP_IS_STR(P.codec, "hevc", "h265 is hevc");
    dcv_profile_resolve(&P);
    TAP_OK(P.quality == 28, "h265 resolves to crf 28");

    dcv_profile_defaults(&P);
    dcv_profile_set(&P, "crf", "20", NULL, 0);
    dcv_profile_set(&P, "codec", "hevc", NULL, 0);
    dcv_profile_resolve(&P);
    TAP_OK(P.quality == 20, "an explicit crf is kept for hevc");

    dcv_profile_defaults(&P);
    dcv_profile_set(&P, "crf", "0", NULL, 0);
    dcv_profile_resolve(&P);
    TAP_OK(P.quality == 0, "an explicit crf 0 is not mistaken for unset");

    dcv_profile_defaults(&P);
    dcv_profile_set(&P, "bitrate", "3000", NULL, 0);
    dcv_profile_resolve(&P);
    TAP_IS_INT(P.rc_mode, DCV_RC_VBR, "bitrate profile stays VBR after resolve");
}

static void test_options(void)
{
    char err[256] = "";

    /* codec */
    good("codec", "h264");
    good("codec", "av1");
    good("codec", "vp9");
    good("codec", "avc");
    TAP_IS_STR(P.codec, "h264", "avc is h264");
    good("codec", "abcdefghijklmno");
    bad("codec", "");
    bad("codec", "H264");
    bad("codec", "h264!");
    bad("codec", "h 264");
    bad("codec", "abcdefghijklmnop");

    /* encoder */
    good("encoder", "auto");
    good("encoder", "hw");
    good("encoder", "sw");
    good("encoder", "libx264");
    good("encoder", "h264_nvenc");
    TAP_IS_STR(P.encoder, "h264_nvenc", "encoder stored");
    good("encoder", "transport-zmq");
    bad("encoder", "");
    bad("encoder", "Libx264");
    bad("encoder", "lib x264");
    bad("encoder", "../../evil");
    bad("encoder", "abcdefghijklmnopqrstuvwxyz012345");

    /* crf */
    good("crf", "23");
    TAP_IS_INT(P.rc_mode, DCV_RC_CRF, "crf sets CRF mode");
    good("crf", "23.5");
    TAP_OK(P.quality == 23.5, "crf 23.5 value");
    good("crf", "0");
    good("crf", "63");
    bad("crf", "64");
    bad("crf", "63.5");
    bad("crf", "-1");
    bad("crf", "abc");
    bad("crf", "23abc");
    bad("crf", " 23");
    bad("crf", "nan");
    bad("crf", "inf");
    bad("crf", "1e1");
    bad("crf", "0x10");
    bad("crf", "2.3.4");
    bad("crf", ".");
    bad("crf", "");
    dcv_profile_defaults(&P);
    TAP_IS_INT(dcv_profile_set(&P, "crf", "abc", err, sizeof err), -EINVAL, "crf abc");
    TAP_IS_STR(err, "--crf: expected a number from 0 to 63, got 'abc'", "crf error text");
    TAP_IS_INT(dcv_profile_set(&P, "crf", NULL, err, sizeof err), -EINVAL, "crf without value");
    TAP_HAS_STR(err, "--crf: expected a number from 0 to 63", "missing value message");

    /* qp */
    good("qp", "30");
    TAP_IS_INT(P.rc_mode, DCV_RC_CQP, "qp sets CQP mode");
    TAP_OK(P.quality == 30, "qp value");
    good("qp", "0");
    good("qp", "63");
    bad("qp", "64");
    bad("qp", "30.5");
    bad("qp", "-3");
    bad("qp", "99999999999999999999999");

    /* bitrate */
    good("bitrate", "2500");
    TAP_IS_INT(P.bitrate_kbps, 2500, "bitrate plain kbps");
    TAP_IS_INT(P.rc_mode, DCV_RC_VBR, "bitrate sets VBR mode");
    good("bitrate", "2500k");
    TAP_IS_INT(P.bitrate_kbps, 2500, "bitrate k suffix");
    good("bitrate", "5M");
    TAP_IS_INT(P.bitrate_kbps, 5000, "bitrate M suffix");
    good("bitrate", "2.5M");
    TAP_IS_INT(P.bitrate_kbps, 2500, "bitrate fractional M");
    good("bitrate", "1");
    bad("bitrate", "0");
    bad("bitrate", "5MB");
    bad("bitrate", "abc");
    bad("bitrate", "-1");
    bad("bitrate", "2.5k");
    bad("bitrate", "k");
    bad("bitrate", "");
    bad("bitrate", "3000M");
    bad("bitrate", "99999999999999999999");

    /* preset */
    good("preset", "1");
    TAP_IS_INT(P.preset, 1, "preset 1");
    good("preset", "7");
    good("preset", "medium");
    TAP_IS_INT(P.preset, 4, "medium = 4");
    good("preset", "veryslow");
    TAP_IS_INT(P.preset, 7, "veryslow = 7");
    good("preset", "ultrafast");
    TAP_IS_INT(P.preset, 1, "ultrafast = 1");
    good("preset", "fast");
    TAP_IS_INT(P.preset, 3, "fast = 3");
    good("preset", "Slow");
    TAP_IS_INT(P.preset, 5, "preset words ignore case");
    bad("preset", "0");
    bad("preset", "8");
    bad("preset", "quick");
    bad("preset", "4.0");
    bad("preset", "");
    {
        static const struct { const char *w; uint32_t v; } words[] = {
            { "ultrafast", 1 }, { "veryfast", 2 }, { "faster", 3 }, { "fast", 3 },
            { "medium", 4 },    { "slow", 5 },     { "slower", 6 }, { "veryslow", 7 },
        };
        for (size_t i = 0; i < sizeof words / sizeof words[0]; i++) {
            uint32_t v = 0;
            TAP_OK(dcv_preset_parse(words[i].w, &v) == 0 && v == words[i].v, "preset %s = %u",
                   words[i].w, words[i].v);
        }
    }

    /* max-height */
    good("max-height", "720");
    TAP_IS_INT(P.max_height, 720, "max-height value");
    good("max-height", "16");
    good("max-height", "8640");
    bad("max-height", "15");
    bad("max-height", "8641");
    bad("max-height", "720p");
    bad("max-height", "0");

    /* bit-depth */
    good("bit-depth", "8");
    good("bit-depth", "10");
    TAP_IS_INT(P.bit_depth, 10, "bit depth value");
    bad("bit-depth", "9");
    bad("bit-depth", "12");
    bad("bit-depth", "08");

    /* gop */
    good("gop", "1");
    good("gop", "250");
    TAP_IS_INT(P.gop, 250, "gop value");
    good("gop", "10000");
    bad("gop", "0");
    bad("gop", "10001");
    bad("gop", "-5");

    /* audio */
    good("audio", "copy");
    good("audio", "aac");
    TAP_IS_INT(P.audio, DCV_AUDIO_AAC, "audio aac");
    good("audio", "opus");
    TAP_IS_INT(P.audio, DCV_AUDIO_OPUS, "audio opus");
    good("audio", "none");
    TAP_IS_INT(P.audio, DCV_AUDIO_NONE, "audio none");
    bad("audio", "mp3");
    bad("audio", "AAC");

    /* audio-bitrate */
    good("audio-bitrate", "128");
    TAP_IS_INT(P.audio_bitrate_kbps, 128, "audio bitrate value");
    good("audio-bitrate", "96k");
    TAP_IS_INT(P.audio_bitrate_kbps, 96, "audio bitrate k suffix");
    good("audio-bitrate", "8");
    good("audio-bitrate", "1024");
    bad("audio-bitrate", "7");
    bad("audio-bitrate", "1025");
    bad("audio-bitrate", "1M");
    bad("audio-bitrate", "fast");

    /* subtitles */
    good("subtitles", "copy");
    good("subtitles", "none");
    TAP_IS_INT(P.subs, DCV_SUBS_NONE, "subtitles none");
    bad("subtitles", "burn");

    /* container */
    good("container", "mkv");
    good("container", "mp4");
    TAP_IS_STR(P.container, "mp4", "container mp4");
    good("container", "ts");
    good("container", "mpegts");
    TAP_IS_STR(P.container, "ts", "mpegts is ts");
    good("container", "matroska");
    TAP_IS_STR(P.container, "mkv", "matroska is mkv");
    bad("container", "avi");
    bad("container", "");

    /* start / duration */
    good("start", "90");
    TAP_IS_INT(P.start_us, 90000000, "start 90");
    good("start", "0");
    TAP_IS_INT(P.start_us, 0, "start 0");
    good("start", "1:30");
    TAP_IS_INT(P.start_us, 90000000, "start 1:30");
    bad("start", "-1");
    bad("start", "abc");
    bad("start", "");
    good("duration", "0.001");
    TAP_IS_INT(P.duration_us, 1000, "duration 1 ms");
    good("duration", "01:02:03.250");
    TAP_IS_INT(P.duration_us, 3723250000LL, "duration 01:02:03.250");
    bad("duration", "0");
    bad("duration", "0:00.000");
    bad("duration", "-5");
    bad("duration", "5s");

    /* threads */
    good("threads", "0");
    good("threads", "256");
    TAP_IS_INT(P.threads, 256, "threads value");
    bad("threads", "257");
    bad("threads", "-1");
    bad("threads", "auto");

    /* not a profile option */
    dcv_profile_defaults(&P);
    TAP_IS_INT(dcv_profile_set(&P, "input", "x.mkv", err, sizeof err), -ENOENT,
               "unknown option: -ENOENT");
    TAP_IS_INT(dcv_profile_set(&P, "--crf", "20", err, sizeof err), -ENOENT,
               "option names come without dashes");
    TAP_IS_INT(dcv_profile_set(&P, NULL, "20", err, sizeof err), -ENOENT, "NULL option");
    TAP_IS_INT(dcv_profile_set(&P, "crf", "99", NULL, 0), -EINVAL,
               "bad value with no error buffer");
}

static void test_time(void)
{
    static const struct { const char *s; int64_t us; } ok[] = {
        { "0", 0 },
        { "90", 90000000 },
        { "90.5", 90500000 },
        { "1:30", 90000000 },
        { "01:02:03.250", 3723250000LL },
        { "0.000001", 1 },
        { "2:00:00", 7200000000LL },
        { "90:00", 5400000000LL },
        { "1:05.5", 65500000 },
    };
    static const char *const no[] = {
        "", "-1", "abc", "1:60", "1:2:3:4", "1.2.3", "1.", ".5", "1:", ":30", "1::2",
        "0.0000001", " 1", "1 ", "+1", "1e3", "1:30:60", "99999999999999999999",
        "9999999999999", "nan",
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        int64_t v = -7;
        int r = dcv_parse_time_us(ok[i].s, &v);
        if (!tap_ok(r == 0 && v == ok[i].us, "time '%s'", ok[i].s))
            tap_diag("  r=%d got %lld want %lld", r, (long long)v, (long long)ok[i].us);
    }
    for (size_t i = 0; i < sizeof no / sizeof no[0]; i++) {
        int64_t v = -7;
        int r = dcv_parse_time_us(no[i], &v);
        TAP_OK(r < 0 && v == -7, "time '%s' rejected", no[i]);
    }
    {
        int64_t v = 0;
        TAP_OK(dcv_parse_time_us(NULL, &v) < 0, "NULL time rejected");
    }
}

static void test_gpu_options(void)
{
    char err[256] = "";

    dcv_profile_defaults(&P);
    TAP_IS_INT(P.gpu_policy, -1, "gpu-policy unset by default (coordinator's queue.gpu_policy)");
    TAP_IS_INT((int)P.gpu_wait_s, -1, "gpu-wait unset by default (queue.gpu_wait_s)");
    good("gpu-policy", "queue");
    TAP_IS_INT(P.gpu_policy, DCV_PROFILE_GPU_QUEUE, "gpu-policy queue");
    good("gpu-policy", "fallback");
    TAP_IS_INT(P.gpu_policy, DCV_PROFILE_GPU_FALLBACK, "gpu-policy fallback");
    good("gpu-policy", "reject");
    TAP_IS_INT(P.gpu_policy, DCV_PROFILE_GPU_REJECT, "gpu-policy reject");
    bad("gpu-policy", "wait");
    bad("gpu-policy", "");
    bad("gpu-policy", "Queue");
    good("gpu-wait", "0");
    TAP_IS_INT((int)P.gpu_wait_s, 0, "gpu-wait 0 = forever");
    good("gpu-wait", "2592000");
    TAP_IS_INT((int)P.gpu_wait_s, 2592000, "gpu-wait 30 days");
    bad("gpu-wait", "2592001");
    bad("gpu-wait", "-1");
    bad("gpu-wait", "1h");

    /* The refused combination, whatever the order the options came in. */
    dcv_profile_defaults(&P);
    TAP_IS_INT(dcv_profile_check(&P, err, sizeof err), 0, "defaults pass the check");
    dcv_profile_set(&P, "gpu-policy", "fallback", err, sizeof err);
    TAP_IS_INT(dcv_profile_check(&P, err, sizeof err), 0, "auto + fallback passes");
    dcv_profile_set(&P, "encoder", "hw", err, sizeof err);
    TAP_IS_INT(dcv_profile_check(&P, err, sizeof err), -EINVAL, "hw + fallback refused");
    TAP_HAS_STR(err, "fallback needs a job that may run in software: use --encoder auto",
                "refusal says what to do");
    dcv_profile_set(&P, "encoder", "hevc_nvenc", err, sizeof err);
    TAP_IS_INT(dcv_profile_check(&P, err, sizeof err), -EINVAL,
               "a hardware encoder name + fallback refused");
    dcv_profile_set(&P, "encoder", "x265", err, sizeof err);
    TAP_IS_INT(dcv_profile_check(&P, err, sizeof err), 0, "a software plugin + fallback passes");
    dcv_profile_set(&P, "encoder", "hw", err, sizeof err);
    dcv_profile_set(&P, "gpu-policy", "queue", err, sizeof err);
    TAP_IS_INT(dcv_profile_check(&P, err, sizeof err), 0, "hw + queue passes");
    dcv_profile_set(&P, "gpu-policy", "reject", err, sizeof err);
    TAP_IS_INT(dcv_profile_check(&P, err, sizeof err), 0, "hw + reject passes");

    TAP_OK(dcv_profile_hw_only("hw") && dcv_profile_hw_only("nvenc") &&
               dcv_profile_hw_only("vaapi") && dcv_profile_hw_only("h264_qsv") &&
               dcv_profile_hw_only("hevc_videotoolbox"),
           "hardware-only preferences recognised");
    TAP_OK(!dcv_profile_hw_only("auto") && !dcv_profile_hw_only("sw") &&
               !dcv_profile_hw_only("x264") && !dcv_profile_hw_only("libx265") &&
               !dcv_profile_hw_only("_nvenc") && !dcv_profile_hw_only(NULL),
           "software and open preferences are not hardware-only");
}

/* Interlaced sources (issue 11 A2): the values, and the combinations
 * that cannot work. */
static void test_interlace_options(void)
{
    char err[256] = "";

    dcv_profile_defaults(&P);
    TAP_OK(P.deinterlace == DCV_DEINT_AUTO && P.interlaced_keep == 0,
           "default: deinterlace auto, progressive target");
    good("deinterlace", "on");
    TAP_IS_INT(P.deinterlace, DCV_DEINT_ON, "deinterlace on");
    good("deinterlace", "off");
    TAP_IS_INT(P.deinterlace, DCV_DEINT_OFF, "deinterlace off");
    good("deinterlace", "double");
    TAP_IS_INT(P.deinterlace, DCV_DEINT_DOUBLE, "deinterlace double");
    good("deinterlace", "auto");
    TAP_IS_INT(P.deinterlace, DCV_DEINT_AUTO, "deinterlace auto");
    bad("deinterlace", "yes");
    bad("deinterlace", "");
    bad("deinterlace", "On");
    good("interlaced", "keep");
    TAP_IS_INT(P.interlaced_keep, 1, "interlaced keep");
    good("interlaced", "progressive");
    TAP_IS_INT(P.interlaced_keep, 0, "interlaced progressive");
    bad("interlaced", "tff");
    bad("interlaced", "");

    dcv_profile_defaults(&P);
    dcv_profile_set(&P, "interlaced", "keep", err, sizeof err);
    TAP_IS_INT(dcv_profile_check(&P, err, sizeof err), 0, "h264 + interlaced keep passes");
    dcv_profile_set(&P, "deinterlace", "off", err, sizeof err);
    TAP_IS_INT(dcv_profile_check(&P, err, sizeof err), 0, "keep + deinterlace off passes");
    dcv_profile_set(&P, "deinterlace", "double", err, sizeof err);
    TAP_IS_INT(dcv_profile_check(&P, err, sizeof err), -EINVAL, "keep + double refused");
    TAP_HAS_STR(err, "cannot go with --deinterlace double", "the refusal names both");
    dcv_profile_set(&P, "deinterlace", "on", err, sizeof err);
    TAP_IS_INT(dcv_profile_check(&P, err, sizeof err), -EINVAL, "keep + on refused");
    dcv_profile_set(&P, "deinterlace", "auto", err, sizeof err);
    dcv_profile_set(&P, "codec", "hevc", err, sizeof err);
    TAP_IS_INT(dcv_profile_check(&P, err, sizeof err), -EINVAL, "hevc + interlaced keep refused");
    TAP_HAS_STR(err, "only h264 (x264) can be encoded interlaced, not hevc",
                "the refusal says why and what to do");
}

static void test_usage(void)
{
    static const char *const names[] = {
        "--codec",    "--encoder",       "--crf",       "--qp",        "--bitrate",
        "--preset",   "--max-height",    "--bit-depth", "--gop",       "--audio ",
        "--audio-bitrate", "--subtitles", "--container", "--start",    "--duration",
        "--threads",  "--gpu-policy",    "--gpu-wait",  "--deinterlace", "--interlaced",
    };
    const char *u = dcv_profile_usage();
    TAP_OK(u && strlen(u) > 100, "usage text exists");
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        TAP_HAS_STR(u, names[i], "usage lists the option");
    TAP_HAS_STR(u, "default: h264", "usage gives defaults");
}

int main(void)
{
    test_defaults();
    test_options();
    test_time();
    test_gpu_options();
    test_interlace_options();
    test_usage();
    return tap_done();
}
