/*
 * What a job process knows about media files besides transcoding them:
 *  - probing a source (is it media at all, which streams, codec, size, bit
 *    depth, bitrate, duration), with the guards hostile files need: a
 *    recognisable format and declared picture sizes we are willing to
 *    allocate, checked before any decoder runs;
 *  - verifying an output before a job may count as done: it opens, holds
 *    the expected streams, every video frame decodes, its duration
 *    matches the source's, and a video flagged progressive does not look
 *    interlaced to idet (combing: fields encoded as a picture);
 *  - the library rules (pure functions): skip a source already at the
 *    target, keep the original when the encode did not make it smaller.
 *
 * Not thread-safe per call (each call owns its FFmpeg contexts); no global
 * state. Errors: 0 or a negative errno, the reason in err.
 */
#ifndef DCV_MEDIA_VERIFY_H
#define DCV_MEDIA_VERIFY_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "../profile.h"

struct AVIOContext;
struct AVFormatContext;
struct AVDictionary;

/* The largest picture we decode: 8192x8192 is well above 8K UHD (7680x4320)
 * and keeps one 8-bit 4:2:0 frame under 100 MB. A header that declares more
 * is refused before a decoder allocates anything. */
#define DCV_MEDIA_MAX_PIXELS (8192LL * 8192LL)
#define DCV_MEDIA_MAX_SIDE 16384

struct dcv_media_info {
    int64_t size;           /* bytes, -1 unknown */
    int64_t duration_us;    /* container's, else the longest stream's; -1 unknown */
    int duration_estimated; /* from the bitrate only: not a figure to hold an output to */
    char format[32];        /* demuxer name ("matroska,webm") */
    /* the main video stream (cover art never counts) */
    char video_codec[32];   /* libavcodec name: "h264", "hevc", "av1", "vp9" */
    int width, height;
    uint32_t depth;         /* bits per component, 0 unknown */
    int64_t video_bitrate;  /* bit/s, -1 unknown; see dcv_media_probe() */
    unsigned n_video;       /* video streams, cover art excluded */
    unsigned n_audio, n_subtitle;
    int interlaced;         /* the video stream says: 1 interlaced, 0 progressive, -1 unknown */
};

/*
 * Open path (or the custom input io, path then only names it) and describe
 * it. protocol_whitelist: a URL input's (media/inpolicy.h), else NULL (a
 * file, which may then not be a playlist). -EINVAL with the reason ("not
 * recognisable media", "no video stream", "declares 65535x65535 pixels
 * ...", FFmpeg's error text) when it is not usable media; -EPERM refused by
 * the input policy; -ENOENT when it cannot be opened at all (missing, no
 * permission); -EIO a URL that may answer later (network, 5xx); -ENOMEM.
 * The video bitrate is the stream's own when the
 * container records one, else the overall bitrate less the other streams'
 * known rates: an over-estimate, so a rule comparing against it errs
 * toward encoding.
 */
int dcv_media_probe(const char *path, struct AVIOContext *io, const char *protocol_whitelist,
                    struct dcv_media_info *info, char *err, size_t errlen);

/* The guards of dcv_media_probe() for an already opened input, for the
 * transcode pipeline: refuse a weak format guess and declared picture
 * sizes beyond DCV_MEDIA_MAX_PIXELS (0, or -EINVAL with the reason). */
int dcv_media_check_opened(const struct AVFormatContext *fc, const char *name, char *err,
                           size_t errlen);
/* Per-stream decoder options for avformat_find_stream_info(): max_pixels,
 * so the probing decoders refuse oversized pictures too. *opts is an array
 * of fc->nb_streams dictionaries; free with dcv_media_stream_opts_free().
 * 0 or -ENOMEM. */
int dcv_media_stream_opts(const struct AVFormatContext *fc, struct AVDictionary ***opts);
void dcv_media_stream_opts_free(struct AVDictionary ***opts, unsigned n);

/* avformat_open_input() under the input policy (media/inpolicy.h:
 * protocol_whitelist for a URL input, else no playlists' nested opens): io
 * a custom input (kept by the caller), else url is opened. *fc may be
 * preallocated (an interrupt callback set) and is NULL after a failure.
 * Returns 0 or avformat_open_input's AVERROR. Close with
 * dcv_media_close_input(), which avoids FFmpeg 5.1's leak of the policy's
 * protocol_blacklist (verify.c). */
int dcv_media_open_input(struct AVFormatContext **fc, const char *url, struct AVIOContext *io,
                         const char *whitelist);
void dcv_media_close_input(struct AVFormatContext **fc);

/* ---- output verification ---------------------------------------------------- */

struct dcv_verify_expect {
    int64_t duration_us;  /* the source's, time range applied; <= 0: not checked */
    int64_t tolerance_us; /* <= 0: max(0.5 s, 1 % of duration_us) */
    int audio_streams;    /* -1: not checked */
    int subtitle_streams; /* -1: not checked */
    int64_t video_frames; /* packets the encoder wrote; -1: not checked */
    /* 1: a video flagged progressive may look interlaced: the profile said
     * --deinterlace off, or the source is progressive (only fields can
     * leave combing, and idet takes fast motion in small progressive
     * pictures for fields); 0: that is combing, and fails. */
    int allow_combing;
};

struct dcv_verify_stats {
    int64_t duration_us;  /* extent of the decoded video and audio, -1 none */
    int64_t video_frames; /* decoded */
    int64_t audio_frames;
    int64_t audio_errors; /* audio packets that did not decode (tolerated, see verify.c) */
    unsigned n_video, n_audio, n_subtitle;
    /* idet over the first DCV_VERIFY_IDET_FRAMES video frames of an output
     * flagged progressive (0 when not looked at) */
    int64_t idet_frames, idet_interlaced, idet_progressive;
    double elapsed_s;
};

#define DCV_VERIFY_IDET_FRAMES 250

/*
 * Verify an encoded output file. 0 when it passes; -EBADMSG when it does
 * not, with the precise reason in err (no prefix: the FAIL code says
 * "verify"), e.g. "duration 12.40 s, source 20.00 s (tolerance 0.50 s)",
 * "1 audio stream, expected 2", "video frame 57 does not decode: Invalid
 * data found when processing input", "the video is flagged progressive but
 * its pictures are interlaced (combing) ..."; -ECANCELED when *cancel became
 * non-zero; -ENOMEM. stats (optional) is filled as far as it got.
 */
int dcv_verify_output(const char *path, const struct dcv_verify_expect *e,
                      struct dcv_verify_stats *stats, const volatile sig_atomic_t *cancel,
                      char *err, size_t errlen);

/* The default tolerance for an expected duration: max(0.5 s, 1 %). */
int64_t dcv_verify_default_tolerance(int64_t duration_us);

/* ---- library rules ------------------------------------------------------------ */

/*
 * skip_if_target_met: 1 when the source is already at or below the
 * profile's target: the same video codec AND not above max-height AND (when
 * the profile sets a bitrate) a known video bitrate at or below it AND (when
 * it sets a bit depth) that depth. 0 otherwise. note (always written) says
 * why, for the job record or the log.
 */
int dcv_rule_target_met(const struct dcv_media_info *src, const struct dcv_profile *p,
                        char *note, size_t notelen);

/* keep_original_if_larger: 1 when an output of out_size bytes is not
 * smaller than the source's src_size (unknown sizes: 0). note as above. */
int dcv_rule_keep_original(int64_t src_size, int64_t out_size, char *note, size_t notelen);

#endif
