/*
 * Capability reports: struct dcv_codec_caps from what an AVCodec in this
 * FFmpeg really offers, and the size-checked hand-over of a device entry
 * to the host.
 */
#ifndef DCVENC_CAPS_H
#define DCVENC_CAPS_H

#include <stdint.h>
#include "distconv/plugin.h"
#include "encmap.h"

/*
 * Describe libavcodec encoder `encoder` (e.g. "libx264") offering portable
 * codec `codec` ("h264") through family fam:
 *   pix_fmts    fam->pix_fmts (best first) that the encoder takes, directly
 *               or, for encoders that only take hardware frames, through an
 *               upload; 8- and 10-bit only, and only depths some profile of
 *               the family's table carries (so NVENC H.264 in an FFmpeg
 *               without high10 offers no 10-bit);
 *   bit_depths  from those formats' descriptors;
 *   profiles    the table's names that this build accepts, else the
 *               encoder's profile option constants, else codec->profiles;
 *               whole names only, comma separated, truncated to fit.
 * 0, or -ENOENT when this FFmpeg has no such encoder (cc is then zeroed
 * apart from the names).
 */
int dcvenc_codec_caps(struct dcv_codec_caps *cc, const struct dcvenc_family *fam, const char *codec,
                      const char *encoder, uint32_t max_width, uint32_t max_height);

/* Remove every format of bit depth `depth` from cc (a test open at that
 * depth failed on this device) and clear the depth bit. */
void dcvenc_caps_drop_depth(struct dcv_codec_caps *cc, unsigned depth);

/* True when cc lists pix_fmt. */
int dcvenc_caps_has_pix_fmt(const struct dcv_codec_caps *cc, int pix_fmt);

/* "yuv420p, nv12, ..." of cc's formats into buf. */
void dcvenc_caps_pix_fmt_list(const struct dcv_codec_caps *cc, char *buf, size_t size);

/* A device entry with nothing but struct_size set (our own full size). */
void dcvenc_caps_init(struct dcv_device_caps *caps);

/* Mark caps unavailable with a reason (printf style, truncated to fit). */
void dcvenc_caps_unavailable(struct dcv_device_caps *caps, const char *fmt, ...) DCV_PRINTF(2, 3);

/*
 * Hand a complete entry to the host. The host zeroed `out` and set
 * out->struct_size to its own sizeof; only the part of the struct the host
 * has is written (a prefix copy: our view of the struct, built against an
 * ABI minor <= the host's, is itself a prefix of the host's), and
 * out->struct_size is left as the host set it. -EINVAL when out is NULL or
 * too small to hold even unavailable_reason (DCV_HAS_FIELD), else 1 (the
 * probe() return value for "an entry was written").
 */
int dcvenc_caps_out(struct dcv_device_caps *out, const struct dcv_device_caps *full);

#endif
