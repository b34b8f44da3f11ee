/*
 * INTERNAL to core/media (not installed; nothing outside core/media may
 * include it): the state of one transcode and the calls the pipeline's
 * modules make into each other. The public interface is media/pipeline.h.
 *
 * One transcode is split by stage so each file stays small enough to work
 * in; the stages share struct tc because each hands its packet or frame
 * straight on to the next (by reference, no queue between them):
 *   pipeline.c  dcv_transcode(): setup order, stream mapping, the read loop,
 *               the time range, finishing
 *   tc.c        what every stage uses: errors, progress and cancellation,
 *               filter-graph linking (depends on no other stage)
 *   input.c     the demuxer: opening the input (or a custom AVIO), timestamp
 *               jumps, which stream is the video
 *   video.c     the video stream: encoder choice, decoder, filter graph,
 *               the plugin encoder
 *   interlace.c interlaced sources: deinterlace or encode the fields
 *   look.c      a short second reading of the start: cadence, field order
 *   audio.c     audio re-encode: decoder, filter graph, libavcodec encoder
 *   output.c    the muxer: container choice, OUTPUT.part and its commit, the
 *               packet queue before the header, metadata and chapters
 * Functions shared between them are prefixed dcv_tc_ so they cannot clash
 * with anything else linked into the daemon; everything else stays static.
 */
#ifndef DCV_MEDIA_TC_H
#define DCV_MEDIA_TC_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <libavcodec/avcodec.h>
#include <libavfilter/avfilter.h>
#include <libavformat/avformat.h>
#include <libavutil/channel_layout.h>

#include "encoder.h"
#include "pipeline.h"

#define LOG_COMP "media"
/* Like ffmpeg, a few undecodable packets are tolerated (damaged files are
 * common and mostly still watchable); this many in a row means the stream
 * is not decodable at all. */
#define MAX_CONSECUTIVE_DECODE_ERRORS 32

enum skind { SK_SKIP = 0, SK_VIDEO, SK_COPY, SK_AUDIO };

/* One input stream that goes to the output (other than the video). */
struct sstate {
    enum skind kind;
    AVStream *ist, *ost;
    int64_t off;   /* output shift, in ist->time_base */
    int done;      /* past the end of the time range */
    /* audio re-encode */
    AVCodecContext *dec, *enc;
    const char *enc_name;
    AVFilterGraph *graph;
    AVFilterContext *src, *sink;
    int g_fmt, g_rate; /* graph input, to notice changes */
    AVChannelLayout g_layout;
    int64_t next_pts;  /* in 1/sample_rate, for frames without pts */
    int consecutive_errors;
    int64_t errors;
};

struct vstate {
    int index;
    AVStream *ist, *ost;
    AVCodecContext *dec;
    struct dcv_encoder_choice choice;
    const struct dcv_codec_caps *cc;
    uint32_t depth;
    /* The source's cadence: r_frame_rate, the rate its timestamps step at
     * (a phone's VFR clip: 30 fps after a gap, where the average says 27),
     * and what goes out (twice it when deinterlacing to one frame per
     * field). Frames keep their own timestamps and durations. */
    AVRational fr;
    AVRational out_fr;
    /* Interlaced sources (interlace.c) */
    int deint;           /* DEINT_* */
    int keep_order;      /* 'T' / 'B': encoded interlaced; 0: progressive */
    int order_pending;   /* the first decoded frame's flags decide */
    AVRational ftb;      /* time base of the frames the encoder gets */
    int64_t off;   /* output shift in ist->time_base */
    int64_t max_pixels;

    /* Display rotation of the source (phone videos): applied to the
     * pixels, as the ffmpeg CLI does by default, because not every
     * container/player honours a rotation flag. */
    const char *rot_chain;
    int rot_swap; /* 90 / 270 degrees: width and height trade places */
    char rot_buf[64];

    AVFilterGraph *graph; /* NULL: frames pass straight through */
    AVFilterContext *src, *sink;
    int configured;       /* graph decision made for the first frame */
    int in_w, in_h, in_fmt; /* what the current graph (or pass-through) expects */
    int out_w, out_h, out_fmt;

    struct dcv_enc_session *enc;
    AVRational pkt_tb;
    int64_t next_pts;     /* input pts expected next (ist tb) */
    int64_t prev_in_pts;  /* pts of the previous decoded frame (ist tb) */
    /* (pts, duration) of the frames most recently sent to the encoder, in
     * ist tb: libavcodec 5.x's libx264/libx265 wrappers emit packets without
     * durations, and muxers need the last one (see video.c). The window
     * exceeds any encoder delay (x264/x265 lookahead <= 250 frames). */
    struct { int64_t pts, dur; } sent[1024];
    int64_t last_pts;     /* last shifted pts sent on (ist tb) */
    int64_t dts_delay;    /* leading packets whose dts video.c redates */
    int64_t frames_decoded, frames_sent, packets, dropped_nonmono;
    int consecutive_errors;
    int64_t errors;
    char last_decode_err[128];
    int ended;
    int64_t out_time_us;
    AVFrame *frame, *filt;

    /* Zero copy (plugin ABI 1.2, video.c): the decoder runs on the chosen
     * hardware encoder's device, and its frames go to the encoder as they
     * are while they need no filter; otherwise they are downloaded. */
    int hw_decode;           /* the decoder was given the device */
    int hw_pass;             /* hardware frames go straight to the encoder */
    int hw_sw_fmt, hw_w, hw_h; /* what those frames hold */
    int hw_noted;            /* "zero copy off" logged once */
};

enum { DEINT_NONE = 0, DEINT_FRAME, DEINT_FIELD };

struct qpkt {
    AVPacket *pkt;
    AVRational tb;
    int ost_index;
};

struct outfile {
    int fd;
    int err; /* errno of the first failed write/seek */
    const char *name;
};

struct tc {
    const struct dcv_transcode_req *req;
    const struct dcv_profile *prof;
    char *err;
    size_t errlen;
    const char *in_name, *out_name;

    AVFormatContext *ic, *oc;
    const AVOutputFormat *ofmt;
    struct sstate *ss; /* per input stream */
    unsigned nss;
    struct vstate v;
    int header_written;

    struct qpkt *q;
    size_t nq, qcap;
    int64_t qbytes;

    char *part_path;
    struct outfile of;
    AVIOContext *own_pb;

    int live;             /* not seekable or no duration */
    int64_t in_start_us;  /* input start_time (0 if unknown) */
    int64_t start_abs_us; /* keep from here (input timeline); INT64_MIN: all */
    int64_t end_abs_us;   /* stop here; INT64_MAX: to the end */
    int64_t offset_us;    /* subtracted from every timestamp */
    int64_t expected_us;  /* expected output duration, -1 unknown */
    int64_t in_max_end_us;/* furthest input timestamp seen (truncation check) */
    /* Formats whose timestamps may jump (MPEG-TS: spliced or concatenated
     * streams, a live encoder restart): jumps over DISCONT_THRESHOLD_US
     * (input.c) are taken out, as the ffmpeg CLI does, so the output stays
     * continuous. */
    int ts_discont;
    int64_t disc_offset_us; /* added to every input timestamp */
    int64_t disc_next_us;   /* where the next packet is expected */
    int64_t disc_jumps;     /* jumps taken out (the input's duration then lies) */
    int64_t out_max_end_us;
    int64_t final_bytes;  /* output size once the output is closed */
    int64_t *last_dts;    /* per output stream, in its time base */
    int64_t dts_fixes;

    uint64_t t0_ns; /* dcv_mono_ns() at the start */
    int64_t last_progress_ns;
    int in_progress_cb;
    int cancelled;

    char ff_err_before[256];
};

/* Where dcv_tc_link_graph() stopped. */
enum link_step { LINK_ALLOC, LINK_PARSE, LINK_CONFIG };

/* tc.c: errors, progress, filter graphs */
/* An AVERROR as a negative errno. */
int dcv_tc_map_averror(int e);
/* Write the message into t->err; return the (mapped) negative errno, so a
 * stage fails with `return dcv_tc_fail(t, ...)`. */
int dcv_tc_fail_av(struct tc *t, int averr, const char *fmt, ...) DCV_PRINTF(3, 4);
int dcv_tc_fail(struct tc *t, int ret, const char *fmt, ...) DCV_PRINTF(3, 4);
/* AVIOInterruptCB of the input (opaque: the struct tc). */
int dcv_tc_interrupt_cb(void *opaque);
int dcv_tc_cancelled_error(struct tc *t);
/* Seconds since the transcode started. */
double dcv_tc_elapsed_s(const struct tc *t);
/* The progress so far (final: the output is complete). */
void dcv_tc_fill_progress(const struct tc *t, struct dcv_progress *p, int final);
/* Calls the progress callback when due. Returns -ECANCELED when the
 * callback asked to stop (now or before). */
int dcv_tc_progress_tick(struct tc *t);
int dcv_tc_link_graph(AVFilterGraph *g, AVFilterContext *src, AVFilterContext *sink,
                      const char *chain, enum link_step *step);

/* output.c */
int dcv_tc_open_output_file(struct tc *t);
void dcv_tc_discard_output(struct tc *t);
int dcv_tc_commit_output(struct tc *t);
int dcv_tc_choose_container(struct tc *t);
int dcv_tc_muxer_accepts(const AVOutputFormat *ofmt, const AVCodecParameters *par);
/* Takes the packet's reference; queued until the header is written. */
int dcv_tc_mux(struct tc *t, AVPacket *pkt, AVRational tb, int ost_index);
void dcv_tc_queue_free(struct tc *t);
int dcv_tc_write_header(struct tc *t);
int dcv_tc_copy_stream_meta(AVStream *ost, const AVStream *ist, int reencoded);
int dcv_tc_copy_chapters(struct tc *t);

/* input.c */
int dcv_tc_open_input(struct tc *t);
void dcv_tc_fix_discontinuity(struct tc *t, AVPacket *pkt);
int dcv_tc_find_video_stream(struct tc *t);

/* video.c */
int dcv_tc_choose_encoder(struct tc *t);
int dcv_tc_open_video_decoder(struct tc *t);
/* Packet (NULL: flush the decoder) -> frames -> filter -> encoder -> mux. */
int dcv_tc_video_decode(struct tc *t, const AVPacket *pkt);
int dcv_tc_video_flush(struct tc *t);

/* look.c: a second short reading of the input's start (only for an input
 * that can be opened again): the video's cadence from its timestamps
 * ({0,1} unknown) and, with want_idet, idet's order ('T', 'B', 'P', or
 * '?'). 0, or -1 when it could not look. */
struct tc_look {
    AVRational cadence;
    int order;
};
int dcv_tc_look(struct tc *t, int want_idet, struct tc_look *lk);
/* v->fr (the cadence) and the field decision, before the decoder opens */
int dcv_tc_setup_cadence(struct tc *t);

/* interlace.c: after the encoder choice, before the decoder opens (zero
 * copy is off when frames are deinterlaced). The stream's own field order
 * ('?' unknown), and the decision given what look.c found (or '?'). */
int dcv_tc_interlace_order(const struct tc *t);
int dcv_tc_interlace_decide(struct tc *t, int looked);
/* order 'T', 'B' (interlaced), 'P' or '?': what follows for this job */
int dcv_tc_interlace_apply(struct tc *t, int order);
const char *dcv_tc_interlace_chain(const struct tc *t);
const char *dcv_tc_interlace_enc_opts(const struct tc *t);
enum AVFieldOrder dcv_tc_interlace_out_order(const struct tc *t);

/* audio.c */
int dcv_tc_setup_audio_encode(struct tc *t, struct sstate *s, unsigned idx,
                              enum dcv_audio_mode mode);
int dcv_tc_audio_decode(struct tc *t, struct sstate *s, const AVPacket *pkt, unsigned idx);
int dcv_tc_audio_flush(struct tc *t, struct sstate *s, unsigned idx);

#endif
