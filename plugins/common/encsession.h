/*
 * A generic libavcodec encode session behind the ABI's data calls.
 *
 * Threading: a session is used by one thread at a time (the ABI's data
 * class); nothing here is shared between sessions.
 * Performance: send() hands the caller's frame straight to
 * avcodec_send_frame(), which takes its own reference: no copies.
 */
#ifndef DCVENC_SESSION_H
#define DCVENC_SESSION_H

#include <stddef.h>
#include "distconv/plugin.h"
#include "encmap.h"

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

/*
 * Open cc->encoder for p: dcvenc_check_params(), avcodec_alloc_context3(),
 * dcvenc_map() (generic fields, then the family's hook), the mapped
 * options, then p->extra_opts (an unknown key is -EINVAL naming it), then
 * avcodec_open2(). On failure *out is untouched and err says why.
 */
int dcvenc_session_open(const struct dcvenc_family *fam, const struct dcv_codec_caps *cc,
                        const struct dcvenc_opts *o, const struct dcv_enc_params *p,
                        struct dcvenc_session **out, char *err, size_t errlen);

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
