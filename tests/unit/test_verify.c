/*
 * media/verify.c with real media made by ffmpeg (lavfi sources, a few
 * seconds at 160x120): source probing and its hostile-file guards, output
 * verification (a good file passes; truncated, damaged, a missing stream
 * and a wrong duration fail with a message that says which), and the
 * library rules' decisions.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "media/verify.h"
#include "profile.h"
#include "mediafix.h"
#include "tap.h"


static void write_file(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, len, f) != len || fclose(f) != 0)
        tap_bail("write %s: %s", path, strerror(errno));
}

static int64_t file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (int64_t)st.st_size : -1;
}

/* The first pct % of src into dst: an upload or a write cut short. */
static void truncate_copy(const char *src, const char *dst, int pct)
{
    if (mf_sh("head -c %lld '%s' > '%s'", (long long)(file_size(src) * pct / 100), src, dst) != 0)
        tap_bail("cannot truncate %s", src);
}

/* 4 s, 25 fps: 100 video frames, one aac track, one subtitle track. */
#define GOOD_FRAMES 100
#define GOOD_US 4000000LL

static void make_inputs(void)
{
    static const char srt[] = "1\n00:00:00,500 --> 00:00:02,000\nhello\n\n"
                              "2\n00:00:02,500 --> 00:00:03,500\nworld\n";
    static const char text[] = "This is a text file named like a video.\n";
    unsigned char ivf[32 + 12 + 16];

    write_file(mf_path("subs.srt"), srt, sizeof srt - 1);
    mf_make_clip("good.mkv", "-f lavfi -i testsrc=s=160x120:r=25:d=4 -f lavfi -i sine=f=440:d=4 "
                          "-i subs.srt -map 0 -map 1 -map 2 -c:v libx264 -preset ultrafast "
                          "-c:a aac -c:s srt");
    mf_make_clip("noaudio.mkv", "-f lavfi -i testsrc=s=160x120:r=25:d=4 -c:v libx264 "
                             "-preset ultrafast");
    mf_make_clip("audio.m4a", "-f lavfi -i sine=f=440:d=2 -c:a aac");
    mf_make_clip("hevc.mkv", "-f lavfi -i testsrc=s=160x120:r=25:d=2 -c:v libx265 -preset "
                          "ultrafast -x265-params log-level=error");
    mf_make_clip("ten.mkv", "-f lavfi -i testsrc=s=160x120:r=25:d=2 -pix_fmt yuv420p10le "
                         "-c:v libx264 -preset ultrafast");
    /* 50 fields a second woven into 25 frames (tinterlace): encoded as
     * progressive pictures, as an encoder that ignores the fields does
     * (combing), and as interlaced ones, flagged top field first. */
    mf_make_clip("combed.mkv", "-f lavfi -i testsrc2=s=320x240:r=50,tinterlace=interleave_top,"
                               "setfield=prog -frames:v 25 -c:v libx264 -preset ultrafast");
    mf_make_clip("fields.mkv", "-f lavfi -i testsrc2=s=320x240:r=50,tinterlace=interleave_top,"
                               "setfield=tff -frames:v 25 -c:v libx264 -preset ultrafast "
                               "-flags +ildct+ilme -top 1");
    truncate_copy(mf_path("good.mkv"), mf_path("cut.mkv"), 50);
    /* 32 zero bytes inside the largest video packet (its position from
     * ffprobe): the container still parses, that frame does not decode. */
    if (mf_sh("cd '%s' && cp good.mkv damaged.mkv && "
           "line=$('%s' -v error -select_streams v:0 -show_entries packet=size,pos -of csv=p=0 "
           "good.mkv | sort -t, -k1 -n | tail -n1) && size=${line%%%%,*} && pos=${line##*,} && "
           "dd if=/dev/zero of=damaged.mkv bs=1 seek=$((pos + size / 2)) count=32 "
           "conv=notrunc status=none",
           mf_dir(), mf_ffprobe()) != 0)
        tap_bail("cannot damage a copy of good.mkv");
    write_file(mf_path("text.mkv"), text, sizeof text - 1);
    write_file(mf_path("empty.mkv"), "", 0);
    /* A raw-video header declaring 16000x16000: below what libavutil
     * refuses by itself, so only our guard stands between the header and a
     * 384 MB frame buffer. */
    {
        char y4m[256];
        int n = snprintf(y4m, sizeof y4m,
                         "YUV4MPEG2 W16000 H16000 F25:1 Ip A1:1 C420jpeg\nFRAME\n");
        memset(y4m + n, 0x80, sizeof y4m - (size_t)n);
        write_file(mf_path("huge.y4m"), y4m, sizeof y4m);
    }
    /* An IVF (VP8) header declaring 65535x65535, then one tiny frame. */
    memset(ivf, 0, sizeof ivf);
    memcpy(ivf, "DKIF", 4);
    ivf[6] = 32;                      /* header size */
    memcpy(ivf + 8, "VP80", 4);
    ivf[12] = ivf[13] = 0xff;         /* width 65535 */
    ivf[14] = ivf[15] = 0xff;         /* height 65535 */
    ivf[16] = 25, ivf[20] = 1;        /* 25/1 */
    ivf[24] = 1;                      /* one frame */
    ivf[32] = 16;                     /* frame size */
    memset(ivf + 44, 0x9d, 16);
    write_file(mf_path("huge.ivf"), ivf, sizeof ivf);
}

/* ---- probe -------------------------------------------------------------------- */

static void test_probe(void)
{
    struct dcv_media_info in;
    char err[1024] = "";
    int r;

    r = dcv_media_probe(mf_path("good.mkv"), NULL, NULL, &in, err, sizeof err);
    TAP_IS_INT(r, 0, "probe: a good clip opens");
    if (r < 0)
        tap_diag("  %s", err);
    TAP_IS_STR(in.video_codec, "h264", "probe: video codec");
    TAP_OK(in.width == 160 && in.height == 120 && in.depth == 8, "probe: 160x120 8-bit (got %dx%d %u)",
           in.width, in.height, in.depth);
    TAP_OK(in.n_video == 1 && in.n_audio == 1 && in.n_subtitle == 1,
           "probe: 1 video, 1 audio, 1 subtitle stream (got %u %u %u)", in.n_video, in.n_audio,
           in.n_subtitle);
    TAP_OK(in.duration_us > GOOD_US - 100000 && in.duration_us < GOOD_US + 100000,
           "probe: duration about 4 s (got %lld us)", (long long)in.duration_us);
    TAP_IS_INT(in.size, file_size(mf_path("good.mkv")), "probe: size in bytes");
    /* matroska from ffmpeg records no per-stream rate: the estimate is the
     * overall rate less the audio's, never zero. */
    TAP_OK(in.video_bitrate > 0, "probe: a video bitrate estimate (%lld bit/s)",
           (long long)in.video_bitrate);

    TAP_IS_INT(in.interlaced, 0, "probe: progressive");
    r = dcv_media_probe(mf_path("fields.mkv"), NULL, NULL, &in, err, sizeof err);
    TAP_OK(r == 0 && in.interlaced == 1, "probe: an interlaced clip says so (r %d, %d)", r,
           in.interlaced);

    r = dcv_media_probe(mf_path("ten.mkv"), NULL, NULL, &in, err, sizeof err);
    TAP_OK(r == 0 && in.depth == 10, "probe: a 10-bit source says 10 (r %d, %u)", r, in.depth);
}

static void expect_refused(const char *file, int want_r, const char *needle, const char *name)
{
    struct dcv_media_info in;
    char err[1024] = "";
    int r = dcv_media_probe(mf_path(file), NULL, NULL, &in, err, sizeof err);

    if (!tap_ok(r == want_r, "%s: refused with %d", name, want_r))
        tap_diag("  got %d: %s", r, err);
    TAP_HAS_STR(err, needle, name);
}

static void test_probe_hostile(void)
{
    expect_refused("empty.mkv", -EINVAL, "empty.mkv' is empty (0 bytes)", "probe: a zero-byte file");
    expect_refused("text.mkv", -EINVAL, "text.mkv", "probe: a text file named .mkv");
    expect_refused("audio.m4a", -EINVAL, "no video stream", "probe: audio only");
    expect_refused("missing.mkv", -ENOENT, "missing.mkv", "probe: a missing file is -ENOENT");
    expect_refused("huge.y4m", -EINVAL, "declares 16000x16000 pixels",
                   "probe: a y4m header declaring 16000x16000");
    expect_refused("huge.ivf", -EINVAL, "declares 65535x65535 pixels",
                   "probe: an ivf header declaring 65535x65535");
}

/* ---- verify ------------------------------------------------------------------- */

static void good_expect(struct dcv_verify_expect *e)
{
    memset(e, 0, sizeof *e);
    e->duration_us = GOOD_US;
    e->audio_streams = 1;
    e->subtitle_streams = 1;
    e->video_frames = GOOD_FRAMES;
}

static int run_verify(const char *file, const struct dcv_verify_expect *e,
                      struct dcv_verify_stats *st, char *err, size_t errlen)
{
    err[0] = '\0';
    return dcv_verify_output(mf_path(file), e, st, NULL, err, errlen);
}

static void expect_fail(const char *file, const struct dcv_verify_expect *e, const char *needle,
                        const char *name)
{
    struct dcv_verify_stats st;
    char err[1024];
    int r = run_verify(file, e, &st, err, sizeof err);

    if (!tap_ok(r == -EBADMSG, "%s: fails verification", name))
        tap_diag("  got %d: %s", r, err);
    else
        tap_diag("  %s", err);
    TAP_HAS_STR(err, needle, name);
}

static void test_verify_good(void)
{
    struct dcv_verify_expect e;
    struct dcv_verify_stats st;
    char err[1024];
    int r;

    good_expect(&e);
    r = run_verify("good.mkv", &e, &st, err, sizeof err);
    if (!tap_ok(r == 0, "verify: a good output passes"))
        tap_diag("  %d: %s", r, err);
    TAP_IS_INT(st.video_frames, GOOD_FRAMES, "verify: every video frame decoded");
    TAP_OK(st.audio_frames > 0 && st.audio_errors == 0, "verify: audio decoded (%lld frames)",
           (long long)st.audio_frames);
    TAP_OK(st.duration_us > GOOD_US - 100000 && st.duration_us < GOOD_US + 100000,
           "verify: measured duration about 4 s (%lld us)", (long long)st.duration_us);
    TAP_OK(st.n_video == 1 && st.n_audio == 1 && st.n_subtitle == 1, "verify: stream counts");
    tap_diag("verify of a 4 s 160x120 clip took %.3f s", st.elapsed_s);

    /* Checks that are off pass whatever the file holds. */
    memset(&e, 0, sizeof e);
    e.audio_streams = e.subtitle_streams = -1;
    e.video_frames = -1;
    r = run_verify("noaudio.mkv", &e, &st, err, sizeof err);
    TAP_OK(r == 0, "verify: nothing expected but a decodable video passes (%s)", err);

    /* Within the default tolerance: 0.5 s on 4 s. */
    good_expect(&e);
    e.duration_us = GOOD_US + 400000;
    r = run_verify("good.mkv", &e, &st, err, sizeof err);
    TAP_OK(r == 0, "verify: 0.4 s off passes the default 0.5 s tolerance (%s)", err);
}

static void test_verify_bad(void)
{
    struct dcv_verify_expect e;

    good_expect(&e);
    e.duration_us = 20000000;
    expect_fail("good.mkv", &e, "duration 4.0", "verify: wrong duration");
    expect_fail("good.mkv", &e, "source 20.00 s (tolerance 0.50 s)",
                "verify: the message gives the source's duration and the tolerance");

    good_expect(&e);
    e.duration_us = 3000000000LL; /* 3000 s: 1 % = 30 s */
    expect_fail("good.mkv", &e, "tolerance 30.00 s", "verify: the tolerance grows to 1 %");

    good_expect(&e);
    e.duration_us = GOOD_US + 400000;
    e.tolerance_us = 200000;
    expect_fail("good.mkv", &e, "tolerance 0.20 s", "verify: a profile's tolerance applies");

    good_expect(&e);
    e.audio_streams = 2;
    expect_fail("good.mkv", &e, "1 audio stream, expected 2", "verify: a missing audio stream");
    good_expect(&e);
    expect_fail("noaudio.mkv", &e, "0 audio streams, expected 1",
                "verify: an output without its audio");
    good_expect(&e);
    e.subtitle_streams = 0;
    expect_fail("good.mkv", &e, "1 subtitle stream, expected 0",
                "verify: a subtitle stream the profile dropped");

    good_expect(&e);
    expect_fail("cut.mkv", &e, "source 4.00 s", "verify: a truncated output (duration)");
    good_expect(&e);
    e.duration_us = -1;
    expect_fail("cut.mkv", &e, "video frames decode, the encoder wrote 100",
                "verify: a truncated output (frame count)");

    good_expect(&e);
    expect_fail("text.mkv", &e, "not readable media", "verify: not media at all");
    good_expect(&e);
    expect_fail("damaged.mkv", &e, "does not decode", "verify: a damaged frame mid-file");
    expect_fail("empty.mkv", &e, "empty.mkv", "verify: an empty output");
    expect_fail("audio.m4a", &e, "no video stream", "verify: no video stream");
}

/* Combing (issue 11 A2): an output flagged progressive whose pictures
 * idet finds interlaced fails; flagged interlaced, or with the profile's
 * --deinterlace off, it passes. */
static void test_verify_combing(void)
{
    struct dcv_verify_expect e;
    struct dcv_verify_stats st;
    char err[1024];
    int r;

    memset(&e, 0, sizeof e);
    e.duration_us = 1000000;
    e.audio_streams = e.subtitle_streams = 0;
    e.video_frames = 25;
    expect_fail("combed.mkv", &e, "flagged progressive but its pictures are interlaced",
                "verify: combing in a progressive output");
    expect_fail("combed.mkv", &e, "idet finds 2", "verify: the message gives idet's count");
    e.allow_combing = 1;
    r = run_verify("combed.mkv", &e, &st, err, sizeof err);
    TAP_OK(r == 0, "verify: combing passes when the profile said --deinterlace off (%s)", err);
    e.allow_combing = 0;
    r = run_verify("fields.mkv", &e, &st, err, sizeof err);
    TAP_OK(r == 0, "verify: an output flagged interlaced passes (%s)", err);
    good_expect(&e);
    r = run_verify("good.mkv", &e, &st, err, sizeof err);
    TAP_OK(r == 0 && st.idet_frames == GOOD_FRAMES && st.idet_interlaced == 0,
           "verify: a progressive output is looked at and passes (%lld frames, %lld "
           "interlaced: %s)",
           (long long)st.idet_frames, (long long)st.idet_interlaced, err);
}

/* ---- rules -------------------------------------------------------------------- */

static void profile(struct dcv_profile *p, const char *opts)
{
    char buf[256], *save = NULL, err[256];

    dcv_profile_defaults(p);
    snprintf(buf, sizeof buf, "%s", opts);
    for (char *kv = strtok_r(buf, " ", &save); kv; kv = strtok_r(NULL, " ", &save)) {
        char *eq = strchr(kv, '=');
        if (!eq)
            tap_bail("bad profile spec %s", kv);
        *eq = '\0';
        if (dcv_profile_set(p, kv, eq + 1, err, sizeof err) < 0)
            tap_bail("profile %s: %s", kv, err);
    }
    dcv_profile_resolve(p);
}

static void rule(const struct dcv_media_info *src, const char *opts, int want, const char *needle,
                 const char *name)
{
    struct dcv_profile p;
    char note[512] = "";
    int r;

    profile(&p, opts);
    r = dcv_rule_target_met(src, &p, note, sizeof note);
    if (!tap_ok(r == want, "rule: %s -> %s", name, want ? "skip" : "encode"))
        tap_diag("  note: %s", note);
    TAP_HAS_STR(note, needle, name);
}

static void test_rules(void)
{
    struct dcv_media_info h264, hevc, ten;
    char err[1024], note[256];
    struct dcv_profile p;

    if (dcv_media_probe(mf_path("good.mkv"), NULL, NULL, &h264, err, sizeof err) < 0 ||
        dcv_media_probe(mf_path("hevc.mkv"), NULL, NULL, &hevc, err, sizeof err) < 0 ||
        dcv_media_probe(mf_path("ten.mkv"), NULL, NULL, &ten, err, sizeof err) < 0)
        tap_bail("probe: %s", err);

    rule(&h264, "codec=hevc", 0, "source video is h264, the target hevc",
         "an h264 source for an hevc target");
    rule(&hevc, "codec=hevc", 1, "already hevc 160x120 8-bit", "an hevc source for hevc");
    rule(&hevc, "codec=hevc max-height=100", 0, "height 120 is above the target's 100",
         "a source taller than max-height");
    rule(&hevc, "codec=hevc max-height=720", 1, "within the target",
         "a source below max-height");
    rule(&h264, "codec=h264 bitrate=1k", 0, "is above the target's 1 kbit/s",
         "a source above the target bitrate");
    rule(&h264, "codec=h264 bitrate=50M", 1, "kbit/s, within the target",
         "a source below the target bitrate");
    rule(&hevc, "codec=hevc bit-depth=10", 0, "source is 8-bit, the target 10-bit",
         "10-bit asked of an 8-bit source");
    rule(&ten, "codec=h264 bit-depth=10", 1, "10-bit", "a 10-bit source for a 10-bit target");
    rule(&ten, "codec=h264 bit-depth=8", 0, "source is 10-bit, the target 8-bit",
         "8-bit asked of a 10-bit source");
    {
        struct dcv_media_info unknown = h264;
        unknown.video_bitrate = -1;
        rule(&unknown, "codec=h264 bitrate=50M", 0, "bitrate unknown",
             "an unknown source bitrate never skips");
    }

    TAP_IS_INT(dcv_rule_keep_original(1000, 1500, note, sizeof note), 1,
               "keep: a larger output keeps the original");
    TAP_HAS_STR(note, "not smaller than the source's 1000 bytes", "keep: the note says why");
    TAP_IS_INT(dcv_rule_keep_original(1000, 1000, note, sizeof note), 1,
               "keep: an output of the same size keeps the original");
    TAP_IS_INT(dcv_rule_keep_original(1000, 400, note, sizeof note), 0,
               "keep: a smaller output is kept");
    TAP_HAS_STR(note, "40.0% of the source", "keep: the note gives the ratio");
    TAP_IS_INT(dcv_rule_keep_original(-1, 400, note, sizeof note), 0,
               "keep: an unknown source size never discards the output");

    /* The profile options themselves. */
    dcv_profile_defaults(&p);
    TAP_OK(!p.skip_if_target_met && !p.keep_original_if_larger && p.verify_tolerance_us == 0,
           "profile: rules are off by default");
    TAP_OK(dcv_profile_set(&p, "skip-if-target-met", "yes", err, sizeof err) == 0 &&
               p.skip_if_target_met == 1,
           "profile: skip-if-target-met=yes");
    TAP_OK(dcv_profile_set(&p, "keep-original-if-larger", "maybe", err, sizeof err) == -EINVAL,
           "profile: a bad boolean is refused");
    TAP_HAS_STR(err, "--keep-original-if-larger: expected true or false", "profile: and named");
    TAP_OK(dcv_profile_set(&p, "verify-tolerance", "1.5", err, sizeof err) == 0 &&
               p.verify_tolerance_us == 1500000,
           "profile: verify-tolerance 1.5 s");
    TAP_OK(dcv_profile_set(&p, "verify-tolerance", "0", err, sizeof err) == -EINVAL,
           "profile: a zero tolerance is refused");
    TAP_OK(dcv_profile_opt_is_flag("skip-if-target-met") && !dcv_profile_opt_is_flag("crf"),
           "profile: the booleans are flags on a command line");
}

int main(void)
{
    dcv_log_setup(getenv("DCV_TEST_VERBOSE") ? DCV_LOG_DEBUG : DCV_LOG_ERROR, DCV_LOG_TEXT,
                  DCV_LOG_STDERR, "test_verify");
    dcv_log_hook_ffmpeg();
    mf_init("verify");

    make_inputs();
    test_probe();
    test_probe_hostile();
    test_verify_good();
    test_verify_bad();
    test_verify_combing();
    test_rules();

    mf_cleanup();
    return tap_done();
}
