/*
 * A generic libavcodec encode session behind the ABI's data calls.
 *
 * Threading: a session is used by one thread at a time (the ABI's data
 * class); nothing here is shared between sessions.
 * Performance: send() hands the caller's frame straight to
 * avcodec_send_frame(), which takes its own reference: no copies; a
 * hardware session uploads software frames once (hwframes.h) and passes
 * frames already on its device through.
 */
#ifndef DCVENC_SESSION_H
#define DCVENC_SESSION_H

#include <stddef.h>
#include "distconv/plugin.h"
#include "encmap.h"

struct AVBufferRef;
struct AVFrame;
struct AVPacket;
struct AVCodecParameters;
struct dcvenc_session;

/*
 * Check p against the codec's capabilities before anything is allocated:
 * codec and encoder names, width/height > 0 and within the maximum,
 * pix_fmt one of cc->pix_fmts, width/height multiples of the chroma
 * subsampling, bit_depth (0 = from pix_fmt) matching pix_fmt.
 * 0, -ENOTSUP (this encoder cannot) or -EINVAL (wrong in itself).
 */
int dcvenc_check_params(const struct dcv_enc_params *p, const struct dcv_codec_caps *cc, char *err,
                        size_t errlen);

/* Where a hardware session encodes (NULL for software sessions). */
struct dcvenc_hwsetup {
    struct AVBufferRef *device; /* the device (borrowed for the open) */
    /* AV_PIX_FMT_VAAPI / _QSV / _CUDA: the encoder gets hardware frames
     * (hwframes.h: uploaded or passed through); -1: it takes system-memory
     * frames itself and gets `device` as its hw_device_ctx (NVENC without
     * a host device: that way session-open failures come back with
     * NVENC's own error instead of "no capable devices"). */
    int hw_fmt;
    struct AVBufferRef *frames; /* the host's frames (zero copy) or NULL */
    /* initial_pool_size of our own pool: 0 = grows on demand (CUDA), -1 =
     * sized for the opened encoder's options (dcvenc_hw_pool_size). */
    int pool_size;
};

/*
 * Open cc->encoder for p: dcvenc_check_params(), avcodec_alloc_context3(),
 * dcvenc_map() (generic fields, then the family's hook), the mapped
 * options, then p->extra_opts (an unknown key is -EINVAL naming it), the
 * hardware frames or device of hw (may be NULL), then avcodec_open2(). On
 * failure *out is untouched and err says why; *averr (may be NULL) gets
 * the FFmpeg error of the step that failed on the device (the frames pool
 * or avcodec_open2), 0 for every other failure, for the hardware plugins'
 * -EBUSY mapping (dcvenc_hw_open_errno).
 * With hw->frames, p->pix_fmt is the hardware format and p->sw_pix_fmt
 * what the frames hold; the checks and the mapping see sw_pix_fmt.
 */
int dcvenc_session_open(const struct dcvenc_family *fam, const struct dcv_codec_caps *cc,
                        const struct dcvenc_opts *o, const struct dcv_enc_params *p,
                        const struct dcvenc_hwsetup *hw, struct dcvenc_session **out,
                        int *averr, char *err, size_t errlen);

/* The ABI's get_stream_params / send_frame / receive_packet / last_error. */
int dcvenc_session_stream_params(struct dcvenc_session *s, struct AVCodecParameters *par,
                                 struct dcv_rational *time_base);
int dcvenc_session_send(struct dcvenc_session *s, const struct AVFrame *frame);
int dcvenc_session_receive(struct dcvenc_session *s, struct AVPacket *pkt);
const char *dcvenc_session_error(const struct dcvenc_session *s);

/* Opaque pointer for the plugin layer (its per-plugin session count). */
void dcvenc_session_set_owner(struct dcvenc_session *s, void *owner);
void *dcvenc_session_owner(const struct dcvenc_session *s);

void dcvenc_session_close(struct dcvenc_session *s);

#endif
