/*
 * The portable encode profile: what a user asks for, independent of which
 * encoder plugin ends up doing it. Shared by `distconvd --transcode`, the
 * job messages and `distconvctl submit`, so the option names and their
 * validation live here once.
 */
#ifndef DCV_PROFILE_H
#define DCV_PROFILE_H

#include <stddef.h>
#include <stdint.h>

enum dcv_audio_mode { DCV_AUDIO_COPY = 0, DCV_AUDIO_AAC, DCV_AUDIO_OPUS, DCV_AUDIO_NONE };
enum dcv_subs_mode { DCV_SUBS_COPY = 0, DCV_SUBS_NONE };

struct dcv_profile {
    char codec[16];      /* "h264" | "hevc" (+ whatever plugins offer) */
    char encoder[32];    /* "auto" | "hw" | "sw" | plugin name | libavcodec encoder */
    uint32_t rc_mode;    /* enum dcv_rc_mode */
    double quality;      /* crf/cq/qp when rc_mode says so; < 0 = the codec's
                            default, filled in by dcv_profile_resolve() */
    uint32_t bitrate_kbps;
    uint32_t preset;     /* 1..7 (DCV_PRESET_*) */
    uint32_t max_height; /* 0 = keep; downscale only, never upscale */
    uint32_t bit_depth;  /* 0 = same as source (8 or 10), 8, 10 */
    int32_t gop;         /* frames, 0 = encoder default */
    enum dcv_audio_mode audio;
    uint32_t audio_bitrate_kbps; /* 0 = default for the codec */
    enum dcv_subs_mode subs;
    char container[16];  /* "" = from the output file name; mkv|mp4|ts */
    int64_t start_us;    /* input time range; -1 = from the start */
    int64_t duration_us; /* -1 = to the end */
    uint32_t threads;    /* 0 = auto */
    /* Library rules (off by default) and output verification: */
    int skip_if_target_met;      /* leave a source already at the target alone */
    int keep_original_if_larger; /* discard an output not smaller than the source */
    int64_t verify_tolerance_us; /* duration tolerance; 0 = max(0.5 s, 1 %) */
    /* When every GPU that could take the job is out of encoder sessions
     * (jobs only, the coordinator decides): DCV_PROFILE_GPU_* or -1 =
     * queue.gpu_policy; seconds a queued job waits, 0 = forever, -1 =
     * queue.gpu_wait_s. */
    int gpu_policy;
    int64_t gpu_wait_s;
    /* Interlaced sources (media/interlace.c): whether to deinterlace
     * (DCV_DEINT_*), and whether the target is progressive (0) or keeps
     * the source's fields (1, x264 only). */
    int deinterlace;
    int interlaced_keep;
};

/* Values of deinterlace. AUTO: when the source is interlaced (its field
 * order, else a look with FFmpeg's idet) and the target progressive; ON:
 * every frame, whatever the source says; OFF: never; DOUBLE: as AUTO but
 * one frame per field (50i -> 50p). */
enum { DCV_DEINT_AUTO = 0, DCV_DEINT_ON, DCV_DEINT_OFF, DCV_DEINT_DOUBLE };

/* Values of gpu-policy: the same numbers as queue.gpu_policy (config.h). */
enum { DCV_PROFILE_GPU_QUEUE = 0, DCV_PROFILE_GPU_FALLBACK = 1, DCV_PROFILE_GPU_REJECT = 2 };

void dcv_profile_defaults(struct dcv_profile *p);

/* Fill in defaults that depend on other options (the codec's CRF when the
 * user set none: 23 h264, 28 hevc, 35 av1, 31 vp9). Call after the last
 * dcv_profile_set(), before handing the profile to an encoder. */
void dcv_profile_resolve(struct dcv_profile *p);

/*
 * Apply one command-line style option (without the leading dashes) with its
 * value: codec, encoder, crf, qp, bitrate, preset, max-height, bit-depth,
 * gop, audio, audio-bitrate, subtitles, container, start, duration, threads,
 * skip-if-target-met, keep-original-if-larger (booleans: true/false, yes/no,
 * on/off, 1/0), verify-tolerance, gpu-policy, gpu-wait, deinterlace,
 * interlaced.
 * Returns 0, -ENOENT for an option that is not a profile option, -EINVAL
 * with "--NAME: expected ..., got '...'" in err.
 */
int dcv_profile_set(struct dcv_profile *p, const char *opt, const char *value,
                    char *err, size_t errlen);

/* Combinations of options that cannot work together (checked after the
 * last dcv_profile_set): encoder hw with gpu-policy fallback; interlaced
 * keep with deinterlace on/double or with a codec other than h264.
 * -EINVAL with the reason in err. */
int dcv_profile_check(const struct dcv_profile *p, char *err, size_t errlen);

/* 1 when the encoder preference can only run on hardware: hw, or a
 * hardware plugin / encoder name known to the core (nvenc, vaapi, qsv,
 * vtb, *_nvenc, *_vaapi, *_qsv, *_videotoolbox, *_amf). Where devices'
 * capabilities are known (the coordinator at submit), their probed
 * DCV_CAP_HARDWARE decides for the other names. */
int dcv_profile_hw_only(const char *encoder);
/* gpu-policy fallback with an encoder that runs on hardware only: -EINVAL,
 * the reason (the same wherever it is found) in err. */
int dcv_profile_fallback_refused(const struct dcv_profile *p, char *err, size_t errlen);

/* 1 for the boolean options, which a command line may give without a
 * value (meaning true); 0 otherwise. */
int dcv_profile_opt_is_flag(const char *opt);

/* What dcv_profile_option() says of an option. */
enum {
    DCV_PROFILE_OPT_BOOL = 1u << 0, /* a boolean: a command line may give it without a value */
    DCV_PROFILE_OPT_JOB = 1u << 1,  /* jobs only (library rules, GPU sessions): distconvctl
                                       submit takes it, distconvd --transcode does not */
};
/* At least the number of options: sizes a caller's getopt table. */
#define DCV_PROFILE_OPTS_MAX 64

/* The i-th option dcv_profile_set() knows (i from 0; NULL past the last),
 * with its DCV_PROFILE_OPT_* flags in *flags when flags is not NULL. Both
 * programs build their getopt tables from this, so they cannot drift. */
const char *dcv_profile_option(size_t i, unsigned *flags);

/* The canonical container ("mkv", "mp4", "ts") of a container name or a
 * file extension without its dot ("matroska", "m4v", "m2ts", any case);
 * NULL when it names none. */
const char *dcv_profile_container_of(const char *name);

/* Preset words accepted besides 1..7: ultrafast=1 veryfast=2 faster=3
 * fast=3 medium=4 slow=5 slower=6 veryslow=7. */
int dcv_preset_parse(const char *s, uint32_t *out);

/* "1:30", "90", "90.5", "01:02:03.250" -> microseconds. */
int dcv_parse_time_us(const char *s, int64_t *out);

/* Help text listing the options above (for --help of both programs). */
const char *dcv_profile_usage(void);

#endif
