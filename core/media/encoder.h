/*
 * Host side of encoder plugins: choosing a plugin/device/encoder for a codec
 * and a preference, and a session wrapper that enforces the ABI's threading
 * classes (session open/close serialised per plugin).
 */
#ifndef DCV_MEDIA_ENCODER_H
#define DCV_MEDIA_ENCODER_H

#include <stddef.h>
#include "distconv/plugin.h"
#include "../pluginhost.h"

struct AVFrame;
struct AVPacket;
struct AVCodecParameters;

struct dcv_encoder_choice {
    struct dcv_plugin *plugin;
    uint32_t device_index;
    struct dcv_device_caps caps;
    int codec_index; /* into caps.codecs */
};

/*
 * Pick an available device offering `codec` (and `bit_depth` if non-zero)
 * among the initialised encoder plugins of `set`, probing in-process.
 * preference: "auto" (hardware first, then software, each in plugin name
 * order), "hw", "sw", a plugin name ("x265", "nvenc") or an exact encoder
 * ("libx265", "hevc_nvenc"). On failure (-ENOENT) err lists every candidate
 * considered and why it was passed over.
 */
int dcv_encoder_select(const struct dcv_plugin_set *set, const char *codec,
                       const char *preference, uint32_t bit_depth,
                       struct dcv_encoder_choice *out, char *err, size_t errlen);

/* Best input pixel format of the chosen codec for frames in src_pix_fmt
 * at want_depth bits (8 or 10): least loss, matching depth. -1 if none. */
int dcv_encoder_pick_pix_fmt(const struct dcv_codec_caps *cc, int src_pix_fmt,
                             uint32_t want_depth);

struct dcv_enc_session;

int dcv_enc_session_open(const struct dcv_encoder_choice *c, const struct dcv_enc_params *p,
                         struct dcv_enc_session **out, char *err, size_t errlen);
int dcv_enc_session_stream_params(struct dcv_enc_session *s, struct AVCodecParameters *par,
                                  struct dcv_rational *time_base);
int dcv_enc_session_send(struct dcv_enc_session *s, const struct AVFrame *frame);
int dcv_enc_session_receive(struct dcv_enc_session *s, struct AVPacket *pkt);
const char *dcv_enc_session_error(struct dcv_enc_session *s);
void dcv_enc_session_close(struct dcv_enc_session **s);

/*
 * JOB.placement: exactly the device the coordinator counted a session on.
 * Probes only `plugin` and takes its device whose device_id matches, if it
 * is available and offers `codec` through `encoder` at `bit_depth` (0 =
 * any). -ENODEV when the plugin or device is missing or unavailable (err
 * says which), -ENOENT when the device lacks that codec/encoder/depth,
 * -ENOMEM. Nothing else is tried: a different device would break the
 * coordinator's session count.
 */
int dcv_encoder_select_exact(const struct dcv_plugin_set *set, const char *plugin,
                             const char *device_id, const char *codec, const char *encoder,
                             uint32_t bit_depth, struct dcv_encoder_choice *out, char *err,
                             size_t errlen);

/*
 * The transcode's side of a placement chosen by dcv_encoder_select_exact():
 * copy `placed` into *out and settle the depth. *want (8 or 10) drops to 8
 * when the device has no 10-bit and the profile's bit_depth (0 = as the
 * source) did not demand it; else -ENODEV with the reason in err.
 */
int dcv_encoder_use_placed(const struct dcv_encoder_choice *placed, uint32_t profile_depth,
                           uint32_t *want, struct dcv_encoder_choice *out, char *err,
                           size_t errlen);

#endif
