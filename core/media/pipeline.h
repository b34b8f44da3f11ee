/*
 * The media pipeline: demux -> decode -> filter (crop to even, downscale
 * only when asked, pixel format) -> encode through a plugin -> mux, with
 * audio copied or re-encoded (aac, opus) and subtitles copied.
 * `distconvd --transcode` and a worker's job process run this same code.
 *
 * Designed for two later capabilities without a rewrite:
 *  - a frame-accurate input time range (profile start_us/duration_us): the
 *    basis for splitting one file across workers;
 *  - live inputs (no duration, not seekable: MPEG-TS over HTTP/UDP, HLS):
 *    nothing here requires seeking or a known duration.
 * Input and output may be custom AVIOContexts (remote AVIO of the data plane).
 */
#ifndef DCV_MEDIA_PIPELINE_H
#define DCV_MEDIA_PIPELINE_H

#include <stddef.h>
#include <stdint.h>
#include "../profile.h"
#include "../pluginhost.h"

struct AVIOContext;

struct dcv_progress {
    int64_t frames;       /* video frames encoded */
    int64_t frames_total; /* video frames expected in all, -1 when unknown */
    double fps;           /* encoded frames per wall-clock second */
    double speed;         /* media seconds per wall-clock second */
    double percent;       /* 0..100, -1 when the duration is unknown (live) */
    int64_t out_time_us;  /* media time written so far */
    int64_t duration_us;  /* expected output duration, -1 when unknown */
    int64_t bytes_out;    /* bytes muxed so far */
};

/* Return non-zero to cancel the transcode (it then fails with -ECANCELED). */
typedef int (*dcv_progress_fn)(const struct dcv_progress *p, void *user);

struct dcv_transcode_result {
    char encoder[32];    /* libavcodec encoder used, e.g. "libx264" */
    char plugin[64];     /* plugin name */
    char device_id[128];
    int64_t frames;
    int64_t duration_us; /* output duration */
    double elapsed_s;
    double fps;
    /* Streams written besides the video: what output verification holds
     * the file to (subtitles the container cannot carry are left out). */
    unsigned audio_streams, subtitle_streams;
    /* The input as read: its timeline's span once timestamp jumps were
     * taken out (-1 unknown), and how many there were. With jumps, the
     * container's duration counts the gaps and only this span is the
     * length of the content. */
    int64_t input_span_us;
    int64_t ts_jumps;
};

struct dcv_transcode_req {
    const char *input;   /* URL or path; with input_io: a name for messages */
    const char *output;  /* path; with output_io: a name (its extension picks the muxer) */
    struct AVIOContext *input_io;  /* optional custom input (not freed) */
    /* URL inputs: FFmpeg protocol_whitelist ("https,tls,tcp"); NULL for a
     * file input, which may then not be a playlist (media/inpolicy.h) */
    const char *protocol_whitelist;
    struct AVIOContext *output_io; /* optional custom output (not freed) */
    const struct dcv_profile *profile;
    const struct dcv_plugin_set *plugins; /* initialised encoder plugins */
    /* Optional JOB.placement (dcv_encoder_select_exact): encode on exactly
     * this device instead of choosing from the profile's preference. */
    const struct dcv_encoder_choice *choice;
    dcv_progress_fn progress;            /* optional, called about every 0.5 s and at the end */
    void *progress_user;
    /* When writing to a path: write OUTPUT.part and rename on success, so a
     * half-written file never carries the final name. */
};

/*
 * Run the whole transcode. 0 on success (result filled if non-NULL), or a
 * negative errno with a message in err that names the stage and quotes
 * FFmpeg's error text: -EINVAL (bad/corrupt input or parameters), -ENOENT
 * (no input / no encoder), -EBUSY (hardware session limit), -ENOSPC (disk
 * full), -ECANCELED, -EIO.
 */
int dcv_transcode(const struct dcv_transcode_req *req, struct dcv_transcode_result *result,
                  char *err, size_t errlen);

/* One human-readable progress line (no newline), for a terminal or a log:
 * " 42.0% frame=1234 fps=87.5 speed=3.50x time=00:00:49.36 size=12.3 MiB"
 * ("  live" instead of the percentage when the duration is unknown).
 * Returns what snprintf returns. */
int dcv_progress_format(const struct dcv_progress *p, char *buf, size_t len);

#endif
